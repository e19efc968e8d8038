/*
 * conn: one client connection (see conn.h and conn_internal.h): a libuv TCP stream, its TLS
 * context, frame reassembly, the output accounting and the timers.
 *
 * Read path: libuv reads into one loop-wide buffer; the bytes are lent to TLS, which mbedtls
 * consumes entirely before asking for more (it keeps partial records itself), so a connection
 * owns no input buffer. Plaintext goes to the frame reader, frames to dispatch. When a read
 * burst leaves nothing pending, the frame buffer and the decode arena are released, so an
 * idle connection holds only its struct, its TLS context and its handles.
 *
 * Write path: replies are packed, encrypted into the TLS output buffer and handed to uv_write
 * as one request per flush (one per read burst for pipelined requests). Bytes the kernel has
 * not taken yet are watched: past max_output the connection stops reading and dispatching (a
 * client that does not read its replies cannot make us buffer without bound); past that plus
 * what the requests already in flight may answer (max_in_flight frames) it is cut; a paused
 * connection that stays silent meets the idle timeout.
 *
 * Local connections (conn_open_local) have no socket and no TLS: the caller hands plaintext
 * bytes in (conn_local_input, as one read burst) and every frame sent goes to its callback.
 * Everything else (frame limits, session state, timers, dispatch, in-flight accounting,
 * closing) is the same code as for an accepted connection. For fuzzing and in-process tests.
 *
 * Invariants: closing is idempotent; the struct is freed only after its handles' close
 * callbacks ran (the timer, and the TCP stream unless local) and every conn_ref is dropped.
 * Replies to a closing connection are dropped.
 * Depends on tls, frame, arena, dispatch, auth (rate buckets), log; never on the store.
 */
#include "conn_internal.h"

#include "auth.h"
#include "rate.h"
#include "dispatch.h"
#include "error.h"
#include "frame.h"
#include "log.h"
#include "server.h"
#include "tls.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_BUF_SIZE  (64 * 1024)
#define PLAIN_BUF_SIZE (16 * 1024)
#define LINGER_MS      3000
#define ARENA_BLOCK    4096

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct server *s;
    struct conn_list *list;
    struct conn *prev, *next;
    struct tls_conn *tls; /* NULL when local */
    conn_output_cb local_out;
    void *local_user;
    struct frame_reader fr;
    struct arena arena;
    struct session sess;
    struct sockaddr_storage addr;
    char peer[64];
    uint64_t out_queued; /* bytes handed to uv_write, not yet written */
    uint64_t last_active;
    unsigned in_flight;
    unsigned refs;
    int handles_open;
    unsigned authed : 1, auth_pending : 1, closing : 1, hard_closed : 1, paused : 1, arena_live : 1,
        in_read : 1, local : 1, preauth_listed : 1;
    /* In list->preauth[pa_bucket] and, oldest first, in list->pa_oldest.. while not
     * authenticated (accepted connections only). */
    struct conn *pa_next, *pa_prev, *age_next, *age_prev;
    uint8_t pa_key[8];
    uint8_t pa_len;
    unsigned pa_bucket;
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    uint8_t *buf;
    size_t len;
};

/* Loop thread only: one read buffer and one plaintext buffer for every connection. */
static uint8_t read_buf[READ_BUF_SIZE];
static uint8_t plain_buf[PLAIN_BUF_SIZE];

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_timer(uv_timer_t *t);
static void process_input(struct conn *c, size_t nread);
static void drain_frames(struct conn *c);
static void end_burst(struct conn *c);
static void error_frame(struct conn *c, uint32_t request_id, int code, int close,
                        uint64_t server_hlc, const char *msg);

struct server *conn_server(struct conn *c)
{
    return c->s;
}

const struct session *conn_session(const struct conn *c)
{
    return &c->sess;
}

int conn_is_closing(const struct conn *c)
{
    return c->closing;
}

const char *conn_peer(const struct conn *c)
{
    return c->peer;
}

int conn_authenticated(const struct conn *c)
{
    return c->authed;
}

int conn_auth_pending(const struct conn *c)
{
    return c->auth_pending;
}

void conn_set_auth_pending(struct conn *c, int pending)
{
    c->auth_pending = pending ? 1 : 0;
}

size_t conn_peer_ip(const struct conn *c, uint8_t out[16])
{
    if (c->addr.ss_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)&c->addr)->sin_addr, 4);
        return 4;
    }
    if (c->addr.ss_family == AF_INET6) {
        const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in6 *)&c->addr)->sin6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, v4mapped, 12) == 0) { /* an IPv4 client of a dual-stack listener */
            memcpy(out, a + 12, 4);
            return 4;
        }
        memcpy(out, a, 16);
        return 16;
    }
    return 0;
}

/* ---- connections not yet authenticated, per source address ---- */

static void preauth_key(const struct conn *c, uint8_t key[8], uint8_t *len, unsigned *bucket)
{
    uint8_t ip[16];
    *len = (uint8_t)rate_addr_key_len(conn_peer_ip(c, ip));
    memcpy(key, ip, *len);
    *bucket = rate_hash(key, *len) % CONN_PREAUTH_BUCKETS;
}

static unsigned preauth_count(const struct conn_list *list, const uint8_t *key, uint8_t len,
                              unsigned bucket, unsigned stop_at)
{
    unsigned n = 0;
    for (const struct conn *x = list->preauth[bucket]; x && n < stop_at; x = x->pa_next)
        n += x->pa_len == len && memcmp(x->pa_key, key, len) == 0;
    return n;
}

static void preauth_add(struct conn *c)
{
    struct conn **head = &c->list->preauth[c->pa_bucket];
    c->pa_prev = NULL;
    c->pa_next = *head;
    if (*head)
        (*head)->pa_prev = c;
    *head = c;
    c->age_prev = c->list->pa_newest;
    c->age_next = NULL;
    if (c->list->pa_newest)
        c->list->pa_newest->age_next = c;
    else
        c->list->pa_oldest = c;
    c->list->pa_newest = c;
    c->list->preauth_total++;
    c->preauth_listed = 1;
}

static void preauth_del(struct conn *c)
{
    if (!c->preauth_listed)
        return;
    if (c->pa_prev)
        c->pa_prev->pa_next = c->pa_next;
    else
        c->list->preauth[c->pa_bucket] = c->pa_next;
    if (c->pa_next)
        c->pa_next->pa_prev = c->pa_prev;
    if (c->age_prev)
        c->age_prev->age_next = c->age_next;
    else
        c->list->pa_oldest = c->age_next;
    if (c->age_next)
        c->age_next->age_prev = c->age_prev;
    else
        c->list->pa_newest = c->age_prev;
    c->list->preauth_total--;
    c->preauth_listed = 0;
}

static void maybe_free(struct conn *c)
{
    if (c->handles_open > 0 || c->refs > 0 || !c->hard_closed)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else if (c->list->head == c)
        c->list->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->list->count--;
    preauth_del(c);
    tls_conn_free(c->tls);
    frame_reader_close(&c->fr);
    arena_close(&c->arena);
    tls_zeroize(&c->sess, sizeof c->sess);
    free(c);
}

void conn_ref(struct conn *c)
{
    c->refs++;
}

void conn_unref(struct conn *c)
{
    if (c->refs > 0)
        c->refs--;
    maybe_free(c);
}

static void on_handle_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->handles_open--;
    maybe_free(c);
}

static void hard_close(struct conn *c)
{
    if (c->hard_closed)
        return;
    c->hard_closed = 1;
    c->closing = 1;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_close);
    if (!c->local) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        uv_close((uv_handle_t *)&c->tcp, on_handle_close);
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;
    c->out_queued -= w->len;
    free(w->buf);
    free(w);
    if (status < 0 && !c->hard_closed) {
        log_info("event=conn_write_fail peer=%s err=%s", c->peer, uv_err_name(status));
        hard_close(c);
        return;
    }
    if (c->closing) {
        if (c->out_queued == 0)
            hard_close(c);
        return;
    }
    if (c->paused &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <= c->s->cfg->max_output / 2) {
        c->paused = 0;
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
            hard_close(c);
            return;
        }
        drain_frames(c); /* the frames read before the pause */
        end_burst(c);
    }
}

/* Hand whatever TLS produced to the socket. */
static void flush(struct conn *c)
{
    if (c->hard_closed || c->local)
        return;
    uint8_t *buf;
    size_t n = tls_conn_take_output(c->tls, &buf);
    if (n == 0)
        return;
    struct wreq *w = malloc(sizeof *w);
    if (!w) {
        free(buf);
        hard_close(c);
        return;
    }
    w->c = c;
    w->buf = buf;
    w->len = n;
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)n);
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r < 0) {
        free(buf);
        free(w);
        log_info("event=conn_write_fail peer=%s err=%s", c->peer, uv_err_name(r));
        hard_close(c);
        return;
    }
    c->out_queued += n;
    /* What the kernel would not take yet: grows only when the peer does not read. */
    size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    const struct config *cfg = c->s->cfg;
    uint64_t max = cfg->max_output;
    /* Once paused, the requests already in flight still answer (each reply at most a frame):
     * only beyond that is the peer misbehaving, not just slow. */
    if (q > max + (uint64_t)cfg->max_in_flight * cfg->max_frame) {
        log_warn("event=conn_cut peer=%s reason=output_over_limit queued=%zu", c->peer, q);
        hard_close(c);
    } else if (q > max && !c->paused && !c->closing) {
        c->paused = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
        log_info("event=conn_paused peer=%s queued=%zu", c->peer, q);
    }
}

void conn_close(struct conn *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = 1;
    log_info("event=conn_close peer=%s reason=%s", c->peer, reason);
    if (!c->local) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        tls_conn_close_notify(c->tls);
        flush(c);
    }
    if (c->hard_closed)
        return;
    if (c->out_queued == 0) {
        hard_close(c);
        return;
    }
    /* Let the last frames (an Error saying why) leave, but not forever. */
    uv_timer_start(&c->timer, on_timer, LINGER_MS, 0);
}

void conn_close_all(struct conn_list *list, const char *reason)
{
    for (struct conn *c = list->head; c; c = c->next)
        conn_close(c, reason);
}

/* Pack f (with request_id) and encrypt it. */
static void send_frame(struct conn *c, uint32_t request_id, const Fieldsync__Frame *f)
{
    if (c->closing)
        return;
    Fieldsync__Frame copy = *f;
    copy.request_id = request_id;
    size_t n = frame_encoded_size(&copy);
    uint8_t small[2048];
    uint8_t *buf = n <= sizeof small ? small : malloc(n);
    if (!buf) {
        log_error("event=conn_nomem peer=%s bytes=%zu", c->peer, n);
        hard_close(c);
        return;
    }
    int rc = FIELDSYNC_EINTERNAL;
    if (frame_encode(&copy, buf, n) == n) {
        rc = 0;
        if (c->local)
            c->local_out(c->local_user, buf, n);
        else
            rc = tls_conn_write(c->tls, buf, n);
    }
    /* Replies may carry secrets (EnrollResult): wipe the plaintext copy. */
    tls_zeroize(buf, n);
    if (buf != small)
        free(buf);
    if (rc < 0) {
        char e[200] = "frame encoding";
        if (!c->local)
            tls_conn_errstr(c->tls, e, sizeof e);
        log_error("event=conn_send_fail peer=%s code=%s err=\"%s\"", c->peer, error_name(rc), e);
        hard_close(c);
        return;
    }
    c->last_active = uv_now(c->s->loop);
    /* Replies to a burst of pipelined requests leave in one write, at the end of on_read. */
    if (!c->in_read)
        flush(c);
}

static void end_request(struct conn *c)
{
    if (c->in_flight > 0)
        c->in_flight--;
}

void conn_reply(struct conn *c, uint32_t request_id, const Fieldsync__Frame *f)
{
    end_request(c);
    /* Never send what the client must refuse: a reply over the limit in force is a server
     * bug, reported as such (and logged) rather than breaking the client's framing. */
    size_t n = fieldsync__frame__get_packed_size(f);
    uint32_t limit = c->authed ? c->s->cfg->max_frame : c->s->cfg->max_frame_preauth;
    if (n > limit) {
        log_error("event=reply_too_big peer=%s request_id=%u bytes=%zu limit=%u", c->peer,
                  request_id, n, limit);
        error_frame(c, request_id, FIELDSYNC_EINTERNAL, 0, server_hlc_now(c->s),
                    "reply over the frame limit (server bug)");
        return;
    }
    send_frame(c, request_id, f);
}

static void error_frame(struct conn *c, uint32_t request_id, int code, int close,
                        uint64_t server_hlc, const char *msg)
{
    log_info("event=error peer=%s request_id=%u code=%s closing=%d msg=\"%s\"", c->peer, request_id,
             error_name(code), close, msg);
    if (c->closing)
        return;
    Fieldsync__Error e = FIELDSYNC__ERROR__INIT;
    e.code = (Fieldsync__ErrorCode)error_to_wire(code);
    e.message = (char *)msg;
    e.server_hlc = server_hlc;
    e.closing = close ? 1 : 0;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_ERROR;
    f.error = &e;
    send_frame(c, request_id, &f);
    if (close)
        conn_close(c, error_name(code));
}

void conn_send_error(struct conn *c, uint32_t request_id, int code, int close, const char *msg)
{
    error_frame(c, request_id, code, close, server_hlc_now(c->s), msg);
}

void conn_reply_error(struct conn *c, uint32_t request_id, int code, int close, const char *fmt,
                      ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    end_request(c);
    error_frame(c, request_id, code, close, server_hlc_now(c->s), msg);
}

void conn_reply_error_hlc(struct conn *c, uint32_t request_id, int code, uint64_t server_hlc,
                          const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    end_request(c);
    error_frame(c, request_id, code, 0, server_hlc, msg);
}

int conn_request_begin(struct conn *c)
{
    const struct config *cfg = c->s->cfg;
    if (c->in_flight >= cfg->max_in_flight)
        return FIELDSYNC_EBUSY;
    /* One bucket per device, shared by all its connections. */
    if (c->authed &&
        rate_device_take(c->sess.device_id, uv_now(c->s->loop), cfg->rate_per_device) < 0)
        return FIELDSYNC_ERATE;
    c->in_flight++;
    return 0;
}

void conn_set_session(struct conn *c, const struct session *s)
{
    const struct config *cfg = c->s->cfg;
    c->sess = *s;
    c->authed = 1;
    preauth_del(c);
    frame_reader_set_limit(&c->fr, cfg->max_frame);
    arena_close(&c->arena);
    arena_init(&c->arena, ARENA_BLOCK, 4 * (size_t)cfg->max_frame + 65536);
    c->last_active = uv_now(c->s->loop);
    if (!c->closing)
        uv_timer_start(&c->timer, on_timer, cfg->idle_timeout_ms, 0);
}

void conn_restart_handshake_timer(struct conn *c)
{
    if (!c->closing && !c->authed)
        uv_timer_start(&c->timer, on_timer, c->s->cfg->handshake_timeout_ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->closing) { /* linger over */
        hard_close(c);
        return;
    }
    if (!c->authed) {
        if (!c->local && !tls_conn_handshake_done(c->tls)) {
            log_info("event=conn_timeout peer=%s phase=tls", c->peer);
            hard_close(c);
        } else {
            conn_send_error(c, 0, FIELDSYNC_ETIMEDOUT, 1, "handshake timeout: no Hello");
        }
        return;
    }
    uint64_t now = uv_now(c->s->loop);
    uint64_t idle = c->s->cfg->idle_timeout_ms;
    if (c->in_flight == 0 && now - c->last_active >= idle) {
        conn_send_error(c, 0, FIELDSYNC_ETIMEDOUT, 1, "idle timeout");
        return;
    }
    uint64_t left = c->in_flight ? idle : idle - (now - c->last_active);
    uv_timer_start(&c->timer, on_timer, left, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)read_buf, sizeof read_buf);
}

/* Whole frames out of the reader, into dispatch. A paused connection (its peer is not
 * reading its replies) dispatches nothing more: what was already read waits in the frame
 * reader until on_write resumes it, so a pipelining client is throttled, not cut. */
static void drain_frames(struct conn *c)
{
    for (;;) {
        if (c->closing || c->paused)
            return;
        const uint8_t *payload;
        size_t len;
        int r = frame_reader_next(&c->fr, &payload, &len);
        if (r == 0)
            return;
        if (r < 0) {
            char msg[96];
            snprintf(msg, sizeof msg, "frame over the limit of %u bytes", c->fr.limit);
            conn_send_error(c, 0, FIELDSYNC_EFRAMESIZE, 1, msg);
            return;
        }
        c->last_active = uv_now(c->s->loop);
        c->arena_live = 1;
        dispatch_frame(c, payload, len, &c->arena);
        arena_reset(&c->arena);
    }
}

/* After a read burst: send the replies it produced, then give back what it used. */
static void end_burst(struct conn *c)
{
    flush(c);
    if (c->closing)
        return;
    frame_reader_shrink(&c->fr);
    if (c->arena_live) {
        size_t limit = c->arena.limit;
        arena_close(&c->arena);
        arena_init(&c->arena, ARENA_BLOCK, limit);
        c->arena_live = 0;
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    (void)buf;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread != UV_EOF)
            log_info("event=conn_read_fail peer=%s err=%s", c->peer, uv_err_name((int)nread));
        else
            log_debug("event=conn_eof peer=%s", c->peer);
        hard_close(c);
        return;
    }
    if (c->closing)
        return;
    c->in_read = 1;
    process_input(c, (size_t)nread);
    c->in_read = 0;
    end_burst(c);
    tls_zeroize(plain_buf, sizeof plain_buf);
}

/* TLS, then frames, then dispatch, for one read's worth of ciphertext. */
static void process_input(struct conn *c, size_t nread)
{
    tls_conn_input(c->tls, read_buf, nread);
    if (!tls_conn_handshake_done(c->tls)) {
        int r = tls_conn_handshake(c->tls);
        if (r < 0) {
            char e[200];
            tls_conn_errstr(c->tls, e, sizeof e);
            log_info("event=tls_fail peer=%s err=\"%s\"", c->peer, e);
            flush(c); /* the alert, if mbedtls wrote one */
            conn_close(c, "tls");
            return;
        }
        flush(c);
        if (r == 0)
            return;
        log_debug("event=tls_ok peer=%s suite=%s", c->peer, tls_conn_suite(c->tls));
    }
    for (;;) {
        int n = tls_conn_read(c->tls, plain_buf, sizeof plain_buf);
        if (n == 0)
            break;
        if (n < 0) {
            if (n == FIELDSYNC_EIO) {
                conn_close(c, "peer_closed");
            } else {
                char e[200];
                tls_conn_errstr(c->tls, e, sizeof e);
                log_info("event=tls_fail peer=%s err=\"%s\"", c->peer, e);
                conn_close(c, "tls");
            }
            return;
        }
        if (frame_reader_feed(&c->fr, plain_buf, (size_t)n) < 0) {
            log_error("event=conn_nomem peer=%s", c->peer);
            hard_close(c);
            return;
        }
        drain_frames(c);
        if (c->closing)
            return;
    }
}

static void list_add(struct conn_list *list, struct conn *c)
{
    c->next = list->head;
    if (list->head)
        list->head->prev = c;
    list->head = c;
    list->count++;
}

int conn_accept(struct server *s, struct conn_list *list, uv_stream_t *server_stream)
{
    int rc = FIELDSYNC_ENOMEM;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        goto out;
    c->s = s;
    c->list = list;
    frame_reader_init(&c->fr, s->cfg->max_frame_preauth);
    arena_init(&c->arena, ARENA_BLOCK, 4 * (size_t)s->cfg->max_frame_preauth + 65536);
    rc = FIELDSYNC_EIO;
    /* Neither init can fail for a plain TCP handle and a timer (no socket is created yet). */
    if (uv_tcp_init(s->loop, &c->tcp) != 0 || uv_timer_init(s->loop, &c->timer) != 0)
        goto out;
    c->tcp.data = c;
    c->timer.data = c;
    /* From here on the handles exist: failures go through hard_close. */
    c->handles_open = 2;
    list_add(list, c);
    if (uv_accept(server_stream, (uv_stream_t *)&c->tcp) != 0) {
        hard_close(c);
        return FIELDSYNC_EIO;
    }
    int alen = sizeof c->addr;
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->addr, &alen) == 0) {
        char ip[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (c->addr.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&c->addr;
            uv_ip4_name(a, ip, sizeof ip);
            port = ntohs(a->sin_port);
        } else if (c->addr.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&c->addr;
            uv_ip6_name(a, ip, sizeof ip);
            port = ntohs(a->sin6_port);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    }
    /* Caps on connections still before Hello, checked before a TLS context is spent on them.
     * Per address, the newest is refused: one machine cannot hold every slot with silent
     * connections. In all, the oldest is closed instead: many machines holding silent
     * connections are cycled out while a real handshake (a few round trips) completes. */
    preauth_key(c, c->pa_key, &c->pa_len, &c->pa_bucket);
    uint32_t cap = s->cfg->max_preauth_per_address;
    if (cap && preauth_count(list, c->pa_key, c->pa_len, c->pa_bucket, cap) >= cap) {
        log_warn("event=conn_refused reason=preauth_per_address peer=%s max=%u", c->peer, cap);
        hard_close(c);
        return FIELDSYNC_EBUSY;
    }
    if (s->cfg->max_preauth && list->preauth_total >= s->cfg->max_preauth && list->pa_oldest) {
        struct conn *old = list->pa_oldest;
        log_warn("event=conn_evicted reason=max_preauth peer=%s max=%u", old->peer,
                 s->cfg->max_preauth);
        preauth_del(old);
        hard_close(old);
    }
    preauth_add(c);
    uv_tcp_nodelay(&c->tcp, 1);
    if ((rc = tls_conn_new(s->tls, &c->tls)) < 0) {
        hard_close(c);
        return rc;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        hard_close(c);
        return FIELDSYNC_EIO;
    }
    uv_timer_start(&c->timer, on_timer, s->cfg->handshake_timeout_ms, 0);
    c->last_active = uv_now(s->loop);
    log_debug("event=conn_open peer=%s conns=%u", c->peer, list->count);
    return 0;
out:
    if (c)
        arena_close(&c->arena);
    free(c);
    return rc;
}

int conn_open_local(struct server *s, struct conn_list *list, conn_output_cb out, void *user,
                    struct conn **cp)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return FIELDSYNC_ENOMEM;
    c->s = s;
    c->list = list;
    c->local = 1;
    c->local_out = out;
    c->local_user = user;
    frame_reader_init(&c->fr, s->cfg->max_frame_preauth);
    arena_init(&c->arena, ARENA_BLOCK, 4 * (size_t)s->cfg->max_frame_preauth + 65536);
    if (uv_timer_init(s->loop, &c->timer) != 0) {
        arena_close(&c->arena);
        free(c);
        return FIELDSYNC_EIO;
    }
    c->timer.data = c;
    c->handles_open = 1;
    list_add(list, c);
    snprintf(c->peer, sizeof c->peer, "local");
    uv_timer_start(&c->timer, on_timer, s->cfg->handshake_timeout_ms, 0);
    c->last_active = uv_now(s->loop);
    *cp = c;
    return 0;
}

void conn_local_input(struct conn *c, const uint8_t *p, size_t n)
{
    if (!c->local || c->closing || n == 0)
        return;
    c->in_read = 1;
    if (frame_reader_feed(&c->fr, p, n) < 0) {
        log_error("event=conn_nomem peer=%s", c->peer);
        hard_close(c);
    } else {
        drain_frames(c);
    }
    c->in_read = 0;
    end_burst(c);
}
