/*
 * store_records: records, their history, conflicts, per-device delivery state and the change
 * feed (schema in store_schema.c). The write side (store_records.c) runs on the writer thread
 * inside its group transaction; the read side (store_pull.c) runs on reader threads, each
 * with its own read-only store, inside a read transaction (store_begin/store_commit).
 */
#ifndef FS_STORE_RECORDS_H
#define FS_STORE_RECORDS_H

#include "collections.h"
#include "session.h"
#include "store.h"
#include "sync.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* ---- apply a push batch (store_records.c) ---- */

struct store_prep;

struct store_apply_ctx {
    const struct session *sess;  /* the pushing device: its id, role and scope */
    uint64_t now_ms;             /* server wall time for the clock bound and timestamps */
    uint64_t max_clock_ahead_ms; /* an op stamped later than now_ms + this is refused */
    uint32_t max_ops;            /* operations per change */
    uint32_t max_record;         /* body + clocks + conflicts bytes per record; 0 = no limit */
    uint64_t reported_hw;        /* the device's own high-water mark sent with the batch */
    /* NULL, or store_prepare_batch's result for these very changes, with this context. */
    const struct store_prep *prep;
};

#define STORE_MSG_MAX 160

struct store_change_result {
    uint64_t device_seq;
    int status;         /* Fieldsync__ChangeStatus: APPLIED, DUPLICATE or REJECTED */
    int code;           /* FIELDSYNC_E* with REJECTED, else 0 */
    uint32_t conflicts; /* conflicts this change opened */
    char message[STORE_MSG_MAX];
};

/* Apply changes[0..n) in order inside the caller's transaction, filling results[0..n).
 * A (device, device_seq) already applied is DUPLICATE and has no effect; a change failing a
 * check (scope, id, collection, region, clock bound, op count, schema, unknown conflict) is
 * REJECTED with nothing of it applied, and the batch goes on. *max_hlc (may be NULL) gets the
 * greatest clock applied. Returns 0, or FIELDSYNC_ESTORE / FIELDSYNC_ENOMEM /
 * FIELDSYNC_EINTERNAL when the batch must be rolled back as a whole (the caller's savepoint). */
int store_apply_batch(struct store *st, const struct store_apply_ctx *ctx,
                      Fieldsync__Change *const *changes, size_t n,
                      struct store_change_result *results, uint64_t *max_hlc);

/* ---- checks ahead of the writer (store_prepare.c) ---- */

/* One change as prepared: ready, or left to the writer. */
struct store_prepared {
    int ready; /* 1: a new record that passed every check needing no stored state */
    size_t clocks_off, clocks_len; /* its clock blob, in store_prep.clocks */
    struct collection_index ix;    /* its index columns (views into the change's body) */
};

struct store_prep {
    struct store_prepared *c; /* one per change, in batch order */
    size_t n, cap;
    uint8_t *clocks;
    size_t clocks_len, clocks_cap;
};

void store_prep_init(struct store_prep *p);
void store_prep_close(struct store_prep *p);
/* Do on any thread, before queueing the batch for the writer, the work of applying that needs
 * no stored state: for each new record sent as one canonical body, every check that needs
 * only the change, ctx's session, time and limits, and its clock blob and index columns.
 * Pass p as ctx->prep to store_apply_batch with the same changes (which must outlive p's
 * use) and the same ctx: the writer then only checks delivery and inserts those. Changes not
 * marked ready (anything else, any rejection) are applied by the writer as if not prepared:
 * the results do not depend on preparing. No SQLite. 0 or FIELDSYNC_ENOMEM (p is then
 * empty and may still be passed). */
int store_prepare_batch(const struct store_apply_ctx *ctx, Fieldsync__Change *const *changes,
                        size_t n, struct store_prep *p);

/* ---- read side (store_pull.c) ---- */

/* Upper bounds of the bytes one record and one conflict take in a PullPage beyond their
 * variable-length contents (region, body, clocks; element id, both values): tags, lengths,
 * ids, clocks, devices. Pages are filled, and records bounded by max_record (body, clocks
 * and every conflict of the record, open or resolved, since all travel with it), with these. */
#define STORE_RECORD_WIRE_FIXED   88
#define STORE_CONFLICT_WIRE_FIXED 140

struct store_record_view {
    const uint8_t *id; /* 16 bytes */
    uint32_t collection;
    const char *region;
    const uint8_t *body;
    size_t body_len;
    const uint8_t *clocks;
    size_t clocks_len;
    int deleted;
    const uint8_t *creator; /* 16 bytes */
    uint64_t server_seq;
    int64_t updated_ms;
};

struct store_conflict_view {
    uint64_t id;
    const uint8_t *record_id; /* 16 bytes */
    uint32_t field;
    const uint8_t *element_id;
    size_t element_id_len;
    const uint8_t *winner_value;
    size_t winner_len;
    uint64_t winner_hlc;
    const uint8_t *winner_device; /* 16 bytes */
    const uint8_t *loser_value;
    size_t loser_len;
    uint64_t loser_hlc;
    const uint8_t *loser_device;
    int state;                  /* Fieldsync__ConflictState */
    const uint8_t *resolved_by; /* NULL while open */
    uint64_t resolved_hlc;
};

/* Views are valid only during the callback; a non-zero return stops the walk and is
 * returned. */
typedef int (*store_record_cb)(void *user, const struct store_record_view *r);
typedef int (*store_conflict_cb)(void *user, const struct store_conflict_view *c);

struct store_pull_req {
    const struct session *sess;
    uint64_t cursor;             /* records with server_seq > cursor */
    uint32_t limit;              /* records per page (> 0) */
    size_t max_bytes;            /* stop once bodies + clocks reach this (0 = no bound) */
    uint32_t max_scan;           /* feed rows examined per page, in scope or not (0 = 8*limit) */
    const uint32_t *collections; /* filter; n_collections 0 = all */
    size_t n_collections;
};

/* One page of the change feed in the session's scope, in feed order: record_cb per record,
 * then conflict_cb per conflict touching it (open and resolved). *next_cursor is the feed
 * position to continue from; *more is 1 when rows after it may be in scope. Memory does not
 * depend on the database size: rows are streamed. 0 or FIELDSYNC_ESTORE. */
int store_pull(struct store *st, const struct store_pull_req *req, store_record_cb record_cb,
               store_conflict_cb conflict_cb, void *user, uint64_t *next_cursor, int *more);

/* One record by id: 0 (cb called once), FIELDSYNC_ENOTFOUND, FIELDSYNC_ESTORE. */
int store_record_get(struct store *st, const uint8_t id[16], store_record_cb cb, void *user);

/* One applied field change from the history. */
struct store_history_op {
    uint64_t seq; /* server sequence of the change */
    const uint8_t *device;
    uint64_t device_seq;
    uint64_t change_hlc;
    int64_t server_ms;
    uint32_t field;
    const uint8_t *element_id;
    size_t element_id_len;
    int had_old; /* 0: the address had never been written */
    const uint8_t *old_value;
    size_t old_len;
    int old_tombstone;
    uint64_t old_hlc;
    const uint8_t *old_device; /* 16 bytes when had_old */
    const uint8_t *new_value;
    size_t new_len;
    int new_tombstone;
    uint64_t new_hlc; /* its device is `device` */
};
typedef int (*store_history_cb)(void *user, const struct store_history_op *op);

/* Every applied field change of a record, oldest first. 0, FIELDSYNC_ENOTFOUND,
 * FIELDSYNC_ESTORE, FIELDSYNC_ESCHEMA (corrupt history row). */
int store_history_walk(struct store *st, const uint8_t id[16], store_history_cb cb, void *user);
/* Every conflict of a record, oldest first. 0, FIELDSYNC_ENOTFOUND, FIELDSYNC_ESTORE. */
int store_conflict_walk(struct store *st, const uint8_t id[16], store_conflict_cb cb, void *user);
/* Every conflict of the store (or the open ones only), oldest first, each with its record's
 * id: the operator's audit view (fieldsync-server conflicts). 0 or FIELDSYNC_ESTORE. */
int store_conflict_list(struct store *st, int open_only, store_conflict_cb cb, void *user);

/* History op encoding (shared by the writer and the reader side of the store). */
int store_hist_decode(const uint8_t **p, const uint8_t *end, struct store_history_op *op);

#endif
