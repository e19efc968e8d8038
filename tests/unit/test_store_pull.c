/*
 * test_store_pull: the store's feed on a real SQLite file (store_pull): order and
 * pagination, the scan bound per page, and what each role and scope may see.
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

static void test_store_feed_order_and_pages(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session col;
    fixture_session(&col, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    struct tchange t[10];
    struct store_change_result res[10];
    for (unsigned i = 0; i < 10; i++)
        tc_new(&t[i], i + 1, 100 + i, "GAO", "rapport", hlc_make(NOW_MS - 1000 + i, 0));
    fixture_apply(st, &col, t, 10, res);
    for (int i = 0; i < 10; i++)
        tc_free(&t[i]);

    struct page all;
    fixture_pull_all(st, &col, 3, &all);
    CHECK_EQ(all.n, 10);
    for (int i = 0; i < 10; i++) {
        uint8_t id[16];
        fixture_rec_id(id, 100 + (unsigned)i);
        CHECK_MEM(all.id[i], id, 16); /* feed order = order of application */
        if (i)
            CHECK_U64(all.seq[i], >, all.seq[i - 1]);
    }
    /* A page boundary: 3 records, more, cursor at the third. */
    struct page p;
    uint64_t next;
    int more;
    fixture_pull(st, &col, 0, 3, &p, &next, &more);
    CHECK_EQ(p.n, 3);
    CHECK(more);
    CHECK_U64(next, ==, p.seq[2]);
    /* The byte budget: a page holds at least one record, then stops before the budget. */
    {
        struct store_pull_req req = {.sess = &col, .cursor = 0, .limit = 10, .max_bytes = 1};
        memset(&p, 0, sizeof p);
        CHECK_EQ(store_begin(st), 0);
        CHECK_EQ(store_pull(st, &req, fixture_page_record, fixture_page_conflict, &p, &next, &more),
                 0);
        CHECK_EQ(store_commit(st), 0);
        CHECK_EQ(p.n, 1);
        CHECK(more);
        CHECK_U64(next, ==, p.seq[0]);
        req.max_bytes = 2 * (p.body_len[0] + 200);
        memset(&p, 0, sizeof p);
        CHECK_EQ(store_begin(st), 0);
        CHECK_EQ(store_pull(st, &req, fixture_page_record, fixture_page_conflict, &p, &next, &more),
                 0);
        CHECK_EQ(store_commit(st), 0);
        CHECK(p.n >= 1 && p.n < 10);
        CHECK(more);
    }
    uint64_t cursor_after_all = all.seq[9];
    fixture_pull(st, &col, cursor_after_all, 3, &p, &next, &more);
    CHECK_EQ(p.n, 0);
    CHECK(!more);
    CHECK_U64(next, ==, cursor_after_all);

    /* Editing record 100 moves it to the end of the feed; a pull from the old end sees only
     * it. */
    struct tchange e;
    tc_new(&e, 11, 100, "GAO", NULL, hlc_make(NOW_MS - 10, 0));
    tc_set(&e, 18, "rapport révisé", 0, hlc_make(NOW_MS - 1000, 0), col.device_id);
    fixture_apply_one(st, &col, &e, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    fixture_pull(st, &col, cursor_after_all, 3, &p, &next, &more);
    CHECK_EQ(p.n, 1);
    CHECK(!more);
    uint8_t id100[16];
    fixture_rec_id(id100, 100);
    CHECK_MEM(p.id[0], id100, 16);
    fixture_pull_all(st, &col, 4, &all);
    CHECK_EQ(all.n, 10); /* each record once, at its latest position */
    CHECK_MEM(all.id[9], id100, 16);
    fixture_close_and_remove(st);
}

/* Out-of-scope rows cost scan budget, not page slots: a page stops after max_scan rows with
 * more = 1 and a cursor past them, so a page's cost is bounded and nothing is skipped. */
static void test_store_pull_scan_bound(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session admin, gao;
    fixture_session(&admin, SESSION_ROLE_ADMIN, 3, "", 0);
    fixture_session(&gao, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    struct tchange t[16];
    struct store_change_result res[16];
    for (unsigned i = 0; i < 16; i++)
        tc_new(&t[i], i + 1, 200 + i, i % 8 == 7 ? "GAO" : "MENAKA", "r",
               hlc_make(NOW_MS - 100 + i, 0));
    fixture_apply(st, &admin, t, 16, res);
    for (int i = 0; i < 16; i++)
        tc_free(&t[i]);
    struct page p;
    memset(&p, 0, sizeof p);
    uint64_t cursor = 0, next;
    int more = 1, pages = 0, found = 0;
    while (more) {
        struct store_pull_req req = {.sess = &gao, .cursor = cursor, .limit = 5, .max_scan = 4};
        CHECK_EQ(store_begin(st), 0);
        CHECK_EQ(store_pull(st, &req, fixture_page_record, NULL, &p, &next, &more), 0);
        CHECK_EQ(store_commit(st), 0);
        CHECK_U64(next, >=, cursor);
        if (more)
            CHECK_U64(next, >, cursor); /* progress on every page */
        cursor = next;
        CHECK(++pages < 20);
    }
    found = p.n;
    CHECK_EQ(found, 2); /* records 207 and 215 */
    CHECK_EQ(p.id[0][15], 207);
    CHECK_EQ(p.id[1][15], 215);
    CHECK_INT(pages, >=, 4);
    fixture_close_and_remove(st);
}

static void test_store_scope_filters(void)
{
    struct store *st = fixture_open_fresh("test_store");
    struct session a, b, admin, coord_menaka, own_a, own_c;
    fixture_session(&a, SESSION_ROLE_COLLECTOR, 1, "GAO", 0);
    fixture_session(&b, SESSION_ROLE_COLLECTOR, 2, "GAO,MENAKA", 0);
    fixture_session(&admin, SESSION_ROLE_ADMIN, 3, "", 0);
    fixture_session(&coord_menaka, SESSION_ROLE_COORDINATOR, 4, "MENAKA", 0);
    fixture_session(&own_a, SESSION_ROLE_COLLECTOR, 1, "GAO", 1); /* a's device, own-only */
    fixture_session(&own_c, SESSION_ROLE_COLLECTOR, 5, "GAO", 1);
    struct store_change_result res[4];
    struct tchange t[3];
    tc_new(&t[0], 1, 1, "GAO", "de A", hlc_make(NOW_MS - 100, 0));
    fixture_apply_one(st, &a, &t[0], res);
    tc_new(&t[1], 1, 2, "GAO", "de B à Gao", hlc_make(NOW_MS - 90, 0));
    tc_new(&t[2], 2, 3, "MENAKA", "de B à Ménaka", hlc_make(NOW_MS - 80, 0));
    fixture_apply(st, &b, &t[1], 2, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    CHECK_EQ(res[1].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    /* a may not push into MENAKA. */
    struct tchange bad;
    tc_new(&bad, 2, 4, "MENAKA", "hors zone", hlc_make(NOW_MS - 70, 0));
    fixture_apply_one(st, &a, &bad, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
    CHECK_EQ(res[0].code, FIELDSYNC_ESCOPE);
    tc_free(&bad);

    struct page p;
    fixture_pull_all(st, &a, 10, &p);
    CHECK_EQ(p.n, 2); /* GAO: records 1 and 2 */
    fixture_pull_all(st, &admin, 10, &p);
    CHECK_EQ(p.n, 3);
    fixture_pull_all(st, &coord_menaka, 10, &p);
    CHECK_EQ(p.n, 1);
    CHECK_EQ(p.id[0][15], 3);
    fixture_pull_all(st, &own_a, 10, &p);
    CHECK_EQ(p.n, 1); /* only the record a created */
    CHECK_EQ(p.id[0][15], 1);
    fixture_pull_all(st, &own_c, 10, &p);
    CHECK_EQ(p.n, 0);
    /* c edits b's GAO record: now c sees it too. */
    struct tchange e;
    tc_new(&e, 1, 2, "GAO", NULL, hlc_make(NOW_MS - 50, 0));
    tc_set(&e, 4, "Château d'eau", 0, 0, NULL);
    fixture_apply_one(st, &own_c, &e, res);
    CHECK_EQ(res[0].status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    fixture_pull_all(st, &own_c, 10, &p);
    CHECK_EQ(p.n, 1);
    CHECK_EQ(p.id[0][15], 2);
    for (int i = 0; i < 3; i++)
        tc_free(&t[i]);
    fixture_close_and_remove(st);
}

int main(void)
{
    RUN(test_store_feed_order_and_pages);
    RUN(test_store_pull_scan_bound);
    RUN(test_store_scope_filters);
    return 0;
}
