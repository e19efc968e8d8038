/*
 * auth: device identity without I/O: one-time enrolment codes (16 Crockford base32
 * characters, 80 random bits, shown as XXXX-XXXX-XXXX-XXXX; case, dashes and spaces ignored,
 * O read as 0 and I/L as 1), device credentials (32 random bytes), their SHA-256 hashes (the
 * only form stored), the credential check and roles.
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

#endif
