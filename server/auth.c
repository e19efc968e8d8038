/*
 * auth: codes, credentials and their hashes (see auth.h). Secrets are zeroed as soon as they
 * are hashed and never logged. Depends on tls (for SHA-256 and the constant-time compare),
 * uuid (for the OS's CSPRNG) and session (role values); no I/O, no store access.
 */
#include "auth.h"

#include "error.h"
#include "session.h"
#include "tls.h"
#include "uuid.h"

#include <ctype.h>
#include <string.h>

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* Crockford */

int auth_code_new(char out[AUTH_CODE_SHOWN + 1])
{
    uint8_t rnd[10]; /* 80 bits = 16 base32 characters */
    if (uuid_random(rnd, sizeof rnd) < 0)
        return FIELDSYNC_EIO;
    int o = 0;
    for (int i = 0; i < AUTH_CODE_CHARS; i++) {
        int bit = i * 5;
        unsigned v = ((unsigned)rnd[bit / 8] << 8 | (bit / 8 + 1 < 10 ? rnd[bit / 8 + 1] : 0));
        v = (v >> (11 - bit % 8)) & 31;
        if (i > 0 && i % 4 == 0)
            out[o++] = '-';
        out[o++] = alphabet[v];
    }
    out[o] = '\0';
    tls_zeroize(rnd, sizeof rnd);
    return 0;
}

int auth_code_normalize(const char *in, char out[AUTH_CODE_CHARS + 1])
{
    int n = 0;
    for (const char *p = in; *p; p++) {
        int ch = toupper((unsigned char)*p);
        if (ch == '-' || ch == ' ')
            continue;
        if (ch == 'O')
            ch = '0';
        else if (ch == 'I' || ch == 'L')
            ch = '1';
        if (!strchr(alphabet, ch) || ch == '\0' || n == AUTH_CODE_CHARS)
            return FIELDSYNC_EENROLL;
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    return n == AUTH_CODE_CHARS ? 0 : FIELDSYNC_EENROLL;
}

void auth_code_hash(const char norm[AUTH_CODE_CHARS + 1], uint8_t out[STORE_HASH_LEN])
{
    tls_sha256(norm, AUTH_CODE_CHARS, out);
}

void auth_credential_hash(const uint8_t *cred, size_t len, uint8_t hash[STORE_HASH_LEN])
{
    tls_sha256(cred, len, hash);
}

int auth_credential_new(uint8_t cred[AUTH_CRED_LEN], uint8_t hash[STORE_HASH_LEN])
{
    if (uuid_random(cred, AUTH_CRED_LEN) < 0)
        return FIELDSYNC_EIO;
    auth_credential_hash(cred, AUTH_CRED_LEN, hash);
    return 0;
}

int auth_check(const struct store_device *d, const uint8_t cred_hash[STORE_HASH_LEN])
{
    if (!tls_memeq(d->cred_hash, cred_hash, STORE_HASH_LEN))
        return FIELDSYNC_EAUTH;
    if (d->revoked_ms != 0)
        return FIELDSYNC_EREVOKED;
    return 0;
}

int auth_role_parse(const char *s)
{
    if (strcmp(s, "collector") == 0)
        return SESSION_ROLE_COLLECTOR;
    if (strcmp(s, "coordinator") == 0)
        return SESSION_ROLE_COORDINATOR;
    if (strcmp(s, "admin") == 0)
        return SESSION_ROLE_ADMIN;
    return 0;
}

const char *auth_role_name(int role)
{
    switch (role) {
    case SESSION_ROLE_COLLECTOR:
        return "collector";
    case SESSION_ROLE_COORDINATOR:
        return "coordinator";
    case SESSION_ROLE_ADMIN:
        return "admin";
    default:
        return "none";
    }
}
