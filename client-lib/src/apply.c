/*
 * apply: one pulled PullPage into the local store, in one transaction (pull() in sync.c calls
 * it per page; tests/fuzz/fuzz_client_page.c calls it without a network). Each record state
 * is turned into its ops (merge_state_ops) and merged into the local copy with the same merge
 * code as the server, so local edits not yet pushed survive a pull and replicas converge.
 * Invariants: the cursor is written in the same transaction as its page; on any error the
 * transaction is rolled back. No network, no SQLite here (lstore owns it).
 */
#include "apply.h"

#include "collections.h"
#include "error.h"
#include "merge.h"

#include <string.h>

static void see_clock(fieldsync_client *c, struct apply_clock *ck, uint64_t hlc)
{
    if (!hlc)
        return;
    if (hlc > ck->seen)
        ck->seen = hlc;
    uint64_t wall = (uint64_t)((int64_t)fieldsync__wall_ms(c) + ck->clock_offset_ms);
    hlc_update(ck->hlc, hlc, wall);
}

struct apply_ctx {
    const ProtobufCMessageDescriptor *desc;
    struct merge_record *rec;
    uint64_t max_hlc;
    uint64_t bad_clock; /* a clock at or past HLC_LIMIT, refused */
};

static int apply_cb(void *user, const struct merge_op *op)
{
    struct apply_ctx *a = user;
    int rc;
    if (op->hlc >= HLC_LIMIT) {
        a->bad_clock = op->hlc;
        return FIELDSYNC_EPROTO;
    }
    if (op->hlc > a->max_hlc)
        a->max_hlc = op->hlc;
    /* A pulled value passes the check a local edit passes (merge_apply alone lets e.g. bad
     * UTF-8 through): the store never hands the app a body its protobuf library refuses. */
    if (op->field != 0 && (rc = merge_op_check(a->desc, op)) < 0)
        return rc;
    return merge_apply(a->desc, a->rec, op, NULL);
}

static int apply_record(fieldsync_client *c, struct apply_clock *ck,
                        const Fieldsync__RecordState *rs)
{
    const struct collection *col = collections_find(rs->collection);
    struct lstore_rec meta;
    struct merge_record rec;
    const uint8_t *body, *clocks;
    size_t body_len, clocks_len;
    int rc;

    if (rs->record_id.len != 16)
        return fieldsync__fail(c, FIELDSYNC_EPROTO, "pulled record with a %zu-byte id",
                               rs->record_id.len);
    if (!col)
        return 0; /* a collection this library does not know: skip it */
    merge_record_init(&rec);
    rc = lstore_record_get(c, rs->record_id.data, &meta, &body, &body_len, &clocks, &clocks_len);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        if ((rc = merge_record_load(&rec, body, body_len, clocks, clocks_len)) < 0) {
            rc = fieldsync__fail(c, rc, "cannot load a stored record");
            goto out;
        }
    } else {
        memset(&meta, 0, sizeof meta);
        memcpy(meta.id, rs->record_id.data, 16);
        meta.collection = rs->collection;
        size_t rl = strlen(rs->region ? rs->region : "");
        if (rl > FS_REGION_MAX)
            rl = FS_REGION_MAX;
        memcpy(meta.region, rs->region ? rs->region : "", rl);
        meta.region[rl] = 0;
    }
    struct apply_ctx a = {.desc = col->desc, .rec = &rec, .max_hlc = meta.updated_hlc};
    rc = merge_state_ops(col->desc, rs->body.data, rs->body.len, rs->clocks.data, rs->clocks.len,
                         apply_cb, &a);
    if (rc < 0)
        goto bad;
    if (rs->deleted && rs->deleted_hlc) {
        static const uint8_t one = 1;
        struct merge_op del = {.field = 0,
                               .value = &one,
                               .value_len = 1,
                               .hlc = rs->deleted_hlc,
                               .device =
                                   rs->deleted_device.len == 16 ? rs->deleted_device.data : NULL};
        if ((rc = apply_cb(&a, &del)) < 0)
            goto bad;
    }
    see_clock(c, ck, a.max_hlc);
    meta.synced = 1;
    meta.deleted = merge_is_deleted(&rec);
    meta.updated_hlc = a.max_hlc;
    rc = lstore_record_put(c, &meta, rec.body, rec.body_len, rec.clocks, rec.clocks_len);
    goto out;
bad:
    if (a.bad_clock)
        rc = fieldsync__fail(c, rc, "pulled record with a clock out of range (%llu)",
                             (unsigned long long)a.bad_clock);
    else
        rc = fieldsync__fail(c, rc, "pulled record does not merge (%s)", fieldsync_err_name(rc));
out:
    merge_record_close(&rec);
    return rc;
}

static int apply_conflict(fieldsync_client *c, struct apply_clock *ck, const Fieldsync__Conflict *k)
{
    fieldsync_conflict cf;
    memset(&cf, 0, sizeof cf);
    if (k->record_id.len != 16)
        return fieldsync__fail(c, FIELDSYNC_EPROTO, "conflict with a bad record id");
    cf.id = k->id;
    memcpy(cf.record_id, k->record_id.data, 16);
    cf.field = k->field;
    cf.element_id = k->element_id.len ? k->element_id.data : NULL;
    cf.element_id_len = k->element_id.len > 16 ? 16 : k->element_id.len;
    cf.winner_value = k->winner_value.data;
    cf.winner_len = k->winner_value.len;
    cf.winner_hlc = k->winner_hlc;
    if (k->winner_device.len == 16)
        memcpy(cf.winner_device, k->winner_device.data, 16);
    cf.loser_value = k->loser_value.data;
    cf.loser_len = k->loser_value.len;
    cf.loser_hlc = k->loser_hlc;
    if (k->loser_device.len == 16)
        memcpy(cf.loser_device, k->loser_device.data, 16);
    cf.state = k->state == FIELDSYNC__CONFLICT_STATE__CONFLICT_RESOLVED
                   ? FIELDSYNC_CONFLICT_RESOLVED
                   : FIELDSYNC_CONFLICT_OPEN;
    if (k->resolved_by.len == 16)
        memcpy(cf.resolved_by, k->resolved_by.data, 16);
    cf.resolved_hlc = k->resolved_hlc;
    ck->conflicts++;
    return lstore_conflict_put(c, &cf);
}

int apply_page(fieldsync_client *c, const Fieldsync__PullPage *pg, uint64_t cursor,
               struct apply_clock *ck)
{
    int rc;
    ck->conflicts = 0;
    if (pg->server_hlc >= HLC_LIMIT)
        return fieldsync__fail(c, FIELDSYNC_EPROTO, "page with a server clock out of range (%llu)",
                               (unsigned long long)pg->server_hlc);
    see_clock(c, ck, pg->server_hlc);
    if ((rc = lstore_begin(c)) < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < pg->n_records; i++)
        rc = apply_record(c, ck, pg->records[i]);
    for (size_t i = 0; rc == 0 && i < pg->n_conflicts; i++)
        rc = apply_conflict(c, ck, pg->conflicts[i]);
    /* The cursor goes with its page, in the same transaction. */
    if (rc == 0 && pg->next_cursor > cursor)
        rc = lstore_set_cursor(c, pg->next_cursor);
    if (rc == 0)
        rc = lstore_set_hlc(c, ck->hlc->last);
    if (rc == 0)
        rc = lstore_commit(c);
    if (rc < 0)
        lstore_rollback(c);
    return rc;
}
