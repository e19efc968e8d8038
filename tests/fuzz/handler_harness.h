/*
 * handler_harness: the server's real request path in-process, for the fuzz_handler_* targets:
 * a local connection (conn_open_local: no socket, no TLS) into the real dispatch, handlers,
 * writer thread (group commit into SQLite), reader pool and store. Nothing is stubbed.
 *
 * One server is shared by every input of a run: a fresh data directory under $TMPDIR with
 * synchronous=off, the devices below enrolled through the store's own enrolment calls, and,
 * with HH_SEED_RECORDS, records from every device pushed through the real push path. Every
 * HH_RESET_EVERY inputs the server is shut down (the loop must close with no handle left)
 * and started again on a new directory, so disk and memory stay bounded; the directory is
 * removed at exit. The wall clock is the harness's: HH_T0_MS, +1 ms per reading. Request
 * rate limits are off (one device's bucket would otherwise empty in the first second); the
 * frame limit after Hello is 16 KiB (max_record 8 KiB), so inputs of a few KiB reach the size
 * limits; the other settings are the defaults.
 *
 * Per input: hh_open, requests (hh_hello, hh_send, hh_send_msg), then hh_close, which checks
 * the invariants below over everything sent and received on that connection, closes it and
 * runs the loop until it is freed. A violation prints why and aborts.
 *   - every frame the server sent decodes, is within the frame limit, and is a server-to-
 *     client message; no Error says ERROR_INTERNAL or ERROR_STORE (a server bug or a store
 *     failure on a healthy disk);
 *   - an Error with `closing` set is the last frame sent;
 *   - unless the server closed the connection, every request got exactly one reply: the
 *     request ids of the replies are those of the requests (as multisets), and where a
 *     request id is unique, the reply's type matches the request's (or is an Error);
 *   - a PushAck has one result per change, in order, with a valid status (and a code only
 *     when rejected); a PullPage holds at most the page size asked for, in feed order after
 *     the cursor and up to next_cursor, only records in the scope the Welcome announced and
 *     of the collections asked for, each a valid encoding of its collection whose clock blob
 *     loads;
 *   - the connection is freed once closed (no reference leaked by a job).
 */
#ifndef FS_HANDLER_HARNESS_H
#define FS_HANDLER_HARNESS_H

#include "sync.pb-c.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECKF(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "handler_harness: %s:%d: %s\n", __FILE__, __LINE__, #c);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Harness devices (ids and credentials are also in tests/fuzz/gen_seeds.py):
 *   0 collector GAO,MENAKA   1 collector GAO own-only   2 coordinator GAO,TOMBOUCTOU
 *   3 admin (every region)   4 collector GAO, revoked
 * id: 01 9a 00 00 00 00 70 00 80 00 00 00 00 00 00 (0x01 + i); credential: 32 x (0x40 + i). */
#define HH_DEVICES 5
#define HH_ACTIVE  4
/* Enrolment codes: one valid until redeemed (once per server start), one expired. */
#define HH_CODE         "ABCD-EFGH-JKMN-PQRS"
#define HH_CODE_EXPIRED "ZZZZ-ZZZZ-ZZZZ-ZZZZ"
#define HH_T0_MS        1795462860000ull
#define HH_RESET_EVERY  4000

enum hh_flags { HH_SEED_RECORDS = 1 };

void hh_device_id(int i, uint8_t out[16]);
void hh_credential(int i, uint8_t out[32]);

/* Start the shared server (first call only; later calls do nothing). */
void hh_init(unsigned flags);
/* A new local connection, not authenticated. */
void hh_open(void);
/* Hello as harness device i (request id rid); CHECKs that a Welcome came back. */
void hh_hello(int i, uint32_t rid);
/* Bytes as the client sends them: in one read burst, or (stepwise) frame by frame with the
 * loop run until no job is pending after each. Returns once no job is pending. */
void hh_send(const uint8_t *p, size_t n, int stepwise);
/* One frame: Frame{request_id = rid, <field> = msg bytes as given}, sent in one burst. */
void hh_send_msg(uint32_t rid, unsigned field, const uint8_t *msg, size_t n);
/* The usual input of a handler target: data[0] picks the harness device (mod HH_ACTIVE), which
 * says Hello (request 1) on a new connection; data[1..] goes as the message of oneof field
 * `field` with request id 2. 0 when the input is empty (nothing sent), else 1. */
int hh_device_sends(const uint8_t *data, size_t size, unsigned field);
/* 1 once the server closed (or is closing) the connection. */
int hh_closed(void);
/* The last PullPage received with request id rid on this connection, or NULL. */
const Fieldsync__PullPage *hh_page(uint32_t rid);
/* Pull the change feed (all collections) from where the last call stopped (0 after each
 * server start), one page after the other while `more`, at most 8; request ids rid, rid+1... */
void hh_pull_feed(uint32_t rid);
/* Check the invariants, close the connection, wait until it is freed. */
void hh_close(void);

#endif
