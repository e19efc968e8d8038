/*
 * test_bad_input_push: bad changes and batches from an authenticated device, against the real
 * server. Each rejected change must be answered with its own code in the PushAck (or the
 * batch with an Error frame), leave nothing of itself in the store, leave the other changes
 * of its batch alone, and leave the healthy device served with its record unchanged
 * (bi_check). Also defines what the server does with device_seq: a seq already applied is
 * CHANGE_DUPLICATE with no effect (even if the content differs), seq 0 is ERROR_SEQ, and a
 * lower seq never applied before is applied (delivery may be out of order).
 */
#include "bad_input_util.h"
#include "check.h"
#include "consultation.pb-c.h"
#include "error.h"
#include "frame.h"
#include "hlc.h"
#include "pbwire.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static struct testserver ts;
static struct bi_env env;
static struct testclient *bad;   /* the attacker's session (collector, GAO) */
static struct testclient *multi; /* collector in GAO and TOMBOUCTOU */
static uint64_t multi_seq;

#define APPLIED  FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED
#define DUP      FIELDSYNC__CHANGE_STATUS__CHANGE_DUPLICATE
#define REJECTED FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED

/* A fresh record change from the attacker; body = report(region, commune). */
struct newrec {
    uint8_t id[16];
    uint8_t body[256];
    Fieldsync__Change ch;
};

static void newrec(struct newrec *n, const char *region, const char *commune)
{
    size_t len = bi_report(n->body, sizeof n->body, region, commune);
    bi_new_id(n->id);
    bi_change(&n->ch, ++env.bad_seq, n->id, region, bi_hlc_now(), n->body, len);
}

static int absent(const uint8_t id[16])
{
    uint8_t out[4096];
    return bi_pull_record(env.healthy, id, out, sizeof out) == 0;
}

/* Push one change that must be rejected with code; a record it would have created must not
 * exist (edits are compared byte for byte by the callers that need it). */
static void expect_rejected(struct testclient *c, Fieldsync__Change *ch, int code)
{
    int err = 0;
    CHECK_EQ(bi_push_one(c, ch, &err), REJECTED);
    CHECK_EQ(err, code);
    if (ch->body.len && ch->record_id.len == 16 && memcmp(ch->record_id.data, env.rec, 16) != 0)
        CHECK(absent(ch->record_id.data));
    bi_check(&env);
}

static void test_bad_input_record_id_wrong_length(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Gabero");
    n.ch.record_id.len = 15;
    expect_rejected(bad, &n.ch, FIELDSYNC_EBADID);
    n.ch.record_id.len = 0;
    n.ch.device_seq = ++env.bad_seq;
    expect_rejected(bad, &n.ch, FIELDSYNC_EBADID);
}

static void test_bad_input_record_id_nil(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Gabero");
    memset(n.id, 0, 16);
    expect_rejected(bad, &n.ch, FIELDSYNC_EBADID);
}

static void test_bad_input_bad_utf8_in_body(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Gab\xc3\x28ro"); /* a broken two-byte sequence */
    expect_rejected(bad, &n.ch, FIELDSYNC_EUTF8);
    newrec(&n, "GAO", "\xed\xa0\x80"); /* a UTF-16 surrogate */
    expect_rejected(bad, &n.ch, FIELDSYNC_EUTF8);
    newrec(&n, "GAO", "\xc0\xaf"); /* overlong '/' */
    expect_rejected(bad, &n.ch, FIELDSYNC_EUTF8);
}

/* commune (field 3, a string) encoded as a varint. */
static void test_bad_input_body_wrong_wire_type(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Gabero");
    size_t len = bi_report(n.body, sizeof n.body, "GAO", NULL);
    n.body[len++] = 0x18; /* field 3, varint */
    n.body[len++] = 0x2a;
    n.ch.body.len = len;
    expect_rejected(bad, &n.ch, FIELDSYNC_ESCHEMA);
}

static void test_bad_input_body_not_protobuf(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Gabero");
    memset(n.body, 0xff, 12);
    n.ch.body.len = 12;
    int err = 0;
    CHECK_EQ(bi_push_one(bad, &n.ch, &err), REJECTED);
    CHECK(err == FIELDSYNC_ESCHEMA);
    CHECK(absent(n.id));
    bi_check(&env);
}

/* A FieldOp whose value encodes another field than the one it addresses. */
static void test_bad_input_op_value_for_other_field(void)
{
    Fieldsync__Change ch;
    bi_change(&ch, ++env.bad_seq, env.rec, "GAO", bi_hlc_now(), NULL, 0);
    Fieldsync__FieldOp op = FIELDSYNC__FIELD_OP__INIT, *opp = &op;
    uint8_t v[] = {0x22, 0x03, 'a', 'b', 'c'}; /* field 4 */
    op.field = 3;
    op.value.data = v;
    op.value.len = sizeof v;
    ch.ops = &opp;
    ch.n_ops = 1;
    expect_rejected(bad, &ch, FIELDSYNC_ESCHEMA);
}

static void test_bad_input_region_change_by_change_region(void)
{
    /* The healthy record is in GAO; a device of both regions claims it is in TOMBOUCTOU. */
    Fieldsync__Change ch;
    bi_change(&ch, ++multi_seq, env.rec, "TOMBOUCTOU", bi_hlc_now(), NULL, 0);
    Fieldsync__FieldOp op = FIELDSYNC__FIELD_OP__INIT, *opp = &op;
    uint8_t v[] = {0x1a, 0x04, 'T', 'a', 'k', 'i'};
    op.field = 3;
    op.value.data = v;
    op.value.len = sizeof v;
    ch.ops = &opp;
    ch.n_ops = 1;
    expect_rejected(multi, &ch, FIELDSYNC_EREGION);
}

static void test_bad_input_region_change_by_op(void)
{
    Fieldsync__Change ch;
    bi_change(&ch, ++multi_seq, env.rec, "GAO", bi_hlc_now(), NULL, 0);
    Fieldsync__FieldOp op = FIELDSYNC__FIELD_OP__INIT, *opp = &op;
    uint8_t v[] = {0x0a, 0x0a, 'T', 'O', 'M', 'B', 'O', 'U', 'C', 'T', 'O', 'U'};
    op.field = 1;
    op.value.data = v;
    op.value.len = sizeof v;
    ch.ops = &opp;
    ch.n_ops = 1;
    expect_rejected(multi, &ch, FIELDSYNC_EREGION);
    /* Clearing the region is a change of region too. */
    op.value.len = 0;
    ch.device_seq = ++multi_seq;
    expect_rejected(multi, &ch, FIELDSYNC_EREGION);
}

static void test_bad_input_region_change_by_body(void)
{
    uint8_t body[256];
    size_t n = bi_report(body, sizeof body, "TOMBOUCTOU", "Gourma-Rharous");
    Fieldsync__Change ch;
    bi_change(&ch, ++multi_seq, env.rec, "TOMBOUCTOU", bi_hlc_now(), body, n);
    expect_rejected(multi, &ch, FIELDSYNC_EREGION);
    /* Body and Change disagreeing on a new record. */
    struct newrec r;
    newrec(&r, "GAO", "Gabero");
    n = bi_report(r.body, sizeof r.body, "TOMBOUCTOU", "Gabero");
    r.ch.body.len = n;
    expect_rejected(bad, &r.ch, FIELDSYNC_EREGION);
}

static void test_bad_input_region_out_of_scope(void)
{
    struct newrec n;
    newrec(&n, "MENAKA", "Anderamboukane");
    expect_rejected(bad, &n.ch, FIELDSYNC_ESCOPE);
    /* An edit of a record of another region, claiming that region. */
    newrec(&n, "GAO", "x");
    n.ch.region = (char *)"";
    expect_rejected(bad, &n.ch, FIELDSYNC_EREGION);
}

/* Change.region with invalid UTF-8: not a region code. */
static void test_bad_input_bad_utf8_in_region(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Gabero");
    n.ch.region = (char *)"GA\xff";
    expect_rejected(bad, &n.ch, FIELDSYNC_EREGION);
}

static void test_bad_input_unknown_collection(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Gabero");
    n.ch.collection = 99;
    expect_rejected(bad, &n.ch, FIELDSYNC_ECOLLECTION);
    n.ch.collection = 0;
    n.ch.device_seq = ++env.bad_seq;
    expect_rejected(bad, &n.ch, FIELDSYNC_ECOLLECTION);
}

static void test_bad_input_seq_zero(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Gabero");
    n.ch.device_seq = 0;
    expect_rejected(bad, &n.ch, FIELDSYNC_ESEQ);
}

/* A seq already applied is a duplicate even with other content: the stored record stays. */
static void test_bad_input_seq_replayed(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Original");
    CHECK_EQ(bi_push_one(bad, &n.ch, NULL), APPLIED);
    uint8_t before[4096], after[4096];
    size_t lb = bi_pull_record(env.healthy, n.id, before, sizeof before);
    CHECK(lb > 0);
    size_t len = bi_report(n.body, sizeof n.body, "GAO", "Forged");
    n.ch.body.len = len;
    n.ch.hlc = bi_hlc_now() + hlc_make(5, 0);
    CHECK_EQ(bi_push_one(bad, &n.ch, NULL), DUP);
    size_t la = bi_pull_record(env.healthy, n.id, after, sizeof after);
    CHECK_EQ(la, lb);
    CHECK_MEM(after, before, la);
    /* The same seq on the healthy device's record: still a duplicate, no effect. */
    Fieldsync__Change ch = n.ch;
    ch.record_id.data = env.rec;
    CHECK_EQ(bi_push_one(bad, &ch, NULL), DUP);
    bi_check(&env);
}

/* Lower than the high-water mark but never applied: out-of-order delivery, applied once. */
static void test_bad_input_seq_backwards(void)
{
    env.bad_seq += 10;
    struct newrec hi, lo;
    newrec(&hi, "GAO", "Later");
    CHECK_EQ(bi_push_one(bad, &hi.ch, NULL), APPLIED);
    newrec(&lo, "GAO", "Earlier");
    lo.ch.device_seq = hi.ch.device_seq - 5;
    CHECK_EQ(bi_push_one(bad, &lo.ch, NULL), APPLIED);
    CHECK_EQ(bi_push_one(bad, &lo.ch, NULL), DUP);
    CHECK(!absent(lo.id));
    bi_check(&env);
}

static void test_bad_input_clock_far_ahead(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Futur");
    uint64_t now = bi_now_ms();
    n.ch.hlc = hlc_make(now + 3650ull * 86400 * 1000, 0); /* ten years ahead */
    Fieldsync__Frame *r = NULL;
    Fieldsync__Change *chp = &n.ch;
    CHECK_EQ(bi_push(bad, &chp, 1, &r), 0);
    CHECK_EQ(r->push_ack->results[0]->status, REJECTED);
    CHECK_EQ(error_from_wire((int)r->push_ack->results[0]->error), FIELDSYNC_ECLOCK);
    /* The server's time comes back, so the device can re-stamp. */
    uint64_t srv = hlc_ms(r->push_ack->server_hlc);
    CHECK_U64(srv + 60000, >, now);
    CHECK_U64(srv, <, now + 60000);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK(absent(n.id));
    /* An edit of the healthy record stamped in the future must not win either. */
    Fieldsync__Change ch;
    bi_change(&ch, ++env.bad_seq, env.rec, "GAO", hlc_make(now + 11 * 60 * 1000, 0), NULL, 0);
    Fieldsync__FieldOp op = FIELDSYNC__FIELD_OP__INIT, *opp = &op;
    uint8_t v[] = {0x1a, 0x04, 'F', 'a', 'k', 'e'};
    op.field = 3;
    op.value.data = v;
    op.value.len = sizeof v;
    ch.ops = &opp;
    ch.n_ops = 1;
    expect_rejected(bad, &ch, FIELDSYNC_ECLOCK);
    /* An op-level clock ahead rejects the whole change even if the change's clock is fine. */
    ch.device_seq = ++env.bad_seq;
    ch.hlc = bi_hlc_now();
    op.hlc = hlc_make(now + 3600 * 1000, 0);
    expect_rejected(bad, &ch, FIELDSYNC_ECLOCK);
}

static void test_bad_input_clock_zero(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Zero");
    n.ch.hlc = 0;
    expect_rejected(bad, &n.ch, FIELDSYNC_EINVAL);
}

static void test_bad_input_change_without_operation(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Empty");
    n.ch.body.len = 0;
    expect_rejected(bad, &n.ch, FIELDSYNC_EINVAL);
}

static void test_bad_input_collector_resolves(void)
{
    Fieldsync__Change ch;
    bi_change(&ch, ++env.bad_seq, env.rec, "GAO", bi_hlc_now(), NULL, 0);
    uint64_t ids[] = {1};
    ch.resolves = ids;
    ch.n_resolves = 1;
    expect_rejected(bad, &ch, FIELDSYNC_ESCOPE);
}

static void test_bad_input_base_device_wrong_length(void)
{
    Fieldsync__Change ch;
    bi_change(&ch, ++env.bad_seq, env.rec, "GAO", bi_hlc_now(), NULL, 0);
    Fieldsync__FieldOp op = FIELDSYNC__FIELD_OP__INIT, *opp = &op;
    uint8_t v[] = {0x1a, 0x04, 'T', 'a', 'k', 'i'};
    uint8_t dev[5] = {1, 2, 3, 4, 5};
    op.field = 3;
    op.value.data = v;
    op.value.len = sizeof v;
    op.base_hlc = 1;
    op.base_device.data = dev;
    op.base_device.len = sizeof dev;
    ch.ops = &opp;
    ch.n_ops = 1;
    expect_rejected(bad, &ch, FIELDSYNC_EBADID);
}

/* A keyed element (concerns, field 14) addressed without an element id, or with one over
 * MERGE_ID_MAX (16) bytes. */
static void test_bad_input_element_id_wrong_length(void)
{
    struct newrec n;
    newrec(&n, "GAO", "Elements");
    CHECK_EQ(bi_push_one(bad, &n.ch, NULL), APPLIED);
    Fieldsync__Change ch;
    bi_change(&ch, ++env.bad_seq, n.id, "GAO", bi_hlc_now(), NULL, 0);
    Fieldsync__FieldOp op = FIELDSYNC__FIELD_OP__INIT, *opp = &op;
    uint8_t eid[17];
    memset(eid, 9, sizeof eid);
    op.field = 14;
    op.element_id.data = eid;
    op.element_id.len = sizeof eid;
    op.tombstone = 1;
    ch.ops = &opp;
    ch.n_ops = 1;
    expect_rejected(bad, &ch, FIELDSYNC_EBADID);
    op.element_id.len = 0;
    ch.device_seq = ++env.bad_seq;
    expect_rejected(bad, &ch, FIELDSYNC_EBADID);
}

/* One bad change in the middle does not affect its neighbours. */
static void test_bad_input_mixed_batch(void)
{
    struct newrec a, b, c;
    newrec(&a, "GAO", "A");
    newrec(&b, "GAO", "B");
    newrec(&c, "GAO", "C");
    b.ch.record_id.len = 3;
    Fieldsync__Change *chs[] = {&a.ch, &b.ch, &c.ch};
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(bi_push(bad, chs, 3, &r), 0);
    CHECK_EQ(r->push_ack->n_results, 3);
    CHECK_EQ(r->push_ack->results[0]->status, APPLIED);
    CHECK_EQ(r->push_ack->results[1]->status, REJECTED);
    CHECK_EQ(error_from_wire((int)r->push_ack->results[1]->error), FIELDSYNC_EBADID);
    CHECK(r->push_ack->results[1]->message && r->push_ack->results[1]->message[0]);
    CHECK_EQ(r->push_ack->results[2]->status, APPLIED);
    CHECK_U64(r->push_ack->results[2]->device_seq, ==, c.ch.device_seq);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK(!absent(a.id));
    CHECK(!absent(c.id));
    bi_check(&env);
}

static void test_bad_input_batch_over_limit(void)
{
    enum { N = 257 };
    static struct newrec recs[N];
    static Fieldsync__Change *chs[N];
    for (int i = 0; i < N; i++) {
        newrec(&recs[i], "GAO", "Batch");
        chs[i] = &recs[i].ch;
    }
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(bi_push(bad, chs, N, &r), FIELDSYNC_EBATCH);
    CHECK(!r->error->closing);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK(absent(recs[0].id));
    CHECK(absent(recs[N - 1].id));
    CHECK_EQ(testclient_ping(bad), 0);
    /* The limit itself is fine. */
    CHECK_EQ(bi_push(bad, chs, 256, &r), 0);
    CHECK_EQ(r->push_ack->n_results, 256);
    CHECK_EQ(r->push_ack->results[255]->status, APPLIED);
    fieldsync__frame__free_unpacked(r, NULL);
    bi_check(&env);
}

static void test_bad_input_ops_over_limit(void)
{
    enum { N = 513 };
    static Fieldsync__FieldOp ops[N];
    static Fieldsync__FieldOp *opp[N];
    static uint8_t v[] = {0x1a, 0x01, 'x'};
    for (int i = 0; i < N; i++) {
        fieldsync__field_op__init(&ops[i]);
        ops[i].field = 3;
        ops[i].value.data = v;
        ops[i].value.len = sizeof v;
        opp[i] = &ops[i];
    }
    struct newrec n;
    newrec(&n, "GAO", "Ops");
    n.ch.ops = opp;
    n.ch.n_ops = N;
    expect_rejected(bad, &n.ch, FIELDSYNC_EBATCH);
}

/* A 1 MiB frame that is one huge repeated field: 500 000 empty Changes. The server must not
 * build them all: an Error, and the server stays small. */
static void test_bad_input_huge_repeated_count(void)
{
    long base = bi_rss_kb(ts.pid);
    struct testclient *c = bi_session(&env);
    size_t len = FRAME_MAX_DEFAULT;
    uint8_t *p = malloc(len);
    CHECK(p != NULL);
    size_t o = 0;
    p[o++] = 0x08; /* request_id 9 */
    p[o++] = 9;
    p[o++] = 0x4a; /* push: a PushBatch filling the rest of the frame */
    size_t inner = len - o - 3;
    CHECK_EQ(pbwire_put_varint(p + o, inner), 3);
    o += 3;
    while (o < len) {
        p[o++] = 0x0a; /* changes: an empty Change */
        p[o++] = 0x00;
    }
    CHECK_EQ(o, len);
    CHECK_EQ(bi_send_payload(c, p, o), 0);
    free(p);
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(testclient_recv(c, &r), 0);
    CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_ERROR);
    int code = error_from_wire((int)r->error->code);
    fprintf(stderr, "   answered %s (%s), closing=%d\n", error_name(code), r->error->message,
            (int)r->error->closing);
    /* The decode arena (4 x max_frame) runs out long before 500 000 Changes are built: the
     * frame is refused as malformed, and the stream closed. */
    CHECK_EQ(code, FIELDSYNC_EPROTO);
    CHECK(r->error->closing);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
    long after = bi_rss_kb(ts.pid);
    fprintf(stderr, "   server VmRSS %ld kB before, %ld kB after\n", base, after);
    CHECK_INT(after - base, <, 32 * 1024);
    bi_check(&env);
}

/* A body made of as many top-level fields as a 1 MiB frame holds (unknown numbers, one byte
 * each: about 330 000 operations in one change). max_ops bounds the body's operations too:
 * applied, it made a record whose clock blob (4.4 MB) no pull page could carry, so no device
 * of the region could pull past it. The writer still splits the body before refusing it:
 * its peak memory grows by about 35 MB (more under ASan), bounded by the frame limit. */
static void test_bad_input_body_many_fields(void)
{
    long hwm0 = bi_hwm_kb(ts.pid);
    size_t cap = FRAME_MAX_DEFAULT - 256;
    uint8_t *body = malloc(cap);
    CHECK(body != NULL);
    size_t n = bi_report(body, cap, "GAO", "Many");
    for (uint32_t num = 1000; n + 4 <= cap; num++) {
        n += pbwire_put_varint(body + n, (uint64_t)num << 3);
        body[n++] = 1;
    }
    struct newrec r;
    newrec(&r, "GAO", "Many");
    r.ch.body.data = body;
    r.ch.body.len = n;
    expect_rejected(bad, &r.ch, FIELDSYNC_EBATCH);
    long hwm1 = bi_hwm_kb(ts.pid);
    fprintf(stderr, "   %zu-byte body: server VmHWM %ld -> %ld kB\n", n, hwm0, hwm1);
    CHECK_INT(hwm1 - hwm0, <, 128 * 1024);
    /* Within the limit (512 operations) a record is fine and can be pulled. */
    n = bi_report(body, cap, "GAO", "Many");
    for (uint32_t num = 1000; num < 1000 + 510; num++) {
        n += pbwire_put_varint(body + n, (uint64_t)num << 3);
        body[n++] = 1;
    }
    newrec(&r, "GAO", "Many");
    r.ch.body.data = body;
    r.ch.body.len = n;
    CHECK_EQ(bi_push_one(bad, &r.ch, NULL), APPLIED);
    uint8_t *big = malloc(FRAME_MAX_DEFAULT);
    CHECK(big != NULL);
    size_t got = bi_pull_record(env.healthy, r.id, big, FRAME_MAX_DEFAULT);
    fprintf(stderr, "   512 fields: pulled as a %zu-byte RecordState\n", got);
    CHECK(got > 0);
    free(big);
    free(body);
    bi_check(&env);
}

static void test_bad_input_pull_odd_requests(void)
{
    Fieldsync__PullRequest p = FIELDSYNC__PULL_REQUEST__INIT;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT, *r = NULL;
    f.msg_case = FIELDSYNC__FRAME__MSG_PULL;
    f.pull = &p;
    /* Past the end: an empty last page (a cursor over INT64_MAX once bound as negative in
     * store_pull and restarted the feed from the top). */
    p.cursor = UINT64_MAX;
    CHECK_EQ(testclient_request(bad, &f, &r), 0);
    CHECK_EQ(r->page->n_records, 0);
    CHECK(!r->page->more);
    fieldsync__frame__free_unpacked(r, NULL);
    p.cursor = 0;
    p.page_size = UINT32_MAX; /* capped */
    CHECK_EQ(testclient_request(bad, &f, &r), 0);
    CHECK_INT(r->page->n_records, <=, 500);
    CHECK_INT(r->page->n_records, >, 0);
    fieldsync__frame__free_unpacked(r, NULL);
    uint32_t colls[] = {99}; /* a collection that does not exist: nothing */
    p.collections = colls;
    p.n_collections = 1;
    CHECK_EQ(testclient_request(bad, &f, &r), 0);
    CHECK_EQ(r->page->n_records, 0);
    fieldsync__frame__free_unpacked(r, NULL);
    bi_check(&env);
}

/* A record grows past what one pull page (one frame) can carry, one acknowledged change at a
 * time: twelve concerns of 95 KB each, every change well within max_frame and max_ops. The
 * server refuses the change that would make the record larger than max_record (half a frame)
 * with ERROR_RECORD_SIZE, and the record stays pullable (else every device of the region
 * would fail its pull at this record, for ever). */
static void test_bad_input_record_grows_past_a_frame(void)
{
    struct testclient *c = bi_session(&env);
    uint8_t id[16], body[256];
    bi_new_id(id);
    size_t n = bi_report(body, sizeof body, "GAO", "Grows");
    Fieldsync__Change ch;
    bi_change(&ch, ++env.bad_seq, id, "GAO", bi_hlc_now(), body, n);
    CHECK_EQ(bi_push_one(c, &ch, NULL), FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);

    size_t dlen = 95 * 1024;
    char *desc = malloc(dlen + 1);
    uint8_t *val = malloc(dlen + 256);
    CHECK(desc && val);
    memset(desc, 'a', dlen);
    desc[dlen] = '\0';
    int rejected = 0;
    for (int i = 0; i < 12 && !rejected; i++) {
        uint8_t eid[16];
        bi_new_id(eid);
        Fieldsync__Concern k = FIELDSYNC__CONCERN__INIT;
        k.id.data = eid;
        k.id.len = 16;
        k.description = desc;
        /* FieldOp.value: the element as it appears in the report (field 14, tagged). */
        Fieldsync__ConsultationReport r = FIELDSYNC__CONSULTATION_REPORT__INIT;
        Fieldsync__Concern *kp = &k;
        r.concerns = &kp;
        r.n_concerns = 1;
        size_t vl = fieldsync__consultation_report__pack(&r, val);
        Fieldsync__FieldOp op = FIELDSYNC__FIELD_OP__INIT, *opp = &op;
        op.field = 14;
        op.element_id.data = eid;
        op.element_id.len = 16;
        op.value.data = val;
        op.value.len = vl;
        bi_change(&ch, ++env.bad_seq, id, "GAO", bi_hlc_now(), NULL, 0);
        ch.ops = &opp;
        ch.n_ops = 1;
        int err = 0;
        int st = bi_push_one(c, &ch, &err);
        if (st == FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED) {
            CHECK_EQ(err, FIELDSYNC_ERECORDSIZE);
            CHECK_INT(i, >=, 4); /* 5 x 95 KB fit in 512 KiB: the limit is not hit early */
            rejected = 1;
        } else
            CHECK_EQ(st, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    }
    free(desc);
    free(val);
    size_t cap = 64u << 20;
    uint8_t *out = malloc(cap);
    CHECK(out != NULL);
    size_t got = bi_pull_record(env.healthy, id, out, cap);
    fprintf(stderr, "   record pulled as a %zu-byte RecordState (rejected a change: %d)\n", got,
            rejected);
    free(out);
    testclient_close(c);
    CHECK(rejected);
    CHECK(got > 0);
    CHECK_INT(got + 64, <=, FRAME_MAX_DEFAULT);
    bi_check(&env);
}

/* One device's stale writes pile conflicts onto another device's record. Each conflict keeps
 * both values and travels with the record in every pull page (open or resolved), so without a
 * bound a few pushes made a record that no page could carry: every pull of its region then
 * failed there with ERROR_INTERNAL, for ever (found by fuzz_handler_push). Conflicts count
 * against max_record now: the change that would pass it is refused with ERROR_RECORD_SIZE,
 * and the record is still pulled with all its conflicts. */
static void test_bad_input_conflicts_past_record_size(void)
{
    uint8_t id[16], body[256];
    bi_new_id(id);
    size_t n = bi_report(body, sizeof body, "GAO", "Conflicts");
    Fieldsync__Change ch;
    bi_change(&ch, ++multi_seq, id, "GAO", bi_hlc_now(), body, n);
    CHECK_EQ(bi_push_one(multi, &ch, NULL), APPLIED);

    /* The commune as 60 000 bytes, from a device that never saw multi's value (base 0) and
     * stamped a minute before it: each edit loses and opens a conflict keeping its value. */
    size_t vlen = 60000;
    uint8_t *val = malloc(vlen + 8);
    CHECK(val != NULL);
    size_t h = 0;
    val[h++] = 0x1a; /* field 3, length-delimited */
    for (size_t v = vlen; h == 1 || v; v >>= 7)
        val[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    memset(val + h, 'x', vlen);
    uint64_t stale = bi_hlc_now() - ((uint64_t)60000 << 16);
    int rejected = 0, applied = 0;
    for (int i = 0; i < 20 && !rejected; i++) {
        Fieldsync__FieldOp op = FIELDSYNC__FIELD_OP__INIT, *opp = &op;
        op.field = 3;
        op.value.data = val;
        op.value.len = h + vlen;
        bi_change(&ch, ++env.bad_seq, id, "GAO", stale + (uint64_t)i, NULL, 0);
        ch.ops = &opp;
        ch.n_ops = 1;
        int err = 0;
        int st = bi_push_one(bad, &ch, &err);
        if (st == REJECTED) {
            CHECK_EQ(err, FIELDSYNC_ERECORDSIZE);
            rejected = 1;
        } else {
            CHECK_EQ(st, APPLIED);
            applied++;
        }
    }
    free(val);
    fprintf(stderr, "   %d conflicting edits kept, the next refused: %d\n", applied, rejected);
    CHECK(rejected);
    CHECK_INT(applied, >=, 7); /* 8 x 60 KB fit in 512 KiB: the limit is not hit early */
    size_t cap = 4u << 20;
    uint8_t *out = malloc(cap);
    CHECK(out != NULL);
    CHECK(bi_pull_record(env.healthy, id, out, cap) > 0);
    free(out);
    bi_check(&env);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    CHECK_EQ(testserver_start(&ts, NULL), 0);
    bi_setup(&env, &ts);
    bad = bi_session(&env);
    char code[64];
    struct testclient_identity mid;
    CHECK_EQ(testserver_enroll(&ts, "collector", "GAO,TOMBOUCTOU", 0, code, sizeof code), 0);
    multi = bi_connect(&env);
    CHECK_EQ(testclient_enroll(multi, code, "multi", &mid, NULL), 0);
    CHECK_EQ(testclient_hello(multi, &mid, 0, NULL), 0);

    RUN(test_bad_input_record_id_wrong_length);
    RUN(test_bad_input_record_id_nil);
    RUN(test_bad_input_bad_utf8_in_body);
    RUN(test_bad_input_body_wrong_wire_type);
    RUN(test_bad_input_body_not_protobuf);
    RUN(test_bad_input_op_value_for_other_field);
    RUN(test_bad_input_region_change_by_change_region);
    RUN(test_bad_input_region_change_by_op);
    RUN(test_bad_input_region_change_by_body);
    RUN(test_bad_input_region_out_of_scope);
    RUN(test_bad_input_bad_utf8_in_region);
    RUN(test_bad_input_unknown_collection);
    RUN(test_bad_input_seq_zero);
    RUN(test_bad_input_seq_replayed);
    RUN(test_bad_input_seq_backwards);
    RUN(test_bad_input_clock_far_ahead);
    RUN(test_bad_input_clock_zero);
    RUN(test_bad_input_change_without_operation);
    RUN(test_bad_input_collector_resolves);
    RUN(test_bad_input_base_device_wrong_length);
    RUN(test_bad_input_element_id_wrong_length);
    RUN(test_bad_input_mixed_batch);
    RUN(test_bad_input_batch_over_limit);
    RUN(test_bad_input_ops_over_limit);
    RUN(test_bad_input_huge_repeated_count);
    RUN(test_bad_input_body_many_fields);
    RUN(test_bad_input_pull_odd_requests);
    RUN(test_bad_input_record_grows_past_a_frame);
    RUN(test_bad_input_conflicts_past_record_size);

    testclient_close(multi);
    testclient_close(bad);
    fprintf(stderr, "healthy device checked %u times\n", env.checks);
    bi_teardown(&env);
    CHECK_EQ(testserver_stop(&ts), 0);
    return 0;
}
