/*
 * handlers: one function per request type, called by dispatch on the loop thread once the
 * session state allows the request. `f` is the decoded frame, valid only during the call
 * (copy what an asynchronous job needs), unless the handler takes over the arena it was
 * decoded into (h_push).
 * Each handler answers exactly once, now or later, with conn_reply or conn_reply_error.
 */
#ifndef FS_HANDLERS_H
#define FS_HANDLERS_H

#include "sync.pb-c.h"

#include <stddef.h>
#include <stdint.h>

struct arena;
struct conn;

/* h_session.c */
void h_hello(struct conn *c, const Fieldsync__Frame *f);
void h_enroll(struct conn *c, const Fieldsync__Frame *f);
void h_ping(struct conn *c, const Fieldsync__Frame *f);
/* h_push.c */
/* f was decoded into arena a (the connection's): h_push takes it over for its job. */
void h_push(struct conn *c, const Fieldsync__Frame *f, struct arena *a);
/* h_pull.c */
void h_pull(struct conn *c, const Fieldsync__Frame *f);

#endif
