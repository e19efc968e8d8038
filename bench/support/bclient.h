/*
 * bclient: the benchmarks' lean protocol client: one blocking TCP socket, TLS 1.2 through
 * mbedtls with bio callbacks that count every byte at the socket (TLS records included),
 * session-ticket resumption, pipelined requests (send without waiting), and a way to drop the
 * client's TLS state while keeping the socket open (so thousands of idle sessions cost the
 * bench almost nothing while the server keeps its side).
 *
 * A bclient_tls (CA, config, random generator) is shared by the connections of one thread.
 */
#ifndef FS_BCLIENT_H
#define FS_BCLIENT_H

#include "sync.pb-c.h"
#include "testclient.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <stddef.h>
#include <stdint.h>

struct bclient_tls {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

struct bclient {
    int fd;
    int tls_up;
    int verified; /* a certificate was verified: full handshake */
    mbedtls_ssl_context ssl;
    uint64_t bytes_sent, bytes_recv; /* at the socket */
    uint32_t next_id;
    uint8_t *buf; /* reused frame buffer */
    size_t buf_cap;
};

/* Client config trusting ca_path, offering mbedtls's default suites (the server then picks
 * its first choice). 0 or -1. */
int bclient_tls_setup(struct bclient_tls *t, const char *ca_path);
/* Offer only these suites (0-terminated, static storage) from now on. */
void bclient_tls_suites(struct bclient_tls *t, const int *suites);
/* The suites for a name: "chacha" (ECDHE-ECDSA-CHACHA20-POLY1305), "aes128" (ECDHE-ECDSA-AES-
 * 128-GCM) or NULL for the default list. Dies on an unknown name. */
const int *bclient_suites_named(const char *name);
void bclient_tls_close(struct bclient_tls *t);

/* TCP connect to 127.0.0.1:port and TLS handshake, resuming *session when given (the
 * ticket from an earlier connection). 0 or a FIELDSYNC_E code. */
int bclient_connect(struct bclient *c, struct bclient_tls *t, int port,
                    const mbedtls_ssl_session *session);
/* The same to an IPv4 address other than 127.0.0.1. */
int bclient_connect_addr(struct bclient *c, struct bclient_tls *t, const char *ipv4, int port,
                         const mbedtls_ssl_session *session);
/* 1 if the last handshake resumed a session. */
int bclient_resumed(const struct bclient *c);
/* Keep this connection's session (with its ticket) to resume later. 0 or -1. */
int bclient_save_session(struct bclient *c, mbedtls_ssl_session *out);
/* Free the client's TLS state, keep the socket open (the server is not told). */
void bclient_drop_tls(struct bclient *c);
/* Close the socket and free everything (close_notify first when TLS is up). */
void bclient_close(struct bclient *c);

/* Send one frame (assigns a request id when f->request_id is 0). 0 or FIELDSYNC_EIO. */
int bclient_send(struct bclient *c, Fieldsync__Frame *f);
/* Receive one frame (30 s timeout); free with fieldsync__frame__free_unpacked. */
int bclient_recv(struct bclient *c, Fieldsync__Frame **out);
/* Hello with an identity; 0 when Welcome came back. */
int bclient_hello(struct bclient *c, const struct testclient_identity *id);

#endif
