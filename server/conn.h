/*
 * conn: one client connection: TLS over a libuv TCP stream (or, for in-process use, a local
 * connection with neither: see conn_internal.h), frame reassembly, the session
 * state, the output queue and the per-connection limits. This header is the part handlers
 * see: they answer requests through conn_reply*, never by writing to the socket.
 *
 * Lifetime: a connection is freed only in its uv_close callback, and only once every
 * reference taken by conn_ref (e.g. by a writer or reader job in flight) is dropped. Replies
 * to a closing connection are dropped silently.
 */
#ifndef FS_CONN_H
#define FS_CONN_H

#include "session.h"
#include "sync.pb-c.h"

#include <stdint.h>

struct conn;
struct server;

struct server *conn_server(struct conn *c);
const struct session *conn_session(const struct conn *c);
/* Keep the connection struct alive across asynchronous work (loop thread only). */
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
int conn_is_closing(const struct conn *c);
/* Peer address as text, for logs. */
const char *conn_peer(const struct conn *c);

/* Answer request `request_id` with frame f (packed at once: f may be freed on return).
 * Ends the request for in-flight accounting. Loop thread only. */
void conn_reply(struct conn *c, uint32_t request_id, const Fieldsync__Frame *f);
/* Answer with an Error frame: code is a FIELDSYNC_E* value; the message is formatted; with
 * close set the connection closes once the frame is flushed. Logs one line. */
void conn_reply_error(struct conn *c, uint32_t request_id, int code, int close, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));
/* Like conn_reply_error, with the server's HLC attached (ERROR_CLOCK_AHEAD). */
void conn_reply_error_hlc(struct conn *c, uint32_t request_id, int code, uint64_t server_hlc,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
