/*
 * dispatch: the session state machine. Decodes one frame, checks that its message is allowed
 * in the connection's state (before Hello: Hello, Enroll, Ping only), admits it against the
 * in-flight and rate limits, and calls its handler. Loop thread only.
 */
#ifndef FS_DISPATCH_H
#define FS_DISPATCH_H

#include "arena.h"

#include <stddef.h>
#include <stdint.h>

struct conn;

/* One frame payload (without its length header); a is reset by the caller afterwards. */
void dispatch_frame(struct conn *c, const uint8_t *payload, size_t len, struct arena *a);

#endif
