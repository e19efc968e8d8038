/*
 * h_push: the PushBatch handler. On the loop thread it checks the batch size, takes over the
 * arena the dispatcher decoded the frame into (so the batch is decoded once, and lives as
 * long as the job), takes the session and the server's wall-clock time (the clock bound is measured
 * against the time the batch arrived: the writer thread never reads loop-thread state such as
 * server->clock), does the part of applying that needs no stored state (store_prepare_batch:
 * validating new records and building their clock blobs, so that the single writer thread,
 * the ingest bottleneck, only writes), holds a reference on the connection and queues the job
 * on the writer. On the writer thread the job applies the batch (store_apply_batch). Back on
 * the loop thread, after the group commit, it answers with a PushAck (one result per change,
 * in batch order) or an Error, then drops its reference.
 *
 * Depends on conn (replies), writer, store_records; never on sockets or SQLite directly.
 */
#include "arena.h"
#include "conn.h"
#include "error.h"
#include "handlers.h"
#include "server.h"
#include "store.h"
#include "store_records.h"
#include "writer.h"

#include <stdlib.h>
#include <string.h>

struct push_job {
    struct writer_job wj; /* first: the writer hands this back */
    struct conn *c;
    struct server *server;
    uint32_t request_id;
    struct session sess;
    struct store_apply_ctx ctx;
    uint64_t max_hlc; /* greatest clock applied, merged into the server's clock in done */
    size_t n;
    struct store_change_result *results;
    Fieldsync__Change **changes; /* decoded into arena */
    struct arena arena;
    struct store_prep prep;
};

static void job_free(struct push_job *job)
{
    store_prep_close(&job->prep);
    arena_close(&job->arena);
    free(job);
}

static int push_run(struct store *st, struct writer_job *wj)
{
    struct push_job *job = (struct push_job *)wj;
    /* Revocation takes effect at the device's next request (DESIGN §7). */
    int rc = store_device_check_active(st, job->sess.device_id);
    if (rc < 0)
        return rc;
    if ((rc = store_apply_batch(st, &job->ctx, job->changes, job->n, job->results, &job->max_hlc)) <
        0)
        return rc;
    return job->max_hlc ? store_clock_raise(st, job->max_hlc) : 0;
}

static void push_done(struct writer_job *wj)
{
    struct push_job *job = (struct push_job *)wj;
    struct server *s = job->server;
    if (job->wj.rc < 0) {
        int rc = job->wj.rc;
        conn_reply_error(job->c, job->request_id, rc,
                         rc == FIELDSYNC_EREVOKED || rc == FIELDSYNC_EAUTH, "push not applied: %s",
                         error_str(rc));
        goto out;
    }
    if (job->max_hlc)
        hlc_update(&s->clock, job->max_hlc, server_wall_ms(s));

    Fieldsync__ChangeResult *res = calloc(job->n, sizeof *res);
    Fieldsync__ChangeResult **ptrs = calloc(job->n, sizeof *ptrs);
    if ((!res || !ptrs) && job->n) {
        free(res);
        free(ptrs);
        conn_reply_error(job->c, job->request_id, FIELDSYNC_ENOMEM, 0, "push ack");
        goto out;
    }
    for (size_t i = 0; i < job->n; i++) {
        const struct store_change_result *r = &job->results[i];
        Fieldsync__ChangeResult *cr = &res[i];
        fieldsync__change_result__init(cr);
        cr->device_seq = r->device_seq;
        cr->status = (Fieldsync__ChangeStatus)r->status;
        if (r->status == FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED) {
            cr->error = (Fieldsync__ErrorCode)error_to_wire(r->code);
            cr->message = (char *)job->results[i].message;
        }
        cr->conflicts = r->conflicts;
        ptrs[i] = cr;
    }
    Fieldsync__PushAck ack = FIELDSYNC__PUSH_ACK__INIT;
    ack.n_results = job->n;
    ack.results = ptrs;
    ack.server_hlc = server_hlc_now(s);
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.request_id = job->request_id;
    f.msg_case = FIELDSYNC__FRAME__MSG_PUSH_ACK;
    f.push_ack = &ack;
    conn_reply(job->c, job->request_id, &f);
    free(ptrs);
    free(res);
out:
    conn_unref(job->c);
    job_free(job);
}

void h_push(struct conn *c, const Fieldsync__Frame *f, struct arena *a)
{
    struct server *s = conn_server(c);
    const struct config *cfg = s->cfg;
    const Fieldsync__PushBatch *b = f->push;
    if (!s->writer || s->shutting_down) {
        conn_reply_error(c, f->request_id, FIELDSYNC_ESHUTDOWN, 0, "server shutting down");
        return;
    }
    if (b->n_changes > cfg->max_batch) {
        conn_reply_error(c, f->request_id, FIELDSYNC_EBATCH, 0,
                         "%zu changes in one batch (limit %u)", b->n_changes, cfg->max_batch);
        return;
    }
    /* The job and its results in one allocation; the decoded batch stays where the dispatcher
     * decoded it, in the arena the job takes over (the connection gets a fresh one). */
    size_t n = b->n_changes;
    struct push_job *job = malloc(sizeof *job + n * sizeof *job->results);
    if (!job) {
        conn_reply_error(c, f->request_id, FIELDSYNC_ENOMEM, 0, "push: out of memory");
        return;
    }
    memset(job, 0, sizeof *job);
    arena_init(&job->arena, 0, 0);
    arena_take(&job->arena, a);
    store_prep_init(&job->prep);
    job->changes = b->changes;
    job->wj.run = push_run;
    job->wj.done = push_done;
    job->c = c;
    job->server = s;
    job->request_id = f->request_id;
    job->sess = *conn_session(c);
    job->ctx.now_ms = server_wall_ms(s);
    job->ctx.max_clock_ahead_ms = cfg->max_clock_ahead_ms;
    job->ctx.max_ops = cfg->max_ops;
    job->ctx.max_record = cfg->max_record;
    job->ctx.reported_hw = f->push->device_high_water;
    job->n = n;
    job->results = (struct store_change_result *)(job + 1);
    job->ctx.sess = &job->sess;
    /* Not enough memory to prepare: the writer does it all (same results). */
    if (store_prepare_batch(&job->ctx, job->changes, n, &job->prep) == 0)
        job->ctx.prep = &job->prep;
    conn_ref(c);
    int rc = writer_submit(s->writer, &job->wj);
    if (rc < 0) {
        conn_reply_error(c, f->request_id, FIELDSYNC_ESHUTDOWN, 0, "server shutting down");
        conn_unref(c);
        job_free(job);
    }
}
