/*
 * test_store_crash: durability of acknowledged batches. A child process applies batches
 * through the real writer thread (group commit, synchronous=FULL) and reports each batch id
 * to the parent through a pipe only from the job's done callback, i.e. after the commit
 * returned. The parent SIGKILLs it at random moments, many times, restarting it on the same
 * database (each restart resends a few batches already applied, as a client would). At the
 * end every reported batch is present exactly once and PRAGMA integrity_check is ok.
 * Seeded (FS_SEED overrides), prints its seed; bounded in time.
 */
#include "check.h"
#include "collections.h"
#include "consultation.pb-c.h"
#include "error.h"
#include "hlc.h"
#include "session.h"
#include "store.h"
#include "store_records.h"
#include "writer.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define PER_BATCH   4    /* changes per batch */
#define MAX_BATCHES 4000 /* a child stops by itself after this many */
#define IN_FLIGHT   8    /* jobs queued at once: the writer groups them */
#define ROUNDS      24   /* kills (>= 20) */

static char db_path[128];
static uint8_t body[512];
static size_t body_len;

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void rec_id(uint8_t id[16], uint64_t batch, unsigned i)
{
    memset(id, 0, 16);
    id[0] = 0x19;
    id[6] = 0x70;
    uint64_t n = batch * PER_BATCH + i + 1;
    for (int k = 0; k < 8; k++)
        id[15 - k] = (uint8_t)(n >> (8 * k));
}

/* ---- child ---- */

struct child {
    uv_loop_t loop;
    struct writer *w;
    struct session sess;
    int fd;
    uint64_t next; /* next batch id to submit */
    uint64_t end;
};

struct batch_job {
    struct writer_job wj;
    struct child *ch;
    uint64_t id;
    uint64_t now_ms;
};

static int batch_run(struct store *st, struct writer_job *wj)
{
    struct batch_job *j = (struct batch_job *)wj;
    Fieldsync__Change c[PER_BATCH], *cp[PER_BATCH];
    uint8_t ids[PER_BATCH][16];
    struct store_change_result res[PER_BATCH];
    for (unsigned i = 0; i < PER_BATCH; i++) {
        fieldsync__change__init(&c[i]);
        rec_id(ids[i], j->id, i);
        c[i].device_seq = j->id * PER_BATCH + i + 1;
        c[i].record_id.data = ids[i];
        c[i].record_id.len = 16;
        c[i].collection = COLLECTION_CONSULTATION_REPORT;
        c[i].region = "GAO";
        c[i].hlc = hlc_make(j->now_ms, (uint16_t)i);
        c[i].body.data = body;
        c[i].body.len = body_len;
        cp[i] = &c[i];
    }
    struct store_apply_ctx ctx = {
        .sess = &j->ch->sess, .now_ms = j->now_ms, .max_clock_ahead_ms = 600000, .max_ops = 512};
    int rc = store_apply_batch(st, &ctx, cp, PER_BATCH, res, NULL);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < PER_BATCH; i++)
        if (res[i].status == FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED)
            return FIELDSYNC_EINTERNAL;
    return 0;
}

static void submit_next(struct child *ch);

static void batch_done(struct writer_job *wj)
{
    struct batch_job *j = (struct batch_job *)wj;
    struct child *ch = j->ch;
    if (wj->rc == 0) {
        /* Durable now: report it. */
        if (write(ch->fd, &j->id, sizeof j->id) != sizeof j->id)
            _exit(3);
    } else {
        fprintf(stderr, "child: batch %llu failed: %s\n", (unsigned long long)j->id,
                error_name(wj->rc));
        _exit(4);
    }
    free(j);
    submit_next(ch);
}

static void submit_next(struct child *ch)
{
    if (ch->next >= ch->end) {
        if (writer_pending(ch->w) == 0)
            writer_stop(ch->w);
        return;
    }
    struct batch_job *j = calloc(1, sizeof *j);
    if (!j)
        _exit(5);
    j->wj.run = batch_run;
    j->wj.done = batch_done;
    j->ch = ch;
    j->id = ch->next++;
    j->now_ms = wall_ms();
    if (writer_submit(ch->w, &j->wj) != 0)
        _exit(6);
}

static void child_main(int fd, uint64_t start)
{
    struct child ch;
    memset(&ch, 0, sizeof ch);
    ch.fd = fd;
    ch.next = start;
    ch.end = start + MAX_BATCHES;
    ch.sess.role = SESSION_ROLE_ADMIN;
    memset(ch.sess.device_id, 0x42, 16);
    if (uv_loop_init(&ch.loop) != 0)
        _exit(7);
    char err[256];
    if (writer_start(&ch.w, &ch.loop, db_path, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "child: %s\n", err);
        _exit(8);
    }
    for (int i = 0; i < IN_FLIGHT; i++)
        submit_next(&ch);
    uv_run(&ch.loop, UV_RUN_DEFAULT);
    _exit(0);
}

/* ---- parent ---- */

static size_t make_body(uint8_t *out)
{
    Fieldsync__ConsultationReport r = FIELDSYNC__CONSULTATION_REPORT__INIT;
    r.region = "GAO";
    r.commune = "Soni Aly Ber";
    r.locality = "Château";
    r.facilitator = "Aminata Maïga";
    r.summary = "Les participants signalent des vols de bétail répétés et demandent des "
                "patrouilles conjointes sur la route de Wabaria.";
    r.language = "fr";
    size_t n = fieldsync__consultation_report__get_packed_size(&r);
    CHECK(n <= 512);
    fieldsync__consultation_report__pack(&r, out);
    return n;
}

/* Changes recorded for record id: its creation (the record row) plus its history rows. */
static long long count_history(sqlite3 *db, const uint8_t id[16])
{
    sqlite3_stmt *s;
    CHECK_EQ(sqlite3_prepare_v2(db,
                                "SELECT (SELECT count(*) FROM records WHERE id = ?1) + "
                                "(SELECT count(*) FROM history h JOIN records r ON h.rid = r.rid "
                                "WHERE r.id = ?1)",
                                -1, &s, NULL),
             SQLITE_OK);
    sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
    CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
    long long n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

static void test_store_crash_acked_batches_survive(void)
{
    unsigned seed = (unsigned)time(NULL);
    if (getenv("FS_SEED"))
        seed = (unsigned)strtoul(getenv("FS_SEED"), NULL, 10);
    fprintf(stderr, "seed %u (FS_SEED=%u to replay)\n", seed, seed);
    srand(seed);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/test_store_crash.XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(db_path, sizeof db_path, "%s/fieldsync.db", dir);
    body_len = make_body(body);

    static uint8_t reported[MAX_BATCHES * ROUNDS];
    uint64_t max_reported = 0, n_reported = 0;
    int have_any = 0, kills = 0;
    uint64_t t0 = wall_ms();
    for (int round = 0; round < ROUNDS && wall_ms() - t0 < 20000; round++) {
        int pfd[2];
        CHECK_EQ(pipe(pfd), 0);
        /* Resume after the last reported batch, resending up to 3 already applied. */
        uint64_t start = have_any ? max_reported + 1 : 0;
        uint64_t back = (uint64_t)(rand() % 4);
        start = start > back ? start - back : 0;
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            child_main(pfd[1], start);
        }
        close(pfd[1]);
        /* Kill at a random moment: while opening, migrating, or mid-commit. */
        usleep((useconds_t)(1000 + rand() % 80000));
        kill(pid, SIGKILL);
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
            kills++;
        else
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        uint64_t id;
        ssize_t r;
        while ((r = read(pfd[0], &id, sizeof id)) == (ssize_t)sizeof id) {
            CHECK_U64(id, <, sizeof reported);
            if (!reported[id])
                n_reported++;
            reported[id] = 1;
            if (!have_any || id > max_reported)
                max_reported = id;
            have_any = 1;
        }
        CHECK_EQ(r, 0);
        close(pfd[0]);
    }
    fprintf(stderr, "%d kills, %llu batches reported durable, %llu ms\n", kills,
            (unsigned long long)n_reported, (unsigned long long)(wall_ms() - t0));
    CHECK_INT(kills, >=, 20);
    CHECK(n_reported > 0);

    sqlite3 *db;
    CHECK_EQ(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    CHECK_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    for (uint64_t b = 0; b <= max_reported; b++) {
        if (!reported[b])
            continue;
        for (unsigned i = 0; i < PER_BATCH; i++) {
            uint8_t rid[16];
            rec_id(rid, b, i);
            long long n = count_history(db, rid);
            if (n != 1)
                fprintf(stderr, "batch %llu change %u: %lld history rows\n", (unsigned long long)b,
                        i, n);
            CHECK_EQ(n, 1);
        }
    }
    /* Nothing was applied twice anywhere: every change was a creation (no history row), each
     * device_seq created one record. */
    CHECK_EQ(sqlite3_prepare_v2(db,
                                "SELECT (SELECT count(*) FROM history) + (SELECT count(*) - "
                                "count(DISTINCT created_device_seq) FROM records)",
                                -1, &s, NULL),
             SQLITE_OK);
    CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
    CHECK_EQ(sqlite3_column_int64(s, 0), 0);
    sqlite3_finalize(s);
    sqlite3_close(db);

    char p[200];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", db_path, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void)
{
    RUN(test_store_crash_acked_batches_survive);
    return 0;
}
