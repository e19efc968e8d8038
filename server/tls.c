/*
 * tls: mbedtls 2.28 driven over in-memory buffers (see tls.h). The bio recv callback reads
 * from the ciphertext the connection lent us and answers WANT_READ when it is used up; the
 * bio send callback appends to an output buffer the connection takes and writes to its
 * socket. Nothing here blocks. The output buffer is allocated on demand and handed over, so
 * an idle connection holds only mbedtls's own context (its 16 KiB in + out record buffers:
 * Debian's build has neither MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH nor a smaller
 * MBEDTLS_SSL_MAX_CONTENT_LEN; max_fragment_length is client-negotiated and does not shrink
 * the server's buffers).
 *
 * This is the one place mbedtls errors are translated (to FIELDSYNC_ETLS, keeping mbedtls's
 * code in the message). Loop thread only.
 */
#include "tls.h"

#include "error.h"

#include <mbedtls/constant_time.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls_server {
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    mbedtls_ssl_ticket_context tickets;
};

struct tls_conn {
    mbedtls_ssl_context ssl;
    const uint8_t *in; /* borrowed ciphertext */
    size_t in_len;
    uint8_t *out; /* ciphertext to send, owned until taken */
    size_t out_len, out_cap;
    int last_err;
    int handshake_done;
};

/* ChaCha20-Poly1305 first (fast without AES instructions on cheap hardware), then AES-GCM.
 * ECDSA suites serve the dev certificate; the RSA ones a production RSA key. */
static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0,
};

static const mbedtls_ecp_group_id curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

static int fail(int mbed_rc, const char *what, char *err, size_t errlen)
{
    if (err && errlen) {
        char m[160];
        mbedtls_strerror(mbed_rc, m, sizeof m);
        snprintf(err, errlen, "%s: %s (mbedtls -0x%04x)", what, m, (unsigned)-mbed_rc);
    }
    return FIELDSYNC_ETLS;
}

int tls_server_new(struct tls_server **out, const char *cert_path, const char *key_path,
                   uint32_t ticket_lifetime_s, char *err, size_t errlen)
{
    int rc = FIELDSYNC_ENOMEM;
    int r;
    struct tls_server *t = calloc(1, sizeof *t);
    if (!t)
        goto out;
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    mbedtls_ssl_ticket_init(&t->tickets);

    static const char pers[] = "fieldsync-server";
    if ((r = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                   (const unsigned char *)pers, sizeof pers - 1)) != 0) {
        rc = fail(r, "seed", err, errlen);
        goto out;
    }
    if ((r = mbedtls_x509_crt_parse_file(&t->cert, cert_path)) != 0) {
        rc = fail(r, cert_path, err, errlen);
        goto out;
    }
    if ((r = mbedtls_pk_parse_keyfile(&t->key, key_path, NULL)) != 0) {
        rc = fail(r, key_path, err, errlen);
        goto out;
    }
    if ((r = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER,
                                         MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
        rc = fail(r, "config", err, errlen);
        goto out;
    }
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&t->conf, suites);
    mbedtls_ssl_conf_curves(&t->conf, curves);
    mbedtls_ssl_conf_renegotiation(&t->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    if ((r = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key)) != 0) {
        rc = fail(r, "own cert", err, errlen);
        goto out;
    }
    /* Session tickets: a reconnect resumes in one round trip. mbedtls_ssl_ticket rotates
     * its keys every lifetime on its own. */
    if ((r = mbedtls_ssl_ticket_setup(&t->tickets, mbedtls_ctr_drbg_random, &t->drbg,
                                      MBEDTLS_CIPHER_AES_256_GCM, ticket_lifetime_s)) != 0) {
        rc = fail(r, "ticket setup", err, errlen);
        goto out;
    }
    mbedtls_ssl_conf_session_tickets_cb(&t->conf, mbedtls_ssl_ticket_write,
                                        mbedtls_ssl_ticket_parse, &t->tickets);
    *out = t;
    return 0;
out:
    tls_server_free(t);
    return rc;
}

void tls_server_free(struct tls_server *t)
{
    if (!t)
        return;
    mbedtls_ssl_ticket_free(&t->tickets);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_pk_free(&t->key);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    free(t);
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct tls_conn *c = ctx;
    if (c->out_cap - c->out_len < len) {
        size_t cap = c->out_cap ? c->out_cap : 1024;
        while (cap - c->out_len < len)
            cap *= 2;
        uint8_t *b = realloc(c->out, cap);
        if (!b)
            return MBEDTLS_ERR_SSL_ALLOC_FAILED;
        c->out = b;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct tls_conn *c = ctx;
    if (c->in_len == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = len < c->in_len ? len : c->in_len;
    memcpy(buf, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (int)n;
}

int tls_conn_new(struct tls_server *t, struct tls_conn **out)
{
    int rc = FIELDSYNC_ENOMEM;
    struct tls_conn *c = calloc(1, sizeof *c);
    if (!c)
        goto out;
    mbedtls_ssl_init(&c->ssl);
    int r = mbedtls_ssl_setup(&c->ssl, &t->conf);
    if (r != 0) {
        rc = r == MBEDTLS_ERR_SSL_ALLOC_FAILED ? FIELDSYNC_ENOMEM : FIELDSYNC_ETLS;
        goto out;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    *out = c;
    return 0;
out:
    tls_conn_free(c);
    return rc;
}

void tls_conn_free(struct tls_conn *c)
{
    if (!c)
        return;
    mbedtls_ssl_free(&c->ssl);
    free(c->out);
    free(c);
}

void tls_conn_input(struct tls_conn *c, const uint8_t *p, size_t n)
{
    c->in = p;
    c->in_len = n;
}

int tls_conn_handshake(struct tls_conn *c)
{
    if (c->handshake_done)
        return 1;
    int r = mbedtls_ssl_handshake(&c->ssl);
    if (r == 0) {
        c->handshake_done = 1;
        return 1;
    }
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    c->last_err = r;
    return FIELDSYNC_ETLS;
}

int tls_conn_handshake_done(const struct tls_conn *c)
{
    return c->handshake_done;
}

int tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap)
{
    int r = mbedtls_ssl_read(&c->ssl, buf, cap);
    if (r > 0)
        return r;
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return FIELDSYNC_EIO;
    c->last_err = r;
    return FIELDSYNC_ETLS;
}

int tls_conn_write(struct tls_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int r = mbedtls_ssl_write(&c->ssl, p, n);
        if (r < 0) {
            c->last_err = r;
            return r == MBEDTLS_ERR_SSL_ALLOC_FAILED ? FIELDSYNC_ENOMEM : FIELDSYNC_ETLS;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

void tls_conn_close_notify(struct tls_conn *c)
{
    if (c->handshake_done)
        mbedtls_ssl_close_notify(&c->ssl);
}

size_t tls_conn_take_output(struct tls_conn *c, uint8_t **buf)
{
    size_t n = c->out_len;
    *buf = n ? c->out : NULL;
    if (n) {
        c->out = NULL;
        c->out_len = c->out_cap = 0;
    }
    return n;
}

void tls_conn_errstr(const struct tls_conn *c, char *buf, size_t cap)
{
    char m[160];
    mbedtls_strerror(c->last_err, m, sizeof m);
    snprintf(buf, cap, "%s (mbedtls -0x%04x)", m, (unsigned)-c->last_err);
}

const char *tls_conn_suite(const struct tls_conn *c)
{
    const char *s = c->handshake_done ? mbedtls_ssl_get_ciphersuite(&c->ssl) : NULL;
    return s ? s : "?";
}

void tls_sha256(const void *p, size_t n, uint8_t out[32])
{
    mbedtls_sha256_ret(p, n, out, 0);
}

int tls_memeq(const void *a, const void *b, size_t n)
{
    return mbedtls_ct_memcmp(a, b, n) == 0;
}

void tls_zeroize(void *p, size_t n)
{
    mbedtls_platform_zeroize(p, n);
}
