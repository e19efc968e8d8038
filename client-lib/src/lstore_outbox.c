/*
 * lstore_outbox: the write side of sync in the local store: the outbox of pending field
 * operations (one entry per address: repeated edits of a field before a sync travel once),
 * numbering them into changes with device sequence numbers, and the changes' delivery state
 * (acknowledged, rejected, renumbered after a clock correction). Schema: lstore.c. Runs inside
 * the caller's transactions.
 */
#include "lstore_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- outbox ---- */

int lstore_outbox_upsert(fieldsync_client *c, const struct lstore_op *op)
{
    sqlite3_stmt *s = lstore__stmt(c, S_OUTBOX_UPSERT);
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, op->record_id, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, op->field);
    lstore__bind_blob(s, 3, op->element_id, op->element_id_len);
    int rc =
        lstore__bind_sealed(c, s, 4, "outbox.value", op->record_id, op->value, op->value_len, WR_A);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(s, 5, op->tombstone);
    sqlite3_bind_int64(s, 6, (int64_t)op->hlc);
    sqlite3_bind_int64(s, 7, (int64_t)op->base_hlc);
    if (op->base_hlc)
        sqlite3_bind_blob(s, 8, op->base_device, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, (int64_t)op->resolves);
    rc = lstore__step_done(c, s, "write outbox");
    sqlite3_reset(s);
    return rc;
}

static int row_to_op(fieldsync_client *c, sqlite3_stmt *s, struct lstore_op *op)
{
    memset(op, 0, sizeof *op);
    op->rowid = sqlite3_column_int64(s, 0);
    lstore__copy_id(op->record_id, s, 1);
    op->field = (uint32_t)sqlite3_column_int64(s, 2);
    op->element_id = sqlite3_column_blob(s, 3);
    op->element_id_len = (size_t)sqlite3_column_bytes(s, 3);
    if (!op->element_id_len)
        op->element_id = NULL;
    op->tombstone = sqlite3_column_int(s, 5);
    op->hlc = (uint64_t)sqlite3_column_int64(s, 6);
    op->base_hlc = (uint64_t)sqlite3_column_int64(s, 7);
    lstore__copy_id(op->base_device, s, 8);
    op->seq = (uint64_t)sqlite3_column_int64(s, 9);
    op->resolves = (uint64_t)sqlite3_column_int64(s, 10);
    return lstore__column_open(c, s, 4, "outbox.value", op->record_id, RD_OP, &op->value,
                               &op->value_len);
}

static int walk_ops(fieldsync_client *c, sqlite3_stmt *s, lstore_op_cb cb, void *user)
{
    int rc;
    struct lstore_op op;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = row_to_op(c, s, &op)) < 0 || (rc = cb(c, &op, user)) != 0) {
            sqlite3_reset(s);
            return rc;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : lstore__fail(c, "read outbox");
    sqlite3_reset(s);
    return rc;
}

int lstore_outbox_by_seq(fieldsync_client *c, uint64_t seq, lstore_op_cb cb, void *user)
{
    sqlite3_stmt *s = lstore__stmt(c, S_OUTBOX_BY_SEQ);
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, (int64_t)seq);
    return walk_ops(c, s, cb, user);
}

int lstore_outbox_pending(fieldsync_client *c, lstore_op_cb cb, void *user)
{
    sqlite3_stmt *s =
        lstore__prep(c, "SELECT rowid, record_id, field, element_id, value, tombstone, "
                        "hlc, base_hlc, base_device, seq, resolves FROM outbox "
                        "WHERE seq = 0 ORDER BY record_id, field, element_id");
    if (!s)
        return FIELDSYNC_ESTORE;
    int rc = walk_ops(c, s, cb, user);
    sqlite3_finalize(s);
    return rc;
}

int lstore_outbox_count(fieldsync_client *c, const uint8_t *record_id, uint64_t *entries,
                        uint64_t *records)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s =
        /* Pending = outbox entries not set aside, plus new records' body changes in flight
         * (their entries went into the body). */
        lstore__prep(c, "WITH p(record_id) AS (SELECT record_id FROM outbox o WHERE NOT EXISTS "
                        "(SELECT 1 FROM changes ch WHERE ch.seq = o.seq AND ch.state = 1) "
                        "UNION ALL SELECT record_id FROM changes WHERE state = 0 AND body IS NOT "
                        "NULL) SELECT count(*), count(DISTINCT record_id) FROM p "
                        "WHERE ?1 IS NULL OR record_id = ?1");
    if (!s)
        return rc;
    if (record_id)
        sqlite3_bind_blob(s, 1, record_id, 16, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        if (entries)
            *entries = (uint64_t)sqlite3_column_int64(s, 0);
        if (records)
            *records = (uint64_t)sqlite3_column_int64(s, 1);
        rc = 0;
    } else {
        rc = lstore__fail(c, "count outbox");
    }
    sqlite3_finalize(s);
    return rc;
}

/* Number the pending entries of every record into changes (see sync.c). For a record never
 * sent, one change carrying a snapshot of its body; otherwise changes of at most max_ops
 * entries. Runs inside the caller's transaction. */
int lstore_number_pending(fieldsync_client *c, uint32_t max_ops, uint64_t *numbered,
                          lstore_body_cb on_body, void *user)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *recs = NULL, *body = NULL, *chunk = NULL, *meta = NULL, *drop = NULL;
    *numbered = 0;
    if (max_ops == 0)
        max_ops = 256;
    recs = lstore__prep(
        c, "SELECT r.id, r.collection, r.region, r.synced, r.body FROM records r "
           "WHERE r.id = (SELECT record_id FROM outbox INDEXED BY outbox_pending WHERE seq = 0 "
           "ORDER BY record_id LIMIT 1)");
    chunk =
        lstore__prep(c, "UPDATE outbox SET seq = ?1 WHERE rowid IN (SELECT rowid FROM outbox "
                        "WHERE record_id = ?2 AND seq = 0 ORDER BY field, element_id LIMIT ?3)");
    meta = lstore__prep(
        c, "SELECT count(*), max(hlc), max(field = 0 AND length(value) > 0) FROM outbox "
           "WHERE seq = ?1 AND seq > 0");
    drop = lstore__prep(c, "DELETE FROM outbox WHERE record_id = ?1 AND seq = 0 AND resolves = 0 "
                           "AND field <> 0");
    body = lstore__prep(c, "UPDATE records SET synced = 1 WHERE id = ?1");
    if (!recs || !chunk || !meta || !drop || !body)
        goto out;
    for (;;) {
        sqlite3_reset(recs);
        int r = sqlite3_step(recs);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = lstore__fail(c, "number changes");
            goto out;
        }
        struct lstore_change ch;
        memset(&ch, 0, sizeof ch);
        lstore__copy_id(ch.record_id, recs, 0);
        ch.collection = (uint32_t)sqlite3_column_int64(recs, 1);
        lstore__copy_text(ch.region, sizeof ch.region, sqlite3_column_text(recs, 2));
        int synced = sqlite3_column_int(recs, 3);
        if ((rc = lstore_take_seq(c, &ch.seq)) < 0)
            goto out;
        if (!synced) {
            /* New record: the whole body at the greatest clock of its pending edits. The
             * entries it covers go (field 0 — a delete — stays as an op of this change). */
            if ((rc = lstore__column_open(c, recs, 4, "records.body", ch.record_id, RD_BODY,
                                          &ch.body, &ch.body_len)) < 0)
                goto out;
        }
        if (!synced) {
            sqlite3_stmt *mx =
                lstore__prep(c, "SELECT max(hlc) FROM outbox WHERE record_id = ?1 AND "
                                "seq = 0");
            if (!mx) {
                rc = FIELDSYNC_ESTORE;
                goto out;
            }
            sqlite3_bind_blob(mx, 1, ch.record_id, 16, SQLITE_STATIC);
            if (sqlite3_step(mx) == SQLITE_ROW)
                ch.hlc = (uint64_t)sqlite3_column_int64(mx, 0);
            sqlite3_finalize(mx);
            sqlite3_reset(drop);
            sqlite3_bind_blob(drop, 1, ch.record_id, 16, SQLITE_STATIC);
            if ((rc = lstore__step_done(c, drop, "drop covered entries")) < 0)
                goto out;
            sqlite3_reset(body);
            sqlite3_bind_blob(body, 1, ch.record_id, 16, SQLITE_STATIC);
            if ((rc = lstore__step_done(c, body, "mark synced")) < 0)
                goto out;
        }
        sqlite3_reset(chunk);
        sqlite3_bind_int64(chunk, 1, (int64_t)ch.seq);
        sqlite3_bind_blob(chunk, 2, ch.record_id, 16, SQLITE_STATIC);
        sqlite3_bind_int64(chunk, 3, max_ops);
        if ((rc = lstore__step_done(c, chunk, "number entries")) < 0)
            goto out;
        sqlite3_reset(meta);
        sqlite3_bind_int64(meta, 1, (int64_t)ch.seq);
        if (sqlite3_step(meta) == SQLITE_ROW) {
            ch.nops = (uint32_t)sqlite3_column_int64(meta, 0);
            uint64_t h = (uint64_t)sqlite3_column_int64(meta, 1);
            if (h > ch.hlc)
                ch.hlc = h;
            ch.delete_record = sqlite3_column_int(meta, 2);
        }
        if ((rc = lstore_change_add(c, &ch)) < 0)
            goto out;
        (*numbered)++;
        if (ch.body && on_body) {
            uint8_t rid[16];
            memcpy(rid, ch.record_id, 16);
            sqlite3_reset(recs); /* the body view is no longer needed */
            if ((rc = on_body(c, rid, ch.hlc, user)) < 0)
                goto out;
        }
    }
    rc = 0;
out:
    sqlite3_finalize(recs);
    sqlite3_finalize(chunk);
    sqlite3_finalize(meta);
    sqlite3_finalize(drop);
    sqlite3_finalize(body);
    return rc;
}

/* ---- changes ---- */

int lstore_change_add(fieldsync_client *c, const struct lstore_change *ch)
{
    sqlite3_stmt *s = lstore__stmt(c, S_CHANGE_ADD);
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, (int64_t)ch->seq);
    sqlite3_bind_blob(s, 2, ch->record_id, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, ch->collection);
    sqlite3_bind_text(s, 4, ch->region, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, (int64_t)ch->hlc);
    if (ch->body) {
        int rc = lstore__bind_sealed(c, s, 6, "changes.body", ch->record_id, ch->body, ch->body_len,
                                     WR_A);
        if (rc < 0)
            return rc;
    }
    sqlite3_bind_int(s, 7, ch->delete_record);
    sqlite3_bind_int(s, 8, ch->restamped);
    sqlite3_bind_int64(s, 9, ch->nops);
    int rc = lstore__step_done(c, s, "write change");
    sqlite3_reset(s);
    return rc;
}

int lstore_changes_unacked(fieldsync_client *c, lstore_change_cb cb, void *user)
{
    /* Collect the seqs first: the callback reads each change with its own statement. */
    sqlite3_stmt *s = lstore__stmt(c, S_CHANGES_UNACKED);
    int rc;
    if (!s)
        return FIELDSYNC_ESTORE;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct lstore_change ch;
        memset(&ch, 0, sizeof ch);
        ch.seq = (uint64_t)sqlite3_column_int64(s, 0);
        if ((rc = cb(c, &ch, user)) != 0) {
            sqlite3_reset(s);
            return rc;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : lstore__fail(c, "list changes");
    sqlite3_reset(s);
    return rc;
}

int lstore_change_get(fieldsync_client *c, uint64_t seq, struct lstore_change *ch)
{
    sqlite3_stmt *s = lstore__stmt(c, S_CHANGE_GET);
    int rc;
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, (int64_t)seq);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return FIELDSYNC_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return lstore__fail(c, "read change");
    memset(ch, 0, sizeof *ch);
    ch->seq = seq;
    lstore__copy_id(ch->record_id, s, 1);
    ch->collection = (uint32_t)sqlite3_column_int64(s, 2);
    lstore__copy_text(ch->region, sizeof ch->region, sqlite3_column_text(s, 3));
    ch->hlc = (uint64_t)sqlite3_column_int64(s, 4);
    if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
        if ((rc = lstore__column_open(c, s, 5, "changes.body", ch->record_id, RD_CHANGE, &ch->body,
                                      &ch->body_len)) < 0) {
            sqlite3_reset(s);
            return rc;
        }
        if (!ch->body)
            ch->body = (const uint8_t *)"";
    }
    ch->delete_record = sqlite3_column_int(s, 6);
    ch->restamped = sqlite3_column_int(s, 7);
    ch->nops = (uint32_t)sqlite3_column_int64(s, 8);
    return 0;
}

static int exec_seq(fieldsync_client *c, const char *sql, uint64_t seq)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, sql);
    if (!s)
        return rc;
    sqlite3_bind_int64(s, 1, (int64_t)seq);
    rc = lstore__step_done(c, s, "update changes");
    sqlite3_finalize(s);
    return rc;
}

int lstore_change_delivered(fieldsync_client *c, uint64_t seq)
{
    int rc;
    if ((rc = exec_seq(c,
                       "UPDATE conflicts SET state = 3 WHERE id IN (SELECT resolves FROM outbox "
                       "WHERE seq = ?1 AND seq > 0 AND resolves <> 0)",
                       seq)) < 0)
        return rc;
    if ((rc = exec_seq(c, "DELETE FROM outbox WHERE seq = ?1 AND seq > 0", seq)) < 0)
        return rc;
    return exec_seq(c, "DELETE FROM changes WHERE seq = ?1", seq);
}

int lstore_change_rejected(fieldsync_client *c, uint64_t seq, int code, const char *msg)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "UPDATE changes SET state = 1, err_code = ?2, err_msg = ?3 "
                                      "WHERE seq = ?1");
    if (!s)
        return rc;
    sqlite3_bind_int64(s, 1, (int64_t)seq);
    sqlite3_bind_int(s, 2, code);
    sqlite3_bind_text(s, 3, msg ? msg : "", -1, SQLITE_STATIC);
    rc = lstore__step_done(c, s, "mark change rejected");
    sqlite3_finalize(s);
    if (rc == 0)
        rc = exec_seq(c,
                      "UPDATE conflicts SET state = 1 WHERE state = 2 AND id IN (SELECT "
                      "resolves FROM outbox WHERE seq = ?1 AND seq > 0 AND resolves <> 0)",
                      seq);
    return rc;
}

int lstore_change_renumber(fieldsync_client *c, uint64_t seq, uint64_t new_seq, uint64_t hlc)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "UPDATE changes SET seq = ?2, hlc = ?3, restamped = 1 "
                                      "WHERE seq = ?1");
    sqlite3_stmt *o =
        lstore__prep(c, "UPDATE outbox SET seq = ?2, hlc = ?3 WHERE seq = ?1 AND seq > 0");
    if (!s || !o)
        goto out;
    sqlite3_bind_int64(s, 1, (int64_t)seq);
    sqlite3_bind_int64(s, 2, (int64_t)new_seq);
    sqlite3_bind_int64(s, 3, (int64_t)hlc);
    sqlite3_bind_int64(o, 1, (int64_t)seq);
    sqlite3_bind_int64(o, 2, (int64_t)new_seq);
    sqlite3_bind_int64(o, 3, (int64_t)hlc);
    if ((rc = lstore__step_done(c, s, "renumber change")) == 0)
        rc = lstore__step_done(c, o, "renumber outbox");
out:
    sqlite3_finalize(s);
    sqlite3_finalize(o);
    return rc;
}

int lstore_rejected_list(fieldsync_client *c, fieldsync_rejection_cb cb, void *user)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "SELECT seq, record_id, err_code, err_msg, nops FROM changes "
                                      "WHERE state = 1 ORDER BY seq");
    if (!s)
        return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        fieldsync_rejection r;
        memset(&r, 0, sizeof r);
        r.device_seq = (uint64_t)sqlite3_column_int64(s, 0);
        lstore__copy_id(r.record_id, s, 1);
        r.code = sqlite3_column_int(s, 2);
        r.message = (const char *)sqlite3_column_text(s, 3);
        if (!r.message)
            r.message = "";
        r.ops = (uint32_t)sqlite3_column_int64(s, 4);
        if (cb(&r, user) != 0) {
            sqlite3_finalize(s);
            return FIELDSYNC_ECANCELED;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : lstore__fail(c, "list rejected");
    sqlite3_finalize(s);
    return rc;
}

int lstore_rejected_dismiss(fieldsync_client *c, uint64_t seq)
{
    int rc;
    if ((rc = lstore_begin(c)) < 0)
        return rc;
    rc = exec_seq(c, "DELETE FROM changes WHERE seq = ?1 AND state = 1", seq);
    if (rc == 0 && sqlite3_changes(c->st->db) == 0)
        rc = fieldsync__fail(c, FIELDSYNC_ENOTFOUND, "no rejected change %llu",
                             (unsigned long long)seq);
    if (rc == 0)
        rc = exec_seq(c, "DELETE FROM outbox WHERE seq = ?1 AND seq > 0", seq);
    if (rc == 0)
        rc = lstore_commit(c);
    if (rc < 0)
        lstore_rollback(c);
    return rc;
}
