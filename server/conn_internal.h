/*
 * conn_internal: the connection functions for the transport side (listener, dispatch,
 * h_session), beyond what conn.h shows handlers. Loop thread only.
 */
#ifndef FS_CONN_INTERNAL_H
#define FS_CONN_INTERNAL_H

#include "conn.h"

#include <stdint.h>
#include <uv.h>

struct server;

/* Every open connection of one listener (for the cap and for shutdown). */
struct conn_list {
    struct conn *head;
    unsigned count;
};

/* Accept one pending connection from `server_stream` into a new conn (TLS started, handshake
 * timer armed). 0, FIELDSYNC_ENOMEM, FIELDSYNC_ETLS, FIELDSYNC_EIO. */
int conn_accept(struct server *s, struct conn_list *list, uv_stream_t *server_stream);
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

/* Peer IP address bytes (4 or 16) for per-address limits; returns the length. */
size_t conn_peer_ip(const struct conn *c, uint8_t out[16]);

#endif
