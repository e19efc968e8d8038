/*
 * listener: accept loop and connection cap (see listener.h). Depends on conn (internal API)
 * and log; owns the list of connections so that shutdown can close them.
 */
#include "listener.h"

#include "error.h"
#include "log.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_refused_close(uv_handle_t *h)
{
    free(h);
}

/* Over the cap: accept (so the client is not left in the backlog) and close at once. */
static void refuse(struct listener *l)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t)
        return;
    if (uv_tcp_init(l->s->loop, t) != 0) {
        free(t);
        return;
    }
    uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, on_refused_close);
}

static void on_connection(uv_stream_t *server_stream, int status)
{
    struct listener *l = server_stream->data;
    if (status < 0) {
        log_warn("event=accept_fail err=%s", uv_err_name(status));
        return;
    }
    if (l->conns.count >= l->s->cfg->max_connections || l->s->shutting_down) {
        l->refused++;
        log_warn("event=conn_refused reason=%s conns=%u max=%u",
                 l->s->shutting_down ? "shutdown" : "max_connections", l->conns.count,
                 l->s->cfg->max_connections);
        refuse(l);
        return;
    }
    int rc = conn_accept(l->s, &l->conns, server_stream);
    if (rc == FIELDSYNC_EBUSY) { /* over the per-address cap: conn_accept logged it */
        l->refused++;
        return;
    }
    if (rc < 0) {
        log_warn("event=accept_fail err=%s", error_name(rc));
        return;
    }
    l->accepted++;
}

int listener_start(struct listener *l, struct server *s, int *port, char *err, size_t errlen)
{
    const struct config *cfg = s->cfg;
    memset(l, 0, sizeof *l);
    l->s = s;
    struct sockaddr_storage addr;
    int r;
    if (strchr(cfg->listen_host, ':'))
        r = uv_ip6_addr(cfg->listen_host, cfg->listen_port, (struct sockaddr_in6 *)&addr);
    else
        r = uv_ip4_addr(cfg->listen_host, cfg->listen_port, (struct sockaddr_in *)&addr);
    if (r != 0) {
        snprintf(err, errlen, "bad listen address '%s'", cfg->listen_host);
        return FIELDSYNC_EINVAL;
    }
    uv_tcp_init(s->loop, &l->tcp);
    l->tcp.data = l;
    l->open = 1;
    if ((r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&addr, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection)) != 0) {
        snprintf(err, errlen, "listen %s:%d: %s", cfg->listen_host, cfg->listen_port,
                 uv_strerror(r));
        listener_stop(l);
        return FIELDSYNC_EIO;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
    *port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

void listener_stop(struct listener *l)
{
    if (l->open) {
        l->open = 0;
        uv_close((uv_handle_t *)&l->tcp, NULL);
    }
    conn_close_all(&l->conns, "shutdown");
}
