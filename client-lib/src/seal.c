/*
 * seal: the client's second crypto module, narrowly for the local store's column encryption
 * (format in seal.h). Like tls.c it includes mbedtls headers; nothing else of the library does.
 * Stateless: a ChaCha20-Poly1305 context lives for one call and is wiped by mbedtls on free.
 * Nonces are 96 random bits from getrandom(2) (uuid_random: the kernel CSPRNG), never a counter, so
 * two handles on one store cannot reuse one.
 */
#include "seal.h"

#include "uuid.h"

#include <mbedtls/chachapoly.h>
#include <mbedtls/platform_util.h>

#include <string.h>

#define SEAL_VERSION 0xE1
#define NONCE_LEN    12
#define TAG_LEN      16
#define LABEL_MAX    32

/* label || 0 || id: the label's end is marked so that no label/id pair reads as another. */
static size_t make_aad(uint8_t aad[LABEL_MAX + 1 + 16], const char *label, const uint8_t *id)
{
    size_t n = strlen(label);
    if (n > LABEL_MAX)
        n = LABEL_MAX;
    memcpy(aad, label, n);
    aad[n++] = 0;
    if (id) {
        memcpy(aad + n, id, 16);
        n += 16;
    }
    return n;
}

int seal_seal(const uint8_t key[SEAL_KEY_LEN], const char *label, const uint8_t *id,
              const uint8_t *plain, size_t n, uint8_t *out)
{
    uint8_t aad[LABEL_MAX + 1 + 16];
    size_t aad_len = make_aad(aad, label, id);
    mbedtls_chachapoly_context ctx;
    int rc = -1;

    out[0] = SEAL_VERSION;
    if (uuid_random(out + 1, NONCE_LEN) < 0)
        return -1;
    mbedtls_chachapoly_init(&ctx);
    if (mbedtls_chachapoly_setkey(&ctx, key) == 0 &&
        mbedtls_chachapoly_encrypt_and_tag(&ctx, n, out + 1, aad, aad_len, plain,
                                           out + 1 + NONCE_LEN, out + 1 + NONCE_LEN + n) == 0)
        rc = 0;
    mbedtls_chachapoly_free(&ctx);
    return rc;
}

int seal_open(const uint8_t key[SEAL_KEY_LEN], const char *label, const uint8_t *id,
              const uint8_t *in, size_t n, uint8_t *out)
{
    uint8_t aad[LABEL_MAX + 1 + 16];
    size_t aad_len = make_aad(aad, label, id);
    mbedtls_chachapoly_context ctx;
    int rc = -1;

    if (n < SEAL_OVERHEAD || in[0] != SEAL_VERSION)
        return -1;
    size_t len = n - SEAL_OVERHEAD;
    mbedtls_chachapoly_init(&ctx);
    if (mbedtls_chachapoly_setkey(&ctx, key) == 0 &&
        mbedtls_chachapoly_auth_decrypt(&ctx, len, in + 1, aad, aad_len, in + 1 + NONCE_LEN + len,
                                        in + 1 + NONCE_LEN, out) == 0)
        rc = 0;
    mbedtls_chachapoly_free(&ctx);
    if (rc < 0 && len)
        mbedtls_platform_zeroize(out, len);
    return rc;
}

void seal_zero(void *p, size_t n)
{
    if (p && n)
        mbedtls_platform_zeroize(p, n);
}
