/*
 * rate: the server's rate limits, in fixed set-associative tables (no allocation, loop thread
 * only): enrolment attempts per source address (IPv6 by /64) per minute, and request tokens
 * per device. A key's state is dropped only for one whose state no longer matters (its window
 * ended, its bucket refilled); when every way of a set is still live, enrolment refuses
 * (fails closed) and the device bucket evicts the fullest one (laxer only for a device that
 * was nearly idle). Set choice is keyed with a per-process random seed, so a client cannot
 * aim its addresses at one set.
 */
#ifndef FS_RATE_H
#define FS_RATE_H

#include <stddef.h>
#include <stdint.h>

/* How much of an address (4 or 16 bytes) identifies one client: an IPv4 address whole, the
 * /64 of an IPv6 one (one client holds a whole /64). */
static inline size_t rate_addr_key_len(size_t ip_len)
{
    return ip_len > 8 ? 8 : ip_len;
}
/* A hash of key seeded once per process, so that a client cannot aim its keys at one slot of
 * a table (these tables and the connection's per-address count). Loop thread only. */
uint32_t rate_hash(const uint8_t *key, size_t len);

/* Count one enrolment attempt from this address (4 or 16 bytes): 0, or FIELDSYNC_ERATE when
 * over per_min in the current minute (or when the table is full of live addresses).
 * per_min 0 = unlimited. */
int rate_enroll_admit(const uint8_t *ip, size_t ip_len, uint64_t now_ms, uint32_t per_min);

/* Take one request token from this device's bucket (rate per second, burst 4x rate), shared
 * by all its connections: 0, or FIELDSYNC_ERATE when empty. rate 0 = unlimited. */
int rate_device_take(const uint8_t device_id[16], uint64_t now_ms, uint32_t rate);

#endif
