/*
 * lstore_internal.h: what the lstore*.c files share (statement cache, helpers). Only these files
 * include sqlite3.h.
 */
#ifndef FIELDSYNC_LSTORE_INTERNAL_H
#define FIELDSYNC_LSTORE_INTERNAL_H

#include "internal.h"
#include "seal.h"

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

/* Scratch buffers for opened (decrypted) values, one per kind of value a caller may hold at
 * once; each stays valid until the next lstore call that reads that kind, and is zeroed at the
 * next public call (lstore_idle). */
enum lstore_rd { RD_BODY, RD_OP, RD_CHANGE, RD_WINNER, RD_LOSER, RD_COUNT };
/* Scratch for sealed values bound to a statement (ciphertext only): one per blob bound in the
 * same statement. */
enum lstore_wr { WR_A, WR_B, WR_COUNT };

struct lstore {
    sqlite3 *db;
    sqlite3_stmt *stmts[S_COUNT];
    int keyed; /* content columns are sealed with key (seal.h) */
    uint8_t key[SEAL_KEY_LEN];
    struct fs_buf rd[RD_COUNT], wr[WR_COUNT];
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
/* Bind a content column: sealed under the store key (AAD: label and the row's record id, or
 * NULL) into scratch wr[slot] when the store is keyed, as lstore__bind_blob otherwise. Empty
 * values stay empty. 0, FIELDSYNC_ENOMEM or FIELDSYNC_ESTORE (no random nonce). */
int lstore__bind_sealed(fieldsync_client *c, sqlite3_stmt *s, int i, const char *label,
                        const uint8_t *id, const void *p, size_t n, enum lstore_wr slot);
/* Read a content column: opened into scratch rd[slot] when the store is keyed (a view of the
 * row otherwise). 0, FIELDSYNC_ENOMEM or FIELDSYNC_ESTORE (the value fails authentication). */
int lstore__column_open(fieldsync_client *c, sqlite3_stmt *s, int col, const char *label,
                        const uint8_t *id, enum lstore_rd slot, const uint8_t **p, size_t *n);
/* Zero the plaintext left in the read scratch. */
void lstore__wipe(struct lstore *st);
/* Seal the known text into a new store's device row (inside the creating transaction). */
int lstore__key_check_write(fieldsync_client *c);
/* The store key matches the store: 0, or FIELDSYNC_EAUTH (wrong, missing or unexpected key). */
int lstore__key_check(fieldsync_client *c, const char *path);

#endif
