/*
 * wire: framed protobuf over the client's TLS connection (4-byte big-endian length + one
 * Frame). Every length read from the network is checked against the limit in force before
 * anything is allocated for it. Incoming frames are unpacked into a per-connection arena (no
 * malloc per field); outgoing ones are packed into a reused buffer. A server Error frame
 * becomes its FIELDSYNC_E* code with the server's message in the handle's message.
 */
#include "wire.h"

#include "error.h"
#include "frame.h"

#include <stdio.h>
#include <string.h>

void wire_init(struct wire *w, fieldsync_client *c, struct tls_client *t)
{
    memset(w, 0, sizeof *w);
    w->c = c;
    w->t = t;
    w->max_frame = FRAME_MAX_PREAUTH;
    fieldsync__arena_init(&w->arena, c);
}

void wire_close(struct wire *w)
{
    fieldsync__buf_free(w->c, &w->out);
    fieldsync__buf_free(w->c, &w->in);
    fieldsync__arena_close(&w->arena);
    if (w->t)
        tls_client_close(w->t);
    w->t = NULL;
}

int wire_send(struct wire *w, const Fieldsync__Frame *f)
{
    size_t need = frame_encoded_size(f);
    int rc;
    w->out.len = 0;
    if ((rc = fieldsync__buf_reserve(w->c, &w->out, need)) < 0)
        return rc;
    size_t n = frame_encode(f, w->out.p, w->out.cap);
    if (n == 0)
        return fieldsync__fail(w->c, FIELDSYNC_EINTERNAL, "frame encoding failed");
    return tls_client_write(w->t, w->out.p, n);
}

int wire_send_raw(struct wire *w, const uint8_t *payload, size_t len)
{
    uint8_t hdr[FRAME_HEADER_LEN];
    int rc;
    frame_put_len(hdr, (uint32_t)len);
    if ((rc = tls_client_write(w->t, hdr, sizeof hdr)) < 0)
        return rc;
    return tls_client_write(w->t, payload, len);
}

int wire_recv(struct wire *w, Fieldsync__Frame **out)
{
    uint8_t hdr[FRAME_HEADER_LEN];
    int rc;
    *out = NULL;
    if ((rc = tls_client_read(w->t, hdr, sizeof hdr)) < 0)
        return rc;
    uint32_t len = frame_get_len(hdr);
    /* The server's frames may be as large as the session's max_frame (a pull page). */
    uint32_t limit = w->max_frame > FRAME_MAX_DEFAULT ? w->max_frame : FRAME_MAX_DEFAULT;
    if (len > limit)
        return fieldsync__fail(w->c, FIELDSYNC_EFRAMESIZE,
                               "the server sent a %u-byte frame (limit %u)", len, limit);
    w->in.len = 0;
    if ((rc = fieldsync__buf_reserve(w->c, &w->in, len)) < 0)
        return rc;
    if ((rc = tls_client_read(w->t, w->in.p, len)) < 0)
        return rc;
    return wire_decode(w, w->in.p, len, out);
}

int wire_decode(struct wire *w, const uint8_t *payload, size_t len, Fieldsync__Frame **out)
{
    int rc;
    *out = NULL;
    fieldsync__arena_reset(&w->arena);
    if ((rc = frame_decode(payload, len, &w->arena.pb, out)) < 0) {
        if (w->arena.failed)
            return fieldsync__fail(w->c, FIELDSYNC_ENOMEM, "out of memory decoding a frame");
        return fieldsync__fail(w->c, rc, "malformed frame from the server");
    }
    return 0;
}

int wire_error(struct wire *w, const Fieldsync__Error *e)
{
    int rc = error_from_wire((int)e->code);
    return fieldsync__fail(w->c, rc, "server: %s (%s)", e->message ? e->message : "",
                           fieldsync_err_name(rc));
}

/* Wait for the answer to request_id, of the given kind. */
int wire_expect(struct wire *w, uint32_t request_id, Fieldsync__Frame__MsgCase kind,
                Fieldsync__Frame **out)
{
    int rc;
    Fieldsync__Frame *f;
    for (;;) {
        if ((rc = wire_recv(w, &f)) < 0)
            return rc;
        if (f->msg_case == FIELDSYNC__FRAME__MSG_ERROR &&
            (f->request_id == request_id || f->request_id == 0))
            return wire_error(w, f->error);
        if (f->msg_case == FIELDSYNC__FRAME__MSG_PONG)
            continue;
        if (f->request_id != request_id || f->msg_case != kind)
            return fieldsync__fail(w->c, FIELDSYNC_EPROTO,
                                   "unexpected frame from the server (request %u, message %d)",
                                   f->request_id, (int)f->msg_case);
        *out = f;
        return 0;
    }
}
