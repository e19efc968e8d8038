/*
 * store_internal: what the store*.c files share. Not for use outside the store module.
 */
#ifndef FS_STORE_INTERNAL_H
#define FS_STORE_INTERNAL_H

#include "store.h"

#include <sqlite3.h>

struct store {
    sqlite3 *db;
    int writable;
    int wal_frames; /* after the last commit, once store_wal_manual installed the hook */
    char errmsg[256];
    /* Prepared statements live here, created once on first use by the file that owns them
     * (store_stmt), finalized by store_close. */
    sqlite3_stmt *stmts[64];
};

/* Statement slots, one per SQL text; each store*.c file uses its own range. */
enum store_stmt_id {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    /* store_devices.c */
    STMT_CODE_ADD,
    STMT_CODE_GET,
    STMT_CODE_USE,
    STMT_DEVICE_ADD,
    STMT_DEVICE_GET,
    STMT_DEVICE_TOUCH,
    STMT_DEVICE_REVOKE,
    STMT_DEVICE_LIST,
    STMT_DEVICE_ACTIVE,
    /* store_records.c and others: add below */
    STMT_FIRST_RECORDS,
    /* store_records.c (apply) */
    STMT_REC_GET,
    STMT_REC_INSERT,
    STMT_REC_UPDATE,
    STMT_REC_UPDATE_BODY,
    STMT_HIST_MAXSEQ,
    STMT_HIST_INSERT,
    STMT_CONFLICT_INSERT,
    STMT_CONFLICT_GET,
    STMT_CONFLICT_RESOLVE,
    STMT_EDITOR_ADD,
    STMT_DELIVERY_GET,
    STMT_DELIVERY_PUT,
    STMT_ABOVE_ANY,
    STMT_ABOVE_GET,
    STMT_ABOVE_ADD,
    STMT_ABOVE_DEL,
    STMT_DEVICE_APPLIED,
    /* store_pull.c (read side) */
    STMT_PULL_FEED,
    STMT_PULL_FEED_OWN,
    STMT_PULL_CONFLICTS,
    STMT_PULL_RECORD,
    STMT_PULL_HISTORY,
    STMT_HIST_RECORD,
    STMT_CONFLICT_BYTES,
    STMT_CONFLICTS_ALL,
    STMT_CONFLICTS_LIST,
    STMT_CLOCK_RAISE,
    STMT_CLOCK_GET,
    STMT_COUNT = 64
};

/* The prepared statement for slot id (prepared from sql on first use, then reset and with
 * bindings cleared). NULL on failure, with st->errmsg set. */
sqlite3_stmt *store_stmt(struct store *st, enum store_stmt_id id, const char *sql);
/* Translate a SQLite failure into FIELDSYNC_ESTORE, keeping SQLite's code and message in
 * st->errmsg (the one place SQLite's error space is translated). */
int store_fail(struct store *st, const char *what);
/* What the conflicts of record rid sent to a device whose cursor is seen_at add to a pull page
 * (the open ones, and those resolved after seen_at that were open at it; seen_at 0: the open
 * ones), counted with STORE_CONFLICT_WIRE_FIXED each (store_pull.c). 0 or FIELDSYNC_ESTORE. */
int store_conflict_bytes(struct store *st, int64_t rid, uint64_t seen_at, uint64_t *out);
/* Schema migrations (store_schema.c): bring the database to the current version. */
int store_migrate(struct store *st);

/* ---- store_prepare.c: the checks that need no stored state (no SQLite) ---- */

struct collection;
struct collection_index;
struct merge_record;
struct store_apply_ctx;
struct store_change_result;
struct Fieldsync__Change;

/* Mark res rejected with code and a formatted message; returns 1. */
int store_reject(struct store_change_result *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The checks on the change itself (not its ops): 0 ok with *coll set, 1 rejected (res). */
int store_precheck(const struct store_apply_ctx *ctx, const struct Fieldsync__Change *ch,
                   struct store_change_result *res, const struct collection **coll);
/* A merged record over the record size limit (body + clock blob; 0 = no limit): it could not
 * travel in one pull page, so every device of its region would fail its pull at it. */
int store_over_record_size(const struct store_apply_ctx *ctx, const struct merge_record *m);

/* 1 if ch has the shape of the usual new record: a body and nothing else. */
int store_create_shape(const struct Fieldsync__Change *ch);
/* The state of ch's new record (precheck passed): body validated in one pass, clock blob built
 * (merge_record_create, into m), index columns (views into ch's body) and region checked.
 * 0 ready, 1 the general path must decide, 2 over the record size limit (m holds the
 * state), FIELDSYNC_ENOMEM. */
int store_create_prepare(const struct store_apply_ctx *ctx, const struct collection *coll,
                         const struct Fieldsync__Change *ch, const uint8_t *device,
                         struct merge_record *m, struct collection_index *ix);

#endif
