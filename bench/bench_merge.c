/*
 * bench_merge: the pure merge code both replicas run, on realistic ~1 KB reports
 * (benchlib_report), no I/O: a new record by the one-pass path (merge_record_create, what the
 * server's store does) and by the general path (split the body into ops, check each, apply
 * them at once: what any other change takes), then single-field edits of an existing record.
 * The general path is the in-run baseline of the one-pass path. Usage: bench_merge [--iters N].
 * No target: it shows where the store's CPU goes (docs/performance.md).
 */
#include "benchlib.h"
#include "consultation.pb-c.h"
#include "merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ProtobufCMessageDescriptor *D = &fieldsync__consultation_report__descriptor;

struct ops {
    struct merge_op v[256];
    size_t n;
};

/* Split callback: the ops point into the body (valid while it is). */
static int keep_op(void *user, const struct merge_op *op)
{
    struct ops *o = user;
    if (o->n == sizeof o->v / sizeof *o->v)
        return -1;
    o->v[o->n++] = *op;
    return 0;
}

int main(int argc, char **argv)
{
    int iters = 20000;
    for (int i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--iters") == 0)
            iters = atoi(argv[i + 1]);
    if (iters < 1)
        benchlib_die("usage: bench_merge [--iters N]");
    uint8_t dev[16], dev2[16], body[4096];
    memset(dev, 0x11, 16);
    memset(dev2, 0x22, 16);
    size_t n = benchlib_report(7, "GAO", body, sizeof body);
    if (!n)
        benchlib_die("report does not fit");
    struct merge_record r;
    merge_record_init(&r);
    static struct ops o;
    /* The canonical form (keyed elements in id order), as a client library sends it: the
     * general path's output. */
    if (merge_split_body(D, body, n, 1, dev, keep_op, &o) != 0 ||
        merge_apply_many(D, &r, o.v, o.n, NULL) != 0 || r.body_len > sizeof body)
        benchlib_die("cannot canonicalise the report");
    memcpy(body, r.body, r.body_len);
    n = r.body_len;

    /* One-pass creation. */
    double t0 = benchlib_now();
    for (int i = 0; i < iters; i++)
        if (merge_record_create(D, &r, body, n, 1000 + (uint64_t)i, dev) != 0)
            benchlib_die("merge_record_create failed");
    double one_pass = iters / (benchlib_now() - t0);
    size_t blob = r.clocks_len;

    /* General path: split, check every op, apply them all. */
    t0 = benchlib_now();
    for (int i = 0; i < iters; i++) {
        o.n = 0;
        merge_record_close(&r);
        merge_record_init(&r);
        if (merge_split_body(D, body, n, 1000 + (uint64_t)i, dev, keep_op, &o) != 0)
            benchlib_die("merge_split_body failed");
        for (size_t k = 0; k < o.n; k++)
            if (merge_op_check(D, &o.v[k]) != 0)
                benchlib_die("merge_op_check failed");
        if (merge_apply_many(D, &r, o.v, o.n, NULL) != 0)
            benchlib_die("merge_apply_many failed");
    }
    double general = iters / (benchlib_now() - t0);

    /* Single-field edits of the record (parse + re-encode per op). */
    static const uint8_t summary[] = {0x92, 0x01, 0x0e, 'r', 'e', 's', 'u', 'm', 'e',
                                      ' ',  'm',  'o',  'd', 'i', 'f', 'i', 'e'}; /* field 18 */
    t0 = benchlib_now();
    for (int i = 0; i < iters; i++) {
        struct merge_op op = {.field = 18,
                              .value = summary,
                              .value_len = sizeof summary,
                              .hlc = 1000000 + (uint64_t)i,
                              .device = dev2};
        if (merge_apply(D, &r, &op, NULL) != 0)
            benchlib_die("merge_apply failed");
    }
    double edits = iters / (benchlib_now() - t0);
    merge_record_close(&r);

    printf("bench_merge: %zu-byte report, %zu addresses, clock blob %zu B, %d iterations\n", n, o.n,
           blob, iters);
    char base[64];
    snprintf(base, sizeof base, "general path %.0f/s", general);
    benchlib_result("merge", "new record, one pass", one_pass, "records/s", base, "-", -1);
    benchlib_result("merge", "new record, general path", general, "records/s", "-", "-", -1);
    benchlib_result("merge", "one-field edit", edits, "ops/s", "-", "-", -1);
    benchlib_result("merge", "clock blob of a new report", (double)blob, "B", "-", "-", -1);
    return 0;
}
