/*
 * bclient: lean counting TLS client for benchmarks (see bclient.h). Blocking socket with a
 * receive timeout; the bio callbacks are the only place bytes cross the socket, so the
 * counters see exactly what the wire carries (TCP/IP headers aside).
 */
#include "bclient.h"

#include "error.h"
#include "frame.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_FRAME_IN (64u * 1024 * 1024)

int bclient_tls_setup(struct bclient_tls *t, const char *ca_path)
{
    static const char pers[] = "fieldsync-bench";
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    if (mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                              (const unsigned char *)pers, sizeof pers - 1) != 0 ||
        mbedtls_x509_crt_parse_file(&t->ca, ca_path) != 0 ||
        mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        return -1;
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_session_tickets(&t->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    return 0;
}

void bclient_tls_suites(struct bclient_tls *t, const int *suites)
{
    if (suites)
        mbedtls_ssl_conf_ciphersuites(&t->conf, suites);
}

const int *bclient_suites_named(const char *name)
{
    static const int chacha[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0};
    static const int aes128[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0};
    if (!name || !strcmp(name, "default"))
        return NULL;
    if (!strcmp(name, "chacha"))
        return chacha;
    if (!strcmp(name, "aes128"))
        return aes128;
    fprintf(stderr, "bench: unknown suite %s (chacha|aes128|default)\n", name);
    exit(1);
}

void bclient_tls_close(struct bclient_tls *t)
{
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
}

/* Called once per certificate of the chain, only in a full handshake: a resumed one sends no
 * certificate (mbedtls 2.28 has no public "resumed" flag). */
static int on_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    struct bclient *c = ctx;
    c->verified = 1;
    return 0;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct bclient *c = ctx;
    ssize_t n;
    do
        n = send(c->fd, buf, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return MBEDTLS_ERR_NET_SEND_FAILED;
    c->bytes_sent += (uint64_t)n;
    return (int)n;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct bclient *c = ctx;
    ssize_t n;
    do
        n = recv(c->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? MBEDTLS_ERR_SSL_TIMEOUT
                                                       : MBEDTLS_ERR_NET_RECV_FAILED;
    c->bytes_recv += (uint64_t)n;
    return (int)n;
}

int bclient_connect(struct bclient *c, struct bclient_tls *t, int port,
                    const mbedtls_ssl_session *session)
{
    return bclient_connect_addr(c, t, "127.0.0.1", port, session);
}

int bclient_connect_addr(struct bclient *c, struct bclient_tls *t, const char *ipv4, int port,
                         const mbedtls_ssl_session *session)
{
    int rc = FIELDSYNC_ECONNECT;
    memset(c, 0, sizeof *c);
    c->next_id = 1;
    mbedtls_ssl_init(&c->ssl);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        goto out;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ipv4, &a.sin_addr) != 1)
        goto out;
    struct timeval tv = {30, 0};
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto out;
    rc = FIELDSYNC_ETLS;
    if (mbedtls_ssl_setup(&c->ssl, &t->conf) != 0 ||
        mbedtls_ssl_set_hostname(&c->ssl, "localhost") != 0)
        goto out;
    if (session && mbedtls_ssl_set_session(&c->ssl, session) != 0)
        goto out;
    mbedtls_ssl_set_verify(&c->ssl, on_verify, c);
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    int r;
    while ((r = mbedtls_ssl_handshake(&c->ssl)) != 0) {
        if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
            goto out;
    }
    c->tls_up = 1;
    rc = 0;
out:
    if (rc < 0) {
        mbedtls_ssl_free(&c->ssl);
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
    }
    return rc;
}

int bclient_resumed(const struct bclient *c)
{
    return c->tls_up && !c->verified;
}

int bclient_save_session(struct bclient *c, mbedtls_ssl_session *out)
{
    mbedtls_ssl_session_init(out);
    return mbedtls_ssl_get_session(&c->ssl, out) == 0 ? 0 : -1;
}

void bclient_drop_tls(struct bclient *c)
{
    mbedtls_ssl_free(&c->ssl);
    c->tls_up = 0;
    free(c->buf);
    c->buf = NULL;
    c->buf_cap = 0;
}

void bclient_close(struct bclient *c)
{
    if (c->tls_up)
        mbedtls_ssl_close_notify(&c->ssl);
    mbedtls_ssl_free(&c->ssl);
    c->tls_up = 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->buf_cap = 0;
}

static int reserve(struct bclient *c, size_t n)
{
    if (n <= c->buf_cap)
        return 0;
    uint8_t *p = realloc(c->buf, n);
    if (!p)
        return FIELDSYNC_ENOMEM;
    c->buf = p;
    c->buf_cap = n;
    return 0;
}

static int write_all(struct bclient *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int r = mbedtls_ssl_write(&c->ssl, p, n);
        if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ)
            continue;
        if (r <= 0)
            return FIELDSYNC_EIO;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int read_exact(struct bclient *c, uint8_t *p, size_t n)
{
    while (n > 0) {
        int r = mbedtls_ssl_read(&c->ssl, p, n);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (r == MBEDTLS_ERR_SSL_TIMEOUT)
            return FIELDSYNC_ETIMEDOUT;
        if (r <= 0)
            return FIELDSYNC_EIO;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int bclient_send(struct bclient *c, Fieldsync__Frame *f)
{
    if (f->request_id == 0)
        f->request_id = c->next_id++;
    size_t n = frame_encoded_size(f);
    int rc = reserve(c, n);
    if (rc < 0)
        return rc;
    if (frame_encode(f, c->buf, n) != n)
        return FIELDSYNC_EINTERNAL;
    return write_all(c, c->buf, n);
}

int bclient_recv(struct bclient *c, Fieldsync__Frame **out)
{
    uint8_t hdr[FRAME_HEADER_LEN];
    int rc = read_exact(c, hdr, sizeof hdr);
    if (rc < 0)
        return rc;
    uint32_t n = frame_get_len(hdr);
    if (n > MAX_FRAME_IN)
        return FIELDSYNC_EFRAMESIZE;
    if ((rc = reserve(c, n ? n : 1)) < 0)
        return rc;
    if ((rc = read_exact(c, c->buf, n)) < 0)
        return rc;
    return frame_decode(c->buf, n, NULL, out);
}

int bclient_hello(struct bclient *c, const struct testclient_identity *id)
{
    Fieldsync__Hello h = FIELDSYNC__HELLO__INIT;
    h.protocol_version = 1;
    h.device_id.data = (uint8_t *)id->device_id;
    h.device_id.len = 16;
    h.credential.data = (uint8_t *)id->credential;
    h.credential.len = 32;
    h.app_version = "bench";
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_HELLO;
    f.hello = &h;
    int rc = bclient_send(c, &f);
    if (rc < 0)
        return rc;
    Fieldsync__Frame *r = NULL;
    if ((rc = bclient_recv(c, &r)) < 0)
        return rc;
    rc = r->msg_case == FIELDSYNC__FRAME__MSG_WELCOME ? 0 : FIELDSYNC_EAUTH;
    fieldsync__frame__free_unpacked(r, NULL);
    return rc;
}
