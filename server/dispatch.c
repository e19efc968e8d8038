/*
 * dispatch: decode a frame and route it by session state (see dispatch.h).
 *
 * States: unauthenticated (Hello, Enroll, Ping allowed; Enroll leaves the connection
 * unauthenticated), authenticating (a Hello or Enroll job is in flight: nothing but Ping),
 * authenticated (everything but Hello and Enroll). Server-to-client messages sent by a client
 * are protocol errors. Every admitted request counts against max_in_flight until its reply;
 * after Hello each also takes a token from the device's rate bucket.
 * Depends on conn (internal API), frame, handlers; nothing below them.
 */
#include "dispatch.h"

#include "conn_internal.h"
#include "error.h"
#include "frame.h"
#include "handlers.h"
#include "server.h"

#include <stdio.h>

static const char *msg_name(Fieldsync__Frame__MsgCase m)
{
    switch (m) {
    case FIELDSYNC__FRAME__MSG_HELLO:
        return "Hello";
    case FIELDSYNC__FRAME__MSG_ENROLL:
        return "Enroll";
    case FIELDSYNC__FRAME__MSG_PING:
        return "Ping";
    case FIELDSYNC__FRAME__MSG_PUSH:
        return "PushBatch";
    case FIELDSYNC__FRAME__MSG_PULL:
        return "PullRequest";
    default:
        return "server message";
    }
}

void dispatch_frame(struct conn *c, const uint8_t *payload, size_t len, struct arena *a)
{
    Fieldsync__Frame *f = NULL;
    if (frame_decode(payload, len, &a->pb, &f) < 0) {
        conn_send_error(c, 0, FIELDSYNC_EPROTO, 1, "malformed frame");
        return;
    }
    uint32_t rid = f->request_id;
    Fieldsync__Frame__MsgCase m = f->msg_case;
    char msg[96];

    if (conn_server(c)->shutting_down) {
        conn_send_error(c, rid, FIELDSYNC_ESHUTDOWN, 1, "server shutting down; retry later");
        return;
    }
    switch (m) {
    case FIELDSYNC__FRAME__MSG_HELLO:
    case FIELDSYNC__FRAME__MSG_ENROLL:
        if (conn_authenticated(c) || conn_auth_pending(c)) {
            snprintf(msg, sizeof msg, "%s not allowed: session %s", msg_name(m),
                     conn_authenticated(c) ? "already authenticated" : "authenticating");
            conn_send_error(c, rid, FIELDSYNC_ESTATE, 0, msg);
            return;
        }
        break;
    case FIELDSYNC__FRAME__MSG_PING:
        break;
    case FIELDSYNC__FRAME__MSG_PUSH:
    case FIELDSYNC__FRAME__MSG_PULL:
        if (!conn_authenticated(c)) {
            snprintf(msg, sizeof msg, "%s before Hello", msg_name(m));
            conn_send_error(c, rid, FIELDSYNC_ESTATE, 0, msg);
            return;
        }
        break;
    default:
        conn_send_error(c, rid, FIELDSYNC_EPROTO, 0, "not a client-to-server message");
        return;
    }

    int rc = conn_request_begin(c);
    if (rc == FIELDSYNC_ERATE) {
        conn_send_error(c, rid, rc, 0, "request rate over the device's limit; slow down");
        return;
    }
    if (rc < 0) {
        snprintf(msg, sizeof msg, "more than %u requests in flight",
                 conn_server(c)->cfg->max_in_flight);
        conn_send_error(c, rid, rc, 0, msg);
        return;
    }
    switch (m) {
    case FIELDSYNC__FRAME__MSG_HELLO:
        h_hello(c, f);
        break;
    case FIELDSYNC__FRAME__MSG_ENROLL:
        h_enroll(c, f);
        break;
    case FIELDSYNC__FRAME__MSG_PING:
        h_ping(c, f);
        break;
    case FIELDSYNC__FRAME__MSG_PUSH:
        h_push(c, f, a);
        break;
    case FIELDSYNC__FRAME__MSG_PULL:
        h_pull(c, f);
        break;
    default:
        break;
    }
}
