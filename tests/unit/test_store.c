/*
 * test_store: the records store on a real SQLite file in a temporary directory, driven
 * directly (store_begin / store_apply_batch / store_commit): migration, exactly-once
 * application, history, conflicts, region immutability, the clock bound. The feed:
 * test_store_pull.c.
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

struct hist {
    int n;
    uint64_t seq[32];
    uint64_t device_seq[32], change_hlc[32];
    int64_t server_ms[32];
    uint8_t device[32][16];
    uint32_t field[32];
    int had_old[32];
    char old_val[32][64];
    char new_val[32][64];
};

static void copy_str_value(char *dst, const uint8_t *v, size_t n)
{
    /* values are tag (1 or 2 bytes) + 1-byte length + text for the short strings here */
    dst[0] = '\0';
    size_t t = n && (v[0] & 0x80) ? 2 : 1;
    if (n >= t + 1 && v[t] == n - t - 1 && n - t - 1 < 64) {
        memcpy(dst, v + t + 1, n - t - 1);
        dst[n - t - 1] = '\0';
    }
}

static int on_hist(void *user, const struct store_history_op *op)
{
    struct hist *h = user;
    CHECK(h->n < 32);
    h->seq[h->n] = op->seq;
    h->device_seq[h->n] = op->device_seq;
    h->change_hlc[h->n] = op->change_hlc;
    h->server_ms[h->n] = op->server_ms;
    memcpy(h->device[h->n], op->device, 16);
    h->field[h->n] = op->field;
    h->had_old[h->n] = op->had_old;
    copy_str_value(h->old_val[h->n], op->old_value, op->old_len);
    copy_str_value(h->new_val[h->n], op->new_value, op->new_len);
    h->n++;
    return 0;
}

/* ---- tests ---- */

static void test_store_migrate_from_empty(void)
{
    fixture_make_dir("test_store");
    /* An empty database file at version 0. */
    sqlite3 *db;
    CHECK_EQ(sqlite3_open(fixture_db_path, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db, "PRAGMA user_version", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ(fixture_query_int("PRAGMA user_version"), 0);
    struct store *st = NULL;
    char err[256];
    CHECK_EQ(store_open(&st, fixture_db_path, 1, NULL, err, sizeof err), 0);
    CHECK_EQ(store_schema_version(st), 1);
    CHECK_EQ(fixture_query_int("PRAGMA user_version"), 1);
    const char *tables[] = {"records",        "history",        "conflicts", "delivery",
                            "delivery_above", "record_editors", "devices",   "enroll_codes"};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'", tables[i]);
        CHECK_EQ(fixture_query_int(sql), 1);
    }
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM sqlite_master WHERE type='index' AND "
                               "name='records_feed'"),
             1);
    store_close(st);
    /* Reopening does not migrate again. */
    CHECK_EQ(store_open(&st, fixture_db_path, 1, NULL, err, sizeof err), 0);
    CHECK_EQ(store_schema_version(st), 1);
    fixture_close_and_remove(st);
}

static void test_store_reapply_is_duplicate(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session col;
    fixture_session(&col, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    struct tchange t[3];
    for (unsigned i = 0; i < 3; i++)
        tc_new(&t[i], i + 1, i + 1, "GAO", "Tensions entre éleveurs et agriculteurs",
               hlc_make(NOW_MS - 5000 + i, 0));
    struct store_change_result res[3];
    fixture_apply(st, &col, t, 3, res);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(res[i].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
        CHECK_U64(res[i].device_seq, ==, i + 1);
    }
    struct page before, after;
    fixture_pull_all(st, &col, 10, &before);
    CHECK_EQ(before.n, 3);
    /* A creation writes no history row: its header is in the record row. */
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM history"), 0);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM records WHERE created_seq = server_seq AND "
                               "created_device_seq BETWEEN 1 AND 3"),
             3);

    /* The same batch again: every change is a duplicate and nothing moves. */
    fixture_apply(st, &col, t, 3, res);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(res[i].status, FIELDSYNC__CHANGE_STATUS__CHANGE_DUPLICATE);
        CHECK_U64(res[i].device_seq, ==, i + 1);
    }
    /* Even with a different body: (device, seq) decides. */
    struct tchange other;
    tc_new(&other, 2, 2, "GAO", "autre contenu", hlc_make(NOW_MS, 0));
    fixture_apply_one(st, &col, &other, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_DUPLICATE);
    tc_free(&other);

    fixture_pull_all(st, &col, 10, &after);
    CHECK_EQ(after.n, before.n);
    for (int i = 0; i < before.n; i++) {
        CHECK_U64(after.seq[i], ==, before.seq[i]);
        CHECK_MEM(after.id[i], before.id[i], 16);
        CHECK_EQ(after.body_len[i], before.body_len[i]);
        CHECK_MEM(after.body[i], before.body[i], before.body_len[i]);
    }
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM history"), 0);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM records"), 3);
    CHECK_EQ(fixture_query_int("SELECT hw FROM delivery"), 3);
    for (int i = 0; i < 3; i++)
        tc_free(&t[i]);
    fixture_close_and_remove(st);
}

static void test_store_delivery_out_of_order(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session col;
    fixture_session(&col, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    struct store_change_result res[4];
    struct tchange t[4];
    /* seq 1 ok, seq 2 rejected (out of scope), seq 3 and 4 ok: 3 and 4 wait above hw. */
    tc_new(&t[0], 1, 1, "GAO", "un", hlc_make(NOW_MS - 100, 0));
    tc_new(&t[1], 2, 2, "MENAKA", "deux", hlc_make(NOW_MS - 99, 0));
    tc_new(&t[2], 3, 3, "GAO", "trois", hlc_make(NOW_MS - 98, 0));
    tc_new(&t[3], 4, 4, "GAO", "quatre", hlc_make(NOW_MS - 97, 0));
    fixture_apply(st, &col, t, 4, res);
    CHECK_EQ(res[1].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK_EQ(res[1].code, FIELDSYNC_ESCOPE);
    CHECK_EQ(fixture_query_int("SELECT hw FROM delivery"), 1);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM delivery_above"), 2);
    /* Seq 2 corrected and resent: applies, and hw absorbs 3 and 4. */
    tc_free(&t[1]);
    tc_new(&t[1], 2, 2, "GAO", "deux", hlc_make(NOW_MS - 99, 0));
    fixture_apply_one(st, &col, &t[1], res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(fixture_query_int("SELECT hw FROM delivery"), 4);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM delivery_above"), 0);
    fixture_apply(st, &col, t, 4, res);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(res[i].status, FIELDSYNC__CHANGE_STATUS__CHANGE_DUPLICATE);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM records"), 4);
    for (int i = 0; i < 4; i++)
        tc_free(&t[i]);
    fixture_close_and_remove(st);
}

static void test_store_history_old_and_new(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session a, b;
    fixture_session(&a, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    fixture_session(&b, SESSION_ROLE_COORDINATOR, 2, "GAO", 0);
    struct store_change_result res[1];
    uint64_t h0 = hlc_make(NOW_MS - 10000, 0);
    struct tchange t;
    tc_new(&t, 1, 7, "GAO", "Premier résumé", h0);
    fixture_apply_one(st, &a, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    tc_free(&t);

    /* b edits the summary (field 18) knowing a's value: no conflict. */
    uint64_t h1 = hlc_make(NOW_MS - 5000, 0);
    tc_new(&t, 1, 7, "GAO", NULL, h1);
    tc_set(&t, 18, "Résumé corrigé", 0, h0, a.device_id);
    fixture_apply_one(st, &b, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(res[0].conflicts, 0);

    struct hist h;
    memset(&h, 0, sizeof h);
    uint8_t id[16];
    fixture_rec_id(id, 7);
    CHECK_EQ(store_history_walk(st, id, on_hist, &h), 0);
    /* Creation: one op per field present (region, commune, locality, date, summary, language),
     * none with an old value; then the edit. */
    CHECK(h.n >= 6);
    int saw_create_summary = 0;
    for (int i = 0; i < h.n - 1; i++) {
        CHECK_EQ(h.had_old[i], 0);
        CHECK_U64(h.seq[i], ==, h.seq[0]);
        /* the creation's header (from the record row: a creation has no history row) */
        CHECK_U64(h.device_seq[i], ==, 1);
        CHECK_U64(h.change_hlc[i], ==, h0);
        CHECK_EQ(h.server_ms[i], (int64_t)NOW_MS);
        CHECK_MEM(h.device[i], a.device_id, 16);
        if (h.field[i] == 18) {
            CHECK_STR(h.new_val[i], "Premier résumé");
            saw_create_summary = 1;
        }
    }
    CHECK(saw_create_summary);
    int last = h.n - 1;
    CHECK_U64(h.seq[last], >, h.seq[0]);
    CHECK_EQ(h.field[last], 18);
    CHECK_EQ(h.had_old[last], 1);
    CHECK_U64(h.change_hlc[last], ==, h1);
    CHECK_MEM(h.device[last], b.device_id, 16);
    CHECK_STR(h.old_val[last], "Premier résumé");
    CHECK_STR(h.new_val[last], "Résumé corrigé");
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM record_editors"), 1);

    /* A field first written after the creation is not part of the creation's values; one
     * that was never overwritten keeps its creation value. */
    tc_new(&t, 2, 7, "GAO", NULL, hlc_make(NOW_MS - 4000, 0));
    tc_set(&t, 9, "12:45", 0, 0, NULL);
    fixture_apply_one(st, &b, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    memset(&h, 0, sizeof h);
    CHECK_EQ(store_history_walk(st, id, on_hist, &h), 0);
    int n9 = 0, saw_commune = 0;
    for (int i = 0; i < h.n; i++) {
        if (h.field[i] == 9) {
            n9++;
            CHECK_U64(h.seq[i], >, h.seq[0]);
            CHECK_EQ(h.had_old[i], 0);
            CHECK_STR(h.new_val[i], "12:45");
        }
        if (h.field[i] == 3) {
            CHECK_U64(h.seq[i], ==, h.seq[0]);
            CHECK_STR(h.new_val[i], "Gao");
            saw_commune = 1;
        }
    }
    CHECK_EQ(n9, 1);
    CHECK(saw_commune);
    CHECK_STR(h.new_val[h.n - 1], "12:45");
    uint8_t missing[16];
    fixture_rec_id(missing, 999);
    CHECK_EQ(store_history_walk(st, missing, on_hist, &h), FIELDSYNC_ENOTFOUND);
    fixture_close_and_remove(st);
}

struct conflicts {
    int n;
    struct {
        uint64_t id;
        int state;
        char winner[64], loser[64];
        uint8_t winner_dev[16], loser_dev[16];
        int resolved;
        uint8_t resolved_by[16];
    } c[8];
};

static int on_conflict(void *user, const struct store_conflict_view *v)
{
    struct conflicts *cs = user;
    CHECK(cs->n < 8);
    cs->c[cs->n].id = v->id;
    cs->c[cs->n].state = v->state;
    copy_str_value(cs->c[cs->n].winner, v->winner_value, v->winner_len);
    copy_str_value(cs->c[cs->n].loser, v->loser_value, v->loser_len);
    memcpy(cs->c[cs->n].winner_dev, v->winner_device, 16);
    memcpy(cs->c[cs->n].loser_dev, v->loser_device, 16);
    cs->c[cs->n].resolved = v->resolved_by != NULL;
    if (v->resolved_by)
        memcpy(cs->c[cs->n].resolved_by, v->resolved_by, 16);
    cs->n++;
    return 0;
}

static void test_store_conflict_open_then_resolved(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session a, b, coord;
    fixture_session(&a, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    fixture_session(&b, SESSION_ROLE_COLLECTOR, 2, "GAO", 0);
    fixture_session(&coord, SESSION_ROLE_COORDINATOR, 3, "GAO", 0);
    struct store_change_result res[1];
    uint64_t h0 = hlc_make(NOW_MS - 10000, 0);
    struct tchange t;
    tc_new(&t, 1, 9, "GAO", "Version initiale", h0);
    fixture_apply_one(st, &a, &t, res);
    tc_free(&t);
    /* a and b both edit the summary from the same base: the second one conflicts. */
    tc_new(&t, 2, 9, "GAO", NULL, hlc_make(NOW_MS - 6000, 0));
    tc_set(&t, 18, "Version de A", 0, h0, a.device_id);
    fixture_apply_one(st, &a, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(res[0].conflicts, 0);
    tc_new(&t, 1, 9, "GAO", NULL, hlc_make(NOW_MS - 5000, 0));
    tc_set(&t, 18, "Version de B", 0, h0, a.device_id);
    fixture_apply_one(st, &b, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(res[0].conflicts, 1);

    uint8_t id[16];
    fixture_rec_id(id, 9);
    struct conflicts cs;
    memset(&cs, 0, sizeof cs);
    CHECK_EQ(store_conflict_walk(st, id, on_conflict, &cs), 0);
    CHECK_EQ(cs.n, 1);
    CHECK_EQ(cs.c[0].state, FIELDSYNC__CONFLICT_STATE__CONFLICT_OPEN);
    CHECK_STR(cs.c[0].winner, "Version de B"); /* later clock wins */
    CHECK_STR(cs.c[0].loser, "Version de A");  /* and nothing is lost */
    CHECK_MEM(cs.c[0].winner_dev, b.device_id, 16);
    CHECK_MEM(cs.c[0].loser_dev, a.device_id, 16);
    CHECK(!cs.c[0].resolved);
    uint64_t cid = cs.c[0].id;

    /* The conflict shows up with the record in a pull. */
    struct page p;
    uint64_t next;
    int more;
    fixture_pull(st, &coord, 0, 10, &p, &next, &more);
    CHECK_EQ(p.n, 1);
    CHECK_EQ(p.n_conflicts, 1);
    CHECK_U64(p.conflict_id[0], ==, cid);

    /* A collector may not resolve. */
    tc_new(&t, 2, 9, "GAO", NULL, hlc_make(NOW_MS - 4000, 0));
    tc_set(&t, 18, "Version de B", 0, hlc_make(NOW_MS - 5000, 0), b.device_id);
    t.ch.resolves = &cid;
    t.ch.n_resolves = 1;
    fixture_apply_one(st, &b, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK_EQ(res[0].code, FIELDSYNC_ESCOPE);

    /* Unknown conflict id. */
    uint64_t bogus = cid + 100;
    tc_new(&t, 1, 9, "GAO", NULL, hlc_make(NOW_MS - 3000, 0));
    tc_set(&t, 18, "Synthèse des deux", 0, hlc_make(NOW_MS - 5000, 0), b.device_id);
    t.ch.resolves = &bogus;
    t.ch.n_resolves = 1;
    fixture_apply_one(st, &coord, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK_EQ(res[0].code, FIELDSYNC_ENOTFOUND);

    /* The coordinator writes the merged text and resolves. */
    t.ch.resolves = &cid;
    fixture_apply_one(st, &coord, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(res[0].conflicts, 0);
    memset(&cs, 0, sizeof cs);
    CHECK_EQ(store_conflict_walk(st, id, on_conflict, &cs), 0);
    CHECK_EQ(cs.n, 1);
    CHECK_EQ(cs.c[0].state, FIELDSYNC__CONFLICT_STATE__CONFLICT_RESOLVED);
    CHECK(cs.c[0].resolved);
    CHECK_MEM(cs.c[0].resolved_by, coord.device_id, 16);
    CHECK_EQ(fixture_query_int("SELECT resolved_hlc FROM conflicts"),
             (long long)hlc_make(NOW_MS - 3000, 0));

    /* The resolution travels to a device that saw the conflict open (its cursor is past the
     * opening), not to one that never did: resolved conflicts do not ride with the record
     * for ever. */
    uint64_t seen_open = next;
    fixture_pull(st, &coord, seen_open, 10, &p, &next, &more);
    CHECK_EQ(p.n, 1);
    CHECK_EQ(p.n_conflicts, 1);
    CHECK_U64(p.conflict_id[0], ==, cid);
    CHECK_EQ(p.conflict_state[0], FIELDSYNC__CONFLICT_STATE__CONFLICT_RESOLVED);
    fixture_pull(st, &coord, 0, 10, &p, &next, &more);
    CHECK_EQ(p.n, 1);
    CHECK_EQ(p.n_conflicts, 0);
    fixture_close_and_remove(st);
}

static void test_store_region_immutable(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session admin;
    fixture_session(&admin, SESSION_ROLE_ADMIN, 3, "", 0);
    struct store_change_result res[1];
    struct tchange t;
    tc_new(&t, 1, 1, "GAO", "rapport de Gao", hlc_make(NOW_MS - 100, 0));
    fixture_apply_one(st, &admin, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    tc_free(&t);
    struct page before, after;
    fixture_pull_all(st, &admin, 10, &before);

    /* The change names another region. */
    tc_new(&t, 2, 1, "MENAKA", NULL, hlc_make(NOW_MS - 50, 0));
    tc_set(&t, 18, "déplacé", 0, 0, NULL);
    fixture_apply_one(st, &admin, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK_EQ(res[0].code, FIELDSYNC_EREGION);
    /* An op sets the region field to another value. */
    tc_new(&t, 3, 1, "GAO", NULL, hlc_make(NOW_MS - 40, 0));
    tc_set(&t, 18, "déplacé", 0, 0, NULL);
    tc_set(&t, 1, "MENAKA", 0, 0, NULL);
    fixture_apply_one(st, &admin, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK_EQ(res[0].code, FIELDSYNC_EREGION);
    /* A new record whose body says another region than the change. */
    uint8_t *body;
    tc_new(&t, 4, 2, "GAO", NULL, hlc_make(NOW_MS - 30, 0));
    t.ch.body.len = fixture_report_alloc(&body, "MENAKA", "Ménaka", "x");
    t.ch.body.data = body;
    fixture_apply_one(st, &admin, &t, res);
    CHECK_EQ(res[0].code, FIELDSYNC_EREGION);
    free(body);
    /* Setting the region to its own value is fine. */
    tc_new(&t, 5, 1, "GAO", NULL, hlc_make(NOW_MS - 20, 0));
    tc_set(&t, 1, "GAO", 0, 0, NULL);
    fixture_apply_one(st, &admin, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);

    fixture_pull_all(st, &admin, 10, &after);
    CHECK_EQ(after.n, 1);
    CHECK_EQ(after.body_len[0], before.body_len[0]);
    CHECK_MEM(after.body[0], before.body[0], before.body_len[0]);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM records WHERE region='GAO'"), 1);
    fixture_close_and_remove(st);
}

static void test_store_clock_bound_rejects_whole_change(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session col;
    fixture_session(&col, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    struct store_change_result res[2];
    struct tchange t[2];
    uint64_t h0 = hlc_make(NOW_MS - 100, 0);
    tc_new(&t[0], 1, 1, "GAO", "avant", h0);
    fixture_apply_one(st, &col, &t[0], res);
    tc_free(&t[0]);
    struct page before;
    fixture_pull_all(st, &col, 10, &before);
    long long rows = fixture_query_int("SELECT (SELECT count(*) FROM history) + "
                                       "(SELECT count(*) FROM records)");

    /* Two ops: the first fine, the second 11 minutes ahead. Nothing of it may apply; the
     * next change of the batch still does. */
    tc_new(&t[0], 2, 1, "GAO", NULL, hlc_make(NOW_MS - 50, 0));
    tc_set(&t[0], 4, "Bourem", 0, 0, NULL);
    tc_set(&t[0], 18, "du futur", hlc_make(NOW_MS + 11 * 60 * 1000, 0), h0, col.device_id);
    tc_new(&t[1], 3, 2, "GAO", "autre rapport", hlc_make(NOW_MS - 40, 0));
    fixture_apply(st, &col, t, 2, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK_EQ(res[0].code, FIELDSYNC_ECLOCK);
    char want[64];
    snprintf(want, sizeof want, "server time %llu ms", (unsigned long long)NOW_MS);
    CHECK(strstr(res[0].message, want) != NULL);
    CHECK_EQ(res[1].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    /* only the new record: no history row, no edit of record 1 */
    CHECK_EQ(
        fixture_query_int("SELECT (SELECT count(*) FROM history) + (SELECT count(*) FROM records)"),
        rows + 1);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM history"), 0);

    struct page after;
    fixture_pull_all(st, &col, 10, &after);
    CHECK_EQ(after.n, 2);
    CHECK_MEM(after.id[0], before.id[0], 16);
    CHECK_EQ(after.body_len[0], before.body_len[0]);
    CHECK_MEM(after.body[0], before.body[0], before.body_len[0]);
    CHECK_U64(after.seq[0], ==, before.seq[0]);

    /* Within the bound (9 minutes ahead) the same seq, re-stamped, applies. */
    t[0].op[1].hlc = hlc_make(NOW_MS + 9 * 60 * 1000, 0);
    fixture_apply_one(st, &col, &t[0], res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    tc_free(&t[1]);
    fixture_close_and_remove(st);
}

static void test_store_rejects_bad_input(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session col;
    fixture_session(&col, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    struct store_change_result res[1];
    struct tchange t;
    tc_new(&t, 1, 1, "GAO", "x", hlc_make(NOW_MS, 0));
    memset(t.id, 0, 16); /* nil id */
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].code, FIELDSYNC_EBADID);
    t.ch.record_id.len = 8;
    fixture_rec_id(t.id, 1);
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].code, FIELDSYNC_EBADID);
    t.ch.record_id.len = 16;
    t.ch.collection = 42;
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].code, FIELDSYNC_ECOLLECTION);
    t.ch.collection = 1;
    t.ch.region = "G\xc3";
    {
        struct session admin;
        fixture_session(&admin, SESSION_ROLE_ADMIN, 3, "", 0);
        fixture_apply_one(st, &admin, &t, res);
        CHECK_EQ(res[0].code, FIELDSYNC_EREGION);
    }
    t.ch.region = "GAO";
    t.ch.device_seq = 0;
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].code, FIELDSYNC_ESEQ);
    t.ch.device_seq = 1;
    uint8_t junk[4] = {0x92, 0x01, 0x01, 0xff}; /* field 18, length 1, invalid UTF-8 */
    tc_free(&t);
    tc_new(&t, 1, 1, "GAO", NULL, hlc_make(NOW_MS, 0));
    tc_set(&t, 18, "x", 0, 0, NULL);
    memcpy(t.val[0], junk, 4);
    t.op[0].value.len = 4;
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK(res[0].code == FIELDSYNC_EUTF8 || res[0].code == FIELDSYNC_ESCHEMA);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM records"), 0);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM delivery"), 0);
    fixture_close_and_remove(st);
}

struct one {
    int deleted;
    uint64_t seq;
};

static int on_one(void *user, const struct store_record_view *v)
{
    struct one *o = user;
    o->deleted = v->deleted;
    o->seq = v->server_seq;
    return 0;
}

static void test_store_delete_record(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session col;
    fixture_session(&col, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    struct store_change_result res[1];
    struct tchange t;
    tc_new(&t, 1, 5, "GAO", "à supprimer", hlc_make(NOW_MS - 100, 0));
    fixture_apply_one(st, &col, &t, res);
    tc_free(&t);
    uint8_t id[16];
    fixture_rec_id(id, 5);
    struct one o = {0, 0};
    CHECK_EQ(store_record_get(st, id, on_one, &o), 0);
    CHECK_EQ(o.deleted, 0);
    uint64_t seq0 = o.seq;
    tc_new(&t, 2, 5, "GAO", NULL, hlc_make(NOW_MS - 50, 0));
    t.ch.delete_record = 1;
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(store_record_get(st, id, on_one, &o), 0);
    CHECK_EQ(o.deleted, 1);
    CHECK_U64(o.seq, >, seq0); /* the deletion is in the feed */
    /* The tombstone is in the history. */
    struct hist h;
    memset(&h, 0, sizeof h);
    CHECK_EQ(store_history_walk(st, id, on_hist, &h), 0);
    CHECK_EQ(h.field[h.n - 1], 0);
    uint8_t missing[16];
    fixture_rec_id(missing, 6);
    CHECK_EQ(store_record_get(st, missing, on_one, &o), FIELDSYNC_ENOTFOUND);
    fixture_close_and_remove(st);
}

struct summary {
    char text[128];
};

static int on_summary(void *user, const struct store_record_view *v)
{
    struct summary *sm = user;
    Fieldsync__ConsultationReport *r =
        fieldsync__consultation_report__unpack(NULL, v->body_len, v->body);
    CHECK(r != NULL);
    snprintf(sm->text, sizeof sm->text, "%s", r->summary);
    fieldsync__consultation_report__free_unpacked(r, NULL);
    return 0;
}

/* A body for a record that already exists (a second creator of the same id, or a client
 * resending a creation under a new seq) takes the general path: merged, conflicts kept. */
static void test_store_body_on_existing_record(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session a, b;
    fixture_session(&a, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    fixture_session(&b, SESSION_ROLE_COLLECTOR, 2, "GAO,MENAKA", 0);
    struct store_change_result res[1];
    struct tchange t;
    tc_new(&t, 1, 11, "GAO", "Version A", hlc_make(NOW_MS - 100, 0));
    fixture_apply_one(st, &a, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    tc_free(&t);
    tc_new(&t, 1, 11, "GAO", "Version B", hlc_make(NOW_MS - 50, 0));
    fixture_apply_one(st, &b, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(res[0].conflicts, 1); /* only the summary differs */
    tc_free(&t);
    uint8_t id[16];
    fixture_rec_id(id, 11);
    struct summary sm;
    CHECK_EQ(store_record_get(st, id, on_summary, &sm), 0);
    CHECK_STR(sm.text, "Version B");
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM records"), 1);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM history"), 1); /* the creation has none */
    /* The same through the general path with another region: refused. */
    tc_new(&t, 2, 11, "MENAKA", "Version C", hlc_make(NOW_MS - 40, 0));
    fixture_apply_one(st, &b, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK_EQ(res[0].code, FIELDSYNC_EREGION);
    tc_free(&t);
    CHECK_EQ(store_record_get(st, id, on_summary, &sm), 0);
    CHECK_STR(sm.text, "Version B");
    fixture_close_and_remove(st);
}

/* 1 if SQLite's plan for sql mentions `what` (an index name). */
static int plan_uses(const char *sql, const char *what)
{
    sqlite3 *db;
    char q[512];
    int found = 0;
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    CHECK_EQ(sqlite3_open_v2(fixture_db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    CHECK_EQ(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(s, 3);
        if (d && strstr(d, what))
            found = 1;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return found;
}

/* A new record's body takes the one-pass path when canonical and the general path otherwise;
 * both store the canonical body, extract the index columns and refuse what must be refused
 * (region field, UTF-8, clock bound) without a trace. Coordinators' queries use the indexes
 * that remain (region+date+commune, feed for "recently updated"). */
static void test_store_new_record_paths(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session col;
    fixture_session(&col, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    struct store_change_result res[1];
    struct tchange t;

    /* canonical (protobuf-c output): stored byte for byte, index columns extracted */
    tc_new(&t, 1, 1, "GAO", "Résumé de la consultation", hlc_make(NOW_MS, 0));
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    char sql[256];
    CHECK_EQ(
        fixture_query_int("SELECT count(*) FROM records WHERE commune='Gao' AND cdate=20261121 AND "
                          "region='GAO' AND deleted=0"),
        1);
    snprintf(sql, sizeof sql, "SELECT length(body) = %zu FROM records", t.ch.body.len);
    CHECK_EQ(fixture_query_int(sql), 1);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM history"),
             0); /* a creation has no history row */
    CHECK_EQ(fixture_query_int(
                 "SELECT created_seq = server_seq AND created_device_seq = 1 FROM records"),
             1);
    tc_free(&t);

    /* not canonical (commune before region): general path, stored sorted */
    uint8_t body[64];
    size_t n = fixture_enc_string(body, 3, "Bourem");
    n += fixture_enc_string(body + n, 1, "GAO");
    tc_new(&t, 2, 2, "GAO", NULL, hlc_make(NOW_MS, 1));
    t.ch.body.data = body;
    t.ch.body.len = n;
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(fixture_query_int("SELECT hex(substr(body, 1, 1)) = '0A' AND commune = 'Bourem' FROM "
                               "records WHERE rid = 2"),
             1);

    /* refused, nothing stored: body's region field says another region; invalid UTF-8;
     * clock beyond the bound */
    uint8_t *other;
    tc_new(&t, 3, 3, "GAO", NULL, hlc_make(NOW_MS, 2));
    t.ch.body.len = fixture_report_alloc(&other, "MENAKA", "Ménaka", "autre région");
    t.ch.body.data = other;
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK_EQ(res[0].code, FIELDSYNC_EREGION);
    free(other);
    n = fixture_enc_string(body, 1, "GAO");
    n += fixture_enc_string(body + n, 18, "ab");
    body[n - 1] = 0xff;
    t.ch.body.data = body;
    t.ch.body.len = n;
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK(res[0].code == FIELDSYNC_EUTF8 || res[0].code == FIELDSYNC_ESCHEMA);
    tc_new(&t, 3, 3, "GAO", "trop tôt", hlc_make(NOW_MS + 3600 * 1000, 0));
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK_EQ(res[0].code, FIELDSYNC_ECLOCK);
    tc_free(&t);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM records"), 2);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM history"), 0);
    CHECK_EQ(fixture_query_int("SELECT hw FROM delivery"), 2);

    /* the same id again with a body: general path, merged into the stored record */
    tc_new(&t, 3, 1, "GAO", "Résumé corrigé", hlc_make(NOW_MS, 5));
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM records"), 2);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM history WHERE rid = 1"), 1);
    tc_free(&t);
    /* an edit of the summary keeps the index columns; an edit of the commune moves them */
    tc_new(&t, 4, 1, "GAO", NULL, hlc_make(NOW_MS, 6));
    tc_set(&t, 18, "Résumé final", 0, 0, NULL);
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(
        fixture_query_int("SELECT commune = 'Gao' AND cdate = 20261121 FROM records WHERE rid = 1"),
        1);
    tc_new(&t, 5, 1, "GAO", NULL, hlc_make(NOW_MS, 7));
    tc_set(&t, 3, "Ansongo", 0, 0, NULL);
    fixture_apply_one(st, &col, &t, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(fixture_query_int(
                 "SELECT commune = 'Ansongo' AND cdate = 20261121 FROM records WHERE rid = 1"),
             1);

    CHECK(plan_uses("SELECT id FROM records WHERE region='GAO' AND cdate BETWEEN 20260101 AND "
                    "20261231",
                    "records_region"));
    CHECK(
        plan_uses("SELECT id FROM records WHERE region='GAO' AND commune='Gao'", "records_region"));
    CHECK(plan_uses("SELECT id, updated_ms FROM records ORDER BY server_seq DESC LIMIT 20",
                    "records_feed"));
    /* history is clustered by seq (appends); a record's rows come through history_rid */
    CHECK(plan_uses("SELECT seq, device, device_seq, hlc, server_ms, ops FROM history "
                    "WHERE rid=1 ORDER BY seq",
                    "history_rid"));
    CHECK_EQ(
        fixture_query_int("SELECT max(seq) = (SELECT max(server_seq) FROM records) FROM history"),
        1);
    CHECK_EQ(fixture_query_int("SELECT count(*) FROM sqlite_master WHERE type='index' AND name IN "
                               "('records_updated', 'records_cdate')"),
             0);
    fixture_close_and_remove(st);
}

int main(void)
{
    RUN(test_store_migrate_from_empty);
    RUN(test_store_reapply_is_duplicate);
    RUN(test_store_delivery_out_of_order);
    RUN(test_store_history_old_and_new);
    RUN(test_store_conflict_open_then_resolved);
    RUN(test_store_region_immutable);
    RUN(test_store_clock_bound_rejects_whole_change);
    RUN(test_store_rejects_bad_input);
    RUN(test_store_delete_record);
    RUN(test_store_body_on_existing_record);
    RUN(test_store_new_record_paths);
    return 0;
}
