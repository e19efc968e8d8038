/*
 * test_client_apply: the client's page apply (client-lib/src/apply.c) without a network, on a
 * real SQLite store in a temporary directory: a PullPage built here (record states made with
 * the shared merge code) goes through apply_page as pull() sends it, then the store is read
 * back through the public API. White-box: linked with the library's objects (internals).
 * Regressions found by tests/fuzz/fuzz_client_page.c: a pulled string with invalid UTF-8 was
 * stored (a body the app's protobuf library refuses); a pulled clock of 2^64-1 wrapped the
 * local clock to 0, so every later local edit lost to the pulled value.
 */
#include "apply.h"
#include "check.h"
#include "collections.h"
#include "merge.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW_MS    1750000000000ull
#define F_REGION  1
#define F_COMMUNE 3
#define F_SUMMARY 18

static char dir[256];
static char path[300];
static int store_no;
static const uint8_t dev_s[16] = {0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
                                  0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22};
static const uint8_t rid[16] = {0x01, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0x7e, 0x5f,
                                0x8a, 0x9b, 0x0c, 0x1d, 0x2e, 0x3f, 0x40, 0x51};

static uint64_t fixed_now(void *user)
{
    (void)user;
    return NOW_MS;
}

static fieldsync_client *open_store(void)
{
    fieldsync_client *c = NULL;
    fieldsync_open_opts o;
    snprintf(path, sizeof path, "%s/store%d.db", dir, ++store_no);
    fieldsync_open_opts_init(&o);
    o.now_ms = fixed_now;
    CHECK_EQ(fieldsync_open(path, &o, &c), 0);
    return c;
}

/* One encoded string field (tag + length + bytes), as a FieldOp value (field < 2048, n < 128). */
static size_t str_value(uint8_t *out, uint32_t field, const char *s, size_t n)
{
    uint32_t tag = field << 3 | 2;
    size_t k = 0;
    if (tag >= 0x80) {
        out[k++] = (uint8_t)(tag | 0x80);
        tag >>= 7;
    }
    out[k++] = (uint8_t)tag;
    out[k++] = (uint8_t)n;
    memcpy(out + k, s, n);
    return k + n;
}

/* A record state as a server holds it: region GAO, commune (raw bytes) and summary written by
 * dev_s, commune at commune_hlc, the rest at hlc. */
static void make_state(struct merge_record *r, const char *commune, size_t commune_len,
                       uint64_t hlc, uint64_t commune_hlc)
{
    const ProtobufCMessageDescriptor *d = collections_find(1)->desc;
    uint8_t v[3][64];
    size_t n[3];
    n[0] = str_value(v[0], F_REGION, "GAO", 3);
    n[1] = str_value(v[1], F_COMMUNE, commune, commune_len);
    n[2] = str_value(v[2], F_SUMMARY, "Réunion à Bara", strlen("Réunion à Bara"));
    const uint32_t fields[3] = {F_REGION, F_COMMUNE, F_SUMMARY};
    merge_record_init(r);
    for (int i = 0; i < 3; i++) {
        struct merge_op op = {.field = fields[i],
                              .value = v[i],
                              .value_len = n[i],
                              .hlc = i == 1 ? commune_hlc : hlc,
                              .device = dev_s};
        /* merge_apply alone does not check UTF-8: that is how a bad state is made here. */
        CHECK_EQ(merge_apply(d, r, &op, NULL), 0);
    }
}

/* Apply a one-record page (with one conflict) from the stored cursor. */
static int apply_one(fieldsync_client *c, const struct merge_record *r, uint64_t next_cursor,
                     uint64_t server_hlc)
{
    Fieldsync__RecordState rs = FIELDSYNC__RECORD_STATE__INIT, *recs[1] = {&rs};
    Fieldsync__Conflict k = FIELDSYNC__CONFLICT__INIT, *ks[1] = {&k};
    Fieldsync__PullPage pg = FIELDSYNC__PULL_PAGE__INIT;
    rs.record_id.data = (uint8_t *)rid;
    rs.record_id.len = 16;
    rs.collection = 1;
    rs.region = (char *)"GAO";
    rs.body.data = r->body;
    rs.body.len = r->body_len;
    rs.clocks.data = r->clocks;
    rs.clocks.len = r->clocks_len;
    k.id = 7;
    k.record_id = rs.record_id;
    k.field = F_COMMUNE;
    k.state = FIELDSYNC__CONFLICT_STATE__CONFLICT_OPEN;
    pg.n_records = 1;
    pg.records = recs;
    pg.n_conflicts = 1;
    pg.conflicts = ks;
    pg.next_cursor = next_cursor;
    pg.server_hlc = server_hlc;

    fieldsync_status st;
    CHECK_EQ(fieldsync_status_get(c, &st), 0);
    struct hlc h;
    hlc_init(&h, st.hlc);
    struct apply_clock ck = {.hlc = &h, .clock_offset_ms = st.clock_offset_ms};
    return apply_page(c, &pg, st.cursor, &ck);
}

static int count_conflicts_cb(const fieldsync_conflict *cf, void *user)
{
    (void)cf;
    ++*(int *)user;
    return 0;
}

static void check_empty(fieldsync_client *c)
{
    fieldsync_status st;
    fieldsync_record *rec = NULL;
    int n = 0;
    CHECK_EQ(fieldsync_get(c, rid, &rec), FIELDSYNC_ENOTFOUND);
    CHECK_EQ(fieldsync_status_get(c, &st), 0);
    CHECK_U64(st.cursor, ==, 0);
    CHECK_U64(st.records, ==, 0);
    CHECK_EQ(fieldsync_conflicts(c, count_conflicts_cb, &n), 0);
    CHECK_EQ(n, 0);
}

static void test_client_apply_record_and_conflict(void)
{
    fieldsync_client *c = open_store();
    struct merge_record r;
    uint64_t t = (NOW_MS - 60000) << 16;
    make_state(&r, "Ansongo", 7, t, t);
    CHECK_EQ(apply_one(c, &r, 5, t + 10), 0);
    fieldsync_record *rec = NULL;
    CHECK_EQ(fieldsync_get(c, rid, &rec), 0);
    CHECK_STR(rec->region, "GAO");
    CHECK_STR(rec->commune, "Ansongo");
    CHECK_U64(rec->body_len, ==, r.body_len);
    CHECK_MEM(rec->body, r.body, r.body_len);
    CHECK_EQ(rec->pending, 0);
    fieldsync_free(c, rec);
    fieldsync_status st;
    int n = 0;
    CHECK_EQ(fieldsync_status_get(c, &st), 0);
    CHECK_U64(st.cursor, ==, 5);
    CHECK_U64(st.hlc, >, t + 10);
    CHECK_EQ(fieldsync_conflicts(c, count_conflicts_cb, &n), 0);
    CHECK_EQ(n, 1);
    /* The same page again (a resent page): nothing changes; an older cursor never goes back. */
    CHECK_EQ(apply_one(c, &r, 3, t + 10), 0);
    CHECK_EQ(fieldsync_status_get(c, &st), 0);
    CHECK_U64(st.cursor, ==, 5);
    CHECK_EQ(fieldsync_get(c, rid, &rec), 0);
    CHECK_MEM(rec->body, r.body, r.body_len);
    fieldsync_free(c, rec);
    merge_record_close(&r);
    fieldsync_close(c);
}

/* Regression: invalid UTF-8 in a pulled string was stored as is. */
static void test_client_apply_refuses_bad_utf8(void)
{
    fieldsync_client *c = open_store();
    struct merge_record r;
    uint64_t t = (NOW_MS - 60000) << 16;
    make_state(&r, "An\xc7ongo", 7, t, t);
    CHECK_EQ(apply_one(c, &r, 5, t + 10), FIELDSYNC_EUTF8);
    CHECK(strstr(fieldsync_errmsg(c), "does not merge") != NULL);
    check_empty(c); /* rolled back: no record, no conflict, cursor unchanged */
    merge_record_close(&r);
    fieldsync_close(c);
}

/* Regression: a pulled clock of 2^64-1 wrapped the local clock to 0, and a local edit made
 * afterwards lost to the pulled value at the next pull. Clocks up to the limit still work. */
static void test_client_apply_clock_limit(void)
{
    const uint64_t limit = ((uint64_t)1 << 63) - ((uint64_t)1 << 16);
    fieldsync_client *c = open_store();
    struct merge_record r;
    uint64_t t = (NOW_MS - 60000) << 16;
    make_state(&r, "Ansongo", 7, t, UINT64_MAX);
    CHECK_EQ(apply_one(c, &r, 5, t + 10), FIELDSYNC_EPROTO);
    CHECK(strstr(fieldsync_errmsg(c), "clock out of range") != NULL);
    check_empty(c);
    merge_record_close(&r);

    make_state(&r, "Ansongo", 7, t, limit);
    CHECK_EQ(apply_one(c, &r, 5, t + 10), FIELDSYNC_EPROTO);
    check_empty(c);
    CHECK_EQ(apply_one(c, &r, 5, UINT64_MAX), FIELDSYNC_EPROTO); /* page's own clock too */
    check_empty(c);
    merge_record_close(&r);

    /* Just below the limit: accepted, and a local edit still wins over it, pull after pull. */
    make_state(&r, "Ansongo", 7, t, limit - 1);
    CHECK_EQ(apply_one(c, &r, 5, t + 10), 0);
    CHECK_EQ(fieldsync_set_string(c, rid, F_COMMUNE, "Bourem"), 0);
    CHECK_EQ(apply_one(c, &r, 6, t + 10), 0);
    fieldsync_record *rec = NULL;
    CHECK_EQ(fieldsync_get(c, rid, &rec), 0);
    CHECK_STR(rec->commune, "Bourem");
    CHECK_EQ(rec->pending, 1);
    CHECK_U64(rec->updated_hlc, >, limit - 1);
    fieldsync_free(c, rec);
    merge_record_close(&r);
    fieldsync_close(c);

    /* The clock survives a reopen (stored as a positive SQLite integer). */
    fieldsync_client *c2 = NULL;
    fieldsync_status st;
    CHECK_EQ(fieldsync_open(path, NULL, &c2), 0);
    CHECK_EQ(fieldsync_status_get(c2, &st), 0);
    CHECK_U64(st.hlc, >, limit - 1);
    fieldsync_close(c2);
}

/* Local edits not yet pushed survive a pull of an older server state. */
static void test_client_apply_keeps_local_edits(void)
{
    fieldsync_client *c = open_store();
    struct merge_record r;
    uint64_t t = (NOW_MS - 60000) << 16;
    make_state(&r, "Ansongo", 7, t, t);
    CHECK_EQ(apply_one(c, &r, 5, t + 10), 0);
    CHECK_EQ(fieldsync_set_string(c, rid, F_COMMUNE, "Bourem"), 0);
    merge_record_close(&r);
    make_state(&r, "Gao ville", 9, t, t + 5); /* someone else's earlier write, seen late */
    CHECK_EQ(apply_one(c, &r, 6, t + 10), 0);
    fieldsync_record *rec = NULL;
    CHECK_EQ(fieldsync_get(c, rid, &rec), 0);
    CHECK_STR(rec->commune, "Bourem");
    CHECK_EQ(rec->pending, 1);
    fieldsync_free(c, rec);
    merge_record_close(&r);
    fieldsync_close(c);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fs-client-apply-XXXXXX", tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    RUN(test_client_apply_record_and_conflict);
    RUN(test_client_apply_refuses_bad_utf8);
    RUN(test_client_apply_clock_limit);
    RUN(test_client_apply_keeps_local_edits);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
