/*
 * test_merge: unit cases for the merge engine on ConsultationReport (real descriptors, real
 * encodings): applying ops, conflicts, elements, tombstones, unknown fields, canonical output,
 * op checks, new records. The stored state and clock blobs: test_merge_state.c; timings:
 * bench/bench_merge.c.
 */
#include "check.h"
#include "consultation.pb-c.h"
#include "error.h"
#include "merge.h"
#include "merge_enc.h"
#include "merge_fixture.h"

static void test_merge_scalar_set(void)
{
    struct merge_record r;
    struct enc v = {.n = 0};
    const uint8_t *val;
    size_t vl;
    uint64_t hlc;
    uint8_t dev[16];
    int tomb;
    merge_record_init(&r);
    enc_str(&v, 3, "Ansongo");
    struct merge_op op = op_make(3, &v, 1000, dev1);
    struct merge_result res = apply_ok(&r, &op);
    CHECK_EQ(res.applied, 1);
    CHECK_EQ(res.conflict, 0);
    CHECK_U64(res.old_hlc, ==, 0);
    CHECK_EQ(r.body_len, v.n);
    CHECK_MEM(r.body, v.b, v.n);
    CHECK_EQ(merge_get(D, &r, 3, NULL, 0, &val, &vl, &hlc, dev, &tomb), 1);
    CHECK_EQ(vl, v.n);
    CHECK_MEM(val, v.b, v.n);
    CHECK_U64(hlc, ==, 1000);
    CHECK_MEM(dev, dev1, 16);
    CHECK_EQ(tomb, 0);
    CHECK_EQ(merge_get(D, &r, 4, NULL, 0, &val, &vl, &hlc, dev, &tomb), 0);
    CHECK_EQ(merge_is_deleted(&r), 0);
    /* the same op again changes nothing */
    res = apply_ok(&r, &op);
    CHECK_EQ(res.applied, 0);
    CHECK_EQ(res.conflict, 0);
    merge_record_close(&r);
}

static void test_merge_lww_both_orders(void)
{
    struct merge_record a, b;
    struct enc va = {.n = 0}, vb = {.n = 0};
    merge_record_init(&a);
    merge_record_init(&b);
    enc_str(&va, 10, "Aminata");
    enc_str(&vb, 10, "Moussa");
    struct merge_op x = op_make(10, &va, 2000, dev1), y = op_make(10, &vb, 3000, dev2);
    apply_ok(&a, &x);
    struct merge_result res = apply_ok(&a, &y);
    CHECK_EQ(res.applied, 1);
    CHECK_U64(res.old_hlc, ==, 2000);
    CHECK_EQ(res.old_len, va.n);
    apply_ok(&b, &y);
    res = apply_ok(&b, &x);
    CHECK_EQ(res.applied, 0);
    check_same_state(&a, &b);
    CHECK_EQ(a.body_len, vb.n);
    CHECK_MEM(a.body, vb.b, vb.n);
    /* equal hlc: the greater device id wins, in both orders */
    struct merge_op z = op_make(10, &va, 3000, dev3);
    apply_ok(&a, &z);
    struct merge_record c;
    merge_record_init(&c);
    apply_ok(&c, &z);
    apply_ok(&c, &y);
    apply_ok(&c, &x);
    check_same_state(&a, &c);
    CHECK_MEM(a.body, va.b, va.n);
    merge_record_close(&a);
    merge_record_close(&b);
    merge_record_close(&c);
}

static void test_merge_conflict_detection(void)
{
    struct merge_record r, s;
    struct enc v0 = {.n = 0}, v1 = {.n = 0}, v2 = {.n = 0};
    merge_record_init(&r);
    merge_record_init(&s);
    enc_str(&v0, 18, "calme");
    enc_str(&v1, 18, "tendu");
    enc_str(&v2, 18, "tres tendu");
    struct merge_op o0 = op_make(18, &v0, 100, dev1);
    /* two devices edit over o0 without seeing each other */
    struct merge_op o1 = op_make(18, &v1, 200, dev1), o2 = op_make(18, &v2, 300, dev2);
    o1.base_hlc = o2.base_hlc = 100;
    o1.base_device = o2.base_device = dev1;
    apply_ok(&r, &o0);
    CHECK_EQ(apply_ok(&r, &o1).conflict, 0); /* sequential: based on the current value */
    struct merge_result res = apply_ok(&r, &o2);
    CHECK_EQ(res.conflict, 1);
    CHECK_EQ(res.applied, 1);
    CHECK_U64(res.old_hlc, ==, 200);
    /* other order: the loser arrives second, still a conflict */
    apply_ok(&s, &o0);
    apply_ok(&s, &o2);
    res = apply_ok(&s, &o1);
    CHECK_EQ(res.conflict, 1);
    CHECK_EQ(res.applied, 0);
    check_same_state(&r, &s);
    /* an edit based on the winner: no conflict */
    struct merge_op o3 = op_make(18, &v0, 400, dev1);
    o3.base_hlc = 300;
    o3.base_device = dev2;
    CHECK_EQ(apply_ok(&r, &o3).conflict, 0);
    /* a concurrent edit writing the same value: no conflict */
    struct merge_op o4 = op_make(18, &v0, 500, dev3);
    o4.base_hlc = 300;
    o4.base_device = dev2; /* did not see o3, but agrees with it */
    CHECK_EQ(apply_ok(&r, &o4).conflict, 0);
    /* a late op that the current winner was written over: not a conflict */
    struct merge_op o5 = op_make(18, &v1, 450, dev2);
    struct merge_op o6 = op_make(18, &v0, 600, dev1);
    o6.base_hlc = 450;
    o6.base_device = dev2;
    /* s holds o2 (300); o6 was written over o5 (450), newer than o2: o6 is not blind to o2's
     * time, so no conflict; o5 then meets o6, which was written over it: none either */
    CHECK_EQ(apply_ok(&s, &o6).conflict, 0);
    CHECK_EQ(apply_ok(&s, &o5).conflict, 0);
    /* an op written over an older value than the current one, with another value: conflict */
    struct merge_op o7 = op_make(18, &v1, 700, dev3);
    o7.base_hlc = 450;
    o7.base_device = dev2;
    CHECK_EQ(apply_ok(&s, &o7).conflict, 1);
    merge_record_close(&r);
    merge_record_close(&s);
}

static void test_merge_keyed_elements(void)
{
    struct merge_record a, b;
    struct enc c1 = {.n = 0}, c2 = {.n = 0}, c1e = {.n = 0}, exp = {.n = 0};
    uint8_t id1[16], id2[16], id1b[16], id2b[16];
    merge_record_init(&a);
    merge_record_init(&b);
    enc_concern(&c1, 0xB1, "vol de betail", 3);
    enc_concern(&c2, 0xA2, "engins explosifs", 5);
    enc_concern(&c1e, 0xB1, "vol de betail, route de Gao", 4);
    /* two devices add a concern each at once, a third edits one, the second removes its own
     * concurrently with an edit: per element, no interference */
    struct merge_op add1 = elem_op(&c1, 0xB1, id1, 100, dev1);
    struct merge_op add2 = elem_op(&c2, 0xA2, id2, 100, dev2);
    struct merge_op edit1 = elem_op(&c1e, 0xB1, id1b, 200, dev3);
    edit1.base_hlc = 100;
    edit1.base_device = dev1;
    struct merge_op del2 = elem_op(NULL, 0xA2, id2b, 300, dev2);
    del2.tombstone = 1;
    del2.base_hlc = 100;
    del2.base_device = dev2;
    struct merge_op order_a[] = {add1, add2, edit1, del2};
    struct merge_op order_b[] = {del2, edit1, add2, add1};
    for (int i = 0; i < 4; i++) {
        struct merge_result res = apply_ok(&a, &order_a[i]);
        CHECK_EQ(res.conflict, 0);
        res = apply_ok(&b, &order_b[i]);
        CHECK_EQ(res.conflict, 0);
    }
    check_same_state(&a, &b);
    CHECK_EQ(a.body_len, c1e.n);
    CHECK_MEM(a.body, c1e.b, c1e.n);
    const uint8_t *val;
    size_t vl;
    uint64_t hlc;
    int tomb;
    CHECK_EQ(merge_get(D, &a, 14, id2, 16, &val, &vl, &hlc, NULL, &tomb), 1);
    CHECK_EQ(tomb, 1);
    CHECK_EQ(vl, 0);
    CHECK_U64(hlc, ==, 300);
    /* a later add of the same element resurrects it; elements sorted by id in the body */
    struct merge_op again = elem_op(&c2, 0xA2, id2b, 400, dev1);
    apply_ok(&a, &again);
    enc_concern(&exp, 0xA2, "engins explosifs", 5);
    enc_concern(&exp, 0xB1, "vol de betail, route de Gao", 4);
    CHECK_EQ(a.body_len, exp.n);
    CHECK_MEM(a.body, exp.b, exp.n);
    merge_record_close(&a);
    merge_record_close(&b);
}

static void test_merge_record_tombstone(void)
{
    struct merge_record r;
    merge_record_init(&r);
    struct enc v = {.n = 0};
    enc_str(&v, 1, "GAO");
    struct merge_op set = op_make(1, &v, 100, dev1);
    apply_ok(&r, &set);
    struct merge_op del = op_make(0, NULL, 200, dev2);
    del.tombstone = 1;
    struct merge_result res = apply_ok(&r, &del);
    CHECK_EQ(res.applied, 1);
    CHECK_EQ(merge_is_deleted(&r), 1);
    CHECK_EQ(r.body_len, v.n); /* the body is kept (history, undelete) */
    /* an older undelete loses; a newer one wins */
    struct merge_op undel = op_make(0, NULL, 150, dev1);
    CHECK_EQ(apply_ok(&r, &undel).applied, 0);
    CHECK_EQ(merge_is_deleted(&r), 1);
    undel.hlc = 250;
    res = apply_ok(&r, &undel);
    CHECK_EQ(res.applied, 1);
    CHECK_EQ(res.old_tombstone, 1);
    CHECK_EQ(res.old_len, 1);
    CHECK_EQ(merge_is_deleted(&r), 0);
    /* value non-empty also means deleted */
    struct enc one = {.n = 1, .b = {1}};
    struct merge_op del2 = op_make(0, &one, 300, dev1);
    apply_ok(&r, &del2);
    CHECK_EQ(merge_is_deleted(&r), 1);
    merge_record_close(&r);
}

static void test_merge_unknown_fields_preserved(void)
{
    struct merge_record r, s;
    struct enc u1 = {.n = 0}, u2 = {.n = 0}, known = {.n = 0}, exp = {.n = 0};
    merge_record_init(&r);
    merge_record_init(&s);
    enc_str(&u1, 99, "field from a newer app");
    enc_uint(&u1, 99, 7); /* two occurrences, different wire types: opaque */
    enc_str(&u2, 42, "x");
    enc_str(&known, 3, "Bourem");
    struct merge_op a = op_make(99, &u1, 100, dev1), b = op_make(42, &u2, 100, dev1),
                    c = op_make(3, &known, 100, dev1);
    apply_ok(&r, &a);
    apply_ok(&r, &b);
    apply_ok(&r, &c);
    exp.n = 0;
    memcpy(exp.b, known.b, known.n);
    exp.n = known.n;
    memcpy(exp.b + exp.n, u2.b, u2.n);
    exp.n += u2.n;
    memcpy(exp.b + exp.n, u1.b, u1.n);
    exp.n += u1.n;
    CHECK_EQ(r.body_len, exp.n);
    CHECK_MEM(r.body, exp.b, exp.n);
    /* LWW on an unknown field */
    struct enc u3 = {.n = 0};
    enc_uint(&u3, 99, 8);
    struct merge_op d = op_make(99, &u3, 200, dev2);
    CHECK_EQ(apply_ok(&r, &d).applied, 1);
    CHECK_MEM(r.body + known.n + u2.n, u3.b, u3.n);
    /* an unknown field cannot be element-addressed */
    uint8_t id[16];
    struct merge_op e = elem_op(&u2, 1, id, 300, dev1);
    e.field = 42;
    CHECK_EQ(merge_op_check(D, &e), FIELDSYNC_ESCHEMA);
    merge_record_close(&r);
    merge_record_close(&s);
}

static void test_merge_clear_to_default(void)
{
    struct merge_record r;
    struct enc v = {.n = 0}, w = {.n = 0};
    merge_record_init(&r);
    enc_str(&v, 9, "16:30");
    enc_str(&w, 8, "15:00");
    struct merge_op a = op_make(9, &v, 100, dev1), b = op_make(8, &w, 100, dev1);
    apply_ok(&r, &a);
    apply_ok(&r, &b);
    struct merge_op clear = op_make(9, NULL, 200, dev1);
    struct merge_result res = apply_ok(&r, &clear);
    CHECK_EQ(res.applied, 1);
    CHECK_EQ(res.old_len, v.n);
    CHECK_EQ(r.body_len, w.n);
    CHECK_MEM(r.body, w.b, w.n);
    uint64_t hlc;
    size_t vl;
    const uint8_t *val;
    CHECK_EQ(merge_get(D, &r, 9, NULL, 0, &val, &vl, &hlc, NULL, NULL), 1);
    CHECK_EQ(vl, 0);
    CHECK_U64(hlc, ==, 200);
    /* an older set after the clear loses */
    CHECK_EQ(apply_ok(&r, &a).applied, 0);
    CHECK_EQ(r.body_len, w.n);
    merge_record_close(&r);
}

static void test_merge_canonical_output(void)
{
    struct merge_record a, b;
    struct enc v[5] = {{.n = 0}};
    uint8_t ids[5][16];
    merge_record_init(&a);
    merge_record_init(&b);
    enc_str(&v[0], 19, "son");
    enc_concern(&v[1], 0x30, "c", 1);
    enc_uint(&v[2], 6, 3);
    enc_concern(&v[3], 0x10, "a", 2);
    enc_str(&v[4], 1, "GAO");
    struct merge_op ops[5];
    for (int i = 0; i < 5; i++) {
        uint32_t f = (uint32_t)(i == 0 ? 19 : i == 2 ? 6 : i == 4 ? 1 : 14);
        ops[i] = op_make(f, &v[i], 100 + (uint64_t)i, i % 2 ? dev2 : dev1);
        if (f == 14)
            ops[i] = elem_op(&v[i], i == 1 ? 0x30 : 0x10, ids[i], 100 + (uint64_t)i, dev2);
    }
    for (int i = 0; i < 5; i++) {
        apply_ok(&a, &ops[i]);
        apply_ok(&b, &ops[4 - i]);
    }
    check_same_state(&a, &b);
    struct enc exp = {.n = 0};
    int order[] = {4, 2, 3, 1, 0}; /* 1, 6, 14 (0x10), 14 (0x30), 19 */
    for (int i = 0; i < 5; i++) {
        memcpy(exp.b + exp.n, v[order[i]].b, v[order[i]].n);
        exp.n += v[order[i]].n;
    }
    CHECK_EQ(a.body_len, exp.n);
    CHECK_MEM(a.body, exp.b, exp.n);
    /* clocks: 2 devices, 5 entries; compact */
    CHECK(a.clocks_len < 5 * 40);
    CHECK_EQ(a.clocks[0], 1);
    merge_record_close(&a);
    merge_record_close(&b);
}

static void test_merge_op_check_rejects(void)
{
    struct enc v = {.n = 0};
    uint8_t id[17];
    struct merge_op op;
    /* wrong wire type: varint in a string field */
    enc_uint(&v, 3, 5);
    op = op_make(3, &v, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_ESCHEMA);
    /* bad UTF-8, top level */
    v.n = 0;
    enc_str(&v, 3, "Gao\xc3\x28");
    op = op_make(3, &v, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EUTF8);
    /* overlong encoding and surrogate */
    v.n = 0;
    enc_str(&v, 3, "\xc0\xaf");
    op = op_make(3, &v, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EUTF8);
    v.n = 0;
    enc_str(&v, 3, "\xed\xa0\x80");
    op = op_make(3, &v, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EUTF8);
    v.n = 0;
    enc_str(&v, 3, "Ménaka");
    op = op_make(3, &v, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), 0);
    /* bad UTF-8 nested in a keyed element */
    v.n = 0;
    enc_concern(&v, 7, "\xff", 1);
    op = elem_op(&v, 7, id, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EUTF8);
    /* wrong field number inside the value */
    v.n = 0;
    enc_str(&v, 4, "Gao");
    op = op_make(3, &v, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_ESCHEMA);
    /* singular field given twice */
    v.n = 0;
    enc_str(&v, 3, "a");
    enc_str(&v, 3, "b");
    op = op_make(3, &v, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_ESCHEMA);
    /* truncated value */
    v.n = 0;
    enc_str(&v, 3, "Gao");
    op.value_len = v.n - 1;
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_ESCHEMA);
    /* element ids: missing, too long, mismatched, absent inside the value */
    v.n = 0;
    enc_concern(&v, 7, "ok", 1);
    op = elem_op(&v, 7, id, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), 0);
    op.element_id_len = 0;
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EBADID);
    op.element_id_len = 17;
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EBADID);
    op.element_id_len = 16;
    id[3] = 8;
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EBADID);
    op.element_id = NULL;
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EBADID);
    struct enc noid = {.n = 0}, inner = {.n = 0};
    enc_str(&inner, 3, "no id");
    enc_bytes(&noid, 14, inner.b, inner.n);
    op = elem_op(&noid, 7, id, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EBADID);
    /* element id on a plain field; tombstone on a plain field */
    v.n = 0;
    enc_str(&v, 3, "Gao");
    op = op_make(3, &v, 1, dev1);
    op.element_id = id;
    op.element_id_len = 16;
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_ESCHEMA);
    op = op_make(3, NULL, 1, dev1);
    op.tombstone = 1;
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_ESCHEMA);
    /* hlc 0 or no device */
    op = op_make(3, &v, 0, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EINVAL);
    op = op_make(3, &v, 1, NULL);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_EINVAL);
    /* repeated enum: packed and unpacked both fine; packed with a bad varint is not */
    struct enc st = {.n = 0};
    enc_uint(&st, 13, 1);
    enc_uint(&st, 13, 5);
    op = op_make(13, &st, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), 0);
    st.n = 0;
    enc_bytes(&st, 13, "\x01\x05\x07", 3);
    op = op_make(13, &st, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), 0);
    st.n = 0;
    enc_bytes(&st, 13, "\x01\x85", 2);
    op = op_make(13, &st, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_ESCHEMA);
    /* nested message: GeoPoint with a double given as varint */
    struct enc g = {.n = 0}, gi = {.n = 0};
    enc_uint(&gi, 1, 16);
    enc_bytes(&g, 5, gi.b, gi.n);
    op = op_make(5, &g, 1, dev1);
    CHECK_EQ(merge_op_check(D, &op), FIELDSYNC_ESCHEMA);
    /* apply refuses what would corrupt the state even unchecked */
    struct merge_record r;
    merge_record_init(&r);
    v.n = 0;
    enc_str(&v, 4, "Gao");
    op = op_make(3, &v, 1, dev1);
    CHECK_EQ(merge_apply(D, &r, &op, NULL), FIELDSYNC_ESCHEMA);
    CHECK_EQ(r.clocks_len, 0);
    merge_record_close(&r);
}

static void test_merge_split_apply_equals_body(void)
{
    uint8_t body[4096], body2[4096];
    static struct collect c;
    c.n = 0;
    struct merge_record r, s;
    size_t n = pack_report(body, sizeof body, 4, 0);
    merge_record_init(&r);
    merge_record_init(&s);
    CHECK_EQ(merge_split_body(D, body, n, 500, dev1, collect_cb, &c), 0);
    CHECK_EQ(c.n, 21); /* 17 plain fields (1-13, 15, 18-20) + 4 concerns */
    for (size_t i = 0; i < c.n; i++)
        CHECK_EQ(merge_op_check(D, &c.ops[i]), 0);
    CHECK_EQ(merge_apply_many(D, &r, c.ops, c.n, NULL), 0);
    CHECK_EQ(r.body_len, n);
    CHECK_MEM(r.body, body, n);
    /* one op at a time gives the same state */
    for (size_t i = c.n; i > 0; i--)
        apply_ok(&s, &c.ops[i - 1]);
    check_same_state(&r, &s);
    /* elements out of id order: the merged body is the canonical (sorted) one */
    size_t n2 = pack_report(body2, sizeof body2, 4, 1);
    struct merge_record t;
    merge_record_init(&t);
    c.n = 0;
    CHECK_EQ(merge_split_body(D, body2, n2, 500, dev1, collect_cb, &c), 0);
    CHECK_EQ(merge_apply_many(D, &t, c.ops, c.n, NULL), 0);
    check_same_state(&r, &t);
    /* a plain repeated field scattered through the body is refused (views stay in the body) */
    struct enc sc = {.n = 0}, ad = {.n = 0};
    enc_uint(&sc, 13, 1);
    enc_str(&sc, 3, "x");
    enc_uint(&sc, 13, 2);
    c.n = 0;
    CHECK_EQ(merge_split_body(D, sc.b, sc.n, 1, dev1, collect_cb, &c), FIELDSYNC_ESCHEMA);
    /* adjacent occurrences are one op; fields out of order are fine */
    enc_uint(&ad, 13, 1);
    enc_uint(&ad, 13, 2);
    enc_str(&ad, 3, "x");
    c.n = 0;
    CHECK_EQ(merge_split_body(D, ad.b, ad.n, 1, dev1, collect_cb, &c), 0);
    CHECK_EQ(c.n, 2);
    CHECK_EQ(c.ops[0].field, 3);
    CHECK_EQ(c.ops[1].field, 13);
    CHECK_EQ(c.ops[1].value_len, 4);
    CHECK_MEM(c.ops[1].value, ad.b, 4);
    /* malformed bodies */
    CHECK_EQ(merge_split_body(D, body, n - 1, 1, dev1, collect_cb, &c), FIELDSYNC_ESCHEMA);
    struct enc noid = {.n = 0}, inner = {.n = 0};
    enc_str(&inner, 3, "no id");
    enc_bytes(&noid, 14, inner.b, inner.n);
    CHECK_EQ(merge_split_body(D, noid.b, noid.n, 1, dev1, collect_cb, &c), FIELDSYNC_EBADID);
    merge_record_close(&r);
    merge_record_close(&s);
    merge_record_close(&t);
}

/* The general path for a new body: split, check every op, apply them all to the empty state.
 * 0 with r set, or the first error (what the store reports). */
static int create_general(struct merge_record *r, const uint8_t *body, size_t n, uint64_t hlc)
{
    static struct collect c;
    c.n = 0;
    merge_record_close(r); /* the empty state */
    merge_record_init(r);
    int rc = merge_split_body(D, body, n, hlc, dev1, collect_cb, &c);
    for (size_t i = 0; rc == 0 && i < c.n; i++)
        rc = merge_op_check(D, &c.ops[i]);
    return rc != 0 ? rc : merge_apply_many(D, r, c.ops, c.n, NULL);
}

/* merge_record_create (one validating pass, body kept as is, clock blob built directly) gives
 * the bytes of the general path, and declines (1, record unchanged) every body it cannot take,
 * so the general path decides. */
static void test_merge_create_equals_split_apply(void)
{
    uint8_t body[4096];
    struct merge_record fast, gen;
    merge_record_init(&fast);
    merge_record_init(&gen);
    for (int nc = 0; nc <= 16; nc += 4) {
        size_t n = pack_report(body, sizeof body, nc, 0);
        CHECK_EQ(merge_record_create(D, &fast, body, n, 0x1234500000000ull + (uint64_t)nc, dev1),
                 0);
        CHECK_EQ(create_general(&gen, body, n, 0x1234500000000ull + (uint64_t)nc), 0);
        check_same_state(&fast, &gen);
        /* the state is a valid one: apply sees the same record, an edit goes through */
        const uint8_t *v;
        size_t vl;
        CHECK_EQ(merge_get(D, &fast, 3, NULL, 0, &v, &vl, NULL, NULL, NULL), 1);
        CHECK_EQ(vl, 8); /* tag, length, "Bourra" */
        CHECK_EQ(merge_is_deleted(&fast), 0);
    }
    /* a repeated plain field (stakeholders, unpacked occurrences together) and an unknown
     * field at the end are one value each, as in the general path */
    struct enc e = {.n = 0};
    enc_str(&e, 1, "GAO");
    enc_str(&e, 3, "Gao");
    enc_uint(&e, 13, 1);
    enc_uint(&e, 13, 4);
    enc_concern(&e, 0x10, "a", 1);
    enc_concern(&e, 0x20, "b", 2);
    enc_str(&e, 1000, "opaque");
    enc_str(&e, 1000, "twice");
    CHECK_EQ(merge_record_create(D, &fast, e.b, e.n, 77, dev1), 0);
    CHECK_EQ(create_general(&gen, e.b, e.n, 77), 0);
    check_same_state(&fast, &gen);

    /* declined, record unchanged: not canonical (general path sorts), or invalid (general
     * path reports the error) */
    uint8_t keep_body[4096], keep_clocks[4096];
    size_t kb = fast.body_len, kc = fast.clocks_len;
    memcpy(keep_body, fast.body, kb);
    memcpy(keep_clocks, fast.clocks, kc);
    struct enc bad[7];
    for (int i = 0; i < 7; i++)
        bad[i].n = 0;
    enc_str(&bad[0], 3, "Gao"); /* fields out of order */
    enc_str(&bad[0], 1, "GAO");
    enc_concern(&bad[1], 0x20, "b", 2); /* elements out of id order */
    enc_concern(&bad[1], 0x10, "a", 1);
    enc_concern(&bad[2], 0x10, "a", 1); /* the same element twice */
    enc_concern(&bad[2], 0x10, "b", 2);
    enc_str(&bad[3], 3, "Gao"); /* a singular field twice */
    enc_str(&bad[3], 3, "Bourem");
    enc_bytes(&bad[4], 3, "\xff\xfe", 2); /* invalid UTF-8 */
    enc_uint(&bad[5], 3, 7);              /* wrong wire type */
    enc_uint(&bad[6], 13, 1);             /* plain repeated field scattered */
    enc_str(&bad[6], 18, "x");
    enc_uint(&bad[6], 13, 2);
    int general_ok[7] = {1, 1, 1, 0, 0, 0, 0};
    for (int i = 0; i < 7; i++) {
        CHECK_EQ(merge_record_create(D, &fast, bad[i].b, bad[i].n, 5, dev1), 1);
        CHECK_EQ(fast.body_len, kb);
        CHECK_MEM(fast.body, keep_body, kb);
        CHECK_EQ(fast.clocks_len, kc);
        CHECK_MEM(fast.clocks, keep_clocks, kc);
        struct merge_record g;
        merge_record_init(&g);
        int rc = create_general(&g, bad[i].b, bad[i].n, 5);
        CHECK_EQ(rc == 0, general_ok[i]);
        merge_record_close(&g);
    }
    CHECK_EQ(merge_record_create(D, &fast, body, 3, 5, dev1), 1);  /* truncated */
    CHECK_EQ(merge_record_create(D, &fast, e.b, e.n, 0, dev1), 1); /* hlc 0 */
    CHECK_EQ(merge_record_create(D, &fast, e.b, e.n, 5, NULL), 1); /* no device */
    merge_record_close(&fast);
    merge_record_close(&gen);
}

int main(void)
{
    merge_fixture_init();
    RUN(test_merge_scalar_set);
    RUN(test_merge_lww_both_orders);
    RUN(test_merge_conflict_detection);
    RUN(test_merge_keyed_elements);
    RUN(test_merge_record_tombstone);
    RUN(test_merge_unknown_fields_preserved);
    RUN(test_merge_clear_to_default);
    RUN(test_merge_canonical_output);
    RUN(test_merge_op_check_rejects);
    RUN(test_merge_split_apply_equals_body);
    RUN(test_merge_create_equals_split_apply);
    return 0;
}
