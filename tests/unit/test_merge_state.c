/*
 * test_merge_state: the merge state as replicas store and exchange it: the state's ops round
 * trip and rebuild a record byte for byte, open conflicts are the same whatever the order,
 * malformed clock blobs are refused, and the compact "same clock" entries (docs/merge.md §6).
 */
#include "check.h"
#include "consultation.pb-c.h"
#include "error.h"
#include "merge.h"
#include "merge_enc.h"
#include "merge_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_merge_state_ops_round_trip(void)
{
    struct merge_record r, s;
    fresh_report(&r, 3);
    merge_record_init(&s);
    /* some edits with bases, a tombstone, a record delete, a cleared field */
    struct enc v = {.n = 0};
    enc_str(&v, 3, "Tin-Hama");
    struct merge_op e1 = op_make(3, &v, 600, dev2);
    e1.base_hlc = 500;
    e1.base_device = dev1;
    uint8_t id[16];
    struct merge_op e2 = elem_op(NULL, 0x41, id, 700, dev3);
    e2.tombstone = 1;
    struct merge_op e3 = op_make(0, NULL, 800, dev2);
    e3.tombstone = 1;
    struct merge_op e4 = op_make(18, NULL, 900, dev1);
    apply_ok(&r, &e1);
    apply_ok(&r, &e2);
    apply_ok(&r, &e3);
    apply_ok(&r, &e4);
    static struct collect c;
    c.n = 0;
    CHECK_EQ(merge_state_ops(D, r.body, r.body_len, r.clocks, r.clocks_len, collect_cb, &c), 0);
    for (size_t i = 0; i < c.n; i++)
        CHECK_EQ(merge_op_check(D, &c.ops[i]), 0);
    /* state_ops views are only valid during the callback, so replay from a copy of r */
    struct merge_record copy;
    merge_record_init(&copy);
    CHECK_EQ(merge_record_load(&copy, r.body, r.body_len, r.clocks, r.clocks_len), 0);
    check_same_state(&r, &copy);
    merge_record_close(&copy);
    merge_record_close(&r);
    merge_record_close(&s);
}

struct replay {
    struct merge_record *dst;
};

static int replay_cb(void *user, const struct merge_op *op)
{
    struct replay *rp = user;
    return merge_apply(D, rp->dst, op, NULL);
}

static void test_merge_state_ops_rebuild(void)
{
    struct merge_record r, s;
    fresh_report(&r, 3);
    merge_record_init(&s);
    uint8_t id[16];
    struct merge_op e2 = elem_op(NULL, 0x41, id, 700, dev3);
    e2.tombstone = 1;
    e2.base_hlc = 500;
    e2.base_device = dev1;
    struct merge_op e3 = op_make(0, NULL, 800, dev2);
    e3.tombstone = 1;
    struct merge_op e4 = op_make(18, NULL, 900, dev1);
    e4.base_hlc = 500; /* written over the split value: no concurrent head left */
    e4.base_device = dev1;
    apply_ok(&r, &e2);
    apply_ok(&r, &e3);
    apply_ok(&r, &e4);
    struct replay rp = {&s};
    CHECK_EQ(merge_state_ops(D, r.body, r.body_len, r.clocks, r.clocks_len, replay_cb, &rp), 0);
    check_same_state(&r, &s);
    CHECK_EQ(merge_is_deleted(&s), 1);
    /* merging the remote state into a replica that holds newer local edits keeps them */
    struct enc v = {.n = 0};
    enc_str(&v, 18, "nouveau resume");
    struct merge_op local = op_make(18, &v, 1000, dev3);
    struct merge_record t;
    merge_record_init(&t);
    apply_ok(&t, &local);
    rp.dst = &t;
    CHECK_EQ(merge_state_ops(D, r.body, r.body_len, r.clocks, r.clocks_len, replay_cb, &rp), 0);
    const uint8_t *val;
    size_t vl;
    CHECK_EQ(merge_get(D, &t, 18, NULL, 0, &val, &vl, NULL, NULL, NULL), 1);
    CHECK_EQ(vl, v.n);
    CHECK_MEM(val, v.b, v.n);
    merge_record_close(&r);
    merge_record_close(&s);
    merge_record_close(&t);
}

struct opens {
    int n;
    uint64_t loser[8], winner[8];
};

static int open_cb(void *user, const struct merge_open *o)
{
    struct opens *x = user;
    CHECK(x->n < 8);
    x->loser[x->n] = o->loser_hlc;
    x->winner[x->n] = o->winner_hlc;
    x->n++;
    return 0;
}

static void test_merge_open_conflicts_order_independent(void)
{
    /* three devices edit the summary over the same value O without seeing each other; A and
     * D write the same text */
    struct enc vo = {.n = 0}, va = {.n = 0}, vb = {.n = 0}, vc = {.n = 0};
    enc_str(&vo, 18, "o");
    enc_str(&va, 18, "a");
    enc_str(&vb, 18, "b");
    enc_str(&vc, 18, "c");
    struct merge_op o = op_make(18, &vo, 100, dev1);
    struct merge_op x[4] = {op_make(18, &va, 200, dev1), op_make(18, &vb, 300, dev2),
                            op_make(18, &vc, 400, dev3), op_make(18, &vc, 350, dev1)};
    for (int i = 0; i < 4; i++) {
        x[i].base_hlc = 100;
        x[i].base_device = dev1;
    }
    x[3].base_hlc = 200; /* D was written over A on A's device */
    static const int perms[][4] = {{0, 1, 2, 3}, {2, 1, 0, 3}, {3, 2, 1, 0},
                                   {1, 3, 0, 2}, {2, 0, 3, 1}, {0, 3, 2, 1}};
    struct merge_record first;
    merge_record_init(&first);
    for (size_t p = 0; p < sizeof perms / sizeof perms[0]; p++) {
        struct merge_record r;
        struct opens op = {0};
        merge_record_init(&r);
        apply_ok(&r, &o);
        for (int i = 0; i < 4; i++)
            apply_ok(&r, &x[perms[p][i]]);
        CHECK_EQ(merge_open_conflicts(D, &r, open_cb, &op), 0);
        /* heads: B (300) and C (400, the winner); A was seen by D, D (350) wrote C's text */
        CHECK_EQ(op.n, 1);
        CHECK_U64(op.loser[0], ==, 300);
        CHECK_U64(op.winner[0], ==, 400);
        if (p == 0)
            CHECK_EQ(merge_record_load(&first, r.body, r.body_len, r.clocks, r.clocks_len), 0);
        else
            check_same_state(&first, &r);
        /* a resolution written over the winner sees every head: closed */
        struct merge_op res = op_make(18, &vb, 500, dev2);
        res.base_hlc = 400;
        res.base_device = dev3;
        CHECK_EQ(apply_ok(&r, &res).conflict, 0);
        op.n = 0;
        CHECK_EQ(merge_open_conflicts(D, &r, open_cb, &op), 0);
        CHECK_EQ(op.n, 0);
        merge_record_close(&r);
    }
    merge_record_close(&first);
}

static void test_merge_load_rejects_bad_blob(void)
{
    struct merge_record r, s;
    struct enc v = {.n = 0};
    merge_record_init(&r);
    merge_record_init(&s);
    enc_str(&v, 3, "Gao");
    struct merge_op op = op_make(3, &v, 100, dev1);
    apply_ok(&r, &op);
    CHECK_EQ(merge_record_load(&s, r.body, r.body_len, r.clocks, r.clocks_len), 0);
    uint8_t bad[256];
    memcpy(bad, r.clocks, r.clocks_len);
    for (size_t cut = 1; cut < r.clocks_len; cut++)
        CHECK_EQ(merge_record_load(&s, r.body, r.body_len, bad, cut), FIELDSYNC_ESCHEMA);
    bad[0] = 2;
    CHECK_EQ(merge_record_load(&s, r.body, r.body_len, bad, r.clocks_len), FIELDSYNC_ESCHEMA);
    CHECK_EQ(merge_record_load(&s, r.body, r.body_len, NULL, 0), FIELDSYNC_ESCHEMA);
    /* a body that does not match its clocks is refused at apply */
    struct enc other = {.n = 0};
    enc_str(&other, 4, "x");
    CHECK_EQ(merge_record_load(&s, other.b, other.n, r.clocks, r.clocks_len), 0);
    CHECK_EQ(merge_apply(D, &s, &op, NULL), FIELDSYNC_ESCHEMA);
    merge_record_close(&r);
    merge_record_close(&s);
}

/* A clock equal to the previous entry's is written as flag 0x10 without the clock (always: one
 * canonical form), and an explicit repeat, or the flag on the first entry, is refused. */
static void test_merge_blob_same_clock(void)
{
    uint8_t body[4096];
    struct merge_record r, s;
    merge_record_init(&r);
    merge_record_init(&s);
    size_t n = pack_report(body, sizeof body, 8, 0);
    CHECK_EQ(merge_record_create(D, &r, body, n, 0x1234500000000ull, dev1), 0);
    /* version, 1 device, 25 entries; the first with its clock (11 bytes), then 16 plain fields
     * of 2 bytes and 8 concerns of 2 + 17 */
    CHECK_EQ(r.clocks_len, 19 + 11 + 16 * 2 + 8 * 19);
    CHECK_EQ(r.clocks[0], 1);
    CHECK_EQ(r.clocks[18], 25);
    size_t off = 19, entries = 0;
    while (off < r.clocks_len) {
        uint8_t flags = r.clocks[off + 1];
        off += 2; /* field (< 128) and flags */
        CHECK_EQ(flags & 0x10, entries ? 0x10 : 0);
        if (flags & 0x02)
            off += 1 + r.clocks[off];
        if (!(flags & 0x10))
            off += 8 + 1;
        entries++;
    }
    CHECK_EQ(off, r.clocks_len);
    CHECK_EQ(entries, 25);
    CHECK_EQ(merge_record_load(&s, r.body, r.body_len, r.clocks, r.clocks_len), 0);
    uint64_t hlc = 0;
    uint8_t dev[16] = {0};
    CHECK_EQ(merge_get(D, &r, 18, NULL, 0, NULL, NULL, &hlc, dev, NULL), 1);
    CHECK_U64(hlc, ==, 0x1234500000000ull);
    CHECK_MEM(dev, dev1, 16);

    /* hand-built: fields 1 and 3, the second written with an explicit clock */
    uint8_t blob[64], be[8] = {0, 0, 1, 0xf0, 0, 0, 0, 0};
    size_t k = 0;
    blob[k++] = 1;
    blob[k++] = 1;
    memcpy(blob + k, dev1, 16);
    k += 16;
    blob[k++] = 2;
    blob[k++] = 1;
    blob[k++] = 0;
    memcpy(blob + k, be, 8);
    k += 8;
    blob[k++] = 0;
    size_t second = k;
    blob[k++] = 3;
    blob[k++] = 0;
    memcpy(blob + k, be, 8);
    k += 8;
    blob[k++] = 0;
    CHECK_EQ(merge_record_load(&s, NULL, 0, blob, k), FIELDSYNC_ESCHEMA); /* equal: refused */
    blob[second + 9] = 1;                                                 /* a later clock */
    CHECK_EQ(merge_record_load(&s, NULL, 0, blob, k), 0);
    blob[second + 1] = 0x10; /* the canonical form of the equal clock */
    CHECK_EQ(merge_record_load(&s, NULL, 0, blob, second + 2), 0);
    CHECK_EQ(merge_get(D, &s, 3, NULL, 0, NULL, NULL, &hlc, dev, NULL), 1);
    CHECK_U64(hlc, ==, 0x000001f000000000ull);
    CHECK_MEM(dev, dev1, 16);
    CHECK_EQ(merge_record_load(&s, NULL, 0, blob, k), FIELDSYNC_ESCHEMA); /* flag + clock */
    blob[18] = 1; /* the first entry alone, then with the flag (nothing before it) */
    CHECK_EQ(merge_record_load(&s, NULL, 0, blob, second), 0);
    blob[20] = 0x10;
    CHECK_EQ(merge_record_load(&s, NULL, 0, blob, 21), FIELDSYNC_ESCHEMA);
    merge_record_close(&r);
    merge_record_close(&s);
}

int main(void)
{
    merge_fixture_init();
    RUN(test_merge_state_ops_round_trip);
    RUN(test_merge_state_ops_rebuild);
    RUN(test_merge_open_conflicts_order_independent);
    RUN(test_merge_load_rejects_bad_blob);
    RUN(test_merge_blob_same_clock);
    return 0;
}
