/*
 * UUIDv7 ids (RFC 9562): 48-bit Unix ms, version 7, 74 random bits. Time-ordered, so new
 * records append to SQLite's b-trees instead of splitting pages at random.
 */
#ifndef FS_UUID_H
#define FS_UUID_H

#include <stddef.h>
#include <stdint.h>

#define UUID_LEN     16
#define UUID_STR_LEN 36 /* without the terminating NUL */

/* Build a v7 id from a time and 10 random bytes (pure; for tests and custom RNGs). */
void uuid_v7_from(uint8_t out[UUID_LEN], uint64_t unix_ms, const uint8_t rnd[10]);
/* Build a v7 id from the given time and the OS's CSPRNG. 0 or FIELDSYNC_EIO. */
int uuid_v7(uint8_t out[UUID_LEN], uint64_t unix_ms);
/* Fill buf with n bytes from the OS's CSPRNG (getrandom). 0 or FIELDSYNC_EIO. */
int uuid_random(void *buf, size_t n);
/* Lower-case 8-4-4-4-12 form; out holds UUID_STR_LEN + 1 bytes. */
void uuid_format(const uint8_t id[UUID_LEN], char out[UUID_STR_LEN + 1]);
/* Parse the 8-4-4-4-12 form or 32 hex digits. 0 or FIELDSYNC_EBADID. */
int uuid_parse(const char *s, uint8_t out[UUID_LEN]);
/* 1 if all 16 bytes are zero. */
int uuid_is_nil(const uint8_t id[UUID_LEN]);

#endif
