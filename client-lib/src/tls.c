/*
 * tls: the client's blocking TLS 1.2 connection (mbedtls 2.28), the only client file that
 * includes mbedtls headers and the one place mbedtls errors are translated (FIELDSYNC_ETLS,
 * with mbedtls's code and text in the handle's message). The socket is non-blocking
 * underneath: every wait goes through poll() in short slices so that the connect and per-I/O
 * timeouts hold and fieldsync_interrupt() is noticed within ~100 ms.
 *
 * Suites: ECDHE + AEAD only, ChaCha20-Poly1305 first; curves X25519 first. The last session
 * (with its ticket) is kept on the handle (struct tls_session) and offered on the next connect
 * to the same host and port: an abbreviated handshake saves a round trip on slow links.
 * mbedtls allocates with its own process-wide calloc/free (no per-handle hook exists in 2.28).
 */
#include "internal.h"

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct tls_session {
    mbedtls_ssl_session s;
    char host[FS_HOST_MAX + 1];
    uint16_t port;
};

struct tls_client {
    fieldsync_client *c;
    int fd;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    uint32_t io_ms;
    int why; /* FIELDSYNC_E* behind a failed bio call (timeout, cancel, cut) */
    int resumed;
    int ip_host;
    uint8_t ip[16];
    size_t ip_len;
    uint64_t sent, received;
};

static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0,
};

static const mbedtls_ecp_group_id curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

static int tls_fail(fieldsync_client *c, int r, const char *what)
{
    char buf[160];
    mbedtls_strerror(r, buf, sizeof buf);
    return fieldsync__fail(c, FIELDSYNC_ETLS, "%s: %s (mbedtls -0x%04x)", what, buf, (unsigned)-r);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait for fd to be ready for `events` within ms; 0 ready, or a FIELDSYNC_E code. */
static int wait_fd(fieldsync_client *c, int fd, short events, uint32_t ms)
{
    uint64_t deadline = mono_ms() + ms;
    for (;;) {
        if (atomic_load(&c->interrupted))
            return FIELDSYNC_ECANCELED;
        uint64_t now = mono_ms();
        if (now >= deadline)
            return FIELDSYNC_ETIMEDOUT;
        uint64_t slice = deadline - now;
        if (slice > 100)
            slice = 100;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)slice);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return FIELDSYNC_EIO;
    }
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct tls_client *t = ctx;
    for (;;) {
        ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            t->why = FIELDSYNC_EIO;
            return MBEDTLS_ERR_NET_SEND_FAILED;
        }
        int rc = wait_fd(t->c, t->fd, POLLOUT, t->io_ms);
        if (rc < 0) {
            t->why = rc;
            return MBEDTLS_ERR_NET_SEND_FAILED;
        }
    }
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct tls_client *t = ctx;
    for (;;) {
        ssize_t n = recv(t->fd, buf, len, 0);
        if (n > 0)
            return (int)n;
        if (n == 0) {
            t->why = FIELDSYNC_EIO;
            return MBEDTLS_ERR_NET_CONN_RESET;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            t->why = FIELDSYNC_EIO;
            return MBEDTLS_ERR_NET_RECV_FAILED;
        }
        int rc = wait_fd(t->c, t->fd, POLLIN, t->io_ms);
        if (rc < 0) {
            t->why = rc;
            return MBEDTLS_ERR_NET_RECV_FAILED;
        }
    }
}

/* A failed mbedtls call: the bio's reason if it had one, else a TLS error. */
static int io_fail(struct tls_client *t, int r, const char *what)
{
    fieldsync_client *c = t->c;
    switch (t->why) {
    case FIELDSYNC_ECANCELED:
        return fieldsync__fail(c, t->why, "%s: canceled", what);
    case FIELDSYNC_ETIMEDOUT:
        return fieldsync__fail(c, t->why, "%s: timed out after %u ms", what, t->io_ms);
    case FIELDSYNC_EIO:
        return fieldsync__fail(c, t->why, "%s: connection lost", what);
    default:
        break;
    }
    if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return fieldsync__fail(c, FIELDSYNC_EIO, "%s: the server closed the connection", what);
    return tls_fail(c, r, what);
}

/* TCP connect with a timeout, trying each address. */
static int tcp_connect(fieldsync_client *c, const char *host, uint16_t port, uint32_t ms, int *out)
{
    struct addrinfo hints, *res = NULL;
    char ps[8];
    int rc = FIELDSYNC_ECONNECT, fd = -1, err = 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ps, sizeof ps, "%u", port);
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g != 0)
        return fieldsync__fail(c, FIELDSYNC_ECONNECT, "cannot resolve %s: %s", host,
                               gai_strerror(g));
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            rc = 0;
            break;
        }
        if (errno == EINPROGRESS) {
            rc = wait_fd(c, fd, POLLOUT, ms);
            if (rc == 0) {
                socklen_t sl = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
                if (err == 0)
                    break;
                rc = FIELDSYNC_ECONNECT;
            } else if (rc == FIELDSYNC_ECANCELED) {
                close(fd);
                fd = -1;
                break;
            }
        } else {
            err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (rc == FIELDSYNC_ECANCELED)
            return fieldsync__fail(c, rc, "connect to %s:%u canceled", host, port);
        if (rc == FIELDSYNC_ETIMEDOUT)
            return fieldsync__fail(c, rc, "connect to %s:%u timed out after %u ms", host, port, ms);
        return fieldsync__fail(c, FIELDSYNC_ECONNECT, "cannot connect to %s:%u: %s", host, port,
                               err ? strerror(err) : "no address");
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *out = fd;
    return 0;
}

/* mbedtls 2.28 matches only DNS names: for an IP literal, look for the address as an iPAddress
 * subjectAltName ([7] with 4 or 16 bytes) in the leaf certificate signed by the trusted CA. */
/* 1 if the certificate's subjectAltName extension lists the iPAddress ip (ip_len bytes).
 * mbedtls 2.28 keeps only dNSName and otherName entries in crt->subject_alt_names, so walk
 * the raw extensions: SEQUENCE OF Extension { extnID, critical?, extnValue OCTET STRING
 * holding SEQUENCE OF GeneralName }, iPAddress being [7] (tag 0x87). */
static int san_has_ip(const mbedtls_x509_crt *crt, const uint8_t *ip, size_t ip_len)
{
    unsigned char *p = crt->v3_ext.p, *end = p + crt->v3_ext.len;
    size_t len;
    if (!p ||
        mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return 0;
    end = p + len;
    while (p < end) {
        unsigned char *ext_end;
        mbedtls_asn1_buf oid;
        int critical;
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
            return 0;
        ext_end = p + len;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID))
            return 0;
        oid.p = p;
        p += oid.len;
        if (mbedtls_asn1_get_bool(&p, ext_end, &critical) == MBEDTLS_ERR_ASN1_OUT_OF_DATA ||
            mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING))
            return 0;
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) != 0) {
            p = ext_end;
            continue;
        }
        unsigned char *names_end = p + len;
        if (mbedtls_asn1_get_tag(&p, names_end, &len,
                                 MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
            return 0;
        names_end = p + len;
        while (p < names_end) {
            unsigned char tag = *p++;
            if (mbedtls_asn1_get_len(&p, names_end, &len))
                return 0;
            if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS) &&
                len == ip_len && memcmp(p, ip, ip_len) == 0)
                return 1;
            p += len;
        }
        return 0;
    }
    return 0;
}

static int verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    struct tls_client *t = ctx;
    if (depth == 0 && t->ip_host && !san_has_ip(crt, t->ip, t->ip_len))
        *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

void tls_session_free(fieldsync_client *c, struct tls_session *s)
{
    if (!s)
        return;
    mbedtls_ssl_session_free(&s->s);
    mbedtls_platform_zeroize(s, sizeof *s);
    fieldsync__free(c, s);
}

int tls_client_connect(fieldsync_client *c, const char *host, uint16_t port, const uint8_t *ca_pem,
                       size_t ca_len, uint32_t connect_ms, uint32_t io_ms, struct tls_client **out)
{
    int rc = FIELDSYNC_ENOMEM, r;
    struct tls_client *t = fieldsync__alloc(c, sizeof *t);
    struct tls_session *cache = c->tls_cache;
    int offered = 0;
    static const char pers[] = "fieldsync client";

    *out = NULL;
    if (!t)
        return fieldsync__fail(c, rc, "out of memory");
    memset(t, 0, sizeof *t);
    t->c = c;
    t->fd = -1;
    t->io_ms = io_ms;
    mbedtls_ssl_init(&t->ssl);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);

    if (inet_pton(AF_INET, host, t->ip) == 1) {
        t->ip_host = 1;
        t->ip_len = 4;
    } else if (inet_pton(AF_INET6, host, t->ip) == 1) {
        t->ip_host = 1;
        t->ip_len = 16;
    }
    /* mbedtls_x509_crt_parse wants the terminating NUL counted for PEM. */
    if ((r = mbedtls_x509_crt_parse(&t->ca, ca_pem, ca_len + 1)) < 0) {
        rc = tls_fail(c, r, "cannot parse the CA certificate");
        goto out;
    }
    if ((r = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                   (const unsigned char *)pers, sizeof pers - 1)) != 0 ||
        (r = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
        rc = tls_fail(c, r, "TLS setup");
        goto out;
    }
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    mbedtls_ssl_conf_ciphersuites(&t->conf, suites);
    mbedtls_ssl_conf_curves(&t->conf, curves);
    mbedtls_ssl_conf_session_tickets(&t->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    mbedtls_ssl_conf_verify(&t->conf, verify_cb, t);
    if ((r = mbedtls_ssl_setup(&t->ssl, &t->conf)) != 0 ||
        (r = mbedtls_ssl_set_hostname(&t->ssl, t->ip_host ? NULL : host)) != 0) {
        rc = tls_fail(c, r, "TLS setup");
        goto out;
    }
    if (cache && cache->port == port && strcmp(cache->host, host) == 0) {
        if (mbedtls_ssl_set_session(&t->ssl, &cache->s) == 0)
            offered = 1;
    }
    if ((rc = tcp_connect(c, host, port, connect_ms, &t->fd)) < 0)
        goto out;
    mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
    /* The handshake shares the connect timeout. */
    t->io_ms = connect_ms;
    while ((r = mbedtls_ssl_handshake(&t->ssl)) != 0) {
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);
        if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags) {
            char vbuf[256];
            mbedtls_x509_crt_verify_info(vbuf, sizeof vbuf, "", flags);
            size_t vl = strlen(vbuf);
            while (vl && (vbuf[vl - 1] == '\n'))
                vbuf[--vl] = 0;
            rc = fieldsync__fail(c, FIELDSYNC_ETLS, "certificate of %s rejected: %s", host, vbuf);
        } else {
            rc = io_fail(t, r, "TLS handshake");
        }
        if (offered && cache) {
            /* A stale session must not poison the next attempt. */
            tls_session_free(c, c->tls_cache);
            c->tls_cache = NULL;
        }
        goto out;
    }
    t->io_ms = io_ms;

    /* Keep the new session (with its ticket) for next time. Resumed when the master secret is
     * the cached session's. */
    struct tls_session *ns = fieldsync__alloc(c, sizeof *ns);
    if (ns) {
        memset(ns, 0, sizeof *ns);
        mbedtls_ssl_session_init(&ns->s);
        if (mbedtls_ssl_get_session(&t->ssl, &ns->s) == 0) {
            snprintf(ns->host, sizeof ns->host, "%s", host);
            ns->port = port;
            if (offered && cache && memcmp(ns->s.master, cache->s.master, sizeof ns->s.master) == 0)
                t->resumed = 1;
            tls_session_free(c, c->tls_cache);
            c->tls_cache = ns;
        } else {
            tls_session_free(c, ns);
        }
    }
    *out = t;
    t = NULL;
    rc = 0;
out:
    if (t)
        tls_client_close(t);
    return rc;
}

int tls_client_resumed(const struct tls_client *t)
{
    return t->resumed;
}

int tls_client_write(struct tls_client *t, const uint8_t *p, size_t n)
{
    while (n > 0) {
        t->why = 0;
        int r = mbedtls_ssl_write(&t->ssl, p, n);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (r < 0)
            return io_fail(t, r, "send");
        p += r;
        n -= (size_t)r;
        t->sent += (uint64_t)r;
    }
    return 0;
}

int tls_client_read(struct tls_client *t, uint8_t *p, size_t n)
{
    while (n > 0) {
        t->why = 0;
        int r = mbedtls_ssl_read(&t->ssl, p, n);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (r == 0)
            return fieldsync__fail(t->c, FIELDSYNC_EIO,
                                   "receive: the server closed the connection");
        if (r < 0)
            return io_fail(t, r, "receive");
        p += r;
        n -= (size_t)r;
        t->received += (uint64_t)r;
    }
    return 0;
}

uint64_t tls_client_bytes_sent(const struct tls_client *t)
{
    return t->sent;
}

uint64_t tls_client_bytes_received(const struct tls_client *t)
{
    return t->received;
}

void tls_client_close(struct tls_client *t)
{
    if (!t)
        return;
    if (t->fd >= 0) {
        /* Best effort, without waiting: the socket is non-blocking. */
        t->io_ms = 0;
        mbedtls_ssl_close_notify(&t->ssl);
        close(t->fd);
    }
    mbedtls_ssl_free(&t->ssl);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    fieldsync_client *c = t->c;
    mbedtls_platform_zeroize(t, sizeof *t);
    fieldsync__free(c, t);
}
