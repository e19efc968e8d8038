/*
 * testclient: blocking TLS test client (see testclient.h). mbedtls over mbedtls_net with
 * a read timeout; frames are read into a growing buffer bounded at 64 MiB.
 */
#include "testclient.h"

#include "error.h"
#include "frame.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAME_IN (64u * 1024 * 1024)

struct testclient {
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    int tls_up;
    int resumed;
    int timeout_ms;
    uint32_t next_id;
    int last_error;
    char last_msg[256];
};

/* Like mbedtls_net_recv_timeout, but with poll(): select() cannot watch descriptors past
 * FD_SETSIZE, and load tests hold thousands of connections. */
static int recv_timeout(void *ctx, unsigned char *buf, size_t len, uint32_t timeout_ms)
{
    mbedtls_net_context *net = ctx;
    struct pollfd p = {.fd = net->fd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, timeout_ms ? (int)timeout_ms : -1);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return MBEDTLS_ERR_SSL_TIMEOUT;
    if (r < 0)
        return MBEDTLS_ERR_NET_RECV_FAILED;
    return mbedtls_net_recv(net, buf, len);
}

int testclient_connect_raw(struct testclient **out, int port)
{
    struct testclient *c = calloc(1, sizeof *c);
    if (!c)
        return FIELDSYNC_ENOMEM;
    mbedtls_net_init(&c->net);
    mbedtls_ssl_init(&c->ssl);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    c->timeout_ms = 5000;
    c->next_id = 1;
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    if (mbedtls_net_connect(&c->net, "127.0.0.1", p, MBEDTLS_NET_PROTO_TCP) != 0) {
        testclient_close(c);
        return FIELDSYNC_ECONNECT;
    }
    /* mbedtls sends each handshake message with its own send(): without this, Nagle and
     * delayed ACKs add ~40 ms to every handshake and every request after it. */
    int one = 1;
    setsockopt(c->net.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *out = c;
    return 0;
}

struct testclient_session {
    mbedtls_ssl_session s;
};

static int handshake(struct testclient *c, const char *ca_path,
                     const struct testclient_session *resume)
{
    static const char pers[] = "fieldsync-testclient";
    if (mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                              (const unsigned char *)pers, sizeof pers - 1) != 0 ||
        mbedtls_x509_crt_parse_file(&c->ca, ca_path) != 0 ||
        mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        return FIELDSYNC_ETLS;
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_read_timeout(&c->conf, (uint32_t)c->timeout_ms);
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    if (mbedtls_ssl_setup(&c->ssl, &c->conf) != 0 ||
        mbedtls_ssl_set_hostname(&c->ssl, "localhost") != 0)
        return FIELDSYNC_ETLS;
    if (resume && mbedtls_ssl_set_session(&c->ssl, &resume->s) != 0)
        return FIELDSYNC_ETLS;
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, NULL, recv_timeout);
    int r;
    while ((r = mbedtls_ssl_handshake(&c->ssl)) != 0) {
        if (r == MBEDTLS_ERR_SSL_TIMEOUT)
            return FIELDSYNC_ETIMEDOUT;
        if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
            return FIELDSYNC_ETLS;
    }
    c->tls_up = 1;
    if (resume) {
        /* Resumed iff the new session carries the saved master secret. */
        mbedtls_ssl_session now;
        mbedtls_ssl_session_init(&now);
        if (mbedtls_ssl_get_session(&c->ssl, &now) == 0)
            c->resumed = memcmp(now.master, resume->s.master, sizeof now.master) == 0;
        mbedtls_ssl_session_free(&now);
    }
    return 0;
}

int testclient_handshake(struct testclient *c, const char *ca_path)
{
    return handshake(c, ca_path, NULL);
}

int testclient_session_save(struct testclient *c, struct testclient_session **out)
{
    struct testclient_session *s = calloc(1, sizeof *s);
    if (!s)
        return FIELDSYNC_ENOMEM;
    mbedtls_ssl_session_init(&s->s);
    if (mbedtls_ssl_get_session(&c->ssl, &s->s) != 0) {
        testclient_session_free(s);
        return FIELDSYNC_ETLS;
    }
    *out = s;
    return 0;
}

void testclient_session_free(struct testclient_session *s)
{
    if (!s)
        return;
    mbedtls_ssl_session_free(&s->s);
    free(s);
}

int testclient_connect_resume(struct testclient **out, int port, const char *ca_path,
                              const struct testclient_session *s)
{
    struct testclient *c;
    int rc = testclient_connect_raw(&c, port);
    if (rc < 0)
        return rc;
    if ((rc = handshake(c, ca_path, s)) < 0) {
        testclient_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

int testclient_resumed(const struct testclient *c)
{
    return c->resumed;
}

int testclient_connect(struct testclient **out, int port, const char *ca_path)
{
    struct testclient *c;
    int rc = testclient_connect_raw(&c, port);
    if (rc < 0)
        return rc;
    if ((rc = testclient_handshake(c, ca_path)) < 0) {
        testclient_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void testclient_close(struct testclient *c)
{
    if (!c)
        return;
    mbedtls_net_free(&c->net);
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    free(c);
}

void testclient_set_timeout(struct testclient *c, int ms)
{
    c->timeout_ms = ms;
    mbedtls_ssl_conf_read_timeout(&c->conf, (uint32_t)ms);
}

int testclient_send_raw(struct testclient *c, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        int r = c->tls_up ? mbedtls_ssl_write(&c->ssl, b, n) : mbedtls_net_send(&c->net, b, n);
        if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ)
            continue;
        if (r <= 0)
            return FIELDSYNC_EIO;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

int testclient_recv_raw(struct testclient *c, void *buf, size_t cap)
{
    for (;;) {
        int r = c->tls_up ? mbedtls_ssl_read(&c->ssl, buf, cap)
                          : recv_timeout(&c->net, buf, cap, (uint32_t)c->timeout_ms);
        if (r > 0)
            return r;
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (r == MBEDTLS_ERR_SSL_TIMEOUT)
            return FIELDSYNC_ETIMEDOUT;
        if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == MBEDTLS_ERR_NET_CONN_RESET)
            return 0;
        return FIELDSYNC_EIO;
    }
}

static int recv_exact(struct testclient *c, uint8_t *p, size_t n)
{
    while (n > 0) {
        int r = testclient_recv_raw(c, p, n);
        if (r < 0)
            return r;
        if (r == 0)
            return FIELDSYNC_EIO;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int testclient_send(struct testclient *c, const Fieldsync__Frame *f)
{
    size_t n = frame_encoded_size(f);
    uint8_t *buf = malloc(n);
    if (!buf)
        return FIELDSYNC_ENOMEM;
    int rc = frame_encode(f, buf, n) == n ? testclient_send_raw(c, buf, n) : FIELDSYNC_EINTERNAL;
    free(buf);
    return rc;
}

int testclient_recv(struct testclient *c, Fieldsync__Frame **out)
{
    uint8_t hdr[FRAME_HEADER_LEN];
    int rc = recv_exact(c, hdr, sizeof hdr);
    if (rc < 0)
        return rc;
    uint32_t n = frame_get_len(hdr);
    if (n > MAX_FRAME_IN)
        return FIELDSYNC_EFRAMESIZE;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return FIELDSYNC_ENOMEM;
    if ((rc = recv_exact(c, buf, n)) == 0)
        rc = frame_decode(buf, n, NULL, out);
    free(buf);
    if (rc == 0 && (*out)->msg_case == FIELDSYNC__FRAME__MSG_ERROR) {
        c->last_error = error_from_wire((int)(*out)->error->code);
        snprintf(c->last_msg, sizeof c->last_msg, "%s",
                 (*out)->error->message ? (*out)->error->message : "");
    }
    return rc;
}

int testclient_request(struct testclient *c, Fieldsync__Frame *f, Fieldsync__Frame **reply)
{
    f->request_id = c->next_id++;
    int rc = testclient_send(c, f);
    if (rc < 0)
        return rc;
    for (;;) {
        Fieldsync__Frame *r = NULL;
        if ((rc = testclient_recv(c, &r)) < 0)
            return rc;
        /* Unsolicited errors (request_id 0) answer whatever was in flight. */
        if (r->request_id != f->request_id && r->request_id != 0) {
            fieldsync__frame__free_unpacked(r, NULL);
            continue;
        }
        rc = r->msg_case == FIELDSYNC__FRAME__MSG_ERROR ? error_from_wire((int)r->error->code) : 0;
        if (reply)
            *reply = r;
        else
            fieldsync__frame__free_unpacked(r, NULL);
        return rc;
    }
}

int testclient_wait_closed(struct testclient *c)
{
    uint8_t buf[4096];
    for (;;) {
        int r = testclient_recv_raw(c, buf, sizeof buf);
        if (r == FIELDSYNC_ETIMEDOUT)
            return r;
        if (r <= 0)
            return 0;
    }
}

int testclient_enroll(struct testclient *c, const char *code, const char *device_name,
                      struct testclient_identity *id, Fieldsync__Frame **reply)
{
    Fieldsync__Enroll e = FIELDSYNC__ENROLL__INIT;
    e.protocol_version = 1;
    e.code = (char *)code;
    e.device_name = (char *)(device_name ? device_name : "");
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_ENROLL;
    f.enroll = &e;
    Fieldsync__Frame *r = NULL;
    int rc = testclient_request(c, &f, &r);
    if (rc == 0 && r->msg_case != FIELDSYNC__FRAME__MSG_ENROLL_RESULT)
        rc = FIELDSYNC_EPROTO;
    if (rc == 0 &&
        (r->enroll_result->device_id.len != 16 || r->enroll_result->credential.len != 32))
        rc = FIELDSYNC_EPROTO;
    if (rc == 0 && id) {
        memcpy(id->device_id, r->enroll_result->device_id.data, 16);
        memcpy(id->credential, r->enroll_result->credential.data, 32);
    }
    if (reply)
        *reply = r;
    else if (r)
        fieldsync__frame__free_unpacked(r, NULL);
    return rc;
}

int testclient_hello(struct testclient *c, const struct testclient_identity *id, uint64_t device_hw,
                     Fieldsync__Frame **reply)
{
    Fieldsync__Hello h = FIELDSYNC__HELLO__INIT;
    h.protocol_version = 1;
    h.device_id.data = (uint8_t *)id->device_id;
    h.device_id.len = 16;
    h.credential.data = (uint8_t *)id->credential;
    h.credential.len = 32;
    h.device_high_water = device_hw;
    h.app_version = (char *)"testclient";
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_HELLO;
    f.hello = &h;
    Fieldsync__Frame *r = NULL;
    int rc = testclient_request(c, &f, &r);
    if (rc == 0 && r->msg_case != FIELDSYNC__FRAME__MSG_WELCOME)
        rc = FIELDSYNC_EPROTO;
    if (reply)
        *reply = r;
    else if (r)
        fieldsync__frame__free_unpacked(r, NULL);
    return rc;
}

int testclient_ping(struct testclient *c)
{
    Fieldsync__Ping p = FIELDSYNC__PING__INIT;
    p.nonce = 0x5eed0000u + c->next_id;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_PING;
    f.ping = &p;
    Fieldsync__Frame *r = NULL;
    int rc = testclient_request(c, &f, &r);
    if (rc == 0 && (r->msg_case != FIELDSYNC__FRAME__MSG_PONG || r->pong->nonce != p.nonce ||
                    r->pong->server_hlc == 0))
        rc = FIELDSYNC_EPROTO;
    if (r)
        fieldsync__frame__free_unpacked(r, NULL);
    return rc;
}

int testclient_last_error(const struct testclient *c, const char **msg)
{
    if (msg)
        *msg = c->last_msg;
    return c->last_error;
}
