/*
 * session: an authenticated session (Hello/Welcome) over a wire. See session.c.
 */
#ifndef FIELDSYNC_SESSION_H
#define FIELDSYNC_SESSION_H

#include "hlc.h"
#include "wire.h"

/* An authenticated session. */
struct session {
    struct wire w;
    struct lstore_device dev; /* as read at open, clock fields updated */
    struct hlc hlc;
    int resumed;
    uint32_t max_frame, max_batch, max_ops, max_in_flight, max_page;
    uint64_t max_clock_ahead_ms;
    uint64_t server_high_water;
};

int session_open(struct session *s, fieldsync_client *c, uint32_t connect_ms, uint32_t io_ms);
void session_close(struct session *s);

#endif
