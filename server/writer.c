/*
 * writer: single writer thread with group commit (see writer.h).
 *
 * WAL checkpoints run on a second thread with its own connection (ckpt_main), so that the
 * writer's commits do not copy the WAL into the database and fsync it themselves (SQLite's
 * autocheckpoint): the writer asks for one once the WAL holds CKPT_FRAMES frames, and only
 * if that thread falls far behind (CKPT_WRITER_FRAMES) checkpoints itself. A checkpoint is
 * passive: it never blocks the writer's commits. If the second connection cannot be opened
 * the writer keeps SQLite's autocheckpoint.
 *
 * Invariants: only the writer thread touches w->st, only the checkpoint thread w->ckpt_st;
 * the queue, the done list and the checkpoint request are guarded by w->mu; done callbacks
 * run on the loop thread only, after the commit that made their job durable. Depends on store
 * (for the connections) and libuv (threads, async); nothing else.
 */
#include "writer.h"

#include "error.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* The WAL can restart from its beginning only at a write transaction that finds it fully
 * copied, which a background pass racing the writer rarely achieves: the writer's own pass at
 * CKPT_WRITER_FRAMES copies only what the background one has not yet (the WAL stays bounded,
 * 32 MB with 8 KiB pages) and lets the next transaction restart it. */
#define CKPT_FRAMES        1000 /* as SQLite's autocheckpoint */
#define CKPT_WRITER_FRAMES 4000

struct writer {
    uv_loop_t *loop;
    uv_async_t async; /* wakes the loop when jobs are done */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    struct writer_job *queue_head, *queue_tail; /* waiting to run */
    struct writer_job *done_head, *done_tail;   /* run and committed, waiting for the loop */
    unsigned pending;                           /* submitted, not yet handed back */
    int stopping;
    int thread_started;
    struct store *st;
    struct writer_stats stats;
    /* checkpoint thread */
    uv_thread_t ckpt_thread;
    uv_cond_t ckpt_cond;
    int ckpt_wanted;
    int ckpt_started;
    struct store *ckpt_st;
};

static void append(struct writer_job **head, struct writer_job **tail, struct writer_job *list,
                   struct writer_job *last)
{
    if (*tail)
        (*tail)->next = list;
    else
        *head = list;
    *tail = last;
}

/* Run one group: every job in `list`, one transaction. */
static uint64_t run_group(struct writer *w, struct writer_job *list)
{
    int rc = store_begin(w->st);
    uint64_t n = 0;
    for (struct writer_job *j = list; j; j = j->next) {
        n++;
        if (rc < 0) {
            j->rc = rc;
            continue;
        }
        if (store_savepoint(w->st) < 0) {
            j->rc = FIELDSYNC_ESTORE;
            continue;
        }
        j->rc = j->run(w->st, j);
        if (j->rc < 0)
            store_rollback_savepoint(w->st);
        else
            store_release(w->st);
    }
    if (rc == 0 && store_commit(w->st) < 0) {
        store_rollback(w->st);
        for (struct writer_job *j = list; j; j = j->next)
            j->rc = FIELDSYNC_ESTORE;
    }
    return n;
}

static void thread_main(void *arg)
{
    struct writer *w = arg;
    uv_mutex_lock(&w->mu);
    for (;;) {
        while (!w->queue_head && !w->stopping)
            uv_cond_wait(&w->cond, &w->mu);
        if (!w->queue_head && w->stopping)
            break;
        struct writer_job *list = w->queue_head, *last = w->queue_tail;
        w->queue_head = w->queue_tail = NULL;
        uv_mutex_unlock(&w->mu);

        uint64_t n = run_group(w, list);
        int frames = w->ckpt_started ? store_wal_frames(w->st) : 0;
        if (frames >= CKPT_WRITER_FRAMES)
            store_checkpoint(w->st); /* a failure leaves the WAL longer: retried next time */

        uv_mutex_lock(&w->mu);
        if (frames >= CKPT_FRAMES && !w->ckpt_wanted) {
            w->ckpt_wanted = 1;
            uv_cond_signal(&w->ckpt_cond);
        }
        w->stats.groups++;
        w->stats.jobs += n;
        if (n > w->stats.max_group)
            w->stats.max_group = n;
        append(&w->done_head, &w->done_tail, list, last);
        uv_async_send(&w->async);
    }
    uv_mutex_unlock(&w->mu);
}

static void ckpt_main(void *arg)
{
    struct writer *w = arg;
    uv_mutex_lock(&w->mu);
    for (;;) {
        while (!w->ckpt_wanted && !w->stopping)
            uv_cond_wait(&w->ckpt_cond, &w->mu);
        if (w->stopping)
            break;
        w->ckpt_wanted = 0;
        uv_mutex_unlock(&w->mu);
        store_checkpoint(w->ckpt_st); /* a failure leaves the WAL longer: retried next time */
        uv_mutex_lock(&w->mu);
    }
    uv_mutex_unlock(&w->mu);
}

/* Stop and join the checkpoint thread (w->stopping set, or the writer never started). */
static void ckpt_stop(struct writer *w)
{
    if (!w->ckpt_started)
        return;
    uv_mutex_lock(&w->mu);
    w->stopping = 1;
    uv_cond_signal(&w->ckpt_cond);
    uv_mutex_unlock(&w->mu);
    uv_thread_join(&w->ckpt_thread);
    store_close(w->ckpt_st);
    w->ckpt_st = NULL;
}

/* Start the checkpoint thread with its own connection; 0, or <0 (the writer then keeps
 * SQLite's autocheckpoint). Before the writer thread starts. */
static int ckpt_start(struct writer *w, const char *db_path, const struct store_opts *opts)
{
    char err[256];
    if (uv_cond_init(&w->ckpt_cond) != 0)
        return FIELDSYNC_EINTERNAL;
    if (store_open(&w->ckpt_st, db_path, 1, opts, err, sizeof err) < 0) {
        uv_cond_destroy(&w->ckpt_cond);
        return FIELDSYNC_ESTORE;
    }
    if (uv_thread_create(&w->ckpt_thread, ckpt_main, w) != 0) {
        store_close(w->ckpt_st);
        w->ckpt_st = NULL;
        uv_cond_destroy(&w->ckpt_cond);
        return FIELDSYNC_EINTERNAL;
    }
    store_wal_manual(w->st);
    w->ckpt_started = 1;
    return 0;
}

/* Loop thread: fire done callbacks for everything committed so far. */
static void deliver(struct writer *w)
{
    uv_mutex_lock(&w->mu);
    struct writer_job *list = w->done_head;
    w->done_head = w->done_tail = NULL;
    uv_mutex_unlock(&w->mu);
    while (list) {
        struct writer_job *next = list->next;
        list->next = NULL;
        w->pending--;
        list->done(list); /* may free list */
        list = next;
    }
}

static void on_async(uv_async_t *a)
{
    deliver(a->data);
}

static void on_close(uv_handle_t *h)
{
    struct writer *w = h->data;
    if (w->ckpt_started)
        uv_cond_destroy(&w->ckpt_cond);
    uv_cond_destroy(&w->cond);
    uv_mutex_destroy(&w->mu);
    free(w);
}

int writer_start(struct writer **out, uv_loop_t *loop, const char *db_path,
                 const struct store_opts *opts, char *errbuf, size_t errlen)
{
    int rc = FIELDSYNC_ENOMEM;
    struct writer *w = calloc(1, sizeof *w);
    if (!w)
        goto out;
    w->loop = loop;
    rc = store_open(&w->st, db_path, 1, opts, errbuf, errlen);
    if (rc < 0)
        goto out;
    rc = FIELDSYNC_EINTERNAL;
    if (uv_mutex_init(&w->mu) != 0)
        goto out;
    if (uv_cond_init(&w->cond) != 0) {
        uv_mutex_destroy(&w->mu);
        goto out;
    }
    if (uv_async_init(loop, &w->async, on_async) != 0) {
        uv_cond_destroy(&w->cond);
        uv_mutex_destroy(&w->mu);
        goto out;
    }
    w->async.data = w;
    ckpt_start(w, db_path, opts); /* on failure the writer checkpoints as SQLite does */
    if (uv_thread_create(&w->thread, thread_main, w) != 0) {
        ckpt_stop(w);
        store_close(w->st);
        uv_close((uv_handle_t *)&w->async, on_close);
        w = NULL;
        goto out;
    }
    w->thread_started = 1;
    *out = w;
    return 0;
out:
    if (w) {
        store_close(w->st);
        free(w);
    }
    return rc;
}

int writer_submit(struct writer *w, struct writer_job *job)
{
    job->next = NULL;
    job->rc = 0;
    uv_mutex_lock(&w->mu);
    if (w->stopping) {
        uv_mutex_unlock(&w->mu);
        return FIELDSYNC_ESHUTDOWN;
    }
    append(&w->queue_head, &w->queue_tail, job, job);
    w->pending++;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
    return 0;
}

unsigned writer_pending(const struct writer *w)
{
    return w->pending;
}

void writer_get_stats(struct writer *w, struct writer_stats *out)
{
    uv_mutex_lock(&w->mu);
    memcpy(out, &w->stats, sizeof *out);
    uv_mutex_unlock(&w->mu);
}

void writer_stop(struct writer *w)
{
    if (!w)
        return;
    uv_mutex_lock(&w->mu);
    w->stopping = 1;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
    if (w->thread_started) {
        uv_thread_join(&w->thread);
        w->thread_started = 0;
    }
    ckpt_stop(w);
    deliver(w);
    store_close(w->st);
    w->st = NULL;
    uv_close((uv_handle_t *)&w->async, on_close);
}
