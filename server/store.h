/*
 * store: the server's SQLite store, the only module that includes sqlite3.h (its code is
 * spread over store*.c files by concern). A struct store is one connection with its prepared
 * statements; it is used by one thread at a time: the writer thread holds the one writable
 * store, each reader thread its own read-only one.
 *
 * Schema (versioned by PRAGMA user_version, migrations in store_schema.c):
 *   enroll_codes(code_hash PK, role, regions, own_only, name, created_ms, expires_ms,
 *                used_ms, device_id)
 *   devices(id PK, name, role, regions, own_only, cred_hash, enrolled_ms, last_seen_ms,
 *           revoked_ms, reported_hw, applied_hw, app_version)
 *   records, field clocks, history, conflicts, delivery state and the change feed: see
 *   store_schema.c.
 */
#ifndef FS_STORE_H
#define FS_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

enum store_sync { STORE_SYNC_OFF = 0, STORE_SYNC_NORMAL = 1, STORE_SYNC_FULL = 2 };

struct store_opts {
    enum store_sync synchronous; /* FULL by default: an ack means durable */
    int busy_timeout_ms;         /* waits on locks held by CLI processes; default 5000 */
};

void store_opts_init(struct store_opts *o);

/* Open (creating if writable) the database at path. A writable store migrates the schema to
 * the current version. 0, FIELDSYNC_ESTORE (detail in errbuf), FIELDSYNC_ENOMEM. */
int store_open(struct store **out, const char *path, int writable, const struct store_opts *o,
               char *errbuf, size_t errlen);
void store_close(struct store *st);
/* Detail of the last failure on this store (SQLite's message and code). */
const char *store_errmsg(const struct store *st);
/* Schema version of the open database. */
int store_schema_version(struct store *st);

/* WAL checkpoints off the committing thread. By default a writable connection checkpoints in
 * its own COMMIT once the WAL holds 1,000 pages (SQLite's autocheckpoint: the copy into the
 * database and its fsyncs run inside that commit). After store_wal_manual it never does;
 * store_wal_frames is then the WAL's size in frames after its last commit, and someone calls
 * store_checkpoint, on this or another connection to the same database. */
void store_wal_manual(struct store *st);
int store_wal_frames(const struct store *st);
/* A passive checkpoint: copies what it can without waiting for readers or writers (writers
 * keep committing meanwhile). 0 (also when another checkpoint is running), FIELDSYNC_ESTORE. */
int store_checkpoint(struct store *st);

/* Transactions. BEGIN IMMEDIATE for writers. Savepoints nest inside. */
/* The greatest clock applied so far (0 on a new database): *hlc. 0 or FIELDSYNC_ESTORE. */
int store_clock_get(struct store *st, uint64_t *hlc);
/* Raise it to hlc if greater (in the caller's transaction). 0 or FIELDSYNC_ESTORE. */
int store_clock_raise(struct store *st, uint64_t hlc);

int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);
int store_savepoint(struct store *st);
int store_release(struct store *st);
int store_rollback_savepoint(struct store *st);

/* ---- devices and enrolment (store_devices.c) ---- */

#define STORE_NAME_MAX    64
#define STORE_REGIONS_MAX 512
#define STORE_HASH_LEN    32

struct store_device {
    uint8_t id[16];
    char name[STORE_NAME_MAX + 1];
    int role;                        /* enum session_role */
    char regions[STORE_REGIONS_MAX]; /* "GAO,TOMBOUCTOU"; "" = all (admin) */
    int own_only;
    uint8_t cred_hash[STORE_HASH_LEN];
    int64_t enrolled_ms, last_seen_ms, revoked_ms; /* 0 = never */
    uint64_t reported_hw;      /* high-water mark the device last reported in Hello */
    uint64_t applied_hw;       /* highest device_seq the server applied for it */
    uint64_t changes_received; /* changes applied from it */
};

struct store_enroll_code {
    uint8_t code_hash[STORE_HASH_LEN];
    int role;
    char regions[STORE_REGIONS_MAX];
    int own_only;
    char name[STORE_NAME_MAX + 1];
    int64_t created_ms, expires_ms; /* expires_ms 0 = never */
};

int store_enroll_code_add(struct store *st, const struct store_enroll_code *c);
/* Atomically mark the code used and create the device (inside the caller's transaction).
 * FIELDSYNC_EENROLL when the code is unknown, used or expired at now_ms. On success *out is the
 * new device. The device's name is the code's name, else suggested_name. */
int store_enroll_redeem(struct store *st, const uint8_t code_hash[STORE_HASH_LEN], int64_t now_ms,
                        const uint8_t device_id[16], const uint8_t cred_hash[STORE_HASH_LEN],
                        const char *suggested_name, struct store_device *out);
/* 0 or FIELDSYNC_ENOTFOUND. */
int store_device_get(struct store *st, const uint8_t id[16], struct store_device *out);
/* Record a Hello: last seen and the high-water mark the device reported. */
int store_device_touch(struct store *st, const uint8_t id[16], int64_t now_ms, uint64_t reported_hw,
                       const char *app_version);
/* For requests inside a session (push, pull): 0 if the device exists and is not revoked,
 * FIELDSYNC_EREVOKED, FIELDSYNC_EAUTH (device gone), FIELDSYNC_ESTORE. */
int store_device_check_active(struct store *st, const uint8_t id[16]);
/* 0, FIELDSYNC_ENOTFOUND. Revoking twice keeps the first time. Touches no delivered data. */
int store_device_revoke(struct store *st, const uint8_t id[16], int64_t now_ms);
/* Devices in enrolment order; cb returning non-zero stops the walk (and is returned). */
typedef int (*store_device_cb)(void *user, const struct store_device *d);
int store_device_list(struct store *st, store_device_cb cb, void *user);

#endif
