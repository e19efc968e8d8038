/*
 * fuzz_merge: libFuzzer target for the merge engine. The input is a sync.proto Change (as a
 * device would push it): its body is split into ops, then every FieldOp is turned into a
 * merge op; each op goes through merge_op_check and, if accepted, merge_apply on one record.
 * Invariants checked (abort on violation): applying an accepted op never fails except on
 * memory; applying the ops in reverse order (in one merge_apply_many) gives the same body; the
 * resulting state reloads, rebuilds from merge_state_ops to the same body, and lists its open
 * conflicts. Inputs starting with 0xff are raw state instead (1 length byte, body, clock blob):
 * loaded and, if accepted, merged into.
 */
#include "consultation.pb-c.h"
#include "error.h"
#include "merge.h"
#include "sync.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *D = &fieldsync__consultation_report__descriptor;
static const uint8_t dev_a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

#define MAX_OPS 256

/* The accepted ops of one input, with their device ids (views into the unpacked change). */
struct ctx {
    struct merge_op ops[MAX_OPS];
    uint8_t devs[MAX_OPS][16];
    size_t n;
    struct merge_record *r;
};

static int keep_cb(void *user, const struct merge_op *op)
{
    struct ctx *c = user;
    if (c->n == MAX_OPS || merge_op_check(D, op) != 0)
        return 0;
    c->ops[c->n] = *op;
    memcpy(c->devs[c->n], op->device, 16);
    c->ops[c->n].device = c->devs[c->n];
    c->n++;
    return 0;
}

static int rebuild_cb(void *user, const struct merge_op *op)
{
    struct ctx *c = user;
    if (merge_op_check(D, op) != 0)
        abort(); /* a state's own ops are valid */
    if (merge_apply(D, c->r, op, NULL) != 0)
        abort();
    return 0;
}

static int open_cb(void *user, const struct merge_open *o)
{
    (void)user;
    if (o->loser_hlc == 0 || !o->loser_device)
        abort();
    return 0;
}

static int same_body(const struct merge_record *a, const struct merge_record *b)
{
    return a->body_len == b->body_len && (!a->body_len || !memcmp(a->body, b->body, a->body_len));
}

/* The state reloads, rebuilds from its own ops to the same body, lists its open conflicts. */
static void check_state(struct merge_record *r)
{
    struct merge_record copy, rebuilt;
    struct ctx *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->r = &rebuilt;
    merge_record_init(&copy);
    merge_record_init(&rebuilt);
    if (merge_record_load(&copy, r->body, r->body_len, r->clocks, r->clocks_len) != 0)
        abort();
    if (merge_state_ops(D, r->body, r->body_len, r->clocks, r->clocks_len, rebuild_cb, c) != 0)
        abort();
    if (!same_body(&rebuilt, r))
        abort();
    if (merge_open_conflicts(D, r, open_cb, NULL) != 0)
        abort();
    merge_record_close(&copy);
    merge_record_close(&rebuilt);
    free(c);
}

static void run_change(const uint8_t *data, size_t size)
{
    Fieldsync__Change *ch = fieldsync__change__unpack(NULL, size, data);
    struct ctx *c;
    if (!ch)
        return;
    if (!(c = calloc(1, sizeof *c)))
        goto out;
    uint64_t hlc = ch->hlc ? ch->hlc : 1;
    if (ch->body.len)
        merge_split_body(D, ch->body.data, ch->body.len, hlc, dev_a, keep_cb, c);
    for (size_t i = 0; i < ch->n_ops; i++) {
        const Fieldsync__FieldOp *f = ch->ops[i];
        uint8_t dev[16];
        struct merge_op op = {0};
        memcpy(dev, dev_a, 16);
        dev[0] = (uint8_t)(i % 3); /* a few devices */
        op.field = f->field;
        op.element_id = f->element_id.len ? f->element_id.data : NULL;
        op.element_id_len = f->element_id.len;
        op.value = f->value.data;
        op.value_len = f->value.len;
        op.tombstone = f->tombstone;
        op.hlc = f->hlc ? f->hlc : hlc;
        op.device = dev;
        op.base_hlc = f->base_hlc;
        op.base_device = f->base_device.len == 16 ? f->base_device.data : NULL;
        keep_cb(c, &op);
    }
    if (ch->delete_record) {
        struct merge_op del = {.tombstone = 1, .hlc = hlc, .device = dev_a};
        keep_cb(c, &del);
    }
    /* Forward one by one, and backward in one batch: a checked op always applies, and the
     * merged body does not depend on the order. */
    struct merge_record fwd, bwd;
    merge_record_init(&fwd);
    merge_record_init(&bwd);
    for (size_t i = 0; i < c->n; i++) {
        int rc = merge_apply(D, &fwd, &c->ops[i], NULL);
        if (rc != 0 && rc != FIELDSYNC_ENOMEM)
            abort();
    }
    struct merge_op *rev = malloc((c->n + 1) * sizeof *rev);
    if (rev) {
        for (size_t i = 0; i < c->n; i++)
            rev[i] = c->ops[c->n - 1 - i];
        int rc = merge_apply_many(D, &bwd, rev, c->n, NULL);
        if (rc == 0 && !same_body(&fwd, &bwd))
            abort();
        free(rev);
    }
    check_state(&fwd);
    merge_record_close(&fwd);
    merge_record_close(&bwd);
    free(c);
out:
    fieldsync__change__free_unpacked(ch, NULL);
}

static void run_state(struct merge_record *r, const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    size_t blen = data[0];
    if (blen > size - 1)
        return;
    if (merge_record_load(r, data + 1, blen, data + 1 + blen, size - 1 - blen) != 0)
        return;
    uint8_t val[] = {0x1a, 0x03, 'G', 'a', 'o'}; /* commune = "Gao" */
    struct merge_op op = {
        .field = 3, .value = val, .value_len = sizeof val, .hlc = 7, .device = dev_a};
    int rc = merge_apply(D, r, &op, NULL);
    if (rc != 0 && rc != FIELDSYNC_ESCHEMA && rc != FIELDSYNC_ENOMEM)
        abort();
    const uint8_t *v;
    size_t vl;
    uint64_t h;
    merge_get(D, r, 14, dev_a, 16, &v, &vl, &h, NULL, NULL);
    merge_is_deleted(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 0xff) {
        struct merge_record r;
        merge_record_init(&r);
        run_state(&r, data + 1, size - 1);
        merge_record_close(&r);
    } else {
        run_change(data, size);
    }
    return 0;
}
