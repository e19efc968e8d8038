/*
 * conn_internal: the connection functions for the transport side (listener, dispatch,
 * h_session, and the in-process harness of the fuzz targets), beyond what conn.h shows
 * handlers. Loop thread only.
 */
#ifndef FS_CONN_INTERNAL_H
#define FS_CONN_INTERNAL_H

#include "conn.h"

#include <stdint.h>
#include <uv.h>

struct server;

#define CONN_PREAUTH_BUCKETS 4096

/* Every open connection of one listener (for the cap and for shutdown), and the ones not yet
 * authenticated hashed by source address (IPv4, or the /64 of IPv6) for the per-address cap
 * on them. */
struct conn_list {
    struct conn *head;
    unsigned count;
    struct conn *preauth[CONN_PREAUTH_BUCKETS];
    struct conn *pa_oldest, *pa_newest; /* the same connections by age */
    unsigned preauth_total;
};

/* Accept one pending connection from `server_stream` into a new conn (TLS started, handshake
 * timer armed). 0, FIELDSYNC_EBUSY (over the per-address cap on connections before Hello:
 * closed at once), FIELDSYNC_ENOMEM, FIELDSYNC_ETLS, FIELDSYNC_EIO. */
int conn_accept(struct server *s, struct conn_list *list, uv_stream_t *server_stream);
/* Where a local connection's output goes: each frame the server sends (header included),
 * in order; the bytes are valid only during the call. Called on the loop thread, also from
 * inside conn_local_input; it must not call back into the connection. */
typedef void (*conn_output_cb)(void *user, const uint8_t *frame, size_t len);
/* A connection with no socket and no TLS (fuzz targets, in-process tests): plaintext in
 * through conn_local_input, frames out through out(user, ...). Same limits, session states,
 * timers, dispatch and handlers as an accepted connection; peer "local", no IP address. Close
 * it with conn_close; it is freed (and leaves the list) once the loop ran its close callback
 * and every conn_ref is dropped. 0, FIELDSYNC_ENOMEM, FIELDSYNC_EIO. */
int conn_open_local(struct server *s, struct conn_list *list, conn_output_cb out, void *user,
                    struct conn **c);
/* Bytes from the peer of a local connection, handled as one read burst (frames reassembled
 * across calls). Ignored once the connection is closing. */
void conn_local_input(struct conn *c, const uint8_t *p, size_t n);
/* Close: flush what is queued (bounded by a short linger), then close the socket.
 * Idempotent. */
void conn_close(struct conn *c, const char *reason);
/* Close every connection of the list (shutdown). */
void conn_close_all(struct conn_list *list, const char *reason);

/* Error frame not tied to an accepted request (no in-flight accounting): framing errors,
 * state errors, BUSY. */
void conn_send_error(struct conn *c, uint32_t request_id, int code, int close, const char *msg);

/* Session state. */
int conn_authenticated(const struct conn *c);
/* Hello succeeded: the session is set, the frame limit raised, the idle timeout in force. */
void conn_set_session(struct conn *c, const struct session *s);
/* An Enroll or Hello job is in flight (no second one meanwhile). */
int conn_auth_pending(const struct conn *c);
void conn_set_auth_pending(struct conn *c, int pending);
/* An Enroll succeeded: the handshake deadline starts again for the Hello that follows. */
void conn_restart_handshake_timer(struct conn *c);

/* Admit one request: 0, FIELDSYNC_EBUSY (in-flight limit), FIELDSYNC_ERATE (device rate). */
int conn_request_begin(struct conn *c);

/* Peer IP address bytes for per-address limits: 4 (IPv4, also when mapped into IPv6) or 16;
 * returns the length. */
size_t conn_peer_ip(const struct conn *c, uint8_t out[16]);

#endif
