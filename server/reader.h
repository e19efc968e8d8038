/*
 * reader: the pull reader pool. Jobs run on libuv's threadpool (uv_queue_work); each
 * threadpool thread opens its own read-only store on first use (thread-local through a
 * uv_key_t) and keeps it for the next jobs; reader_close closes every one of them. The loop
 * never touches SQLite.
 */
#ifndef FS_READER_H
#define FS_READER_H

#include <uv.h>

struct store;
struct store_opts;
struct reader;

struct reader_job {
    /* Threadpool thread. st is this thread's read-only store, or NULL when it could not be
     * opened (job->rc then holds the error). Must not touch loop-thread state. */
    void (*run)(struct store *st, struct reader_job *job);
    /* Loop thread, after run. The job may be freed here. */
    void (*done)(struct reader_job *job);
    int rc;
    uv_work_t work;        /* private */
    struct reader *reader; /* private */
};

/* Start the pool for the database at db_path (created by the writer beforehand).
 * 0, FIELDSYNC_ENOMEM, FIELDSYNC_EINTERNAL. Loop thread. */
int reader_start(struct reader **out, uv_loop_t *loop, const char *db_path,
                 const struct store_opts *opts);
/* Queue a job (loop thread). 0, or FIELDSYNC_ESHUTDOWN once closing (done never fires). */
int reader_submit(struct reader *r, struct reader_job *job);
/* Jobs queued or running. */
unsigned reader_pending(const struct reader *r);
/* Stop taking jobs; once the jobs in flight are done (keep running the loop), close every
 * thread's store and free the pool. Loop thread. Safe on NULL. */
void reader_close(struct reader *r);

#endif
