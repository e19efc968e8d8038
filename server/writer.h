/*
 * writer: the one thread that writes to SQLite. Jobs submitted from the loop thread wait in a
 * queue; the writer takes every job waiting, runs them all inside one transaction (each in its
 * own savepoint, so one failing job does not undo the others), commits once (group commit),
 * then hands every job back to the loop thread, where its done callback fires. A job's done
 * fires only after its effects are durable (or with job->rc < 0 when they are not).
 */
#ifndef FS_WRITER_H
#define FS_WRITER_H

#include <stdint.h>
#include <uv.h>

struct store;
struct store_opts;
struct writer;

struct writer_job {
    /* Writer thread, inside the group transaction and the job's savepoint. A negative return
     * rolls back this job's savepoint only. Must not touch loop-thread state. */
    int (*run)(struct store *st, struct writer_job *job);
    /* Loop thread, after the group committed (or failed). job->rc holds run's result, or
     * FIELDSYNC_ESTORE if the commit itself failed. The job may be freed here. */
    void (*done)(struct writer_job *job);
    int rc;
    struct writer_job *next; /* private to the writer */
};

struct writer_stats {
    uint64_t groups;    /* transactions committed */
    uint64_t jobs;      /* jobs run */
    uint64_t max_group; /* largest group */
};

/* Open the write connection (migrating the schema) and start the thread.
 * 0, FIELDSYNC_ESTORE (message in errbuf), FIELDSYNC_ENOMEM. */
int writer_start(struct writer **out, uv_loop_t *loop, const char *db_path,
                 const struct store_opts *opts, char *errbuf, size_t errlen);
/* Queue a job (loop thread only). 0, or FIELDSYNC_ESHUTDOWN once stopping (done never fires). */
int writer_submit(struct writer *w, struct writer_job *job);
/* Jobs queued or running, not yet handed back. */
unsigned writer_pending(const struct writer *w);
void writer_get_stats(struct writer *w, struct writer_stats *out);
/* Stop taking jobs, finish and commit every queued job, fire their done callbacks, join the
 * thread and close the connection; the writer frees itself once its handle is closed (keep
 * running the loop). Loop thread only. Safe on NULL. */
void writer_stop(struct writer *w);

#endif
