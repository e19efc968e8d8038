/*
 * client: the handle — open/close, options, the allocator hooks (library allocations and
 * protobuf-c's go through them), the per-handle error message, ids, status. No global mutable
 * state: everything lives on the handle. Must not depend on SQLite or mbedtls directly (lstore.c
 * and tls.c own those).
 */
#include "internal.h"

#include "error.h"
#include "hlc.h"
#include "uuid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- default allocator ---- */

static void *std_malloc(void *user, size_t n)
{
    (void)user;
    return malloc(n);
}
static void *std_realloc(void *user, void *p, size_t n)
{
    (void)user;
    return realloc(p, n);
}
static void std_free(void *user, void *p)
{
    (void)user;
    free(p);
}

static void *pb_alloc(void *user, size_t n)
{
    return fieldsync__alloc(user, n);
}
static void pb_free(void *user, void *p)
{
    fieldsync__free(user, p);
}

void *fieldsync__alloc(fieldsync_client *c, size_t n)
{
    return c->al.malloc_fn(c->al.user, n ? n : 1);
}

void *fieldsync__realloc(fieldsync_client *c, void *p, size_t n)
{
    return c->al.realloc_fn(c->al.user, p, n ? n : 1);
}

void fieldsync__free(fieldsync_client *c, void *p)
{
    if (p)
        c->al.free_fn(c->al.user, p);
}

int fieldsync__fail(fieldsync_client *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

uint64_t fieldsync__wall_ms(fieldsync_client *c)
{
    if (c->now_ms)
        return c->now_ms(c->clock_user);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int fieldsync__enter(fieldsync_client *c)
{
    if (!c)
        return FIELDSYNC_EINVAL;
    if (c->failed || !c->st)
        return FIELDSYNC_ESTATE; /* keep the open failure's message */
    c->errmsg[0] = 0;
    lstore_idle(c);
    return 0;
}

/* ---- buffers ---- */

int fieldsync__buf_reserve(fieldsync_client *c, struct fs_buf *b, size_t need)
{
    if (b->cap - b->len >= need)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < need) {
        if (cap > SIZE_MAX / 2)
            return FIELDSYNC_ENOMEM;
        cap *= 2;
    }
    uint8_t *p = fieldsync__realloc(c, b->p, cap);
    if (!p)
        return fieldsync__fail(c, FIELDSYNC_ENOMEM, "out of memory");
    b->p = p;
    b->cap = cap;
    return 0;
}

int fieldsync__buf_put(fieldsync_client *c, struct fs_buf *b, const void *p, size_t n)
{
    int rc = fieldsync__buf_reserve(c, b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

int fieldsync__buf_varint(fieldsync_client *c, struct fs_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    return fieldsync__buf_put(c, b, tmp, n);
}

void fieldsync__buf_free(fieldsync_client *c, struct fs_buf *b)
{
    fieldsync__free(c, b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- arena for unpacking ---- */

struct fs_arena_block {
    struct fs_arena_block *next;
    size_t size, used;
    max_align_t data[];
};

#define ARENA_BLOCK 16384

static void *arena_pb_alloc(void *user, size_t n)
{
    struct fs_arena *a = user;
    size_t need = (n + 15) & ~(size_t)15;
    struct fs_arena_block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        b = fieldsync__alloc(a->c, sizeof *b + size);
        if (!b) {
            a->failed = 1;
            return NULL;
        }
        b->size = size;
        b->used = 0;
        /* A big one-off block goes behind the current one so the current keeps filling. */
        if (a->head && size > ARENA_BLOCK) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = (uint8_t *)b->data + b->used;
    b->used += need;
    return p;
}

static void arena_pb_free(void *user, void *p)
{
    (void)user;
    (void)p; /* all at once in reset */
}

void fieldsync__arena_init(struct fs_arena *a, fieldsync_client *c)
{
    a->pb.alloc = arena_pb_alloc;
    a->pb.free = arena_pb_free;
    a->pb.allocator_data = a;
    a->c = c;
    a->head = NULL;
    a->failed = 0;
}

void fieldsync__arena_reset(struct fs_arena *a)
{
    /* Keep one regular block for the next message; give the rest back. */
    struct fs_arena_block *b = a->head, *keep = NULL;
    while (b) {
        struct fs_arena_block *next = b->next;
        if (!keep && b->size == ARENA_BLOCK)
            keep = b;
        else
            fieldsync__free(a->c, b);
        b = next;
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
    a->head = keep;
    a->failed = 0;
}

void fieldsync__arena_close(struct fs_arena *a)
{
    struct fs_arena_block *b = a->head;
    while (b) {
        struct fs_arena_block *next = b->next;
        fieldsync__free(a->c, b);
        b = next;
    }
    a->head = NULL;
}

/* ---- version, errors, ids ---- */

const char *fieldsync_version(void)
{
    return "0.1.0";
}

const char *fieldsync_strerror(int code)
{
    return error_str(code);
}

const char *fieldsync_err_name(int code)
{
    return error_name(code);
}

const char *fieldsync_errmsg(const fieldsync_client *c)
{
    return c ? c->errmsg : "no handle";
}

void fieldsync_id_format(const uint8_t id[FIELDSYNC_ID_LEN], char out[FIELDSYNC_ID_STR_LEN + 1])
{
    uuid_format(id, out);
}

int fieldsync_id_parse(const char *text, uint8_t out[FIELDSYNC_ID_LEN])
{
    if (!text || !out)
        return FIELDSYNC_EINVAL;
    return uuid_parse(text, out);
}

int fieldsync_new_id(fieldsync_client *c, uint8_t out[FIELDSYNC_ID_LEN])
{
    if (!c || !out)
        return FIELDSYNC_EINVAL;
    int rc = uuid_v7(out, fieldsync__wall_ms(c));
    if (rc < 0)
        return fieldsync__fail(c, rc, "no randomness from the OS");
    return 0;
}

/* ---- open / close ---- */

void fieldsync_open_opts_init(fieldsync_open_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->create = 1;
    o->busy_timeout_ms = 5000;
    o->connect_timeout_ms = 15000;
    o->io_timeout_ms = 30000;
}

int fieldsync_open(const char *path, const fieldsync_open_opts *opts, fieldsync_client **out)
{
    int rc = FIELDSYNC_EINVAL;
    fieldsync_open_opts def;
    fieldsync_allocator al = {std_malloc, std_realloc, std_free, NULL};
    fieldsync_client *c = NULL;
    struct lstore *st = NULL;

    if (out)
        *out = NULL;
    if (!path || !out)
        goto out;
    if (!opts) {
        fieldsync_open_opts_init(&def);
        opts = &def;
    }
    if (opts->allocator) {
        if (!opts->allocator->malloc_fn || !opts->allocator->realloc_fn ||
            !opts->allocator->free_fn)
            goto out;
        al = *opts->allocator;
    }
    rc = FIELDSYNC_ENOMEM;
    c = al.malloc_fn(al.user, sizeof *c);
    if (!c)
        goto out;
    memset(c, 0, sizeof *c);
    c->al = al;
    c->pb.alloc = pb_alloc;
    c->pb.free = pb_free;
    c->pb.allocator_data = c;
    c->now_ms = opts->now_ms;
    c->clock_user = opts->clock_user;
    c->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : 15000;
    c->io_timeout_ms = opts->io_timeout_ms ? opts->io_timeout_ms : 30000;
    atomic_init(&c->interrupted, 0);
    *out = c;
    rc = lstore_open(c, path, opts->create, opts->busy_timeout_ms ? opts->busy_timeout_ms : 5000,
                     opts->store_key, &st);
    if (rc < 0) {
        if (rc == FIELDSYNC_ENOMEM) {
            /* The handle cannot be trusted to hold anything: give nothing back. */
            fieldsync_close(c);
            *out = NULL;
        } else {
            c->failed = 1;
        }
        goto out;
    }
    c->st = st;
    rc = 0;
out:
    return rc;
}

void fieldsync_close(fieldsync_client *c)
{
    if (!c)
        return;
    if (c->st) {
        lstore_close(c, c->st);
        fieldsync__free(c, c->st);
        c->st = NULL;
    }
    if (c->tls_cache) {
        tls_session_free(c, c->tls_cache);
        c->tls_cache = NULL;
    }
    fieldsync_allocator al = c->al;
    memset(c, 0, sizeof *c);
    al.free_fn(al.user, c);
}

void fieldsync_interrupt(fieldsync_client *c)
{
    if (c)
        atomic_store(&c->interrupted, 1);
}

void fieldsync_free(fieldsync_client *c, void *p)
{
    if (c && p)
        fieldsync__free(c, p);
}

/* ---- status ---- */

int fieldsync_status_get(fieldsync_client *c, fieldsync_status *out)
{
    int rc = fieldsync__enter(c);
    struct lstore_device d;
    if (rc < 0)
        return rc;
    if (!out)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "status: NULL output");
    memset(out, 0, sizeof *out);
    if ((rc = lstore_device_get(c, &d)) < 0)
        return rc;
    memcpy(c->st_name, d.name, sizeof c->st_name);
    memcpy(c->st_regions, d.regions, sizeof c->st_regions);
    memcpy(c->st_host, d.host, sizeof c->st_host);
    out->enrolled = d.enrolled;
    if (d.enrolled)
        memcpy(out->device_id, d.id, 16);
    out->device_name = c->st_name;
    out->role = d.role;
    out->regions = c->st_regions;
    out->own_only = d.own_only;
    out->server_host = c->st_host;
    out->server_port = d.port;
    out->last_sync_ms = d.last_sync_ms;
    out->cursor = d.cursor;
    out->clock_offset_ms = d.clock_offset_ms;
    out->device_seq = d.next_seq ? d.next_seq - 1 : 0;
    out->hlc = d.hlc_last;
    if ((rc = lstore_outbox_count(c, NULL, &out->pending_changes, &out->pending_records)) < 0)
        return rc;
    if ((rc = lstore_count_rejected(c, &out->rejected_changes)) < 0)
        return rc;
    if ((rc = lstore_count_conflicts(c, &out->open_conflicts)) < 0)
        return rc;
    return lstore_count_records(c, &out->records);
}
