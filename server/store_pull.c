/*
 * store_pull: the read side of the records store (see store_records.h): pages of the change
 * feed in a session's scope, one record, its history and its conflicts. Runs on reader
 * threads with a read-only store, or on the writer thread.
 *
 * Invariants: rows are streamed to callbacks (memory does not grow with the database); a page
 * walks the feed index from the cursor (cost proportional to the changes since the cursor,
 * bounded by max_scan rows per page); next_cursor never passes a row in scope that was not
 * returned. Depends on session scope only; SQLite via store_internal.
 */
#include "store_records.h"

#include "collections.h"
#include "error.h"
#include "pbwire.h"
#include "merge.h"
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#define RECORD_COLS                                                                                \
    "r.rid, r.id, r.collection, r.region, r.body, r.clocks, r.deleted, "                           \
    "r.creator, r.server_seq, r.updated_ms"

static const uint8_t zero16[16];

static const uint8_t *blob16(sqlite3_stmt *s, int col)
{
    const uint8_t *p = sqlite3_column_blob(s, col);
    return p && sqlite3_column_bytes(s, col) == 16 ? p : zero16;
}

static void record_view(sqlite3_stmt *s, struct store_record_view *v)
{
    v->id = blob16(s, 1);
    v->collection = (uint32_t)sqlite3_column_int64(s, 2);
    v->region = (const char *)sqlite3_column_text(s, 3);
    if (!v->region)
        v->region = "";
    v->body = sqlite3_column_blob(s, 4);
    v->body_len = (size_t)sqlite3_column_bytes(s, 4);
    v->clocks = sqlite3_column_blob(s, 5);
    v->clocks_len = (size_t)sqlite3_column_bytes(s, 5);
    v->deleted = sqlite3_column_int(s, 6);
    v->creator = blob16(s, 7);
    v->server_seq = (uint64_t)sqlite3_column_int64(s, 8);
    v->updated_ms = sqlite3_column_int64(s, 9);
}

/* Which conflicts travel with a record to a device whose cursor is seen_at: the open ones,
 * and the resolved ones the device may hold open (opened at or before its cursor, resolved
 * after it). A device that never saw a conflict open does not need its resolution, so
 * resolved conflicts do not accumulate in every page of the record for ever; and what a page
 * carries stays bounded: body + open conflicts fit max_record now, and the resolved ones
 * sent were all open together at seen_at, when they fitted it too. */
#define SENT_AT "(state = 1 OR (created_seq <= ?2 AND resolved_seq > ?2))"

#define CONFLICT_FIELDS                                                                            \
    "id, field, element_id, winner_value, winner_hlc, winner_device, loser_value, loser_hlc, "     \
    "loser_device, state, resolved_by, resolved_hlc"
#define CONFLICT_COLS "SELECT " CONFLICT_FIELDS " FROM conflicts "

/* The conflict of the current row (CONFLICT_FIELDS order) as a view. */
static void conflict_view(sqlite3_stmt *s, struct store_conflict_view *c, const uint8_t *record_id)
{
    c->id = (uint64_t)sqlite3_column_int64(s, 0);
    c->record_id = record_id;
    c->field = (uint32_t)sqlite3_column_int64(s, 1);
    c->element_id = sqlite3_column_blob(s, 2);
    c->element_id_len = (size_t)sqlite3_column_bytes(s, 2);
    c->winner_value = sqlite3_column_blob(s, 3);
    c->winner_len = (size_t)sqlite3_column_bytes(s, 3);
    c->winner_hlc = (uint64_t)sqlite3_column_int64(s, 4);
    c->winner_device = blob16(s, 5);
    c->loser_value = sqlite3_column_blob(s, 6);
    c->loser_len = (size_t)sqlite3_column_bytes(s, 6);
    c->loser_hlc = (uint64_t)sqlite3_column_int64(s, 7);
    c->loser_device = blob16(s, 8);
    c->state = sqlite3_column_int(s, 9);
    c->resolved_by = sqlite3_column_type(s, 10) == SQLITE_NULL ? NULL : blob16(s, 10);
    c->resolved_hlc = (uint64_t)sqlite3_column_int64(s, 11);
}

/* Call cb for each conflict of record rid sent at seen_at (all of them when seen_at < 0). */
static int conflicts_of(struct store *st, int64_t rid, int64_t seen_at, const uint8_t *record_id,
                        store_conflict_cb cb, void *user)
{
    sqlite3_stmt *s =
        seen_at < 0 ? store_stmt(st, STMT_CONFLICTS_ALL, CONFLICT_COLS "WHERE rid=?1 ORDER BY id")
                    : store_stmt(st, STMT_PULL_CONFLICTS,
                                 CONFLICT_COLS "WHERE rid=?1 AND " SENT_AT " ORDER BY id");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, rid);
    if (seen_at >= 0)
        sqlite3_bind_int64(s, 2, seen_at);
    int rc = 0, r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_conflict_view c;
        conflict_view(s, &c, record_id);
        if ((rc = cb(user, &c)) != 0)
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = store_fail(st, "read conflicts");
    sqlite3_reset(s);
    return rc;
}

int store_conflict_bytes(struct store *st, int64_t rid, uint64_t seen_at, uint64_t *out)
{
    sqlite3_stmt *s = store_stmt(st, STMT_CONFLICT_BYTES,
                                 "SELECT COALESCE(SUM(COALESCE(length(element_id), 0) + "
                                 "length(winner_value) + length(loser_value)), 0), COUNT(*) "
                                 "FROM conflicts WHERE rid=?1 AND " SENT_AT);
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, rid);
    sqlite3_bind_int64(s, 2, seen_at > INT64_MAX ? INT64_MAX : (int64_t)seen_at);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(s, 0) +
               (uint64_t)sqlite3_column_int64(s, 1) * STORE_CONFLICT_WIRE_FIXED;
    sqlite3_reset(s);
    return r == SQLITE_ROW ? 0 : store_fail(st, "conflict size");
}

static int wanted_collection(const struct store_pull_req *req, uint32_t coll)
{
    if (req->n_collections == 0)
        return 1;
    for (size_t i = 0; i < req->n_collections; i++)
        if (req->collections[i] == coll)
            return 1;
    return 0;
}

int store_pull(struct store *st, const struct store_pull_req *req, store_record_cb record_cb,
               store_conflict_cb conflict_cb, void *user, uint64_t *next_cursor, int *more)
{
    const struct session *sess = req->sess;
    int own = sess->role == SESSION_ROLE_COLLECTOR && sess->own_only;
    uint32_t max_scan = req->max_scan ? req->max_scan : req->limit * 8;
    if (max_scan < req->limit)
        max_scan = req->limit;
    sqlite3_stmt *s;
    if (own)
        s = store_stmt(st, STMT_PULL_FEED_OWN,
                       "SELECT " RECORD_COLS " FROM records r WHERE r.server_seq > ?1 AND "
                       "(r.creator = ?3 OR EXISTS(SELECT 1 FROM record_editors e "
                       "WHERE e.device = ?3 AND e.rid = r.rid)) "
                       "ORDER BY r.server_seq LIMIT ?2");
    else
        s = store_stmt(st, STMT_PULL_FEED,
                       "SELECT " RECORD_COLS " FROM records r WHERE r.server_seq > ?1 "
                       "ORDER BY r.server_seq LIMIT ?2");
    if (!s)
        return FIELDSYNC_ESTORE;
    /* A cursor past INT64_MAX would bind as negative and restart the feed from the top. */
    sqlite3_bind_int64(s, 1, req->cursor > INT64_MAX ? INT64_MAX : (int64_t)req->cursor);
    sqlite3_bind_int64(s, 2, (int64_t)max_scan + 1);
    if (own)
        sqlite3_bind_blob(s, 3, sess->device_id, 16, SQLITE_STATIC);

    uint64_t cursor = req->cursor;
    uint64_t seen_at = req->cursor > INT64_MAX ? INT64_MAX : req->cursor;
    uint32_t scanned = 0, n = 0;
    uint64_t bytes = 0;
    int rc = 0, r;
    *more = 0;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (++scanned > max_scan) {
            *more = 1;
            break;
        }
        struct store_record_view v;
        record_view(s, &v);
        if (!session_in_scope(sess, v.region) || !wanted_collection(req, v.collection)) {
            cursor = v.server_seq;
            continue;
        }
        /* The record and its conflicts, counted before they go in: the page must fit one
         * frame (a record alone always goes: max_record bounds it with its conflicts). */
        int64_t rid = sqlite3_column_int64(s, 0);
        uint64_t size = strlen(v.region) + v.body_len + v.clocks_len + STORE_RECORD_WIRE_FIXED;
        uint64_t csize = 0;
        if (conflict_cb && (rc = store_conflict_bytes(st, rid, seen_at, &csize)) < 0)
            break;
        size += csize;
        if (n == req->limit || (req->max_bytes && n > 0 && bytes + size > req->max_bytes)) {
            *more = 1;
            break;
        }
        if ((rc = record_cb(user, &v)) != 0)
            break;
        n++;
        bytes += size;
        if (conflict_cb &&
            (rc = conflicts_of(st, rid, (int64_t)seen_at, v.id, conflict_cb, user)) != 0)
            break;
        cursor = v.server_seq;
    }
    if (rc == 0 && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = store_fail(st, "read feed");
    sqlite3_reset(s);
    *next_cursor = cursor;
    return rc;
}

/* The record row by id, left on the statement (the caller resets it). 1 row, 0 none, <0. */
static int record_row(struct store *st, const uint8_t id[16], sqlite3_stmt **out)
{
    sqlite3_stmt *s =
        store_stmt(st, STMT_PULL_RECORD, "SELECT " RECORD_COLS " FROM records r WHERE r.id=?1");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
    *out = s;
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        return 1;
    sqlite3_reset(s);
    return r == SQLITE_DONE ? 0 : store_fail(st, "read record");
}

int store_record_get(struct store *st, const uint8_t id[16], store_record_cb cb, void *user)
{
    sqlite3_stmt *s;
    int rc = record_row(st, id, &s);
    if (rc <= 0)
        return rc < 0 ? rc : FIELDSYNC_ENOTFOUND;
    struct store_record_view v;
    record_view(s, &v);
    rc = cb(user, &v);
    sqlite3_reset(s);
    return rc;
}

int store_conflict_list(struct store *st, int open_only, store_conflict_cb cb, void *user)
{
    sqlite3_stmt *s = store_stmt(st, STMT_CONFLICTS_LIST,
                                 "SELECT " CONFLICT_FIELDS ", (SELECT r.id FROM records r "
                                 "WHERE r.rid = conflicts.rid) FROM conflicts "
                                 "WHERE ?1 = 0 OR state = 1 ORDER BY id");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int(s, 1, open_only);
    int rc = 0, r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_conflict_view c;
        conflict_view(s, &c, blob16(s, 12));
        if ((rc = cb(user, &c)) != 0)
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = store_fail(st, "list conflicts");
    sqlite3_reset(s);
    return rc;
}

int store_conflict_walk(struct store *st, const uint8_t id[16], store_conflict_cb cb, void *user)
{
    sqlite3_stmt *s;
    int rc = record_row(st, id, &s);
    if (rc <= 0)
        return rc < 0 ? rc : FIELDSYNC_ENOTFOUND;
    int64_t rid = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return conflicts_of(st, rid, -1, id, cb, user);
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    size_t off = 0;
    if (pbwire_varint(*p, (size_t)(end - *p), &off, out) < 0)
        return FIELDSYNC_ESCHEMA;
    *p += off;
    return 0;
}

static int get_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **out, size_t *len)
{
    uint64_t n;
    if (get_varint(p, end, &n) < 0 || n > (uint64_t)(end - *p))
        return FIELDSYNC_ESCHEMA;
    *out = *p;
    *len = (size_t)n;
    *p += n;
    return 0;
}

int store_hist_decode(const uint8_t **p, const uint8_t *end, struct store_history_op *op)
{
    uint64_t v;
    if (get_varint(p, end, &v) < 0 || v > UINT32_MAX)
        return FIELDSYNC_ESCHEMA;
    op->field = (uint32_t)v;
    if (get_bytes(p, end, &op->element_id, &op->element_id_len) < 0 || *p >= end)
        return FIELDSYNC_ESCHEMA;
    if (op->element_id_len == 0)
        op->element_id = NULL;
    uint8_t flags = *(*p)++;
    op->new_tombstone = flags & 1;
    op->old_tombstone = (flags >> 1) & 1;
    op->had_old = (flags >> 2) & 1;
    op->old_value = NULL;
    op->old_len = 0;
    op->old_hlc = 0;
    op->old_device = NULL;
    if (op->had_old) {
        if (get_varint(p, end, &op->old_hlc) < 0 || end - *p < 16)
            return FIELDSYNC_ESCHEMA;
        op->old_device = *p;
        *p += 16;
        if (get_bytes(p, end, &op->old_value, &op->old_len) < 0)
            return FIELDSYNC_ESCHEMA;
    }
    if (get_varint(p, end, &op->new_hlc) < 0 || get_bytes(p, end, &op->new_value, &op->new_len) < 0)
        return FIELDSYNC_ESCHEMA;
    return 0;
}

/* First later write of one address, copied out of its history row: how the creation's
 * value of that address is recovered (its old value), or proof it was not written then. */
struct later {
    uint32_t field;
    uint8_t eid[16];
    size_t eid_len;
    int had_old, old_tombstone, used;
    uint64_t old_hlc;
    uint8_t old_device[16];
    uint8_t *old;
    size_t old_len;
};

struct replay {
    struct later *v;
    size_t n, cap;
    store_history_cb cb;
    void *user;
    struct store_history_op row; /* the creation's header (records.created_*) */
};

static struct later *later_find(struct replay *r, uint32_t field, const uint8_t *eid,
                                size_t eid_len)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].field == field && r->v[i].eid_len == eid_len &&
            (eid_len == 0 || memcmp(r->v[i].eid, eid, eid_len) == 0))
            return &r->v[i];
    return NULL;
}

static int later_add(struct replay *r, const struct store_history_op *op)
{
    if (op->element_id_len > 16)
        return FIELDSYNC_ESCHEMA;
    if (later_find(r, op->field, op->element_id, op->element_id_len))
        return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct later *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return FIELDSYNC_ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    struct later *l = &r->v[r->n];
    memset(l, 0, sizeof *l);
    l->field = op->field;
    l->eid_len = op->element_id_len;
    if (op->element_id_len)
        memcpy(l->eid, op->element_id, op->element_id_len);
    l->had_old = op->had_old;
    if (op->had_old) {
        l->old_tombstone = op->old_tombstone;
        l->old_hlc = op->old_hlc;
        memcpy(l->old_device, op->old_device, 16);
        if (op->old_len && !(l->old = malloc(op->old_len)))
            return FIELDSYNC_ENOMEM;
        if (op->old_len)
            memcpy(l->old, op->old_value, op->old_len);
        l->old_len = op->old_len;
    }
    r->n++;
    return 0;
}

static int emit_created(struct replay *r, uint32_t field, const uint8_t *eid, size_t eid_len,
                        const uint8_t *value, size_t len, int tombstone, uint64_t hlc)
{
    struct store_history_op op = r->row;
    op.field = field;
    op.element_id = eid_len ? eid : NULL;
    op.element_id_len = eid_len;
    op.had_old = 0;
    op.new_value = value;
    op.new_len = len;
    op.new_tombstone = tombstone;
    op.new_hlc = hlc;
    return r->cb(r->user, &op);
}

/* Each address of the current state: its creation value is the old value of its first later
 * write, or the current value when none overwrote it; no creation value when that first later
 * write found the address empty. */
static int on_state_op(void *user, const struct merge_op *m)
{
    struct replay *r = user;
    struct later *l = later_find(r, m->field, m->element_id, m->element_id ? m->element_id_len : 0);
    if (!l)
        return emit_created(r, m->field, m->element_id, m->element_id ? m->element_id_len : 0,
                            m->value, m->value_len, m->tombstone, m->hlc);
    l->used = 1;
    if (!l->had_old)
        return 0;
    return emit_created(r, l->field, l->eid, l->eid_len, l->old, l->old_len, l->old_tombstone,
                        l->old_hlc);
}

static int collect_later(void *user, const struct store_history_op *op)
{
    return later_add(user, op);
}

/* Walk the history rows of rid (the changes after its creation) in order, ops to cb. */
static int walk_rows(struct store *st, int64_t rid, store_history_cb cb, void *user)
{
    sqlite3_stmt *s = store_stmt(st, STMT_PULL_HISTORY,
                                 "SELECT seq, device, device_seq, hlc, server_ms, ops "
                                 "FROM history WHERE rid=?1 ORDER BY seq");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, rid);
    int r = SQLITE_DONE, rc = 0;
    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_history_op op;
        memset(&op, 0, sizeof op);
        op.seq = (uint64_t)sqlite3_column_int64(s, 0);
        op.device = blob16(s, 1);
        op.device_seq = (uint64_t)sqlite3_column_int64(s, 2);
        op.change_hlc = (uint64_t)sqlite3_column_int64(s, 3);
        op.server_ms = sqlite3_column_int64(s, 4);
        const uint8_t *p = sqlite3_column_blob(s, 5);
        const uint8_t *end = p + sqlite3_column_bytes(s, 5);
        while (p && p < end) {
            if ((rc = store_hist_decode(&p, end, &op)) < 0)
                break;
            if ((rc = cb(user, &op)) != 0)
                break;
        }
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = store_fail(st, "read history");
    sqlite3_reset(s);
    return rc;
}

int store_history_walk(struct store *st, const uint8_t id[16], store_history_cb cb, void *user)
{
    struct replay r;
    memset(&r, 0, sizeof r);
    r.cb = cb;
    r.user = user;
    sqlite3_stmt *rs = store_stmt(st, STMT_HIST_RECORD,
                                  "SELECT rid, collection, body, clocks, creator, created_seq, "
                                  "created_device_seq, created_hlc, created_ms "
                                  "FROM records WHERE id=?1");
    if (!rs)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(rs, 1, id, 16, SQLITE_STATIC);
    int rc = sqlite3_step(rs);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(rs);
        return rc == SQLITE_DONE ? FIELDSYNC_ENOTFOUND : store_fail(st, "read record");
    }
    /* rs stays on the record's row (body, clocks, the creation's header) during the walk. */
    int64_t rid = sqlite3_column_int64(rs, 0);
    if ((rc = walk_rows(st, rid, collect_later, &r)) < 0)
        goto out;
    r.row.seq = (uint64_t)sqlite3_column_int64(rs, 5);
    r.row.device = blob16(rs, 4);
    r.row.device_seq = (uint64_t)sqlite3_column_int64(rs, 6);
    r.row.change_hlc = (uint64_t)sqlite3_column_int64(rs, 7);
    r.row.server_ms = sqlite3_column_int64(rs, 8);
    const struct collection *coll = collections_find((uint32_t)sqlite3_column_int64(rs, 1));
    rc = FIELDSYNC_ESCHEMA;
    if (!coll)
        goto out;
    rc = merge_state_ops(coll->desc, sqlite3_column_blob(rs, 2),
                         (size_t)sqlite3_column_bytes(rs, 2), sqlite3_column_blob(rs, 3),
                         (size_t)sqlite3_column_bytes(rs, 3), on_state_op, &r);
    for (size_t i = 0; rc == 0 && i < r.n; i++)
        if (!r.v[i].used && r.v[i].had_old)
            rc = emit_created(&r, r.v[i].field, r.v[i].eid, r.v[i].eid_len, r.v[i].old,
                              r.v[i].old_len, r.v[i].old_tombstone, r.v[i].old_hlc);
    if (rc != 0)
        goto out;
    rc = walk_rows(st, rid, cb, user);
out:
    sqlite3_reset(rs);
    for (size_t i = 0; i < r.n; i++)
        free(r.v[i].old);
    free(r.v);
    return rc;
}
