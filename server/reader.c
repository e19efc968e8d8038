/*
 * reader: pull reader pool on libuv's threadpool (see reader.h).
 *
 * Invariants: a store is used only by the thread that opened it, one job at a time; every
 * store opened is on r->slots (under r->mu) so reader_close can close them all; the pool is
 * freed on the loop thread only when no job is pending, so no thread can be inside a store
 * then. Depends on store and libuv only.
 */
#include "reader.h"

#include "error.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

struct reader_slot {
    struct store *st;
    int rc; /* open failure, remembered so a broken database is not reopened per job */
    struct reader_slot *next;
};

struct reader {
    uv_loop_t *loop;
    uv_key_t key; /* this thread's reader_slot */
    uv_mutex_t mu;
    struct reader_slot *slots;
    struct store_opts opts;
    char *db_path;
    unsigned pending;
    int closing;
};

static struct reader_slot *thread_slot(struct reader *r)
{
    struct reader_slot *slot = uv_key_get(&r->key);
    if (slot)
        return slot;
    slot = calloc(1, sizeof *slot);
    if (!slot)
        return NULL;
    slot->rc = store_open(&slot->st, r->db_path, 0, &r->opts, NULL, 0);
    uv_mutex_lock(&r->mu);
    slot->next = r->slots;
    r->slots = slot;
    uv_mutex_unlock(&r->mu);
    uv_key_set(&r->key, slot);
    return slot;
}

static void on_work(uv_work_t *w)
{
    struct reader_job *job = w->data;
    struct reader_slot *slot = thread_slot(job->reader);
    job->rc = !slot ? FIELDSYNC_ENOMEM : slot->rc;
    job->run(job->rc < 0 ? NULL : slot->st, job);
}

static void reader_free(struct reader *r)
{
    struct reader_slot *s = r->slots;
    while (s) {
        struct reader_slot *next = s->next;
        store_close(s->st);
        free(s);
        s = next;
    }
    uv_key_delete(&r->key);
    uv_mutex_destroy(&r->mu);
    free(r->db_path);
    free(r);
}

static void on_after_work(uv_work_t *w, int status)
{
    struct reader_job *job = w->data;
    struct reader *r = job->reader;
    if (status == UV_ECANCELED && job->rc == 0)
        job->rc = FIELDSYNC_ESHUTDOWN;
    r->pending--;
    job->done(job); /* may free job */
    if (r->closing && r->pending == 0)
        reader_free(r);
}

int reader_start(struct reader **out, uv_loop_t *loop, const char *db_path,
                 const struct store_opts *opts)
{
    int rc = FIELDSYNC_ENOMEM;
    struct reader *r = calloc(1, sizeof *r);
    if (!r)
        goto out;
    r->loop = loop;
    if (opts)
        r->opts = *opts;
    else
        store_opts_init(&r->opts);
    size_t n = strlen(db_path) + 1;
    if (!(r->db_path = malloc(n)))
        goto out;
    memcpy(r->db_path, db_path, n);
    rc = FIELDSYNC_EINTERNAL;
    if (uv_mutex_init(&r->mu) != 0)
        goto out;
    if (uv_key_create(&r->key) != 0) {
        uv_mutex_destroy(&r->mu);
        goto out;
    }
    *out = r;
    return 0;
out:
    if (r)
        free(r->db_path);
    free(r);
    return rc;
}

int reader_submit(struct reader *r, struct reader_job *job)
{
    if (r->closing)
        return FIELDSYNC_ESHUTDOWN;
    job->reader = r;
    job->rc = 0;
    job->work.data = job;
    if (uv_queue_work(r->loop, &job->work, on_work, on_after_work) != 0)
        return FIELDSYNC_EINTERNAL;
    r->pending++;
    return 0;
}

unsigned reader_pending(const struct reader *r)
{
    return r->pending;
}

void reader_close(struct reader *r)
{
    if (!r || r->closing)
        return;
    r->closing = 1;
    if (r->pending == 0)
        reader_free(r);
}
