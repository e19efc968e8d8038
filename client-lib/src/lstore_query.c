/*
 * lstore_query: the read side of the local store — counts, record lists and filters,
 * rejected changes, conflicts (see lstore.c for the schema). Callbacks run while the statement
 * steps: the public API forbids calls on the same handle from inside them.
 */
#include "lstore_internal.h"

#include <stdio.h>
#include <string.h>

static int count1(fieldsync_client *c, const char *sql, uint64_t *n)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, sql);
    if (!s)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *n = (uint64_t)sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = lstore__fail(c, "count");
    }
    sqlite3_finalize(s);
    return rc;
}

int lstore_count_rejected(fieldsync_client *c, uint64_t *n)
{
    return count1(c, "SELECT count(*) FROM changes WHERE state = 1", n);
}

int lstore_count_conflicts(fieldsync_client *c, uint64_t *open)
{
    return count1(c, "SELECT count(*) FROM conflicts WHERE state = 1", open);
}

int lstore_count_records(fieldsync_client *c, uint64_t *n)
{
    return count1(c, "SELECT count(*) FROM records WHERE deleted = 0", n);
}

/* ---- conflicts ---- */

int lstore_conflict_put(fieldsync_client *c, const fieldsync_conflict *cf)
{
    sqlite3_stmt *s = lstore__stmt(c, S_CONFLICT_PUT);
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, (int64_t)cf->id);
    sqlite3_bind_blob(s, 2, cf->record_id, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, cf->field);
    lstore__bind_blob(s, 4, cf->element_id, cf->element_id_len);
    int rc = lstore__bind_sealed(c, s, 5, "conflicts.winner", cf->record_id, cf->winner_value,
                                 cf->winner_len, WR_A);
    if (rc == 0)
        rc = lstore__bind_sealed(c, s, 8, "conflicts.loser", cf->record_id, cf->loser_value,
                                 cf->loser_len, WR_B);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 6, (int64_t)cf->winner_hlc);
    sqlite3_bind_blob(s, 7, cf->winner_device, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, (int64_t)cf->loser_hlc);
    sqlite3_bind_blob(s, 10, cf->loser_device, 16, SQLITE_STATIC);
    sqlite3_bind_int(s, 11, cf->state);
    sqlite3_bind_blob(s, 12, cf->resolved_by, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 13, (int64_t)cf->resolved_hlc);
    rc = lstore__step_done(c, s, "write conflict");
    sqlite3_reset(s);
    return rc;
}

#define CONFLICT_COLS                                                                              \
    "id, record_id, field, element_id, winner_value, winner_hlc, winner_device, loser_value, "     \
    "loser_hlc, loser_device, state, resolved_by, resolved_hlc"

/* values: open the winner and loser values (views valid until the next row); otherwise they
 * are left out. */
static int row_to_conflict(fieldsync_client *c, sqlite3_stmt *s, fieldsync_conflict *cf, int values)
{
    memset(cf, 0, sizeof *cf);
    cf->id = (uint64_t)sqlite3_column_int64(s, 0);
    lstore__copy_id(cf->record_id, s, 1);
    cf->field = (uint32_t)sqlite3_column_int64(s, 2);
    cf->element_id_len = (size_t)sqlite3_column_bytes(s, 3);
    cf->element_id = cf->element_id_len ? sqlite3_column_blob(s, 3) : NULL;
    cf->winner_hlc = (uint64_t)sqlite3_column_int64(s, 5);
    lstore__copy_id(cf->winner_device, s, 6);
    cf->loser_hlc = (uint64_t)sqlite3_column_int64(s, 8);
    lstore__copy_id(cf->loser_device, s, 9);
    cf->state = sqlite3_column_int(s, 10);
    lstore__copy_id(cf->resolved_by, s, 11);
    cf->resolved_hlc = (uint64_t)sqlite3_column_int64(s, 12);
    if (!values)
        return 0;
    int rc = lstore__column_open(c, s, 4, "conflicts.winner", cf->record_id, RD_WINNER,
                                 &cf->winner_value, &cf->winner_len);
    if (rc == 0)
        rc = lstore__column_open(c, s, 7, "conflicts.loser", cf->record_id, RD_LOSER,
                                 &cf->loser_value, &cf->loser_len);
    return rc;
}

int lstore_conflict_get(fieldsync_client *c, uint64_t id, fieldsync_conflict *cf, uint8_t eid[16])
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "SELECT " CONFLICT_COLS " FROM conflicts WHERE id = ?1");
    if (!s)
        return rc;
    sqlite3_bind_int64(s, 1, (int64_t)id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        /* The caller only needs the address, the state and the record: no value views. */
        row_to_conflict(c, s, cf, 0);
        if (cf->element_id_len > 16)
            cf->element_id_len = 16;
        if (cf->element_id_len)
            memcpy(eid, cf->element_id, cf->element_id_len);
        cf->element_id = cf->element_id_len ? eid : NULL;
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = fieldsync__fail(c, FIELDSYNC_ENOTFOUND, "no conflict %llu", (unsigned long long)id);
    } else {
        rc = lstore__fail(c, "read conflict");
    }
    sqlite3_finalize(s);
    return rc;
}

int lstore_conflict_set_state(fieldsync_client *c, uint64_t id, int state)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "UPDATE conflicts SET state = ?2 WHERE id = ?1");
    if (!s)
        return rc;
    sqlite3_bind_int64(s, 1, (int64_t)id);
    sqlite3_bind_int(s, 2, state);
    rc = lstore__step_done(c, s, "update conflict");
    sqlite3_finalize(s);
    return rc;
}

int lstore_conflicts_list(fieldsync_client *c, fieldsync_conflict_cb cb, void *user)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s =
        lstore__prep(c, "SELECT " CONFLICT_COLS " FROM conflicts ORDER BY state <> 1, id");
    if (!s)
        return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        fieldsync_conflict cf;
        if ((rc = row_to_conflict(c, s, &cf, 1)) < 0) {
            sqlite3_finalize(s);
            return rc;
        }
        if (cb(&cf, user) != 0) {
            sqlite3_finalize(s);
            return FIELDSYNC_ECANCELED;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : lstore__fail(c, "list conflicts");
    sqlite3_finalize(s);
    return rc;
}

/* ---- queries ---- */

/* The columns row_to_record reads. pending: outbox entries not set aside, plus a new record's
 * body change in flight; rejected: changes set aside. */
#define RECORD_COLS                                                                                \
    "r.id, r.collection, r.region, r.commune, r.date, r.body, r.deleted, r.creator, "              \
    "r.updated_hlc, (SELECT count(*) FROM outbox o WHERE o.record_id = r.id AND NOT EXISTS "       \
    "(SELECT 1 FROM changes ch WHERE ch.seq = o.seq AND ch.state = 1)) + (SELECT count(*) FROM "   \
    "changes ch WHERE ch.record_id = r.id AND ch.state = 0 AND ch.body IS NOT NULL), "             \
    "(SELECT count(*) FROM changes ch WHERE ch.record_id = r.id AND ch.state = 1)"

static sqlite3_stmt *list_stmt(fieldsync_client *c, const fieldsync_filter *f, int count)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM records r WHERE (?1 = 0 OR r.collection = ?1) "
             "AND (?2 IS NULL OR r.region = ?2) AND (?3 IS NULL OR r.commune = ?3) "
             "AND (?4 = 0 OR r.date >= ?4) AND (?5 = 0 OR r.date <= ?5) "
             "AND ((?4 = 0 AND ?5 = 0) OR r.date <> 0) AND (?6 OR r.deleted = 0) "
             "AND (?7 = 0 OR EXISTS (SELECT 1 FROM outbox o WHERE o.record_id = r.id) OR EXISTS "
             "(SELECT 1 FROM changes ch WHERE ch.record_id = r.id AND ch.state = 0)) "
             "%s LIMIT ?8",
             count ? "count(*)" : RECORD_COLS, count ? "" : "ORDER BY r.id");
    sqlite3_stmt *s = lstore__prep(c, sql);
    if (!s)
        return NULL;
    sqlite3_bind_int64(s, 1, f ? f->collection : 0);
    if (f && f->region && *f->region)
        sqlite3_bind_text(s, 2, f->region, -1, SQLITE_STATIC);
    if (f && f->commune && *f->commune)
        sqlite3_bind_text(s, 3, f->commune, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, f ? f->date_from : 0);
    sqlite3_bind_int64(s, 5, f ? f->date_to : 0);
    sqlite3_bind_int(s, 6, f ? f->include_deleted != 0 : 0);
    sqlite3_bind_int(s, 7, f ? f->pending_only != 0 : 0);
    sqlite3_bind_int64(s, 8, f && f->limit && !count ? (int64_t)f->limit : -1);
    return s;
}

static int row_to_record(fieldsync_client *c, sqlite3_stmt *s, fieldsync_record *r)
{
    memset(r, 0, sizeof *r);
    lstore__copy_id(r->id, s, 0);
    r->collection = (uint32_t)sqlite3_column_int64(s, 1);
    r->region = (const char *)sqlite3_column_text(s, 2);
    r->commune = (const char *)sqlite3_column_text(s, 3);
    if (!r->region)
        r->region = "";
    if (!r->commune)
        r->commune = "";
    r->date = (uint32_t)sqlite3_column_int64(s, 4);
    r->deleted = sqlite3_column_int(s, 6);
    lstore__copy_id(r->creator, s, 7);
    r->updated_hlc = (uint64_t)sqlite3_column_int64(s, 8);
    r->pending = (uint32_t)sqlite3_column_int64(s, 9);
    r->rejected = (uint32_t)sqlite3_column_int64(s, 10);
    return lstore__column_open(c, s, 5, "records.body", r->id, RD_BODY, &r->body, &r->body_len);
}

int lstore_list(fieldsync_client *c, const fieldsync_filter *f, fieldsync_record_cb cb, void *user,
                uint64_t *count)
{
    int rc;
    sqlite3_stmt *s = list_stmt(c, f, cb == NULL);
    if (!s)
        return FIELDSYNC_ESTORE;
    if (!cb) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *count = (uint64_t)sqlite3_column_int64(s, 0);
            rc = 0;
        } else {
            rc = lstore__fail(c, "count records");
        }
        sqlite3_finalize(s);
        return rc;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        fieldsync_record r;
        if ((rc = row_to_record(c, s, &r)) < 0) {
            sqlite3_finalize(s);
            return rc;
        }
        if (cb(&r, user) != 0) {
            sqlite3_finalize(s);
            return FIELDSYNC_ECANCELED;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : lstore__fail(c, "list records");
    sqlite3_finalize(s);
    lstore_idle(c); /* no plaintext left in the scratch */
    return rc;
}

int lstore_get_public(fieldsync_client *c, const uint8_t id[16], fieldsync_record **out)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "SELECT " RECORD_COLS " FROM records r WHERE r.id = ?1");
    *out = NULL;
    if (!s)
        return rc;
    sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        char text[FIELDSYNC_ID_STR_LEN + 1];
        fieldsync_id_format(id, text);
        rc = fieldsync__fail(c, FIELDSYNC_ENOTFOUND, "no record %s", text);
    } else if (rc != SQLITE_ROW) {
        rc = lstore__fail(c, "read record");
    } else {
        fieldsync_record r;
        rc = row_to_record(c, s, &r);
        size_t rl = strlen(r.region) + 1, cl = strlen(r.commune) + 1;
        /* One block: struct, body, region, commune. */
        uint8_t *blk = rc < 0 ? NULL : fieldsync__alloc(c, sizeof r + r.body_len + rl + cl);
        if (rc < 0) {
            /* message set */
        } else if (!blk) {
            rc = fieldsync__fail(c, FIELDSYNC_ENOMEM, "out of memory");
        } else {
            fieldsync_record *o = (fieldsync_record *)blk;
            uint8_t *p = blk + sizeof r;
            *o = r;
            if (r.body_len)
                memcpy(p, r.body, r.body_len);
            o->body = p;
            p += r.body_len;
            memcpy(p, r.region, rl);
            o->region = (const char *)p;
            p += rl;
            memcpy(p, r.commune, cl);
            o->commune = (const char *)p;
            *out = o;
            rc = 0;
        }
    }
    sqlite3_finalize(s);
    return rc;
}
