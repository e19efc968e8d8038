/*
 * store: connection lifecycle, statement cache, transactions and the translation of SQLite
 * errors (see store.h). Only the store*.c files include sqlite3.h.
 */
#include "store_internal.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_opts_init(struct store_opts *o)
{
    o->synchronous = STORE_SYNC_FULL;
    o->busy_timeout_ms = 5000;
}

int store_fail(struct store *st, const char *what)
{
    snprintf(st->errmsg, sizeof st->errmsg, "%s: %s (sqlite %d)", what, sqlite3_errmsg(st->db),
             sqlite3_extended_errcode(st->db));
    return FIELDSYNC_ESTORE;
}

sqlite3_stmt *store_stmt(struct store *st, enum store_stmt_id id, const char *sql)
{
    sqlite3_stmt *s = st->stmts[id];
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return s;
    }
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        store_fail(st, "prepare");
        return NULL;
    }
    st->stmts[id] = s;
    return s;
}

static int exec(struct store *st, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        snprintf(st->errmsg, sizeof st->errmsg, "%s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        return FIELDSYNC_ESTORE;
    }
    return 0;
}

int store_open(struct store **out, const char *path, int writable, const struct store_opts *o,
               char *errbuf, size_t errlen)
{
    struct store_opts defaults;
    if (!o) {
        store_opts_init(&defaults);
        o = &defaults;
    }
    int rc = FIELDSYNC_ENOMEM;
    struct store *st = calloc(1, sizeof *st);
    if (!st)
        goto out;
    st->writable = writable;
    int flags = writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    flags |= SQLITE_OPEN_NOMUTEX; /* one thread at a time per connection */
    rc = FIELDSYNC_ESTORE;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        store_fail(st, path);
        goto out;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, o->busy_timeout_ms);
    static const char *sync_sql[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                                     "PRAGMA synchronous=FULL"};
    /* 8 KiB pages (SQLite's default is 4 KiB): a record row is ~1.3 KB, and every WAL page
     * written costs a few syscalls, expensive on a VM; with twice the rows per page a new
     * report costs ~25% less writer CPU, edits the same (docs/performance.md, "Store
     * ingest"). Takes effect only when the database is created: before WAL mode and the
     * schema. */
    if (writable && (rc = exec(st, "PRAGMA page_size=8192")) < 0)
        goto out;
    if (writable && (rc = exec(st, "PRAGMA journal_mode=WAL")) < 0)
        goto out;
    if ((rc = exec(st, sync_sql[o->synchronous])) < 0)
        goto out;
    if ((rc = exec(st, "PRAGMA foreign_keys=ON")) < 0)
        goto out;
    if (writable && (rc = store_migrate(st)) < 0)
        goto out;
    *out = st;
    return 0;
out:
    if (st) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s", st->errmsg);
        store_close(st);
    } else if (errbuf && errlen) {
        snprintf(errbuf, errlen, "out of memory");
    }
    return rc;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    sqlite3_close(st->db);
    free(st);
}

const char *store_errmsg(const struct store *st)
{
    return st->errmsg;
}

int store_schema_version(struct store *st)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static int on_wal(void *user, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((struct store *)user)->wal_frames = frames;
    return SQLITE_OK;
}

void store_wal_manual(struct store *st)
{
    /* Replaces the autocheckpoint hook: SQLite's autocheckpoint is a WAL hook too. */
    sqlite3_wal_hook(st->db, on_wal, st);
}

int store_wal_frames(const struct store *st)
{
    return st->wal_frames;
}

int store_checkpoint(struct store *st)
{
    int r = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return r == SQLITE_OK || r == SQLITE_BUSY ? 0 : store_fail(st, "checkpoint");
}

static int step_done(struct store *st, enum store_stmt_id id, const char *sql)
{
    sqlite3_stmt *s = store_stmt(st, id, sql);
    if (!s)
        return FIELDSYNC_ESTORE;
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? 0 : store_fail(st, sql);
}

int store_begin(struct store *st)
{
    return step_done(st, STMT_BEGIN, st->writable ? "BEGIN IMMEDIATE" : "BEGIN");
}

int store_commit(struct store *st)
{
    return step_done(st, STMT_COMMIT, "COMMIT");
}

int store_rollback(struct store *st)
{
    return step_done(st, STMT_ROLLBACK, "ROLLBACK");
}

int store_savepoint(struct store *st)
{
    return step_done(st, STMT_SAVEPOINT, "SAVEPOINT job");
}

int store_release(struct store *st)
{
    return step_done(st, STMT_RELEASE, "RELEASE job");
}

int store_rollback_savepoint(struct store *st)
{
    int rc = step_done(st, STMT_ROLLBACK_TO, "ROLLBACK TO job");
    return rc < 0 ? rc : store_release(st);
}

int store_clock_get(struct store *st, uint64_t *hlc)
{
    sqlite3_stmt *s = store_stmt(st, STMT_CLOCK_GET, "SELECT hlc FROM server_clock WHERE id = 1");
    if (!s)
        return FIELDSYNC_ESTORE;
    int r = sqlite3_step(s);
    *hlc = r == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : store_fail(st, "server clock");
}

int store_clock_raise(struct store *st, uint64_t hlc)
{
    sqlite3_stmt *s = store_stmt(st, STMT_CLOCK_RAISE,
                                 "UPDATE server_clock SET hlc = ?1 WHERE id = 1 AND hlc < ?1");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, (int64_t)hlc);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? 0 : store_fail(st, "raise server clock");
}
