/*
 * lstore: the client's local store, one SQLite file in WAL mode: opening, schema, device
 * state, records (reads: lstore_query.c; outbox and changes: lstore_outbox.c). The lstore*.c
 * files are the only ones of the library that see sqlite3.h (through lstore_internal.h), and
 * lstore__fail here is the one place SQLite's errors are translated (to FIELDSYNC_ESTORE or
 * FIELDSYNC_ENOMEM, SQLite's message and code kept in the handle's message).
 *
 * Schema (PRAGMA user_version = 1):
 *   device    one row: identity, credential, server, CA, HLC, clock offset, cursor, next seq
 *   records   merged state per record (body + clock blob from merge.h) and indexed columns
 *   outbox    field operations not yet acknowledged. seq = 0: pending, at most one per
 *             address (partial unique index), so repeated edits of a field travel once;
 *             seq > 0: numbered into a change (kept unchanged for every resend)
 *   changes   numbered changes awaiting their PushAck (state 0) or rejected (state 1); a new
 *             record's change holds a snapshot of its body
 *   conflicts conflicts learned from pulls, with local resolution state
 * Invariants: a change's content never changes once numbered; the pull cursor is written in
 * the same transaction as its page. Statements are prepared once per handle.
 *
 * Encryption at rest (opened with a store key): every column holding report content or a
 * secret is sealed value by value (seal.h): records.body, outbox.value, changes.body,
 * conflicts.winner_value and loser_value, device.credential; the AAD binds each to its column
 * and, where the row has one, its record id. device.key_check holds a sealed known text, written
 * when the store is created with a key, checked at every open (FIELDSYNC_EAUTH for a wrong,
 * missing or unexpected key) before anything else is read. Left clear, for SQL to filter and
 * count: ids and element ids, clocks (HLCs and the per-field clock blob), collection, region,
 * commune and date index columns, counters and states, the device's name, role, regions, server
 * and CA, rejection messages from the server; an empty value stays empty. key_check was added
 * to the unreleased v1 schema in place (no version bump). Reads return views into per-handle
 * scratch (lstore_internal.h) rather than into SQLite's memory when the store is keyed; the
 * sealing helpers and the key check are in lstore_seal.c.
 */
#include "lstore_internal.h"

#include "collections.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static const char *const stmt_sql[S_COUNT] = {
    [S_SET_HLC] = "UPDATE device SET hlc_last = max(hlc_last, ?1)",
    [S_DEVICE_GET] = "SELECT enrolled, id, credential, name, role, regions, own_only, next_seq, "
                     "hlc_last, clock_offset, cursor, last_sync_ms, host, port FROM device",
    [S_RECORD_GET] = "SELECT collection, region, deleted, synced, creator, updated_hlc, body, "
                     "clocks FROM records WHERE id = ?1",
    [S_RECORD_PUT] = "INSERT INTO records(id, collection, region, commune, date, body, clocks, "
                     "deleted, synced, creator, updated_hlc) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                     "?10,?11) ON CONFLICT(id) DO UPDATE SET commune = excluded.commune, "
                     "date = excluded.date, body = excluded.body, clocks = excluded.clocks, "
                     "deleted = excluded.deleted, synced = excluded.synced, "
                     "updated_hlc = max(updated_hlc, excluded.updated_hlc)",
    [S_OUTBOX_UPSERT] =
        "INSERT INTO outbox(record_id, field, element_id, value, tombstone, hlc, base_hlc, "
        "base_device, seq, resolves) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,0,?9) "
        "ON CONFLICT(record_id, field, element_id) WHERE seq = 0 DO UPDATE SET "
        "value = excluded.value, tombstone = excluded.tombstone, hlc = excluded.hlc, "
        "resolves = max(resolves, excluded.resolves)",
    [S_OUTBOX_BY_SEQ] =
        "SELECT rowid, record_id, field, element_id, value, tombstone, hlc, "
        "base_hlc, base_device, seq, resolves FROM outbox WHERE seq = ?1 AND seq > 0 "
        "ORDER BY field, element_id",
    [S_CHANGE_ADD] = "INSERT INTO changes(seq, record_id, collection, region, hlc, body, "
                     "delete_record, restamped, nops) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    [S_CHANGES_UNACKED] = "SELECT seq FROM changes WHERE state = 0 ORDER BY seq",
    [S_CHANGE_GET] = "SELECT seq, record_id, collection, region, hlc, body, delete_record, "
                     "restamped, nops FROM changes WHERE seq = ?1",
    [S_CONFLICT_PUT] =
        "INSERT INTO conflicts(id, record_id, field, element_id, winner_value, winner_hlc, "
        "winner_device, loser_value, loser_hlc, loser_device, state, resolved_by, resolved_hlc) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13) ON CONFLICT(id) DO UPDATE SET "
        "winner_value = excluded.winner_value, winner_hlc = excluded.winner_hlc, "
        "winner_device = excluded.winner_device, loser_value = excluded.loser_value, "
        "loser_hlc = excluded.loser_hlc, loser_device = excluded.loser_device, "
        "state = CASE WHEN state = 2 AND excluded.state = 1 THEN 2 ELSE excluded.state END, "
        "resolved_by = excluded.resolved_by, resolved_hlc = excluded.resolved_hlc",
};

static const char schema_v1[] =
    "CREATE TABLE device(k INTEGER PRIMARY KEY CHECK (k = 1), enrolled INT NOT NULL DEFAULT 0,"
    " id BLOB, credential BLOB, name TEXT NOT NULL DEFAULT '', role INT NOT NULL DEFAULT 0,"
    " regions TEXT NOT NULL DEFAULT '', own_only INT NOT NULL DEFAULT 0,"
    " next_seq INT NOT NULL DEFAULT 1, hlc_last INT NOT NULL DEFAULT 0,"
    " clock_offset INT NOT NULL DEFAULT 0, cursor INT NOT NULL DEFAULT 0,"
    " last_sync_ms INT NOT NULL DEFAULT 0, host TEXT NOT NULL DEFAULT '',"
    " port INT NOT NULL DEFAULT 0, ca_pem BLOB, key_check BLOB);"
    "INSERT INTO device(k) VALUES(1);"
    "CREATE TABLE records(id BLOB PRIMARY KEY, collection INT NOT NULL, region TEXT NOT NULL,"
    " commune TEXT NOT NULL DEFAULT '', date INT NOT NULL DEFAULT 0, body BLOB NOT NULL,"
    " clocks BLOB NOT NULL, deleted INT NOT NULL DEFAULT 0, synced INT NOT NULL DEFAULT 0,"
    " creator BLOB, updated_hlc INT NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX records_region ON records(region, commune, date);"
    "CREATE INDEX records_date ON records(date);"
    "CREATE TABLE outbox(rowid INTEGER PRIMARY KEY, record_id BLOB NOT NULL,"
    " field INT NOT NULL, element_id BLOB NOT NULL, value BLOB NOT NULL,"
    " tombstone INT NOT NULL, hlc INT NOT NULL, base_hlc INT NOT NULL, base_device BLOB,"
    " seq INT NOT NULL DEFAULT 0, resolves INT NOT NULL DEFAULT 0);"
    /* Lookups by number write "seq = ?1 AND seq > 0" to use outbox_seq; pending ones (seq = 0)
     * then use outbox_pending, in record order. */
    "CREATE UNIQUE INDEX outbox_pending ON outbox(record_id, field, element_id) WHERE seq = 0;"
    "CREATE INDEX outbox_seq ON outbox(seq) WHERE seq > 0;"
    "CREATE INDEX outbox_record ON outbox(record_id, seq);"
    "CREATE TABLE changes(seq INTEGER PRIMARY KEY, record_id BLOB NOT NULL,"
    " collection INT NOT NULL, region TEXT NOT NULL, hlc INT NOT NULL, body BLOB,"
    " delete_record INT NOT NULL DEFAULT 0, restamped INT NOT NULL DEFAULT 0,"
    " nops INT NOT NULL DEFAULT 0, state INT NOT NULL DEFAULT 0,"
    " err_code INT NOT NULL DEFAULT 0, err_msg TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX changes_record ON changes(record_id, state);"
    "CREATE TABLE conflicts(id INTEGER PRIMARY KEY, record_id BLOB NOT NULL,"
    " field INT NOT NULL, element_id BLOB NOT NULL, winner_value BLOB NOT NULL,"
    " winner_hlc INT NOT NULL, winner_device BLOB, loser_value BLOB NOT NULL,"
    " loser_hlc INT NOT NULL, loser_device BLOB, state INT NOT NULL, resolved_by BLOB,"
    " resolved_hlc INT NOT NULL DEFAULT 0);"
    "PRAGMA user_version = 1;";

#define SCHEMA_VERSION 1

/* The one translation of SQLite errors. */
int lstore__fail(fieldsync_client *c, const char *what)
{
    sqlite3 *db = c->st ? c->st->db : NULL;
    int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
    if ((code & 0xff) == SQLITE_NOMEM)
        return fieldsync__fail(c, FIELDSYNC_ENOMEM, "%s: out of memory (sqlite)", what);
    return fieldsync__fail(c, FIELDSYNC_ESTORE, "%s: %s (sqlite %d)", what,
                           db ? sqlite3_errmsg(db) : "no database", code);
}

sqlite3_stmt *lstore__stmt(fieldsync_client *c, enum stmt_id id)
{
    struct lstore *st = c->st;
    if (!st->stmts[id]) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[id],
                               NULL) != SQLITE_OK) {
            lstore__fail(c, "prepare");
            return NULL;
        }
    } else {
        sqlite3_reset(st->stmts[id]);
        sqlite3_clear_bindings(st->stmts[id]);
    }
    return st->stmts[id];
}

/* A one-off statement (rare paths). */
sqlite3_stmt *lstore__prep(fieldsync_client *c, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        lstore__fail(c, "prepare");
        return NULL;
    }
    return s;
}

static int exec(fieldsync_client *c, const char *sql)
{
    if (sqlite3_exec(c->st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return lstore__fail(c, sql);
    return 0;
}

/* Step a statement that returns no rows. */
int lstore__step_done(fieldsync_client *c, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return lstore__fail(c, what);
    return 0;
}

void lstore__copy_text(char *dst, size_t cap, const unsigned char *src)
{
    size_t n = src ? strlen((const char *)src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = 0;
}

void lstore__copy_id(uint8_t dst[16], sqlite3_stmt *s, int col)
{
    const void *p = sqlite3_column_blob(s, col);
    if (p && sqlite3_column_bytes(s, col) == 16)
        memcpy(dst, p, 16);
    else
        memset(dst, 0, 16);
}

/* sqlite3_bind_blob treats a NULL pointer as SQL NULL: bind empty blobs as zero-length. */
int lstore__bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n)
{
    if (!p || !n)
        return sqlite3_bind_zeroblob(s, i, 0);
    return sqlite3_bind_blob(s, i, p, (int)n, SQLITE_STATIC);
}

int lstore_open(fieldsync_client *c, const char *path, int create, uint32_t busy_ms,
                const uint8_t *key, struct lstore **out)
{
    int rc = FIELDSYNC_ENOMEM;
    struct lstore *st = fieldsync__alloc(c, sizeof *st);
    int version = 0;
    sqlite3_stmt *s = NULL;

    *out = NULL;
    if (!st)
        goto out;
    memset(st, 0, sizeof *st);
    c->st = st;
    if (key) {
        memcpy(st->key, key, SEAL_KEY_LEN);
        st->keyed = 1;
    }
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX |
                SQLITE_OPEN_EXRESCODE;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        rc = fieldsync__fail(c, FIELDSYNC_ESTORE, "cannot open %s: %s", path,
                             st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(st->db, (int)busy_ms);
    sqlite3_extended_result_codes(st->db, 1);
    if ((rc = exec(c, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                      "PRAGMA foreign_keys = OFF;")) < 0)
        goto out;
    if (!(s = lstore__prep(c, "PRAGMA user_version"))) {
        rc = FIELDSYNC_ESTORE;
        goto out;
    }
    if (sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (version > SCHEMA_VERSION) {
        rc = fieldsync__fail(c, FIELDSYNC_ESTORE,
                             "%s: store schema %d is newer than this library's (%d)", path, version,
                             SCHEMA_VERSION);
        goto out;
    }
    if (version < 1) {
        if ((rc = exec(c, "BEGIN IMMEDIATE")) < 0)
            goto out;
        /* Another handle may have migrated while we waited for the lock. */
        if (!(s = lstore__prep(c, "PRAGMA user_version"))) {
            exec(c, "ROLLBACK");
            rc = FIELDSYNC_ESTORE;
            goto out;
        }
        version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
        sqlite3_finalize(s);
        s = NULL;
        if (version < 1 && ((rc = exec(c, schema_v1)) < 0 ||
                            (st->keyed && (rc = lstore__key_check_write(c)) < 0))) {
            exec(c, "ROLLBACK");
            goto out;
        }
        if ((rc = exec(c, "COMMIT")) < 0) {
            exec(c, "ROLLBACK");
            goto out;
        }
    }
    if ((rc = lstore__key_check(c, path)) < 0)
        goto out;
    *out = st;
    rc = 0;
out:
    if (rc < 0 && st) {
        /* The message stays in the handle; the store goes. */
        lstore_close(c, st);
        c->st = NULL;
        fieldsync__free(c, st);
    }
    return rc;
}

void lstore_close(fieldsync_client *c, struct lstore *st)
{
    if (!st)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    sqlite3_close_v2(st->db);
    lstore__wipe(st);
    for (int i = 0; i < RD_COUNT; i++)
        fieldsync__buf_free(c, &st->rd[i]);
    for (int i = 0; i < WR_COUNT; i++)
        fieldsync__buf_free(c, &st->wr[i]);
    seal_zero(st->key, sizeof st->key);
    st->keyed = 0;
    /* The struct itself is freed by the caller (its allocator). */
}

static void reset_stmts(struct lstore *st)
{
    /* A statement left on a row keeps its read snapshot open; with another handle writing
     * meanwhile, upgrading that stale snapshot to a write fails at once (SQLITE_BUSY_SNAPSHOT)
     * instead of waiting. So no view survives into a new public call or transaction. */
    for (int i = 0; i < S_COUNT; i++)
        if (st->stmts[i])
            sqlite3_reset(st->stmts[i]);
}

void lstore_idle(fieldsync_client *c)
{
    if (!c->st)
        return;
    reset_stmts(c->st);
    lstore__wipe(c->st);
}

int lstore_begin(fieldsync_client *c)
{
    reset_stmts(c->st);
    return exec(c, "BEGIN IMMEDIATE");
}

int lstore_commit(fieldsync_client *c)
{
    return exec(c, "COMMIT");
}

void lstore_rollback(fieldsync_client *c)
{
    if (!sqlite3_get_autocommit(c->st->db))
        sqlite3_exec(c->st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- device ---- */

int lstore_device_get(fieldsync_client *c, struct lstore_device *d)
{
    sqlite3_stmt *s = lstore__stmt(c, S_DEVICE_GET);
    int rc;
    if (!s)
        return FIELDSYNC_ESTORE;
    memset(d, 0, sizeof *d);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? fieldsync__fail(c, FIELDSYNC_ESTORE, "device row missing")
                               : lstore__fail(c, "read device state");
        sqlite3_reset(s);
        return rc;
    }
    d->enrolled = sqlite3_column_int(s, 0);
    lstore__copy_id(d->id, s, 1);
    size_t cl = (size_t)sqlite3_column_bytes(s, 2);
    const uint8_t *cred = sqlite3_column_blob(s, 2);
    if (c->st->keyed && cl == FS_CRED_LEN + SEAL_OVERHEAD) {
        if (seal_open(c->st->key, "device.credential", NULL, cred, cl, d->credential) < 0) {
            sqlite3_reset(s);
            return fieldsync__fail(c, FIELDSYNC_ESTORE,
                                   "device.credential: stored value fails authentication");
        }
    } else if (c->st->keyed && cl) {
        sqlite3_reset(s);
        return fieldsync__fail(c, FIELDSYNC_ESTORE,
                               "device.credential: stored value fails authentication");
    } else if (cl == FS_CRED_LEN) {
        memcpy(d->credential, cred, FS_CRED_LEN);
    }
    lstore__copy_text(d->name, sizeof d->name, sqlite3_column_text(s, 3));
    d->role = sqlite3_column_int(s, 4);
    lstore__copy_text(d->regions, sizeof d->regions, sqlite3_column_text(s, 5));
    d->own_only = sqlite3_column_int(s, 6);
    d->next_seq = (uint64_t)sqlite3_column_int64(s, 7);
    d->hlc_last = (uint64_t)sqlite3_column_int64(s, 8);
    d->clock_offset_ms = sqlite3_column_int64(s, 9);
    d->cursor = (uint64_t)sqlite3_column_int64(s, 10);
    d->last_sync_ms = (uint64_t)sqlite3_column_int64(s, 11);
    lstore__copy_text(d->host, sizeof d->host, sqlite3_column_text(s, 12));
    d->port = (uint16_t)sqlite3_column_int(s, 13);
    sqlite3_reset(s);
    return 0;
}

int lstore_device_enrolled(fieldsync_client *c, const struct lstore_device *d, const uint8_t *ca,
                           size_t ca_len)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s =
        lstore__prep(c, "UPDATE device SET enrolled = 1, id = ?1, credential = ?2, "
                        "name = ?3, role = ?4, regions = ?5, own_only = ?6, host = ?7, "
                        "port = ?8, ca_pem = ?9, hlc_last = max(hlc_last, ?10)");
    if (!s)
        goto out;
    sqlite3_bind_blob(s, 1, d->id, 16, SQLITE_STATIC);
    if ((rc = lstore__bind_sealed(c, s, 2, "device.credential", NULL, d->credential, FS_CRED_LEN,
                                  WR_A)) < 0)
        goto out;
    rc = FIELDSYNC_ESTORE;
    sqlite3_bind_text(s, 3, d->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, d->role);
    sqlite3_bind_text(s, 5, d->regions, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 6, d->own_only);
    sqlite3_bind_text(s, 7, d->host, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 8, d->port);
    lstore__bind_blob(s, 9, ca, ca_len);
    sqlite3_bind_int64(s, 10, (int64_t)d->hlc_last);
    rc = lstore__step_done(c, s, "store enrolment");
out:
    sqlite3_finalize(s);
    return rc;
}

int lstore_set_server(fieldsync_client *c, const char *host, uint16_t port, const uint8_t *ca,
                      size_t ca_len)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "UPDATE device SET host = ?1, port = ?2, "
                                      "ca_pem = CASE WHEN ?4 THEN ?3 ELSE ca_pem END");
    if (!s)
        goto out;
    sqlite3_bind_text(s, 1, host, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, port);
    lstore__bind_blob(s, 3, ca, ca_len);
    sqlite3_bind_int(s, 4, ca != NULL);
    rc = lstore__step_done(c, s, "store server");
out:
    sqlite3_finalize(s);
    return rc;
}

int lstore_set_scope(fieldsync_client *c, int role, const char *regions, int own_only)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "UPDATE device SET role = ?1, regions = ?2, own_only = ?3");
    if (!s)
        return rc;
    sqlite3_bind_int(s, 1, role);
    sqlite3_bind_text(s, 2, regions, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, own_only);
    rc = lstore__step_done(c, s, "store scope");
    sqlite3_finalize(s);
    return rc;
}

int lstore_ca_get(fieldsync_client *c, uint8_t **pem, size_t *len)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "SELECT ca_pem FROM device");
    *pem = NULL;
    *len = 0;
    if (!s)
        goto out;
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = lstore__fail(c, "read CA");
        goto out;
    }
    size_t n = (size_t)sqlite3_column_bytes(s, 0);
    uint8_t *p = fieldsync__alloc(c, n + 1);
    if (!p) {
        rc = fieldsync__fail(c, FIELDSYNC_ENOMEM, "out of memory");
        goto out;
    }
    if (n)
        memcpy(p, sqlite3_column_blob(s, 0), n);
    p[n] = 0;
    *pem = p;
    *len = n;
    rc = 0;
out:
    sqlite3_finalize(s);
    return rc;
}

static int set_device_u64(fieldsync_client *c, const char *sql, int64_t v)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, sql);
    if (!s)
        return rc;
    sqlite3_bind_int64(s, 1, v);
    rc = lstore__step_done(c, s, "update device state");
    sqlite3_finalize(s);
    return rc;
}

int lstore_set_clock(fieldsync_client *c, uint64_t hlc_last, int64_t offset)
{
    int rc = set_device_u64(c, "UPDATE device SET clock_offset = ?1", offset);
    if (rc == 0)
        rc = lstore_set_hlc(c, hlc_last);
    return rc;
}

int lstore_set_hlc(fieldsync_client *c, uint64_t hlc_last)
{
    /* Every edit comes here: a cached statement. */
    sqlite3_stmt *s = lstore__stmt(c, S_SET_HLC);
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, (int64_t)hlc_last);
    int rc = lstore__step_done(c, s, "update the clock");
    sqlite3_reset(s);
    return rc;
}

int lstore_durable(fieldsync_client *c, int on)
{
    /* WAL + NORMAL survives a killed process; FULL (an fsync per commit) also survives a power
     * cut. Used around device_seq numbering: a number must never be reused for other content. */
    return exec(c, on ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
}

int lstore_force_clock(fieldsync_client *c, uint64_t hlc_last, int64_t offset)
{
    int rc = set_device_u64(c, "UPDATE device SET clock_offset = ?1", offset);
    if (rc == 0)
        rc = set_device_u64(c, "UPDATE device SET hlc_last = ?1", (int64_t)hlc_last);
    return rc;
}

int lstore_record_ids(fieldsync_client *c, struct fs_buf *ids)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "SELECT id FROM records ORDER BY id");
    if (!s)
        return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint8_t id[16];
        lstore__copy_id(id, s, 0);
        if ((rc = fieldsync__buf_put(c, ids, id, 16)) < 0) {
            sqlite3_finalize(s);
            return rc;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : lstore__fail(c, "list record ids");
    sqlite3_finalize(s);
    return rc;
}

int lstore_outbox_restamp(fieldsync_client *c, uint64_t bound, uint64_t hlc)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "UPDATE outbox SET hlc = ?2 WHERE seq = 0 AND hlc > ?1");
    if (!s)
        return rc;
    sqlite3_bind_int64(s, 1, (int64_t)bound);
    sqlite3_bind_int64(s, 2, (int64_t)hlc);
    rc = lstore__step_done(c, s, "restamp outbox");
    sqlite3_finalize(s);
    return rc;
}

int lstore_outbox_adopt(fieldsync_client *c, const uint8_t dev[16])
{
    static const uint8_t zero[16];
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "UPDATE outbox SET base_device = ?1 WHERE base_device = ?2");
    sqlite3_stmt *r = lstore__prep(c, "UPDATE records SET creator = ?1 WHERE creator = ?2");
    if (!s || !r)
        goto out;
    sqlite3_bind_blob(s, 1, dev, 16, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, zero, 16, SQLITE_STATIC);
    sqlite3_bind_blob(r, 1, dev, 16, SQLITE_STATIC);
    sqlite3_bind_blob(r, 2, zero, 16, SQLITE_STATIC);
    if ((rc = lstore__step_done(c, s, "adopt device")) == 0)
        rc = lstore__step_done(c, r, "adopt device");
out:
    sqlite3_finalize(s);
    sqlite3_finalize(r);
    return rc;
}

int lstore_set_cursor(fieldsync_client *c, uint64_t cursor)
{
    return set_device_u64(c, "UPDATE device SET cursor = ?1", (int64_t)cursor);
}

int lstore_set_last_sync(fieldsync_client *c, uint64_t ms)
{
    return set_device_u64(c, "UPDATE device SET last_sync_ms = ?1", (int64_t)ms);
}

int lstore_take_seq(fieldsync_client *c, uint64_t *seq)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s =
        lstore__prep(c, "UPDATE device SET next_seq = next_seq + 1 RETURNING next_seq - 1");
    if (!s)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *seq = (uint64_t)sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = lstore__fail(c, "take device_seq");
    }
    sqlite3_finalize(s);
    return rc;
}

/* ---- records ---- */

int lstore_record_get(fieldsync_client *c, const uint8_t id[16], struct lstore_rec *meta,
                      const uint8_t **body, size_t *body_len, const uint8_t **clocks,
                      size_t *clocks_len)
{
    sqlite3_stmt *s = lstore__stmt(c, S_RECORD_GET);
    int rc;
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return lstore__fail(c, "read record");
    memset(meta, 0, sizeof *meta);
    memcpy(meta->id, id, 16);
    meta->collection = (uint32_t)sqlite3_column_int64(s, 0);
    lstore__copy_text(meta->region, sizeof meta->region, sqlite3_column_text(s, 1));
    meta->deleted = sqlite3_column_int(s, 2);
    meta->synced = sqlite3_column_int(s, 3);
    lstore__copy_id(meta->creator, s, 4);
    meta->updated_hlc = (uint64_t)sqlite3_column_int64(s, 5);
    if ((rc = lstore__column_open(c, s, 6, "records.body", id, RD_BODY, body, body_len)) < 0) {
        sqlite3_reset(s);
        return rc;
    }
    *clocks = sqlite3_column_blob(s, 7);
    *clocks_len = (size_t)sqlite3_column_bytes(s, 7);
    return 1;
}

int lstore_record_put(fieldsync_client *c, const struct lstore_rec *meta, const uint8_t *body,
                      size_t body_len, const uint8_t *clocks, size_t clocks_len)
{
    sqlite3_stmt *s = lstore__stmt(c, S_RECORD_PUT);
    const struct collection *col = collections_find(meta->collection);
    struct collection_index ix;
    memset(&ix, 0, sizeof ix);
    if (!s)
        return FIELDSYNC_ESTORE;
    if (col && collections_index(col, body, body_len, &ix) < 0)
        memset(&ix, 0, sizeof ix);
    sqlite3_bind_blob(s, 1, meta->id, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, meta->collection);
    sqlite3_bind_text(s, 3, meta->region, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, ix.commune ? (const char *)ix.commune : "", (int)ix.commune_len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, ix.date);
    int rc = lstore__bind_sealed(c, s, 6, "records.body", meta->id, body, body_len, WR_A);
    if (rc < 0)
        return rc;
    lstore__bind_blob(s, 7, clocks, clocks_len);
    sqlite3_bind_int(s, 8, meta->deleted);
    sqlite3_bind_int(s, 9, meta->synced);
    sqlite3_bind_blob(s, 10, meta->creator, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 11, (int64_t)meta->updated_hlc);
    rc = lstore__step_done(c, s, "write record");
    sqlite3_reset(s);
    return rc;
}

int lstore_record_set_synced(fieldsync_client *c, const uint8_t id[16])
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "UPDATE records SET synced = 1 WHERE id = ?1");
    if (!s)
        return rc;
    sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
    rc = lstore__step_done(c, s, "mark record synced");
    sqlite3_finalize(s);
    return rc;
}
