/*
 * auth: device identity without I/O: one-time enrolment codes (16 Crockford base32
 * characters, 80 random bits, shown as XXXX-XXXX-XXXX-XXXX; case, dashes and spaces ignored,
 * O read as 0 and I/L as 1), device credentials (32 random bytes), their SHA-256 hashes (the
 * only form stored), the credential check, roles, and the per-address enrolment rate limit.
 */
#ifndef FS_AUTH_H
#define FS_AUTH_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define AUTH_CODE_CHARS 16
#define AUTH_CODE_SHOWN 19 /* with the three dashes */
#define AUTH_CRED_LEN   32

/* A new code, formatted (NUL-terminated). 0 or FIELDSYNC_EIO. */
int auth_code_new(char out[AUTH_CODE_SHOWN + 1]);
/* Normalize user input to the 16 canonical characters. 0 or FIELDSYNC_EENROLL. */
int auth_code_normalize(const char *in, char out[AUTH_CODE_CHARS + 1]);
/* SHA-256 of the normalized code. */
void auth_code_hash(const char norm[AUTH_CODE_CHARS + 1], uint8_t out[STORE_HASH_LEN]);
/* A new credential and its hash. 0 or FIELDSYNC_EIO. */
int auth_credential_new(uint8_t cred[AUTH_CRED_LEN], uint8_t hash[STORE_HASH_LEN]);
void auth_credential_hash(const uint8_t *cred, size_t len, uint8_t hash[STORE_HASH_LEN]);
/* Check a Hello against the stored device (constant-time): 0, FIELDSYNC_EAUTH,
 * FIELDSYNC_EREVOKED. */
int auth_check(const struct store_device *d, const uint8_t cred_hash[STORE_HASH_LEN]);

/* "collector" → SESSION_ROLE_COLLECTOR...; 0 when unknown. */
int auth_role_parse(const char *s);
const char *auth_role_name(int role);

/* Count one enrolment attempt from this address: 0, or FIELDSYNC_ERATE when over per_min in
 * the current minute. Loop thread only (a fixed table: no allocation; a collision between two
 * addresses at worst resets a counter). */
int auth_enroll_admit(const uint8_t *ip, size_t ip_len, uint64_t now_ms, uint32_t per_min);

/* Take one request token from this device's bucket (rate per second, burst 4x rate), shared
 * by all its connections: 0, or FIELDSYNC_ERATE when empty. Loop thread only (a fixed table;
 * two devices colliding in it reset each other's bucket, which only makes the limit laxer). */
int auth_device_rate_take(const uint8_t device_id[16], uint64_t now_ms, uint32_t rate);

#endif
