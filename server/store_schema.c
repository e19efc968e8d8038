/*
 * store_schema: the schema and its migrations. PRAGMA user_version is the version; each
 * migration runs in its own transaction and moves the version by one. Never edit a released
 * migration: add a new one. (0 -> 1 is not released yet and is still edited in place; a
 * development database made by an earlier build must be recreated.)
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
    /* Records: one row per record, the merged body and its clock blob packed in the row (one
     * report costs a few row writes, not one per field). server_seq is the feed position of
     * the record's latest change (= the history row that made it, or created_seq); pull walks
     * its index. The change that created the record is kept here, not in history: its device
     * (creator), device_seq, clock and server time and sequence (created_*); its values are
     * derived from the state and the later history rows (store_pull.c). A new report thus
     * writes one row and its index entries, nothing else.
     * commune, cdate (yyyymmdd) and updated_ms are extracted for coordinators' queries.
     * Indexes, kept few because every one is written by every new report:
     *  - records_feed (server_seq): the pull feed, and also "recently updated": one writer
     *    assigns server_seq in commit order with updated_ms = its time, so feed order is
     *    update order (ORDER BY server_seq DESC; "updated since T" walks the feed backwards
     *    until updated_ms < T). No separate updated_ms index.
     *  - records_region (region, cdate, commune): coordinators always query within their
     *    regions: by date range (an index range), by commune (filtered inside the index, no
     *    row lookups). No separate date or commune index. */
    "CREATE TABLE records ("
    "  rid INTEGER PRIMARY KEY,"
    "  id BLOB NOT NULL UNIQUE,"
    "  collection INTEGER NOT NULL,"
    "  region TEXT NOT NULL,"
    "  body BLOB NOT NULL,"
    "  clocks BLOB NOT NULL,"
    "  deleted INTEGER NOT NULL DEFAULT 0,"
    "  creator BLOB NOT NULL,"
    "  commune TEXT,"
    "  cdate INTEGER,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  server_seq INTEGER NOT NULL,"
    "  created_seq INTEGER NOT NULL,"
    "  created_device_seq INTEGER NOT NULL,"
    "  created_hlc INTEGER NOT NULL"
    ");"
    "CREATE UNIQUE INDEX records_feed ON records(server_seq);"
    "CREATE INDEX records_region ON records(region, cdate, commune);"
    /* Devices other than the creator that edited a record (own_only pull scope). */
    "CREATE TABLE record_editors ("
    "  device BLOB NOT NULL,"
    "  rid INTEGER NOT NULL,"
    "  PRIMARY KEY (device, rid)"
    ") WITHOUT ROWID;"
    /* Append-only history: one row per applied change after the record's creation (the
     * creation is records.created_*), clustered by seq, the server sequence (feed position;
     * the latest is records.server_seq), so every insert appends to the last page; history_rid
     * finds a record's rows in order (a small entry per row). Clustered by record instead,
     * each edit inserted a ~400-byte row at a random place: 4x the CPU per edit
     * (docs/performance.md, "Store ingest"). ops is the compact encoding of every op that won
     * (store_records.c: field, element id, old value and clock, new value and clock). */
    "CREATE TABLE history ("
    "  seq INTEGER PRIMARY KEY,"
    "  rid INTEGER NOT NULL,"
    "  device BLOB NOT NULL,"
    "  device_seq INTEGER NOT NULL,"
    "  hlc INTEGER NOT NULL,"
    "  server_ms INTEGER NOT NULL,"
    "  ops BLOB NOT NULL"
    ");"
    "CREATE INDEX history_rid ON history(rid, seq);"
    /* Conflicts: kept until a coordinator resolves them (state 1 open, 2 resolved). */
    "CREATE TABLE conflicts ("
    "  id INTEGER PRIMARY KEY,"
    "  rid INTEGER NOT NULL,"
    "  field INTEGER NOT NULL,"
    "  element_id BLOB,"
    "  winner_value BLOB NOT NULL,"
    "  winner_hlc INTEGER NOT NULL,"
    "  winner_device BLOB NOT NULL,"
    "  loser_value BLOB NOT NULL,"
    "  loser_hlc INTEGER NOT NULL,"
    "  loser_device BLOB NOT NULL,"
    "  state INTEGER NOT NULL DEFAULT 1,"
    "  created_ms INTEGER NOT NULL,"
    "  resolved_by BLOB,"
    "  resolved_hlc INTEGER NOT NULL DEFAULT 0,"
    "  resolved_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_seq INTEGER NOT NULL DEFAULT 0," /* the feed position of the change that opened */
    "  resolved_seq INTEGER NOT NULL DEFAULT 0" /* ... and of the one that resolved it */
    ");"
    "CREATE INDEX conflicts_rid ON conflicts(rid);"
    /* Delivery state for exactly-once: per device a contiguous high-water mark (every seq
     * <= hw applied) plus the seqs above it applied out of order (a gap appears when a change
     * is rejected: its seq stays free so a corrected resend can still apply). */
    "CREATE TABLE delivery ("
    "  device BLOB PRIMARY KEY,"
    "  hw INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE delivery_above ("
    "  device BLOB NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY (device, seq)"
    ") WITHOUT ROWID;"
    /* The greatest clock ever applied (one row, raised by each push batch): a restarted
     * server's HLC starts from it, so it never issues a clock below one it has accepted. */
    "CREATE TABLE server_clock ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  hlc INTEGER NOT NULL"
    ");"
    "INSERT INTO server_clock VALUES (1, 0);",
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
