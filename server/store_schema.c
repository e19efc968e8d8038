/*
 * store_schema: the schema and its migrations. PRAGMA user_version is the version; each
 * migration runs in its own transaction and moves the version by one. Never edit a released
 * migration: add a new one.
 */
#include "store_internal.h"

#include "error.h"

#include <stdio.h>

static const char *const migrations[] = {
    /* 0 → 1 */
    "CREATE TABLE enroll_codes ("
    "  code_hash BLOB PRIMARY KEY,"
    "  role INTEGER NOT NULL,"
    "  regions TEXT NOT NULL,"
    "  own_only INTEGER NOT NULL DEFAULT 0,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL DEFAULT 0,"
    "  used_ms INTEGER NOT NULL DEFAULT 0,"
    "  device_id BLOB"
    ") WITHOUT ROWID;"
    "CREATE TABLE devices ("
    "  id BLOB PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  role INTEGER NOT NULL,"
    "  regions TEXT NOT NULL,"
    "  own_only INTEGER NOT NULL DEFAULT 0,"
    "  cred_hash BLOB NOT NULL,"
    "  enrolled_ms INTEGER NOT NULL,"
    "  last_seen_ms INTEGER NOT NULL DEFAULT 0,"
    "  revoked_ms INTEGER NOT NULL DEFAULT 0,"
    "  reported_hw INTEGER NOT NULL DEFAULT 0,"
    "  applied_hw INTEGER NOT NULL DEFAULT 0,"
    "  changes_received INTEGER NOT NULL DEFAULT 0,"
    "  app_version TEXT NOT NULL DEFAULT ''"
    ");"
    /* records, clocks, history, conflicts, delivery state, feed: added by the store work */
    ,
};

int store_migrate(struct store *st)
{
    int n = (int)(sizeof migrations / sizeof *migrations);
    int v = store_schema_version(st);
    if (v < 0)
        return store_fail(st, "read schema version");
    if (v > n) {
        snprintf(st->errmsg, sizeof st->errmsg,
                 "database schema version %d is newer than this server (%d)", v, n);
        return FIELDSYNC_ESTORE;
    }
    for (; v < n; v++) {
        char *err = NULL;
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v + 1);
        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(st->db, migrations[v], NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(st->db, sql, NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(st->db, "COMMIT", NULL, NULL, &err) != SQLITE_OK) {
            snprintf(st->errmsg, sizeof st->errmsg, "migration %d→%d: %s", v, v + 1,
                     err ? err : "?");
            sqlite3_free(err);
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return FIELDSYNC_ESTORE;
        }
    }
    return 0;
}
