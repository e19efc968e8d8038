/*
 * test_store_prepare: store_prepare_batch (the checks and clock blobs of new records done
 * before the writer thread) changes nothing but where the work is done. The same batch of
 * changes — ready new records, and every kind the writer must still decide (out of scope,
 * non-canonical body, wrong region field, clock beyond the bound, over the record size limit,
 * duplicate, an id already stored, an edit) — applied to a fresh real SQLite store with and
 * without preparing gives the same results and byte-identical rows.
 */
#include "check.h"
#include "collections.h"
#include "consultation.pb-c.h"
#include "error.h"
#include "hlc.h"
#include "session.h"
#include "store.h"
#include "store_fixture.h"
#include "store_records.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW_MS FIXTURE_NOW_MS
#define N      10

struct batch {
    Fieldsync__Change ch[N], *chp[N];
    uint8_t id[N][16];
    uint8_t body[N][1024];
    Fieldsync__FieldOp op, *opp;
    uint8_t val[64];
};

static void change(struct batch *b, int i, uint64_t seq, unsigned rec, const char *region,
                   uint64_t hlc)
{
    Fieldsync__Change *c = &b->ch[i];
    fieldsync__change__init(c);
    fixture_rec_id(b->id[i], rec);
    c->device_seq = seq;
    c->record_id.data = b->id[i];
    c->record_id.len = 16;
    c->collection = COLLECTION_CONSULTATION_REPORT;
    c->region = (char *)region;
    c->hlc = hlc;
    b->chp[i] = c;
}

static void body(struct batch *b, int i, const char *region, const char *summary)
{
    b->ch[i].body.len = fixture_report(b->body[i], sizeof b->body[i], region, "Gao", NULL, summary);
    b->ch[i].body.data = b->body[i];
}

static void build(struct batch *b)
{
    uint64_t h = hlc_make(NOW_MS - 1000, 0);
    char long_summary[700];
    memset(long_summary, 'a', sizeof long_summary - 1);
    long_summary[sizeof long_summary - 1] = '\0';
    memset(b, 0, sizeof *b);
    change(b, 0, 1, 1, "GAO", h); /* ready */
    body(b, 0, "GAO", "Premier rapport");
    change(b, 1, 2, 2, "MENAKA", h + 1); /* out of scope */
    body(b, 1, "MENAKA", "hors du périmètre");
    change(b, 2, 3, 3, "GAO", h + 2); /* not canonical: commune (3) before region (1) */
    body(b, 2, "GAO", "ordre");
    uint8_t *p = b->body[2];
    CHECK_EQ(p[0], 0x0a); /* region first, 3 bytes: 0a 03 G A O */
    uint8_t region_field[5];
    memcpy(region_field, p, 5);
    size_t commune_len = 2 + (size_t)p[6];
    memmove(p, p + 5, commune_len);
    memcpy(p + commune_len, region_field, 5);
    change(b, 3, 4, 4, "GAO", h + 3); /* region field says another region */
    body(b, 3, "MENAKA", "autre région");
    change(b, 4, 5, 5, "GAO", hlc_make(NOW_MS + 3600 * 1000, 0)); /* beyond the clock bound */
    body(b, 4, "GAO", "trop tôt");
    change(b, 5, 6, 6, "GAO", h + 5); /* over the record size limit */
    body(b, 5, "GAO", long_summary);
    change(b, 6, 1, 7, "GAO", h + 6); /* duplicate of seq 1 */
    body(b, 6, "GAO", "doublon");
    change(b, 7, 7, 1, "GAO", h + 7); /* ready-looking, but record 1 exists by then */
    body(b, 7, "GAO", "Rapport corrigé");
    change(b, 8, 8, 1, "GAO", h + 8); /* an edit */
    b->op = (Fieldsync__FieldOp)FIELDSYNC__FIELD_OP__INIT;
    b->op.field = 9;
    b->val[0] = 9 << 3 | 2;
    b->val[1] = 5;
    memcpy(b->val + 2, "12:45", 5);
    b->op.value.data = b->val;
    b->op.value.len = 7;
    b->opp = &b->op;
    b->ch[8].ops = &b->opp;
    b->ch[8].n_ops = 1;
    change(b, 9, 9, 9, "GAO", h + 9); /* ready */
    body(b, 9, "GAO", "Dernier rapport");
}

/* Every row of records and history, hex, one line each. */
static void dump(char *out, size_t cap)
{
    static const char *sql[] = {
        "SELECT rid || hex(id) || collection || region || hex(body) || hex(clocks) || deleted "
        "|| hex(creator) || ifnull(commune, '-') || ifnull(cdate, '-') || created_ms || "
        "updated_ms || server_seq || created_seq || created_device_seq || created_hlc "
        "FROM records ORDER BY rid",
        "SELECT seq || rid || hex(device) || device_seq || hlc || server_ms || hex(ops) "
        "FROM history ORDER BY seq",
        "SELECT hw FROM delivery", "SELECT seq FROM delivery_above ORDER BY seq"};
    sqlite3 *db;
    size_t len = 0;
    out[0] = '\0';
    CHECK_EQ(sqlite3_open_v2(fixture_db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (size_t q = 0; q < sizeof sql / sizeof *sql; q++) {
        sqlite3_stmt *s;
        CHECK_EQ(sqlite3_prepare_v2(db, sql[q], -1, &s, NULL), SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            int n = snprintf(out + len, cap - len, "%s\n", (const char *)sqlite3_column_text(s, 0));
            CHECK(n > 0 && (size_t)n < cap - len);
            len += (size_t)n;
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
}

/* Apply the batch to a fresh store, prepared or not; results and the dump out. */
static void run(int prepared, struct store_change_result *res, char *out, size_t cap,
                size_t *n_ready)
{
    struct store *st = fixture_open_fresh("test_store_prepare");
    struct session sess;
    memset(&sess, 0, sizeof sess);
    sess.role = SESSION_ROLE_COLLECTOR;
    memset(sess.device_id, 0x42, 16);
    CHECK_EQ(session_set_regions(&sess, "GAO"), 0);
    static struct batch b;
    build(&b);
    struct store_apply_ctx ctx = {.sess = &sess,
                                  .now_ms = NOW_MS,
                                  .max_clock_ahead_ms = 600000,
                                  .max_ops = 512,
                                  .max_record = 600};
    struct store_prep prep;
    store_prep_init(&prep);
    *n_ready = 0;
    if (prepared) {
        CHECK_EQ(store_prepare_batch(&ctx, b.chp, N, &prep), 0);
        CHECK_EQ(prep.n, N);
        for (size_t i = 0; i < N; i++)
            *n_ready += (size_t)prep.c[i].ready;
        ctx.prep = &prep;
    }
    CHECK_EQ(store_begin(st), 0);
    CHECK_EQ(store_apply_batch(st, &ctx, b.chp, N, res, NULL), 0);
    CHECK_EQ(store_commit(st), 0);
    store_prep_close(&prep);
    store_close(st);
    dump(out, cap);
    fixture_remove();
}

static void test_store_prepare_same_results_and_rows(void)
{
    static struct store_change_result plain[N], prepped[N];
    static char dump_plain[65536], dump_prepped[65536];
    size_t ready;
    run(0, plain, dump_plain, sizeof dump_plain, &ready);
    run(1, prepped, dump_prepped, sizeof dump_prepped, &ready);
    /* 0, 6 (a duplicate: the writer says so first), 7 (the id exists: the writer merges) and
     * 9 look ready before the writer; everything else is left to it. */
    CHECK_EQ(ready, 4);
    static const int want[N] = {
        FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED,   FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED,
        FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED,   FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED,
        FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED,  FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED,
        FIELDSYNC__CHANGE_STATUS__CHANGE_DUPLICATE, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED,
        FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED,   FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED};
    static const int want_code[N] = {
        0, FIELDSYNC_ESCOPE, 0, FIELDSYNC_EREGION, FIELDSYNC_ECLOCK, FIELDSYNC_ERECORDSIZE, 0, 0, 0,
        0};
    for (int i = 0; i < N; i++) {
        CHECK_EQ(plain[i].status, want[i]);
        CHECK_EQ(plain[i].code, want_code[i]);
        CHECK_EQ(prepped[i].status, plain[i].status);
        CHECK_EQ(prepped[i].code, plain[i].code);
        CHECK_U64(prepped[i].device_seq, ==, plain[i].device_seq);
        CHECK_EQ(prepped[i].conflicts, plain[i].conflicts);
        CHECK_STR(prepped[i].message, plain[i].message);
    }
    /* Records 1, 3, 9; record 1 merged twice (body, then edit): two history rows. */
    CHECK(strlen(dump_plain) > 0);
    CHECK_STR(dump_prepped, dump_plain);
}

int main(void)
{
    RUN(test_store_prepare_same_results_and_rows);
    return 0;
}
