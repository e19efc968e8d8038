/*
 * lstore_internal.h: what the lstore*.c files share (statement cache, helpers). Only these files
 * include sqlite3.h.
 */
#ifndef FIELDSYNC_LSTORE_INTERNAL_H
#define FIELDSYNC_LSTORE_INTERNAL_H

#include "internal.h"

#include <sqlite3.h>

enum stmt_id {
    S_DEVICE_GET,
    S_RECORD_GET,
    S_RECORD_PUT,
    S_OUTBOX_UPSERT,
    S_OUTBOX_BY_SEQ,
    S_CHANGE_ADD,
    S_CHANGES_UNACKED,
    S_CHANGE_GET,
    S_CONFLICT_PUT,
    S_SET_HLC,
    S_COUNT
};

struct lstore {
    sqlite3 *db;
    sqlite3_stmt *stmts[S_COUNT];
};

/* The one translation of SQLite errors (FIELDSYNC_ESTORE / FIELDSYNC_ENOMEM + message). */
int lstore__fail(fieldsync_client *c, const char *what);
/* A cached prepared statement, reset and unbound; NULL on failure (message set). */
sqlite3_stmt *lstore__stmt(fieldsync_client *c, enum stmt_id id);
/* A one-off statement for rare paths (finalize it). */
sqlite3_stmt *lstore__prep(fieldsync_client *c, const char *sql);
/* Step a statement that returns no rows. */
int lstore__step_done(fieldsync_client *c, sqlite3_stmt *s, const char *what);
void lstore__copy_text(char *dst, size_t cap, const unsigned char *src);
void lstore__copy_id(uint8_t dst[16], sqlite3_stmt *s, int col);
/* Bind a blob; empty or NULL binds a zero-length blob (not SQL NULL). */
int lstore__bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n);

#endif
