/*
 * handlers: one function per request type, called by dispatch on the loop thread once the
 * session state allows the request. `payload` is the raw Frame bytes (valid only during the
 * call: copy what an asynchronous job needs); `f` is the decoded frame (same lifetime).
 * Each handler answers exactly once, now or later, with conn_reply or conn_reply_error.
 */
#ifndef FS_HANDLERS_H
#define FS_HANDLERS_H

#include "sync.pb-c.h"

#include <stddef.h>
#include <stdint.h>

struct conn;

/* h_session.c */
void h_hello(struct conn *c, const Fieldsync__Frame *f);
void h_enroll(struct conn *c, const Fieldsync__Frame *f);
void h_ping(struct conn *c, const Fieldsync__Frame *f);
/* h_push.c */
void h_push(struct conn *c, const Fieldsync__Frame *f, const uint8_t *payload, size_t len);
/* h_pull.c */
void h_pull(struct conn *c, const Fieldsync__Frame *f);

#endif
