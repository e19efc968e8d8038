/*
 * h_pull: the PullRequest handler. The loop thread copies the request and the session into a
 * job and queues it on the reader pool; a threadpool thread reads one page (store_pull, in a
 * read transaction, so the page is one consistent snapshot) and builds the PullPage in the
 * job's arena; the loop thread then stamps server_hlc, replies and frees the arena. Only one
 * page is ever in memory per request, whatever the database size; the page is bounded both in
 * records (min(page_size, max_page)) and in bytes (so it fits the frame limit).
 *
 * Depends on conn (replies), reader, store_records, merge (deleted clock); no SQLite here.
 */
#include "arena.h"
#include "conn.h"
#include "error.h"
#include "handlers.h"
#include "merge.h"
#include "reader.h"
#include "server.h"
#include "store.h"
#include "store_records.h"

#include <stdlib.h>
#include <string.h>

#define PULL_MAX_COLLECTIONS 16

struct pull_job {
    struct reader_job rj; /* first */
    struct conn *c;
    struct server *server;
    uint32_t request_id;
    struct session sess;
    struct store_pull_req req;
    uint32_t collections[PULL_MAX_COLLECTIONS];
    struct arena arena;
    Fieldsync__PullPage page;
    size_t cap_records, cap_conflicts;
};

static void *dup_bytes(struct arena *a, const void *p, size_t n)
{
    void *d = arena_alloc(a, n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

static int set_bin(struct arena *a, ProtobufCBinaryData *b, const void *p, size_t n)
{
    b->len = n;
    b->data = n ? dup_bytes(a, p, n) : NULL;
    return n && !b->data ? FIELDSYNC_ENOMEM : 0;
}

/* Grow an arena-held pointer array (old blocks stay in the arena until the reply is sent:
 * the waste is bounded by the array's final size). */
static int grow(struct arena *a, void ***arr, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 32;
    void **p = arena_alloc(a, ncap * sizeof *p);
    if (!p)
        return FIELDSYNC_ENOMEM;
    if (n)
        memcpy(p, *arr, n * sizeof *p);
    *arr = p;
    *cap = ncap;
    return 0;
}

static int on_record(void *user, const struct store_record_view *v)
{
    struct pull_job *job = user;
    struct arena *a = &job->arena;
    Fieldsync__PullPage *pg = &job->page;
    if (grow(a, (void ***)&pg->records, pg->n_records, &job->cap_records) < 0)
        return FIELDSYNC_ENOMEM;
    Fieldsync__RecordState *r = arena_alloc(a, sizeof *r);
    if (!r)
        return FIELDSYNC_ENOMEM;
    fieldsync__record_state__init(r);
    size_t rl = strlen(v->region);
    r->region = dup_bytes(a, v->region, rl + 1);
    if (!r->region || set_bin(a, &r->record_id, v->id, 16) < 0 ||
        set_bin(a, &r->body, v->body, v->body_len) < 0 ||
        set_bin(a, &r->clocks, v->clocks, v->clocks_len) < 0)
        return FIELDSYNC_ENOMEM;
    r->collection = v->collection;
    r->server_seq = v->server_seq;
    r->deleted = v->deleted != 0;
    if (v->deleted) {
        /* The record tombstone's clock, read through a view of the stored state. */
        struct merge_record m = {.body = r->body.data,
                                 .body_len = r->body.len,
                                 .clocks = r->clocks.data,
                                 .clocks_len = r->clocks.len};
        const uint8_t *val;
        size_t vl;
        uint64_t hlc = 0;
        uint8_t dev[16];
        int tomb;
        if (merge_get(NULL, &m, 0, NULL, 0, &val, &vl, &hlc, dev, &tomb) == 1) {
            r->deleted_hlc = hlc;
            if (set_bin(a, &r->deleted_device, dev, 16) < 0)
                return FIELDSYNC_ENOMEM;
        }
    }
    pg->records[pg->n_records++] = r;
    return 0;
}

static int on_conflict(void *user, const struct store_conflict_view *v)
{
    struct pull_job *job = user;
    struct arena *a = &job->arena;
    Fieldsync__PullPage *pg = &job->page;
    if (grow(a, (void ***)&pg->conflicts, pg->n_conflicts, &job->cap_conflicts) < 0)
        return FIELDSYNC_ENOMEM;
    Fieldsync__Conflict *c = arena_alloc(a, sizeof *c);
    if (!c)
        return FIELDSYNC_ENOMEM;
    fieldsync__conflict__init(c);
    c->id = v->id;
    c->field = v->field;
    c->winner_hlc = v->winner_hlc;
    c->loser_hlc = v->loser_hlc;
    c->state = (Fieldsync__ConflictState)v->state;
    c->resolved_hlc = v->resolved_hlc;
    if (set_bin(a, &c->record_id, v->record_id, 16) < 0 ||
        set_bin(a, &c->element_id, v->element_id, v->element_id_len) < 0 ||
        set_bin(a, &c->winner_value, v->winner_value, v->winner_len) < 0 ||
        set_bin(a, &c->winner_device, v->winner_device, 16) < 0 ||
        set_bin(a, &c->loser_value, v->loser_value, v->loser_len) < 0 ||
        set_bin(a, &c->loser_device, v->loser_device, 16) < 0 ||
        (v->resolved_by && set_bin(a, &c->resolved_by, v->resolved_by, 16) < 0))
        return FIELDSYNC_ENOMEM;
    pg->conflicts[pg->n_conflicts++] = c;
    return 0;
}

static void pull_run(struct store *st, struct reader_job *rj)
{
    struct pull_job *job = (struct pull_job *)rj;
    if (!st)
        return; /* rj->rc holds the open failure */
    int more = 0;
    uint64_t next = job->req.cursor;
    int rc = store_begin(st);
    if (rc == 0) {
        /* Revocation takes effect at the device's next request (DESIGN §7). */
        rc = store_device_check_active(st, job->sess.device_id);
        if (rc == 0)
            rc = store_pull(st, &job->req, on_record, on_conflict, job, &next, &more);
        if (rc < 0)
            store_rollback(st);
        else
            rc = store_commit(st);
    }
    job->page.next_cursor = next;
    job->page.more = more != 0;
    rj->rc = rc;
}

static void pull_done(struct reader_job *rj)
{
    struct pull_job *job = (struct pull_job *)rj;
    if (rj->rc < 0) {
        conn_reply_error(job->c, job->request_id, rj->rc,
                         rj->rc == FIELDSYNC_EREVOKED || rj->rc == FIELDSYNC_EAUTH,
                         "pull failed: %s", error_str(rj->rc));
    } else {
        job->page.server_hlc = server_hlc_now(job->server);
        Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
        f.request_id = job->request_id;
        f.msg_case = FIELDSYNC__FRAME__MSG_PAGE;
        f.page = &job->page;
        conn_reply(job->c, job->request_id, &f);
    }
    arena_close(&job->arena);
    conn_unref(job->c);
    free(job);
}

void h_pull(struct conn *c, const Fieldsync__Frame *f)
{
    struct server *s = conn_server(c);
    const struct config *cfg = s->cfg;
    const Fieldsync__PullRequest *pr = f->pull;
    if (!s->reader || s->shutting_down) {
        conn_reply_error(c, f->request_id, FIELDSYNC_ESHUTDOWN, 0, "pull: no reader running");
        return;
    }
    if (pr->n_collections > PULL_MAX_COLLECTIONS) {
        conn_reply_error(c, f->request_id, FIELDSYNC_EINVAL, 0,
                         "%zu collections in one pull (limit %d)", pr->n_collections,
                         PULL_MAX_COLLECTIONS);
        return;
    }
    struct pull_job *job = calloc(1, sizeof *job);
    if (!job) {
        conn_reply_error(c, f->request_id, FIELDSYNC_ENOMEM, 0, "pull: out of memory");
        return;
    }
    job->rj.run = pull_run;
    job->rj.done = pull_done;
    job->c = c;
    job->server = s;
    job->request_id = f->request_id;
    job->sess = *conn_session(c);
    uint32_t limit = pr->page_size && pr->page_size < cfg->max_page ? pr->page_size : cfg->max_page;
    job->req.sess = &job->sess;
    job->req.cursor = pr->cursor;
    job->req.limit = limit ? limit : 1;
    /* Leave room for the frame's own overhead within the client's frame limit. */
    job->req.max_bytes = cfg->max_frame > 8192 ? cfg->max_frame / 4 * 3 : 4096;
    job->req.max_scan = 0;
    if (pr->n_collections)
        memcpy(job->collections, pr->collections, pr->n_collections * sizeof *pr->collections);
    job->req.collections = job->collections;
    job->req.n_collections = pr->n_collections;
    arena_init(&job->arena, 64 * 1024, 0);
    fieldsync__pull_page__init(&job->page);
    conn_ref(c);
    int rc = reader_submit(s->reader, &job->rj);
    if (rc < 0) {
        conn_reply_error(c, f->request_id, rc, 0, "pull: %s", error_str(rc));
        arena_close(&job->arena);
        conn_unref(c);
        free(job);
    }
}
