/*
 * wire: framed protobuf messages over the client's TLS connection. See wire.c.
 */
#ifndef FIELDSYNC_WIRE_H
#define FIELDSYNC_WIRE_H

#include "internal.h"

#include "sync.pb-c.h"

struct wire {
    fieldsync_client *c;
    struct tls_client *t;
    struct fs_buf out;
    struct fs_buf in;
    struct fs_arena arena; /* the last received frame lives here */
    uint32_t max_frame;
};

void wire_init(struct wire *w, fieldsync_client *c, struct tls_client *t);
void wire_close(struct wire *w);
int wire_send(struct wire *w, const Fieldsync__Frame *f);
/* Send an already packed Frame payload (the header is added). */
int wire_send_raw(struct wire *w, const uint8_t *payload, size_t len);
/* Next frame; valid until the next wire_recv. */
int wire_recv(struct wire *w, Fieldsync__Frame **out);
/* Unpack one received Frame payload into the wire's arena (what wire_recv does once the bytes
 * are in); valid until the next wire_recv/wire_decode. 0, FIELDSYNC_EPROTO, FIELDSYNC_ENOMEM. */
int wire_decode(struct wire *w, const uint8_t *payload, size_t len, Fieldsync__Frame **out);
/* The code and message of a server Error (message into the handle). */
int wire_error(struct wire *w, const Fieldsync__Error *e);
/* Next frame, which must answer request_id with message kind (an Error becomes its code). */
int wire_expect(struct wire *w, uint32_t request_id, Fieldsync__Frame__MsgCase kind,
                Fieldsync__Frame **out);

#endif
