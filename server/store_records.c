/*
 * store_records: applying push batches to the store (see store_records.h). Runs on the writer
 * thread, inside the writer's group transaction and the job's savepoint.
 *
 * Per change: delivery check (exactly-once), then every check that can reject it (nothing is
 * written before all checks passed, so a rejected change leaves no trace), then the merge in
 * memory, then a few row writes: the record row (body + clock blob packed), one history row
 * holding every op that won (old and new value) unless the change created the record (its
 * header is in the record row, its values are the record's first version), a conflict row
 * per conflict, the delivery state. A failure after the first write fails the whole batch
 * (the caller rolls back). The usual change, a new record as one canonical body, takes a
 * shorter path (create_fast): one validating pass over the body, stored as is with its clock
 * blob built directly (merge_record_create), inserted without a lookup first; usually that
 * pass already ran before the writer (store_prepare.c), which then only inserts. Everything
 * else, and any change that path declines, goes through the general path.
 *
 * Delivery state: per device a contiguous high-water mark `hw` (every seq <= hw applied) and
 * the seqs above it applied out of order (delivery_above). A device sending in order costs
 * no extra row per change; hw is written once per batch. A rejected change does not consume
 * its seq, so a corrected resend (e.g. re-stamped after ECLOCK) can still apply.
 *
 * History op encoding (one blob per change, ops back to back; no row for the change that
 * created the record, whose values store_pull.c derives from later rows and the state):
 *   varint field | varint eid_len | eid | byte flags (1 new tombstone, 2 old tombstone,
 *   4 had old) | [varint old_hlc | 16 old_device | varint old_len | old] if had old |
 *   varint new_hlc | varint new_len | new.  The new value's device is the history row's.
 *
 * Depends on merge (common), collections (common), session scope; SQLite via store_internal.
 */
#include "store_records.h"

#include "collections.h"
#include "error.h"
#include "hlc.h"
#include "merge.h"
#include "store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t deleted_mark[1] = {1};

/* Batch-wide state; scratch buffers are reused across the batch's changes. */
struct apply {
    struct store *st;
    const struct store_apply_ctx *ctx;
    const uint8_t *device;
    uint64_t hw;        /* contiguous high-water mark of the device */
    uint64_t hw_loaded; /* value in the table (to write only on change) */
    int has_above;      /* device has seqs applied above hw */
    uint64_t max_seq;   /* greatest device_seq applied in this batch */
    uint64_t n_applied; /* changes applied in this batch */
    uint64_t next_seq;  /* last server sequence used */
    uint64_t max_hlc;   /* greatest clock applied */
    struct merge_op *ops;
    size_t n_ops, cap_ops;
    struct merge_result *res; /* one per op */
    size_t cap_res;
    uint8_t *hist;
    size_t hist_len, hist_cap;
    const struct collection *coll; /* of the change being applied */
    uint64_t conflict_bytes;       /* set when conflicts put a record over max_record */
};

/* The loaded record a change applies to. */
struct rec {
    int exists;
    int64_t rid;
    uint8_t creator[16];
    /* index columns as stored, to rewrite the indexes only when they change */
    char commune[COLLECTIONS_TEXT_MAX + 1];
    int has_commune;
    int64_t cdate;
    struct merge_record m;
};

/* ---- scratch buffers ---- */

static int ops_push(struct apply *a, const struct merge_op *op)
{
    if (a->n_ops == a->cap_ops) {
        size_t cap = a->cap_ops ? a->cap_ops * 2 : 64;
        struct merge_op *n = realloc(a->ops, cap * sizeof *n);
        if (!n)
            return FIELDSYNC_ENOMEM;
        a->ops = n;
        a->cap_ops = cap;
    }
    a->ops[a->n_ops++] = *op;
    return 0;
}

static int on_split(void *user, const struct merge_op *op)
{
    struct apply *a = user;
    /* merge_split_body does not check values against the schema (merge.h): a body with
     * invalid UTF-8 or a wrong wire type would be stored and break every client's parser. */
    int rc = merge_op_check(a->coll->desc, op);
    if (rc != 0)
        return rc;
    return ops_push(a, op);
}

static int hist_reserve(struct apply *a, size_t n)
{
    if (a->hist_cap - a->hist_len >= n)
        return 0;
    size_t cap = a->hist_cap ? a->hist_cap : 4096;
    while (cap - a->hist_len < n)
        cap *= 2;
    uint8_t *p = realloc(a->hist, cap);
    if (!p)
        return FIELDSYNC_ENOMEM;
    a->hist = p;
    a->hist_cap = cap;
    return 0;
}

static void put_varint(struct apply *a, uint64_t v)
{
    while (v >= 0x80) {
        a->hist[a->hist_len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    a->hist[a->hist_len++] = (uint8_t)v;
}

static void put_bytes(struct apply *a, const uint8_t *p, size_t n)
{
    if (n)
        memcpy(a->hist + a->hist_len, p, n);
    a->hist_len += n;
}

static int hist_add(struct apply *a, const struct merge_op *op, const struct merge_result *r)
{
    int had_old = r->old_hlc != 0;
    size_t need = 10 * 6 + 1 + 16 + op->element_id_len + op->value_len + r->old_len;
    if (hist_reserve(a, need) < 0)
        return FIELDSYNC_ENOMEM;
    put_varint(a, op->field);
    put_varint(a, op->element_id ? op->element_id_len : 0);
    put_bytes(a, op->element_id, op->element_id ? op->element_id_len : 0);
    a->hist[a->hist_len++] =
        (uint8_t)((op->tombstone ? 1 : 0) | (r->old_tombstone ? 2 : 0) | (had_old ? 4 : 0));
    if (had_old) {
        put_varint(a, r->old_hlc);
        put_bytes(a, r->old_device, 16);
        put_varint(a, r->old_len);
        put_bytes(a, r->old_value, r->old_len);
    }
    put_varint(a, op->hlc);
    put_varint(a, op->value_len);
    put_bytes(a, op->value, op->value_len);
    return 0;
}

/* ---- delivery state ---- */

static int delivery_load(struct apply *a)
{
    struct store *st = a->st;
    sqlite3_stmt *s = store_stmt(st, STMT_DELIVERY_GET, "SELECT hw FROM delivery WHERE device=?1");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, a->device, 16, SQLITE_STATIC);
    int r = sqlite3_step(s);
    a->hw = r == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return store_fail(st, "load delivery state");
    a->hw_loaded = a->hw;
    s = store_stmt(st, STMT_ABOVE_ANY,
                   "SELECT EXISTS(SELECT 1 FROM delivery_above WHERE device=?1)");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, a->device, 16, SQLITE_STATIC);
    r = sqlite3_step(s);
    a->has_above = r == SQLITE_ROW && sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    if (r != SQLITE_ROW)
        return store_fail(st, "load delivery state");
    return 0;
}

/* 1 if (device, seq) was already applied, 0 if not, <0 on failure. */
static int delivered(struct apply *a, uint64_t seq)
{
    if (seq <= a->hw)
        return 1;
    /* hw+1 is never in delivery_above: it would have been absorbed into hw. */
    if (seq == a->hw + 1 || !a->has_above)
        return 0;
    sqlite3_stmt *s = store_stmt(a->st, STMT_ABOVE_GET,
                                 "SELECT 1 FROM delivery_above WHERE device=?1 AND seq=?2");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, a->device, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)seq);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r == SQLITE_ROW)
        return 1;
    return r == SQLITE_DONE ? 0 : store_fail(a->st, "delivery lookup");
}

static int mark_delivered(struct apply *a, uint64_t seq)
{
    struct store *st = a->st;
    if (seq > a->max_seq)
        a->max_seq = seq;
    a->n_applied++;
    if (seq != a->hw + 1) {
        sqlite3_stmt *s = store_stmt(st, STMT_ABOVE_ADD,
                                     "INSERT INTO delivery_above(device, seq) VALUES(?1, ?2)");
        if (!s)
            return FIELDSYNC_ESTORE;
        sqlite3_bind_blob(s, 1, a->device, 16, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, (int64_t)seq);
        int r = sqlite3_step(s);
        sqlite3_reset(s);
        if (r != SQLITE_DONE)
            return store_fail(st, "delivery insert");
        a->has_above = 1;
        return 0;
    }
    a->hw = seq;
    /* Absorb the seqs applied earlier out of order that now follow hw. */
    while (a->has_above) {
        sqlite3_stmt *s =
            store_stmt(st, STMT_ABOVE_DEL, "DELETE FROM delivery_above WHERE device=?1 AND seq=?2");
        if (!s)
            return FIELDSYNC_ESTORE;
        sqlite3_bind_blob(s, 1, a->device, 16, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, (int64_t)(a->hw + 1));
        int r = sqlite3_step(s);
        sqlite3_reset(s);
        if (r != SQLITE_DONE)
            return store_fail(st, "delivery absorb");
        if (sqlite3_changes(st->db) == 0)
            break;
        a->hw++;
    }
    return 0;
}

static int delivery_flush(struct apply *a)
{
    struct store *st = a->st;
    if (a->n_applied == 0)
        return 0;
    sqlite3_stmt *s;
    int r;
    if (a->hw != a->hw_loaded) {
        s = store_stmt(st, STMT_DELIVERY_PUT,
                       "INSERT INTO delivery(device, hw) VALUES(?1, ?2) "
                       "ON CONFLICT(device) DO UPDATE SET hw=excluded.hw");
        if (!s)
            return FIELDSYNC_ESTORE;
        sqlite3_bind_blob(s, 1, a->device, 16, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, (int64_t)a->hw);
        r = sqlite3_step(s);
        sqlite3_reset(s);
        if (r != SQLITE_DONE)
            return store_fail(st, "delivery save");
    }
    s = store_stmt(st, STMT_DEVICE_APPLIED,
                   "UPDATE devices SET applied_hw=MAX(applied_hw, ?2), "
                   "changes_received=changes_received+?3, reported_hw=MAX(reported_hw, ?4) "
                   "WHERE id=?1");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, a->device, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)a->max_seq);
    sqlite3_bind_int64(s, 3, (int64_t)a->n_applied);
    sqlite3_bind_int64(s, 4, (int64_t)a->ctx->reported_hw);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? 0 : store_fail(st, "device applied_hw");
}

/* ---- records ---- */

static int rec_load(struct apply *a, const uint8_t id[16], struct rec *rec, uint32_t *coll,
                    char *region, size_t region_cap)
{
    struct store *st = a->st;
    sqlite3_stmt *s = store_stmt(
        st, STMT_REC_GET,
        "SELECT rid, collection, region, body, clocks, creator, commune, cdate FROM records "
        "WHERE id=?1");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
    int rc = 0;
    int r = sqlite3_step(s);
    if (r == SQLITE_DONE) {
        rec->exists = 0;
        rc = merge_record_load(&rec->m, NULL, 0, NULL, 0);
        goto out;
    }
    if (r != SQLITE_ROW) {
        rc = store_fail(st, "load record");
        goto out;
    }
    rec->exists = 1;
    rec->rid = sqlite3_column_int64(s, 0);
    *coll = (uint32_t)sqlite3_column_int64(s, 1);
    snprintf(region, region_cap, "%s", (const char *)sqlite3_column_text(s, 2));
    const unsigned char *commune = sqlite3_column_text(s, 6);
    rec->has_commune = commune != NULL;
    snprintf(rec->commune, sizeof rec->commune, "%s", commune ? (const char *)commune : "");
    rec->cdate = sqlite3_column_int64(s, 7);
    const void *creator = sqlite3_column_blob(s, 5);
    if (creator && sqlite3_column_bytes(s, 5) == 16)
        memcpy(rec->creator, creator, 16);
    const uint8_t *body = sqlite3_column_blob(s, 3);
    size_t body_len = (size_t)sqlite3_column_bytes(s, 3);
    const uint8_t *clocks = sqlite3_column_blob(s, 4);
    size_t clocks_len = (size_t)sqlite3_column_bytes(s, 4);
    /* Our own stored state: merge_apply_many checks it while parsing, no second pass here. */
    rc = merge_record_load_stored(&rec->m, body, body_len, clocks, clocks_len);
out:
    sqlite3_reset(s);
    return rc;
}

/* The index columns of the merged body. */
static void index_of(const struct collection *c, const struct merge_record *m,
                     struct collection_index *ix)
{
    if (collections_index(c, m->body, m->body_len, ix) < 0)
        memset(ix, 0, sizeof *ix);
    if (ix->commune_len > COLLECTIONS_TEXT_MAX)
        ix->commune_len = COLLECTIONS_TEXT_MAX;
}

static void bind_index(sqlite3_stmt *s, int commune_col, const struct collection_index *ix)
{
    if (ix->commune_len)
        sqlite3_bind_text(s, commune_col, (const char *)ix->commune, (int)ix->commune_len,
                          SQLITE_STATIC);
    if (ix->date)
        sqlite3_bind_int64(s, commune_col + 1, ix->date);
}

/* 1 when the stored index columns already hold ix (an edit that leaves them alone). */
static int index_same(const struct rec *rec, const struct collection_index *ix)
{
    if (rec->cdate != (int64_t)ix->date)
        return 0;
    if (!ix->commune_len)
        return !rec->has_commune;
    return rec->has_commune && strlen(rec->commune) == ix->commune_len &&
           memcmp(rec->commune, ix->commune, ix->commune_len) == 0;
}

/* 1 if one of the change's ops (a->ops) addresses a field extracted into an index column. */
static int ops_touch_index(const struct apply *a)
{
    for (size_t i = 0; i < a->n_ops; i++) {
        uint32_t f = a->ops[i].field;
        if (f == a->coll->commune_field || f == a->coll->date_field || f == a->coll->region_field)
            return 1;
    }
    return 0;
}

/* Insert a new record row (1 when the id already exists: nothing written). body and clocks
 * are its state (rec->m's, or prepared ahead of the writer), ix its index columns. */
static int rec_insert(struct apply *a, const Fieldsync__Change *ch, struct rec *rec,
                      const uint8_t *body, size_t body_len, const uint8_t *clocks,
                      size_t clocks_len, int deleted, const struct collection_index *ix,
                      uint64_t seq)
{
    struct store *st = a->st;
    sqlite3_stmt *s = store_stmt(st, STMT_REC_INSERT,
                                 "INSERT INTO records(id, collection, region, body, clocks, "
                                 "deleted, creator, commune, cdate, created_ms, updated_ms, "
                                 "server_seq, created_seq, created_device_seq, created_hlc) "
                                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?11, "
                                 "?12, ?13) ON CONFLICT(id) DO NOTHING");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, ch->record_id.data, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, ch->collection);
    sqlite3_bind_text(s, 3, ch->region, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, body ? (const void *)body : "", (int)body_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 5, clocks ? (const void *)clocks : "", (int)clocks_len, SQLITE_STATIC);
    sqlite3_bind_int(s, 6, deleted);
    sqlite3_bind_blob(s, 7, a->device, 16, SQLITE_STATIC);
    bind_index(s, 8, ix);
    sqlite3_bind_int64(s, 10, (int64_t)a->ctx->now_ms);
    sqlite3_bind_int64(s, 11, (int64_t)seq);
    sqlite3_bind_int64(s, 12, (int64_t)ch->device_seq);
    sqlite3_bind_int64(s, 13, (int64_t)ch->hlc);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE)
        return store_fail(st, "write record");
    if (sqlite3_changes(st->db) == 0)
        return 1; /* the id exists: nothing written */
    rec->rid = sqlite3_last_insert_rowid(st->db);
    memcpy(rec->creator, a->device, 16);
    rec->exists = 1;
    return 0;
}

/* Write the record row: insert (1 when the id already exists: nothing written) or update.
 * ixp: the index columns of rec's body if already extracted, else NULL. */
static int rec_write(struct apply *a, const Fieldsync__Change *ch, struct rec *rec, uint64_t seq,
                     const struct collection_index *ixp)
{
    struct store *st = a->st;
    sqlite3_stmt *s;
    int deleted = merge_is_deleted(&rec->m);
    int64_t now = (int64_t)a->ctx->now_ms;
    struct collection_index ix;
    /* An edit whose ops leave the indexed fields alone keeps the stored index columns: no
     * need to scan the merged body for them. */
    int keep_index = rec->exists && !ops_touch_index(a);
    if (ixp)
        ix = *ixp;
    else if (!keep_index)
        index_of(a->coll, &rec->m, &ix);
    if (!rec->exists)
        return rec_insert(a, ch, rec, rec->m.body, rec->m.body_len, rec->m.clocks,
                          rec->m.clocks_len, deleted, &ix, seq);
    if (keep_index || index_same(rec, &ix)) {
        /* The usual edit: only the feed and updated indexes move. */
        s = store_stmt(st, STMT_REC_UPDATE_BODY,
                       "UPDATE records SET body=?2, clocks=?3, deleted=?4, updated_ms=?5, "
                       "server_seq=?6 WHERE rid=?1");
        if (!s)
            return FIELDSYNC_ESTORE;
        sqlite3_bind_int64(s, 1, rec->rid);
        sqlite3_bind_blob(s, 2, rec->m.body ? (const void *)rec->m.body : "", (int)rec->m.body_len,
                          SQLITE_STATIC);
        sqlite3_bind_blob(s, 3, rec->m.clocks ? (const void *)rec->m.clocks : "",
                          (int)rec->m.clocks_len, SQLITE_STATIC);
        sqlite3_bind_int(s, 4, deleted);
        sqlite3_bind_int64(s, 5, now);
        sqlite3_bind_int64(s, 6, (int64_t)seq);
    } else {
        s = store_stmt(st, STMT_REC_UPDATE,
                       "UPDATE records SET body=?2, clocks=?3, deleted=?4, commune=?5, "
                       "cdate=?6, updated_ms=?7, server_seq=?8 WHERE rid=?1");
        if (!s)
            return FIELDSYNC_ESTORE;
        sqlite3_bind_int64(s, 1, rec->rid);
        sqlite3_bind_blob(s, 2, rec->m.body ? (const void *)rec->m.body : "", (int)rec->m.body_len,
                          SQLITE_STATIC);
        sqlite3_bind_blob(s, 3, rec->m.clocks ? (const void *)rec->m.clocks : "",
                          (int)rec->m.clocks_len, SQLITE_STATIC);
        sqlite3_bind_int(s, 4, deleted);
        bind_index(s, 5, &ix);
        sqlite3_bind_int64(s, 7, now);
        sqlite3_bind_int64(s, 8, (int64_t)seq);
    }
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? 0 : store_fail(st, "write record");
}

/* The history row of a change to an existing record (rec_write wrote it; a creation has no
 * history row: the record row's created_* columns are its header, its values the first
 * version), and the editor entry when the device is not the creator. */
static int history_write(struct apply *a, const Fieldsync__Change *ch, const struct rec *rec,
                         uint64_t seq, int created)
{
    if (created)
        return 0;
    struct store *st = a->st;
    sqlite3_stmt *s = store_stmt(st, STMT_HIST_INSERT,
                                 "INSERT INTO history(seq, rid, device, device_seq, hlc, "
                                 "server_ms, ops) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, (int64_t)seq);
    sqlite3_bind_int64(s, 2, rec->rid);
    sqlite3_bind_blob(s, 3, a->device, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (int64_t)ch->device_seq);
    sqlite3_bind_int64(s, 5, (int64_t)ch->hlc);
    sqlite3_bind_int64(s, 6, (int64_t)a->ctx->now_ms);
    sqlite3_bind_blob(s, 7, a->hist ? (const void *)a->hist : "", (int)a->hist_len, SQLITE_STATIC);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE)
        return store_fail(st, "write history");
    if (memcmp(rec->creator, a->device, 16) != 0) {
        s = store_stmt(st, STMT_EDITOR_ADD,
                       "INSERT OR IGNORE INTO record_editors(device, rid) VALUES(?1, ?2)");
        if (!s)
            return FIELDSYNC_ESTORE;
        sqlite3_bind_blob(s, 1, a->device, 16, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, rec->rid);
        r = sqlite3_step(s);
        sqlite3_reset(s);
        if (r != SQLITE_DONE)
            return store_fail(st, "write editor");
    }
    return 0;
}

/* A conflict row: (winner, loser) as the merge decided. The record row must exist. */
static int conflict_write(struct apply *a, int64_t rid, const struct merge_op *op,
                          const struct merge_result *r)
{
    struct store *st = a->st;
    sqlite3_stmt *s = store_stmt(
        st, STMT_CONFLICT_INSERT,
        "INSERT INTO conflicts(rid, field, element_id, winner_value, winner_hlc, winner_device, "
        "loser_value, loser_hlc, loser_device, created_ms, created_seq) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!s)
        return FIELDSYNC_ESTORE;
    const uint8_t *nv = op->value ? op->value : (const uint8_t *)"";
    const uint8_t *ov = r->old_value ? r->old_value : (const uint8_t *)"";
    int wv = r->applied ? 7 : 4; /* column of the old (previous winner) value */
    sqlite3_bind_int64(s, 1, rid);
    sqlite3_bind_int64(s, 2, op->field);
    if (op->element_id)
        sqlite3_bind_blob(s, 3, op->element_id, (int)op->element_id_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, wv, ov, (int)r->old_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, wv + 1, (int64_t)r->old_hlc);
    sqlite3_bind_blob(s, wv + 2, r->old_device, 16, SQLITE_STATIC);
    int nvc = r->applied ? 4 : 7;
    sqlite3_bind_blob(s, nvc, nv, (int)op->value_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, nvc + 1, (int64_t)op->hlc);
    sqlite3_bind_blob(s, nvc + 2, op->device, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 10, (int64_t)a->ctx->now_ms);
    sqlite3_bind_int64(s, 11, (int64_t)(a->next_seq + 1)); /* the seq this change will take */
    int rr = sqlite3_step(s);
    sqlite3_reset(s);
    return rr == SQLITE_DONE ? 0 : store_fail(st, "write conflict");
}

/* 0 when conflict id belongs to record rid (open or resolved), 1 when not (reject). */
static int conflict_check(struct apply *a, uint64_t id, const struct rec *rec)
{
    sqlite3_stmt *s = store_stmt(a->st, STMT_CONFLICT_GET, "SELECT rid FROM conflicts WHERE id=?1");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, (int64_t)id);
    int r = sqlite3_step(s);
    int64_t rid = r == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_reset(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return store_fail(a->st, "conflict lookup");
    return rec->exists && rid == rec->rid ? 0 : 1;
}

static int conflict_resolve(struct apply *a, uint64_t id, uint64_t hlc)
{
    sqlite3_stmt *s = store_stmt(a->st, STMT_CONFLICT_RESOLVE,
                                 "UPDATE conflicts SET state=2, resolved_by=?2, resolved_hlc=?3, "
                                 "resolved_ms=?4, resolved_seq=?5 WHERE id=?1 AND state=1");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, (int64_t)id);
    sqlite3_bind_blob(s, 2, a->device, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (int64_t)hlc);
    sqlite3_bind_int64(s, 4, (int64_t)a->ctx->now_ms);
    sqlite3_bind_int64(s, 5, (int64_t)(a->next_seq + 1));
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE)
        return store_fail(a->st, "resolve conflict");
    return sqlite3_changes(a->st->db);
}

/* ---- one change ---- */

/* Collect the change's ops into a->ops (body split, field ops, record delete) and run every
 * check that does not need the stored record. 0 ok, 1 rejected (res filled), <0 failure. */
static int collect(struct apply *a, const Fieldsync__Change *ch, struct store_change_result *res)
{
    const struct store_apply_ctx *ctx = a->ctx;
    const struct session *sess = ctx->sess;
    a->n_ops = 0;
    int prc = store_precheck(ctx, ch, res, &a->coll);
    if (prc != 0)
        return prc;
    size_t rlen = strlen(ch->region);

    if (ch->body.len) {
        int rc = merge_split_body(a->coll->desc, ch->body.data, ch->body.len, ch->hlc,
                                  sess->device_id, on_split, a);
        if (rc == FIELDSYNC_ENOMEM)
            return rc;
        if (rc < 0)
            return store_reject(res, rc, "body is not a valid %s", a->coll->name);
        /* max_ops bounds every operation of a change, the body's too: a 1 MiB body of 300 000
         * one-byte fields would otherwise make a record whose clock blob no pull page can
         * carry (test_bad_input_body_many_fields). */
        if (a->n_ops + ch->n_ops > ctx->max_ops)
            return store_reject(res, FIELDSYNC_EBATCH,
                                "%zu operations in one change, body included (limit %" PRIu32 ")",
                                a->n_ops + ch->n_ops, ctx->max_ops);
    }
    for (size_t i = 0; i < ch->n_ops; i++) {
        const Fieldsync__FieldOp *f = ch->ops[i];
        struct merge_op op = {
            .field = f->field,
            .element_id = f->element_id.len ? f->element_id.data : NULL,
            .element_id_len = f->element_id.len,
            .value = f->value.data,
            .value_len = f->value.len,
            .tombstone = f->tombstone,
            .hlc = f->hlc ? f->hlc : ch->hlc,
            .device = sess->device_id,
            .base_hlc = f->base_hlc,
            .base_device = f->base_device.len == 16 ? f->base_device.data : NULL,
        };
        if (f->base_device.len && f->base_device.len != 16)
            return store_reject(res, FIELDSYNC_EBADID, "op %zu: base_device must be 16 bytes", i);
        int rc = merge_op_check(a->coll->desc, &op);
        if (rc < 0)
            return store_reject(res, rc, "op %zu (field %" PRIu32 "): %s", i, f->field,
                                error_str(rc));
        if ((rc = ops_push(a, &op)) < 0)
            return rc;
    }
    if (ch->delete_record) {
        struct merge_op op = {.field = 0,
                              .value = deleted_mark,
                              .value_len = sizeof deleted_mark,
                              .hlc = ch->hlc,
                              .device = sess->device_id};
        int rc = ops_push(a, &op);
        if (rc < 0)
            return rc;
    }
    if (a->n_ops == 0 && ch->n_resolves == 0)
        return store_reject(res, FIELDSYNC_EINVAL, "change has no operation");

    uint64_t bound = ctx->now_ms + ctx->max_clock_ahead_ms;
    for (size_t i = 0; i < a->n_ops; i++) {
        const struct merge_op *op = &a->ops[i];
        if (op->hlc == 0)
            return store_reject(res, FIELDSYNC_EINVAL, "operation without a clock (hlc 0)");
        if (hlc_ms(op->hlc) > bound)
            return store_reject(res, FIELDSYNC_ECLOCK,
                                "clock %" PRIu64 " ms is %" PRIu64
                                " ms ahead of server time %" PRIu64 " ms (bound %" PRIu64
                                " ms): re-stamp and resend",
                                hlc_ms(op->hlc), hlc_ms(op->hlc) - ctx->now_ms, ctx->now_ms,
                                ctx->max_clock_ahead_ms);
        if (op->field == a->coll->region_field && !op->element_id) {
            const uint8_t *s = NULL;
            size_t n = 0;
            int r = collections_string_value(op->field, op->value, op->value_len, &s, &n);
            if (r <= 0 || n != rlen || memcmp(s, ch->region, n) != 0)
                return store_reject(res, FIELDSYNC_EREGION, "the region field must stay %s",
                                    ch->region);
        }
    }
    return 0;
}

static int reject_size(struct apply *a, const struct rec *rec, struct store_change_result *res)
{
    uint64_t conflicts = a->conflict_bytes;
    a->conflict_bytes = 0;
    if (conflicts)
        return store_reject(res, FIELDSYNC_ERECORDSIZE,
                            "the record would take %zu bytes and its conflicts %" PRIu64
                            "; the limit is %u",
                            rec->m.body_len + rec->m.clocks_len, conflicts, a->ctx->max_record);
    return store_reject(res, FIELDSYNC_ERECORDSIZE,
                        "the record would take %zu bytes; the limit is %u",
                        rec->m.body_len + rec->m.clocks_len, a->ctx->max_record);
}

/* Op i of the change, merged, makes a conflict row (a device overwriting its own value, e.g.
 * twice in one change, makes none). */
static int makes_conflict(const struct apply *a, size_t i)
{
    return a->res[i].conflict && memcmp(a->res[i].old_device, a->ops[i].device, 16) != 0;
}

/* Every conflict of a record (open or resolved) travels with it in each pull page, so they
 * count against the size limit too: else one device's stale writes could make a record no
 * page can carry, and every pull of its region would fail there. Looked up only when the
 * change adds conflicts or grows the record. 0 fits, 1 over, <0 failure. */
static int over_with_conflicts(struct apply *a, const struct rec *rec, size_t size_before)
{
    if (!a->ctx->max_record || !rec->exists)
        return 0;
    uint64_t add = 0;
    for (size_t i = 0; i < a->n_ops; i++)
        if (makes_conflict(a, i))
            add += a->ops[i].element_id_len + a->res[i].old_len + a->ops[i].value_len +
                   STORE_CONFLICT_WIRE_FIXED;
    size_t size = rec->m.body_len + rec->m.clocks_len;
    if (add == 0 && size <= size_before)
        return 0;
    uint64_t have = 0;
    int rc = store_conflict_bytes(a->st, rec->rid, 0, &have); /* the open ones */
    if (rc < 0)
        return rc;
    if (size + have + add <= a->ctx->max_record)
        return 0;
    a->conflict_bytes = have + add; /* for reject_size's message */
    return 1;
}

/* Merge the collected ops into rec (one parse, one re-encoding for all of them), adding the
 * history ops (not for a creation) and writing the conflicts. 1 when the merged record is over
 * the size limit (nothing written), 0 done, <0 failure. */
static int merge_ops(struct apply *a, struct rec *rec, int created, int *changed,
                     uint32_t *n_conflicts)
{
    int rc;
    a->hist_len = 0;
    if (a->n_ops == 0)
        return 0;
    if (a->cap_res < a->n_ops) {
        free(a->res);
        a->cap_res = 0;
        if (!(a->res = malloc(a->cap_ops * sizeof *a->res)))
            return FIELDSYNC_ENOMEM;
        a->cap_res = a->cap_ops;
    }
    size_t size_before = rec->m.body_len + rec->m.clocks_len;
    if ((rc = merge_apply_many(a->coll->desc, &rec->m, a->ops, a->n_ops, a->res)) < 0)
        return rc == FIELDSYNC_ENOMEM ? rc : FIELDSYNC_EINTERNAL;
    if (store_over_record_size(a->ctx, &rec->m))
        return 1; /* nothing written yet: the caller rejects the change */
    if ((rc = over_with_conflicts(a, rec, size_before)) != 0)
        return rc;
    for (size_t i = 0; i < a->n_ops; i++) {
        const struct merge_op *op = &a->ops[i];
        const struct merge_result *mr = &a->res[i];
        if (mr->applied) {
            *changed = 1;
            if (op->hlc > a->max_hlc)
                a->max_hlc = op->hlc;
            /* A creation's values are the record's first version: not stored twice. */
            if (!created && (rc = hist_add(a, op, mr)) < 0)
                return rc;
        }
        if (makes_conflict(a, i)) {
            if (!rec->exists)
                return FIELDSYNC_EINTERNAL; /* merge says conflict on a never-written record */
            /* The old views stay valid until the record changes again: write now. */
            if ((rc = conflict_write(a, rec->rid, op, mr)) < 0)
                return rc;
            (*n_conflicts)++;
            *changed = 1;
        }
    }
    return 0;
}

static int applied(struct apply *a, const Fieldsync__Change *ch, struct store_change_result *res,
                   uint32_t n_conflicts)
{
    int rc = mark_delivered(a, ch->device_seq);
    if (rc < 0)
        return rc;
    res->status = FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED;
    res->conflicts = n_conflicts;
    return 0;
}

/* The usual new record: a change carrying only a canonical body, for an id not yet stored.
 * Validates the body in one pass and stores it as is with a clock blob built directly
 * (store_create_prepare: merge_record_create), then inserts; when store_prepare_batch did all
 * that ahead of the writer (p ready), only inserts. 0 applied (or rejected: res says), 1 when
 * the general path must take the change (body not canonical or invalid, any check to report,
 * id already stored), <0 failure. */
static int create_fast(struct apply *a, const Fieldsync__Change *ch, const struct store_prepared *p,
                       struct rec *rec, struct store_change_result *res)
{
    if (!store_create_shape(ch))
        return 1;
    int rc = store_precheck(a->ctx, ch, res, &a->coll);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    const uint8_t *clocks;
    size_t clocks_len;
    struct collection_index ix;
    if (p && p->ready) {
        clocks = a->ctx->prep->clocks + p->clocks_off;
        clocks_len = p->clocks_len;
        ix = p->ix;
    } else {
        rc = store_create_prepare(a->ctx, a->coll, ch, a->device, &rec->m, &ix);
        if (rc == 2) {
            reject_size(a, rec, res);
            return 0;
        }
        if (rc != 0)
            return rc;
        clocks = rec->m.clocks;
        clocks_len = rec->m.clocks_len;
    }
    /* The body is stored as sent: merge_record_create keeps a canonical body byte for byte. */
    uint64_t seq = a->next_seq + 1;
    rec->exists = 0;
    if ((rc = rec_insert(a, ch, rec, ch->body.data, ch->body.len, clocks, clocks_len, 0, &ix,
                         seq)) != 0)
        return rc;     /* 1: the id exists */
    a->next_seq = seq; /* a creation has no history row (history_write) */
    if (ch->hlc > a->max_hlc)
        a->max_hlc = ch->hlc;
    return applied(a, ch, res, 0);
}

static int apply_change(struct apply *a, const Fieldsync__Change *ch,
                        const struct store_prepared *p, struct rec *rec,
                        struct store_change_result *res)
{
    res->device_seq = ch->device_seq;
    if (ch->device_seq == 0)
        return store_reject(res, FIELDSYNC_ESEQ, "device_seq must not be 0");
    int rc = delivered(a, ch->device_seq);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        res->status = FIELDSYNC__CHANGE_STATUS__CHANGE_DUPLICATE;
        return 0;
    }
    if ((rc = create_fast(a, ch, p, rec, res)) != 1)
        return rc;
    if ((rc = collect(a, ch, res)) != 0)
        return rc;
    int changed = 0;
    uint32_t n_conflicts = 0;

    /* A change with a body is almost always a new record: merge it onto the empty state and
     * insert without looking the id up first. If the id exists the insert does nothing, and
     * the general path below loads the record and merges again. */
    if (ch->body.len && ch->n_resolves == 0) {
        rec->exists = 0;
        if ((rc = merge_record_load(&rec->m, NULL, 0, NULL, 0)) < 0 ||
            (rc = merge_ops(a, rec, 1, &changed, &n_conflicts)) < 0)
            return rc;
        if (rc == 1)
            return reject_size(a, rec, res);
        uint64_t seq = a->next_seq + 1;
        if ((rc = rec_write(a, ch, rec, seq, NULL)) < 0)
            return rc;
        if (rc == 0) {
            a->next_seq = seq; /* a creation has no history row (history_write) */
            return applied(a, ch, res, 0);
        }
        changed = 0;
        n_conflicts = 0;
    }

    uint32_t coll = ch->collection;
    char region[SESSION_REGION_LEN * 2] = "";
    if ((rc = rec_load(a, ch->record_id.data, rec, &coll, region, sizeof region)) < 0)
        return rc;
    if (rec->exists && coll != ch->collection)
        return store_reject(res, FIELDSYNC_ECOLLECTION, "record belongs to collection %" PRIu32,
                            coll);
    if (rec->exists && strcmp(region, ch->region) != 0)
        return store_reject(res, FIELDSYNC_EREGION, "record's region is %s, not %s", region,
                            ch->region);
    for (size_t i = 0; i < ch->n_resolves; i++) {
        if ((rc = conflict_check(a, ch->resolves[i], rec)) < 0)
            return rc;
        if (rc)
            return store_reject(res, FIELDSYNC_ENOTFOUND, "no conflict %" PRIu64 " on this record",
                                ch->resolves[i]);
    }

    /* Checks passed: from here on a failure fails the batch. */
    uint64_t seq = a->next_seq + 1;
    int created = !rec->exists;
    changed = created;
    if ((rc = merge_ops(a, rec, created, &changed, &n_conflicts)) < 0)
        return rc;
    if (rc == 1)
        return reject_size(a, rec, res);
    for (size_t i = 0; i < ch->n_resolves; i++) {
        if ((rc = conflict_resolve(a, ch->resolves[i], ch->hlc)) < 0)
            return rc;
        changed |= rc > 0;
    }
    if (changed) {
        if ((rc = rec_write(a, ch, rec, seq, NULL)) < 0)
            return rc;
        if (rc > 0)
            return FIELDSYNC_EINTERNAL; /* looked up as absent, yet present */
        if ((rc = history_write(a, ch, rec, seq, created)) < 0)
            return rc;
        a->next_seq = seq;
    }
    return applied(a, ch, res, n_conflicts);
}

static int next_seq_load(struct apply *a)
{
    sqlite3_stmt *s =
        store_stmt(a->st, STMT_HIST_MAXSEQ, "SELECT COALESCE(MAX(server_seq), 0) FROM records");
    if (!s)
        return FIELDSYNC_ESTORE;
    int r = sqlite3_step(s);
    a->next_seq = r == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return r == SQLITE_ROW ? 0 : store_fail(a->st, "feed position");
}

int store_apply_batch(struct store *st, const struct store_apply_ctx *ctx,
                      Fieldsync__Change *const *changes, size_t n,
                      struct store_change_result *results, uint64_t *max_hlc)
{
    struct apply a;
    memset(&a, 0, sizeof a);
    a.st = st;
    a.ctx = ctx;
    a.device = ctx->sess->device_id;
    struct rec rec;
    merge_record_init(&rec.m);
    int rc = delivery_load(&a);
    if (rc < 0)
        goto out;
    if ((rc = next_seq_load(&a)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct store_change_result *res = &results[i];
        memset(res, 0, sizeof *res);
        rec.exists = 0;
        const struct store_prepared *p = ctx->prep && i < ctx->prep->n ? &ctx->prep->c[i] : NULL;
        rc = apply_change(&a, changes[i], p, &rec, res);
        if (rc < 0)
            goto out;
    }
    rc = delivery_flush(&a);
    if (max_hlc)
        *max_hlc = a.max_hlc;
out:
    merge_record_close(&rec.m);
    free(a.ops);
    free(a.res);
    free(a.hist);
    return rc < 0 ? rc : 0;
}
