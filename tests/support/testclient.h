/*
 * testclient: a minimal blocking fieldsync client for tests and benchmarks: TCP to
 * 127.0.0.1, TLS 1.2 with mbedtls trusting one CA file, frames in and out, every receive
 * bounded by a timeout. Also raw bytes (before or instead of TLS) for bad-input tests.
 * Not the client library: no store, no retries; one connection per struct.
 *
 * Return codes are FIELDSYNC_E* values: FIELDSYNC_ECONNECT (TCP), FIELDSYNC_ETLS (handshake),
 * FIELDSYNC_ETIMEDOUT (nothing arrived in time), FIELDSYNC_EIO (the server closed),
 * FIELDSYNC_EPROTO (undecodable frame). The request helpers return the server's Error code
 * (negated, e.g. FIELDSYNC_EAUTH) when it answers with an Error.
 */
#ifndef FS_TESTCLIENT_H
#define FS_TESTCLIENT_H

#include "sync.pb-c.h"

#include <stddef.h>
#include <stdint.h>

struct testclient;

struct testclient_identity {
    uint8_t device_id[16];
    uint8_t credential[32];
};

/* TCP connect (no TLS yet). */
int testclient_connect_raw(struct testclient **out, int port);
/* TCP connect + TLS handshake trusting ca_path (server name "localhost"). */
int testclient_connect(struct testclient **out, int port, const char *ca_path);
/* TLS handshake on a raw connection. */
int testclient_handshake(struct testclient *c, const char *ca_path);
void testclient_close(struct testclient *c);

/* TLS session resumption (session tickets). A saved session lets the next connection resume
 * with one round trip fewer; testclient_resumed tells whether it did. */
struct testclient_session;
int testclient_session_save(struct testclient *c, struct testclient_session **out);
void testclient_session_free(struct testclient_session *s);
int testclient_connect_resume(struct testclient **out, int port, const char *ca_path,
                              const struct testclient_session *s);
int testclient_resumed(const struct testclient *c);
/* Receive timeout for every later read (default 5000 ms). */
void testclient_set_timeout(struct testclient *c, int ms);

/* Bytes as they are: through TLS once it is up, else straight on the socket. */
int testclient_send_raw(struct testclient *c, const void *p, size_t n);
/* Read raw bytes (through TLS when up): >0 bytes, 0 on orderly close, or an error code. */
int testclient_recv_raw(struct testclient *c, void *buf, size_t cap);
/* One frame (length header added). */
int testclient_send(struct testclient *c, const Fieldsync__Frame *f);
/* The next frame; free it with fieldsync__frame__free_unpacked(f, NULL). */
int testclient_recv(struct testclient *c, Fieldsync__Frame **out);
/* Send f with a fresh request_id, receive the answer to it (frames for other ids are
 * skipped). 0, the Error's code (negative), or a transport error. *reply (if given) gets
 * the answer frame, Error frames included. */
int testclient_request(struct testclient *c, Fieldsync__Frame *f, Fieldsync__Frame **reply);
/* Wait until the server closes the connection: 0 when it did, FIELDSYNC_ETIMEDOUT if not. */
int testclient_wait_closed(struct testclient *c);

/* Enroll with a code; fills id on success. *reply optional (EnrollResult). */
int testclient_enroll(struct testclient *c, const char *code, const char *device_name,
                      struct testclient_identity *id, Fieldsync__Frame **reply);
/* Hello with protocol version 1. *reply optional (Welcome). */
int testclient_hello(struct testclient *c, const struct testclient_identity *id, uint64_t device_hw,
                     Fieldsync__Frame **reply);
/* Ping; checks the echoed nonce. */
int testclient_ping(struct testclient *c);
/* The Error code of the last Error frame received (0 if none) and its message. */
int testclient_last_error(const struct testclient *c, const char **msg);

#endif
