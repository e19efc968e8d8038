/*
 * tls: the server side of TLS, the only server module (with devcert) that includes mbedtls
 * headers. Non-blocking and transport-free: the connection code hands received ciphertext in
 * with tls_conn_input() and takes ciphertext to send out with tls_conn_take_output(); nothing
 * here touches a socket or the loop. TLS 1.2, ECDHE + AEAD suites, session tickets.
 * Also the few crypto primitives the server needs (SHA-256, constant-time compare, zeroize),
 * so that auth and admin stay free of mbedtls.
 */
#ifndef FS_TLS_H
#define FS_TLS_H

#include <stddef.h>
#include <stdint.h>

struct tls_server;
struct tls_conn;

/* Load the certificate chain and key (PEM files), seed the DRBG and the ticket keys.
 * 0, FIELDSYNC_ETLS (detail in err), FIELDSYNC_ENOMEM. */
int tls_server_new(struct tls_server **out, const char *cert_path, const char *key_path,
                   uint32_t ticket_lifetime_s, char *err, size_t errlen);
void tls_server_free(struct tls_server *t);

/* A server-side connection context. 0, FIELDSYNC_ENOMEM, FIELDSYNC_ETLS. */
int tls_conn_new(struct tls_server *t, struct tls_conn **out);
void tls_conn_free(struct tls_conn *c);

/* Received ciphertext, borrowed: it must stay valid until handshake/read return wanting more
 * input, which means every byte was consumed (mbedtls keeps partial records itself). */
void tls_conn_input(struct tls_conn *c, const uint8_t *p, size_t n);
/* Drive the handshake: 1 done, 0 more input needed, FIELDSYNC_ETLS. */
int tls_conn_handshake(struct tls_conn *c);
int tls_conn_handshake_done(const struct tls_conn *c);
/* Plaintext: >0 bytes read, 0 more input needed, FIELDSYNC_EIO when the peer closed
 * (close_notify), FIELDSYNC_ETLS on failure. */
int tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap);
/* Encrypt n bytes (all of them) into the output. 0 or FIELDSYNC_ETLS / FIELDSYNC_ENOMEM. */
int tls_conn_write(struct tls_conn *c, const uint8_t *p, size_t n);
/* Queue a close_notify alert. */
void tls_conn_close_notify(struct tls_conn *c);
/* Ciphertext waiting to be sent: hands over the malloc'd buffer (caller frees) and returns
 * its length; 0 (and *buf NULL) when there is nothing. */
size_t tls_conn_take_output(struct tls_conn *c, uint8_t **buf);
/* The last mbedtls failure on this connection, as text (for logs). */
void tls_conn_errstr(const struct tls_conn *c, char *buf, size_t cap);
/* Negotiated suite name ("?" before the handshake). */
const char *tls_conn_suite(const struct tls_conn *c);

/* Crypto helpers. */
void tls_sha256(const void *p, size_t n, uint8_t out[32]);
/* 1 if equal, in time independent of the contents. */
int tls_memeq(const void *a, const void *b, size_t n);
void tls_zeroize(void *p, size_t n);

#endif
