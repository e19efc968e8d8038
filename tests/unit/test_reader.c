/*
 * test_reader: the pull reader pool on a real SQLite file: jobs run on libuv's threadpool
 * with per-thread read-only stores and see committed data; closing refuses new jobs, waits
 * for the running ones and frees every store (the loop closes clean; ASan sees no leak).
 */
#include "check.h"
#include "collections.h"
#include "error.h"
#include "hlc.h"
#include "reader.h"
#include "session.h"
#include "store.h"
#include "store_fixture.h"
#include "store_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define NOW_MS    1700000000000ull
#define N_RECORDS 5
#define N_JOBS    8

/* N_RECORDS records (empty bodies but a commune op) written through the store. */
static void fill(void)
{
    struct store *st;
    char err[256];
    CHECK_EQ(store_open(&st, fixture_db_path, 1, NULL, err, sizeof err), 0);
    struct session admin;
    memset(&admin, 0, sizeof admin);
    admin.role = SESSION_ROLE_ADMIN;
    memset(admin.device_id, 0x33, 16);
    Fieldsync__Change c[N_RECORDS], *cp[N_RECORDS];
    Fieldsync__FieldOp op[N_RECORDS], *opp[N_RECORDS];
    uint8_t ids[N_RECORDS][16];
    static const uint8_t commune[] = {0x1a, 0x03, 'G', 'a', 'o'}; /* field 3, "Gao" */
    for (int i = 0; i < N_RECORDS; i++) {
        fieldsync__change__init(&c[i]);
        fieldsync__field_op__init(&op[i]);
        memset(ids[i], 0, 16);
        ids[i][0] = 0x18;
        ids[i][15] = (uint8_t)(i + 1);
        op[i].field = 3;
        op[i].value.data = (uint8_t *)commune;
        op[i].value.len = sizeof commune;
        opp[i] = &op[i];
        c[i].device_seq = (uint64_t)i + 1;
        c[i].record_id.data = ids[i];
        c[i].record_id.len = 16;
        c[i].collection = COLLECTION_CONSULTATION_REPORT;
        c[i].region = "GAO";
        c[i].hlc = hlc_make(NOW_MS - 100 + (uint64_t)i, 0);
        c[i].n_ops = 1;
        c[i].ops = &opp[i];
        cp[i] = &c[i];
    }
    struct store_change_result res[N_RECORDS];
    struct store_apply_ctx ctx = {
        .sess = &admin, .now_ms = NOW_MS, .max_clock_ahead_ms = 600000, .max_ops = 16};
    CHECK_EQ(store_begin(st), 0);
    CHECK_EQ(store_apply_batch(st, &ctx, cp, N_RECORDS, res, NULL), 0);
    CHECK_EQ(store_commit(st), 0);
    for (int i = 0; i < N_RECORDS; i++)
        CHECK_EQ(res[i].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    store_close(st);
}

struct count_job {
    struct reader_job rj;
    int records;
    int done;
};

static int count_record(void *user, const struct store_record_view *v)
{
    CHECK_EQ(v->body_len, 5);
    ((struct count_job *)user)->records++;
    return 0;
}

static void count_run(struct store *st, struct reader_job *rj)
{
    struct count_job *j = (struct count_job *)rj;
    if (!st)
        return;
    struct session admin;
    memset(&admin, 0, sizeof admin);
    admin.role = SESSION_ROLE_ADMIN;
    struct store_pull_req req = {.sess = &admin, .cursor = 0, .limit = 100};
    uint64_t next;
    int more;
    rj->rc = store_begin(st);
    if (rj->rc == 0)
        rj->rc = store_pull(st, &req, count_record, NULL, j, &next, &more);
    store_commit(st);
}

static void count_done(struct reader_job *rj)
{
    ((struct count_job *)rj)->done = 1;
}

static void test_reader_pool_runs_and_closes(void)
{
    uv_loop_t loop;
    CHECK_EQ(uv_loop_init(&loop), 0);
    struct reader *r;
    CHECK_EQ(reader_start(&r, &loop, fixture_db_path, NULL), 0);
    struct count_job jobs[N_JOBS];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < N_JOBS; i++) {
        jobs[i].rj.run = count_run;
        jobs[i].rj.done = count_done;
        CHECK_EQ(reader_submit(r, &jobs[i].rj), 0);
    }
    CHECK_EQ(reader_pending(r), N_JOBS);
    reader_close(r); /* frees itself once the jobs are done */
    struct count_job late = {.rj = {.run = count_run, .done = count_done}};
    CHECK_EQ(reader_submit(r, &late.rj), FIELDSYNC_ESHUTDOWN);
    CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < N_JOBS; i++) {
        CHECK(jobs[i].done);
        CHECK_EQ(jobs[i].rj.rc, 0);
        CHECK_EQ(jobs[i].records, N_RECORDS);
    }
    CHECK(!late.done);
    CHECK_EQ(uv_loop_close(&loop), 0);
}

static void test_reader_close_when_idle(void)
{
    uv_loop_t loop;
    CHECK_EQ(uv_loop_init(&loop), 0);
    struct reader *r;
    CHECK_EQ(reader_start(&r, &loop, fixture_db_path, NULL), 0);
    reader_close(r); /* nothing pending: freed now */
    reader_close(NULL);
    CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ(uv_loop_close(&loop), 0);
}

static void test_reader_missing_database(void)
{
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.db", fixture_dir);
    uv_loop_t loop;
    CHECK_EQ(uv_loop_init(&loop), 0);
    struct reader *r;
    CHECK_EQ(reader_start(&r, &loop, missing, NULL), 0);
    struct count_job j = {.rj = {.run = count_run, .done = count_done}};
    CHECK_EQ(reader_submit(r, &j.rj), 0);
    reader_close(r);
    CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK(j.done);
    CHECK_EQ(j.rj.rc, FIELDSYNC_ESTORE); /* reported to done, not crashed on */
    CHECK_EQ(uv_loop_close(&loop), 0);
    CHECK(access(missing, F_OK) != 0); /* a reader never creates the database */
}

int main(void)
{
    fixture_make_dir("test_reader");
    fill();
    RUN(test_reader_pool_runs_and_closes);
    RUN(test_reader_close_when_idle);
    RUN(test_reader_missing_database);
    fixture_remove();
    return 0;
}
