/*
 * listener: the listening TCP socket. Accepts connections up to max_connections (beyond it:
 * accept and close at once, logged), hands each to conn, and closes them all at shutdown.
 * Loop thread only.
 */
#ifndef FS_LISTENER_H
#define FS_LISTENER_H

#include "conn_internal.h"

#include <uv.h>

struct server;

struct listener {
    uv_tcp_t tcp;
    struct server *s;
    struct conn_list conns;
    int open;
    uint64_t accepted, refused;
};

/* Bind and listen on cfg->listen_host:listen_port. *port gets the bound port.
 * 0 or FIELDSYNC_EIO (detail in err). */
int listener_start(struct listener *l, struct server *s, int *port, char *err, size_t errlen);
/* Stop accepting (close the socket) and close every connection. Idempotent. */
void listener_stop(struct listener *l);

#endif
