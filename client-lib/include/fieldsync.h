/*
 * fieldsync.h — the whole public API of libfieldsync, the embeddable fieldsync client.
 *
 * An app keeps its records in a local store (one SQLite file) through a handle, edits them
 * offline (every edit is stamped with a hybrid logical clock and queued in an outbox), and
 * calls fieldsync_sync() from a worker thread whenever a link is up: it pushes every change
 * not yet acknowledged by the server, then pulls what changed on the server.
 *
 * Conventions, valid for every function below unless its comment says otherwise:
 *   - Return value: 0 on success, a negative FIELDSYNC_E* code on failure (the one error list
 *     of fieldsync_errno.h, identical to the wire protocol's ErrorCode negated). Human detail
 *     of the last failure on a handle is in fieldsync_errmsg(c).
 *   - Every function that takes a handle returns FIELDSYNC_EINVAL for a NULL handle or a NULL
 *     required pointer, FIELDSYNC_ENOMEM when an allocation fails (nothing is then changed),
 *     FIELDSYNC_ESTORE when the local SQLite store fails (SQLite's message and code in
 *     fieldsync_errmsg).
 *   - Input pointers are only read during the call; the library copies what it keeps.
 *     Output pointers documented as "valid until the next call on the handle" point into
 *     memory owned by the handle.
 *   - Threads: a handle is used by one thread at a time (the caller serialises). Different
 *     handles are independent; two handles may open the same store file from two threads (for
 *     example the UI edits through one while a worker syncs through another): SQLite's locking
 *     serialises their transactions. Only fieldsync_interrupt() may be called on a handle from
 *     another thread while a call is running on it.
 *   - Callbacks run on the calling thread, inside the call that received them, never after it
 *     returned. A non-zero return from a callback stops the operation, which then returns
 *     FIELDSYNC_ECANCELED. A callback must not call any function on the same handle except
 *     fieldsync_errmsg() and fieldsync_interrupt().
 *   - The library never prints, aborts, exits, installs signal handlers or uses global mutable
 *     state. All its memory comes from the allocator given at open time.
 *
 * Ids: records and keyed elements are identified by 16-byte UUIDv7 ids (uint8_t[16]); their
 * text form is the 36-character 8-4-4-4-12 lower-case hex (fieldsync_id_format/_parse).
 *
 * Values: a "field value" is the protobuf encoding of one top-level field exactly as it appears
 * inside the collection's message: tag + value (for a repeated non-keyed field: all of its
 * tagged entries). This is FieldOp.value of proto/sync.proto. An empty value clears the field.
 */
#ifndef FIELDSYNC_H
#define FIELDSYNC_H

#include "fieldsync_errno.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FIELDSYNC_BUILDING) && (defined(__GNUC__) || defined(__clang__))
#define FIELDSYNC_API __attribute__((visibility("default")))
#else
#define FIELDSYNC_API
#endif

/* The error codes: FIELDSYNC_OK = 0, FIELDSYNC_E<NAME> = -code (see fieldsync_errno.h). */
#ifndef FIELDSYNC_ERRNO_ENUM_DEFINED
#define FIELDSYNC_ERRNO_ENUM_DEFINED
enum fieldsync_errno {
    FIELDSYNC_OK = 0,
#define XX(name, code, msg) FIELDSYNC_##name = -(code),
    FIELDSYNC_ERRNO_MAP(XX)
#undef XX
};
#endif

#define FIELDSYNC_ID_LEN     16
#define FIELDSYNC_ID_STR_LEN 36 /* without the terminating NUL */

/* Collection numbers (proto/consultation.proto). */
#define FIELDSYNC_COLLECTION_CONSULTATION 1 /* fieldsync.ConsultationReport */

/* Roles granted at enrolment (sync.proto Role). */
#define FIELDSYNC_ROLE_UNSPECIFIED 0
#define FIELDSYNC_ROLE_COLLECTOR   1
#define FIELDSYNC_ROLE_COORDINATOR 2
#define FIELDSYNC_ROLE_ADMIN       3

/* The opaque handle on one local store. */
typedef struct fieldsync_client fieldsync_client;

/* ------------------------------------------------------------------------------------------ */
/* Version and errors                                                                         */

/* "0.1.0". Static storage. Any thread. */
FIELDSYNC_API const char *fieldsync_version(void);
/* Human message for an error code ("unknown error" for a code not in the list). Static
 * storage. Any thread. */
FIELDSYNC_API const char *fieldsync_strerror(int code);
/* Stable name of an error code, e.g. "EAUTH" ("OK" for 0, "EUNKNOWN" otherwise). Static
 * storage. Any thread. */
FIELDSYNC_API const char *fieldsync_err_name(int code);
/* Detail of the last failure on this handle (e.g. the server's message, SQLite's or TLS's
 * error). "" after a success. Valid until the next call on the handle; never NULL (for a NULL
 * handle: a static "no handle"). */
FIELDSYNC_API const char *fieldsync_errmsg(const fieldsync_client *c);

/* ------------------------------------------------------------------------------------------ */
/* Ids                                                                                        */

/* Write the 36-char text form of id plus a NUL into out (37 bytes). */
FIELDSYNC_API void fieldsync_id_format(const uint8_t id[FIELDSYNC_ID_LEN],
                                       char out[FIELDSYNC_ID_STR_LEN + 1]);
/* Parse the 8-4-4-4-12 form (or 32 hex digits, any case) into out. 0 or FIELDSYNC_EBADID. */
FIELDSYNC_API int fieldsync_id_parse(const char *text, uint8_t out[FIELDSYNC_ID_LEN]);
/* A fresh UUIDv7 (time from the handle's clock, randomness from the OS), e.g. for a new keyed
 * element (a Concern's id). 0, FIELDSYNC_EINVAL, FIELDSYNC_EIO (no randomness). */
FIELDSYNC_API int fieldsync_new_id(fieldsync_client *c, uint8_t out[FIELDSYNC_ID_LEN]);

/* ------------------------------------------------------------------------------------------ */
/* Opening a store                                                                            */

/* Memory hooks. realloc_fn(user, NULL, n) must behave as malloc; free_fn(user, NULL) must be a
 * no-op. Each returns NULL on failure; the library then returns FIELDSYNC_ENOMEM cleanly. They
 * are called from whatever thread calls into the handle. The library's own allocations and
 * protobuf-c's go through them (SQLite and mbedtls keep their own, process-wide, allocators). */
typedef struct fieldsync_allocator {
    void *(*malloc_fn)(void *user, size_t size);
    void *(*realloc_fn)(void *user, void *ptr, size_t size);
    void (*free_fn)(void *user, void *ptr);
    void *user;
} fieldsync_allocator;

/* Options for fieldsync_open(). Always start from fieldsync_open_opts_init() so that fields
 * added later get their defaults. */
typedef struct fieldsync_open_opts {
    /* Allocator, copied at open; NULL = the C library's malloc/realloc/free. */
    const fieldsync_allocator *allocator;
    /* Wall clock in ms since the Unix epoch; NULL = the system clock (CLOCK_REALTIME).
     * Called with clock_user. */
    uint64_t (*now_ms)(void *user);
    void *clock_user;
    /* 1 (default): create the store file if it does not exist; 0: fail with FIELDSYNC_ESTORE. */
    int create;
    /* How long to wait for a lock held by another handle or process (default 5000 ms). */
    uint32_t busy_timeout_ms;
    /* Default timeouts for network calls (fieldsync_enroll, fieldsync_sync):
     * TCP+TLS connect (default 15000 ms), and each read or write (default 30000 ms). */
    uint32_t connect_timeout_ms;
    uint32_t io_timeout_ms;
    /* Store key: 32 bytes, copied at open and zeroed at fieldsync_close. With a key, report
     * bodies, pending field values, change snapshots, conflict values and the device
     * credential are encrypted in the store file (ChaCha20-Poly1305, value by value); ids,
     * clocks, region/commune/date and counters stay clear for filtering (docs/security.md).
     * A store created with a key always needs that key; one created without, none. Take the key
     * from the platform keystore (Android Keystore, iOS Keychain), never from a constant.
     * NULL (default): the store is not encrypted, for tests and trusted devices only. */
    const uint8_t *store_key;
} fieldsync_open_opts;

/* Fill o with the defaults. Cannot fail. */
FIELDSYNC_API void fieldsync_open_opts_init(fieldsync_open_opts *o);

/* Open (or create) the local store at path (UTF-8 file name; WAL mode, so path-wal and path-shm
 * files appear beside it) and migrate its schema to the current version. opts may be NULL for
 * the defaults.
 *
 * On success returns 0 and *out is a new handle, to be closed with fieldsync_close().
 * On failure returns the code and:
 *   - *out is NULL for FIELDSYNC_EINVAL (NULL path/out) and FIELDSYNC_ENOMEM (the handle itself
 *     could not be allocated);
 *   - otherwise *out is a handle in a failed state that only answers fieldsync_errmsg() (the
 *     detail, e.g. SQLite's message) and fieldsync_close(); every other call on it returns
 *     FIELDSYNC_ESTATE. Codes: FIELDSYNC_ESTORE (cannot open or migrate: not a fieldsync store,
 *     newer schema, I/O error, missing with create = 0); FIELDSYNC_EAUTH (store_key does not
 *     open this store, or a key was given for a store created without one, or none for an
 *     encrypted store).
 * Later calls return FIELDSYNC_ESTORE with "stored value fails authentication" in
 * fieldsync_errmsg() if an encrypted value was altered or moved in the file.
 * So: always fieldsync_close(*out) after a failed open (it accepts NULL). */
FIELDSYNC_API int fieldsync_open(const char *path, const fieldsync_open_opts *opts,
                                 fieldsync_client **out);

/* Close the handle: finish statements, close the store, zero the credential in memory, forget
 * the TLS session. NULL is a no-op. Must not run concurrently with another call on c. */
FIELDSYNC_API void fieldsync_close(fieldsync_client *c);

/* Ask the call currently running on c (fieldsync_sync or fieldsync_enroll) to stop as soon
 * as possible; it returns FIELDSYNC_ECANCELED, with nothing half-applied. The only function
 * that may be called from another thread (or a signal handler: it only stores to an atomic
 * flag). The flag is cleared when the next network call starts. NULL is a no-op. */
FIELDSYNC_API void fieldsync_interrupt(fieldsync_client *c);

/* Free memory the library returned to the caller (fieldsync_get's record). NULL is a no-op. */
FIELDSYNC_API void fieldsync_free(fieldsync_client *c, void *p);

/* ------------------------------------------------------------------------------------------ */
/* Enrolment and server settings                                                              */

/* Redeem a one-time enrolment code printed by `fieldsync-server enroll`: connect with TLS 1.2
 * to host:port trusting only the CA certificate(s) in the PEM file ca_pem_path (the
 * certificate's name must match host), send Enroll{code, device_name}, and store the result in
 * the local store durably: device id, credential (32-byte secret), role, regions, own-only,
 * device name, server host/port and the CA PEM contents (the file is not needed afterwards).
 * The server's clock is adopted into the HLC. device_name may be NULL (the server chooses).
 * Blocking: call from a worker thread. Strings are copied.
 *
 * Returns 0; FIELDSYNC_EINVAL (NULL host/ca/code, port 0, name over 64 bytes);
 * FIELDSYNC_ESTATE (this store is already enrolled: use a new store file per device identity);
 * FIELDSYNC_EIO (cannot read the CA file); FIELDSYNC_ECONNECT (resolve/connect failed);
 * FIELDSYNC_ETLS (handshake or certificate verification failed); FIELDSYNC_ETIMEDOUT;
 * FIELDSYNC_EENROLL (code unknown, used or expired); FIELDSYNC_ERATE; FIELDSYNC_EPROTO;
 * FIELDSYNC_ECANCELED (fieldsync_interrupt); any code in an Error from the server (its message
 * in fieldsync_errmsg); FIELDSYNC_ESTORE; FIELDSYNC_ENOMEM. */
FIELDSYNC_API int fieldsync_enroll(fieldsync_client *c, const char *host, uint16_t port,
                                   const char *ca_pem_path, const char *code,
                                   const char *device_name);

/* Change the server an enrolled store syncs with (e.g. a new address), and optionally its CA
 * (ca_pem_path NULL keeps the stored CA). Forgets the cached TLS session. 0, FIELDSYNC_EINVAL,
 * FIELDSYNC_EIO (CA file unreadable or not PEM), FIELDSYNC_ESTORE. */
FIELDSYNC_API int fieldsync_set_server(fieldsync_client *c, const char *host, uint16_t port,
                                       const char *ca_pem_path);

/* ------------------------------------------------------------------------------------------ */
/* Records: offline editing                                                                   */
/*
 * Every edit below runs in one local transaction: it stamps a new HLC (wall clock + the
 * offset learned from the server, never lower than any clock issued or seen), applies the
 * operation to the local record with the same merge code as the server, and records it in the
 * outbox (one pending entry per (record, field address): editing a field twice before a sync
 * sends only the latest value). An edit works before enrolment too (the device id is then a
 * local placeholder, replaced in pending changes at enrolment).
 *
 * Common returns: 0; FIELDSYNC_EINVAL; FIELDSYNC_ENOTFOUND (no such record, or it is deleted);
 * FIELDSYNC_ESCHEMA (the value is not a valid encoding of that field of the collection's
 * message: wrong field number, wire type, nested message); FIELDSYNC_EUTF8 (invalid UTF-8 in a
 * string); FIELDSYNC_EREGION (an edit of the region field: a record's region is immutable);
 * FIELDSYNC_ECOLLECTION; FIELDSYNC_ESTORE; FIELDSYNC_ENOMEM.
 */

/* Create a record of collection `collection` in region `region` (1..64 bytes UTF-8, e.g. "GAO";
 * immutable afterwards). Writes its new UUIDv7 id into out_id. For ConsultationReport the
 * region field (1) is set to `region`. */
FIELDSYNC_API int fieldsync_create(fieldsync_client *c, uint32_t collection, const char *region,
                                   uint8_t out_id[FIELDSYNC_ID_LEN]);

/* Create a record from a whole encoded message (body, len bytes, e.g. made with the app's own
 * protobuf library). Every field present becomes one pending operation. If the message has a
 * region field it must equal `region` (else FIELDSYNC_EREGION); if absent it is set. */
FIELDSYNC_API int fieldsync_create_body(fieldsync_client *c, uint32_t collection,
                                        const char *region, const uint8_t *body, size_t len,
                                        uint8_t out_id[FIELDSYNC_ID_LEN]);

/* Set top-level field `field` of record id to `value` (a field value: tag + value, see the top
 * of this file; len 0 clears the field to its default). For a keyed repeated field (concerns,
 * recommendations, follow_ups) use the element functions instead (FIELDSYNC_EINVAL here). */
FIELDSYNC_API int fieldsync_set_field(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                                      uint32_t field, const uint8_t *value, size_t len);

/* Convenience setters for scalar top-level fields, encoded by the library according to the
 * field's declared type. FIELDSYNC_ESCHEMA if the field is not of a compatible type:
 *   _string: string or bytes fields (s is NUL-terminated UTF-8; "" clears);
 *   _int:    int32, int64, uint32, uint64, sint32, sint64, fixed32, fixed64, sfixed32,
 *            sfixed64 or enum (a value out of the field's range: FIELDSYNC_EINVAL);
 *   _double: double or float;
 *   _bool:   bool (any non-zero is true). */
FIELDSYNC_API int fieldsync_set_string(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                                       uint32_t field, const char *s);
FIELDSYNC_API int fieldsync_set_int(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                                    uint32_t field, int64_t v);
FIELDSYNC_API int fieldsync_set_double(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                                       uint32_t field, double v);
FIELDSYNC_API int fieldsync_set_bool(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                                     uint32_t field, int v);

/* Clear a top-level field to its default (same as fieldsync_set_field with len 0). */
FIELDSYNC_API int fieldsync_clear_field(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                                        uint32_t field);

/* Add or replace one element of keyed repeated field `field` (e.g. 14 = concerns).
 * msg/len is the encoded element message WITHOUT its tag (e.g. a packed Concern). Its `id`
 * field must equal element_id; if the message has no id, the library adds element_id.
 * element_id may be NULL to take the id from the message (which must then have one).
 * FIELDSYNC_EINVAL if the field is not a keyed repeated field or the ids differ;
 * FIELDSYNC_EBADID for a missing or nil id. */
FIELDSYNC_API int fieldsync_element_put(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                                        uint32_t field, const uint8_t element_id[FIELDSYNC_ID_LEN],
                                        const uint8_t *msg, size_t len);

/* Remove one element of a keyed repeated field (a tombstone: a concurrent edit of the same
 * element elsewhere loses only if it is older). FIELDSYNC_ENOTFOUND if the element does not
 * exist locally. */
FIELDSYNC_API int fieldsync_element_remove(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                                           uint32_t field,
                                           const uint8_t element_id[FIELDSYNC_ID_LEN]);

/* Replace the whole message: the library compares body with the current record address by
 * address (each top-level field, each keyed element) and records an edit only for the
 * addresses whose value changed (fields absent from body are cleared, elements absent are
 * removed). Lets an app encode its message with its own protobuf library. The region field, if
 * present, must be unchanged (FIELDSYNC_EREGION). Unchanged body: 0 and nothing recorded. */
FIELDSYNC_API int fieldsync_set_body(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                                     const uint8_t *body, size_t len);

/* Delete a record (a tombstone that syncs like any edit; the body stays readable with
 * fieldsync_get and listed when include_deleted is set). FIELDSYNC_ENOTFOUND if it does not
 * exist or is already deleted. */
FIELDSYNC_API int fieldsync_delete(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN]);

/* ------------------------------------------------------------------------------------------ */
/* Records: reading                                                                           */

/* One record as stored locally. In a list callback every pointer is valid during the callback
 * only; from fieldsync_get the record and everything it points to is one block owned by the
 * caller, freed with fieldsync_free(c, rec). */
typedef struct fieldsync_record {
    uint8_t id[FIELDSYNC_ID_LEN];
    uint32_t collection;
    const char *region;  /* never NULL */
    const char *commune; /* "" when unset (indexed column, ConsultationReport.commune) */
    uint32_t date;       /* consultation date as YYYYMMDD, 0 when unset */
    const uint8_t *body; /* canonical encoding of the merged message; decode it with */
    size_t body_len;     /* any protobuf library (e.g. consultation.pb-c.h) */
    int deleted;         /* 1 if the record is tombstoned */
    uint8_t creator[FIELDSYNC_ID_LEN]; /* device that created it (zeroes if unknown) */
    uint64_t updated_hlc;              /* greatest clock of any of its fields */
    uint32_t pending;                  /* local edits not yet acknowledged by the server */
    uint32_t rejected;                 /* changes the server rejected (see fieldsync_rejected) */
} fieldsync_record;

/* Read record id (deleted ones too). On success *out is a new block freed with
 * fieldsync_free(c, *out). 0, FIELDSYNC_ENOTFOUND, FIELDSYNC_EINVAL, FIELDSYNC_ENOMEM,
 * FIELDSYNC_ESTORE. */
FIELDSYNC_API int fieldsync_get(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                                fieldsync_record **out);

/* Which records fieldsync_list visits. Start from fieldsync_filter_init(). Strings are
 * compared exactly (case-sensitive); NULL or "" = any. */
typedef struct fieldsync_filter {
    uint32_t collection; /* 0 = any */
    const char *region;  /* NULL = any */
    const char *commune; /* NULL = any */
    uint32_t date_from;  /* YYYYMMDD inclusive, 0 = unbounded; records without a date are */
    uint32_t date_to;    /* excluded when either bound is set */
    int include_deleted; /* 0 (default): deleted records are skipped */
    int pending_only;    /* 1: only records with local edits not yet acknowledged */
    uint32_t limit;      /* 0 = no limit */
} fieldsync_filter;

FIELDSYNC_API void fieldsync_filter_init(fieldsync_filter *f);

/* Called once per matching record, ordered by record id (creation time, to the millisecond).
 * rec and what it points to are valid during the call only. Non-zero return stops the list. */
typedef int (*fieldsync_record_cb)(const fieldsync_record *rec, void *user);

/* Visit the records matching f (NULL = every live record). 0 when all were visited,
 * FIELDSYNC_ECANCELED if cb stopped it, FIELDSYNC_EINVAL, FIELDSYNC_ESTORE, FIELDSYNC_ENOMEM. */
FIELDSYNC_API int fieldsync_list(fieldsync_client *c, const fieldsync_filter *f,
                                 fieldsync_record_cb cb, void *user);

/* Number of records matching f (NULL = every live record) into *count. */
FIELDSYNC_API int fieldsync_count(fieldsync_client *c, const fieldsync_filter *f, uint64_t *count);

/* ------------------------------------------------------------------------------------------ */
/* Sync                                                                                       */

enum fieldsync_phase {
    FIELDSYNC_PHASE_CONNECT = 1, /* TCP, TLS, Hello/Welcome */
    FIELDSYNC_PHASE_PUSH = 2,    /* done/total: changes acknowledged / to send */
    FIELDSYNC_PHASE_PULL = 3,    /* done: records received; total: 0 (unknown) */
    FIELDSYNC_PHASE_DONE = 4     /* finished successfully (last call) */
};

typedef struct fieldsync_progress {
    int phase; /* enum fieldsync_phase */
    uint64_t done;
    uint64_t total;
    uint64_t bytes_sent; /* TLS application bytes so far in this sync */
    uint64_t bytes_received;
} fieldsync_progress;

/* Called on the syncing thread at each phase change and after every PushAck and PullPage.
 * Non-zero return cancels: fieldsync_sync returns FIELDSYNC_ECANCELED; every ack and page
 * already received is kept, nothing is half-applied, the next sync carries on. */
typedef int (*fieldsync_progress_cb)(const fieldsync_progress *p, void *user);

/* What a sync did (filled even when it fails part way, for what was done). */
typedef struct fieldsync_sync_stats {
    uint64_t pushed;     /* changes the server applied */
    uint64_t duplicates; /* changes the server already had (resends after a cut) */
    uint64_t rejected;   /* changes the server refused (see fieldsync_rejected) */
    uint64_t pulled;     /* records received and merged locally */
    uint64_t conflicts;  /* conflicts received */
    int resumed;         /* 1 if the TLS session was resumed (abbreviated handshake) */
    uint64_t elapsed_ms;
} fieldsync_sync_stats;

/* Start from fieldsync_sync_opts_init(). */
typedef struct fieldsync_sync_opts {
    fieldsync_progress_cb progress; /* NULL = none */
    void *user;                     /* passed to progress */
    int no_push;                    /* 1: skip the push phase */
    int no_pull;                    /* 1: skip the pull phase */
    uint32_t page_size;             /* records per PullPage wanted; 0 = the server's cap */
    uint32_t connect_timeout_ms;    /* 0 = the handle's default (open options) */
    uint32_t io_timeout_ms;         /* 0 = the handle's default */
    fieldsync_sync_stats *stats;    /* optional, filled on return */
} fieldsync_sync_opts;

FIELDSYNC_API void fieldsync_sync_opts_init(fieldsync_sync_opts *o);

/* Synchronise with the server the store is enrolled with. Blocking (network): call from a
 * worker thread. opts may be NULL.
 *
 * Connects (TLS 1.2 trusting the stored CA; the TLS session is kept on the handle so the next
 * sync resumes it in one round trip less), sends Hello, adopts the server's clock from Welcome
 * (clock offset = server time - local wall time), then pushes every unacknowledged change in
 * pipelined batches within the server's limits. An outbox entry is marked delivered only when
 * the server's PushAck for it arrives. A change the server rejects is set aside with its code
 * and message (fieldsync_rejected) and not resent; a change rejected for a clock too far ahead
 * is re-stamped at server time and resent once. Then pulls pages of changed records after the
 * stored cursor and merges each page into the local store together with the new cursor, in one
 * transaction, until the server has no more.
 *
 * Killing the process or cutting the link at any point is safe: each change keeps its
 * device_seq for every resend, so the server applies it exactly once, and the next sync carries
 * on where this one stopped.
 *
 * Returns 0; FIELDSYNC_ESTATE (not enrolled); FIELDSYNC_ECANCELED (progress callback or
 * fieldsync_interrupt); FIELDSYNC_ECONNECT; FIELDSYNC_ETLS; FIELDSYNC_ETIMEDOUT; FIELDSYNC_EIO
 * (connection cut); FIELDSYNC_EPROTO (malformed frame from the server); FIELDSYNC_EFRAMESIZE;
 * any code the server sent in an Error frame (FIELDSYNC_EAUTH, FIELDSYNC_EREVOKED,
 * FIELDSYNC_EBUSY, FIELDSYNC_ERATE, FIELDSYNC_ESHUTDOWN, ...) with the server's message in
 * fieldsync_errmsg; FIELDSYNC_ESTORE; FIELDSYNC_ENOMEM. A revoked device keeps its unsent work
 * locally. */
FIELDSYNC_API int fieldsync_sync(fieldsync_client *c, const fieldsync_sync_opts *opts);

/* ------------------------------------------------------------------------------------------ */
/* Rejected changes                                                                           */

typedef struct fieldsync_rejection {
    uint8_t record_id[FIELDSYNC_ID_LEN];
    uint64_t device_seq;
    int code;            /* FIELDSYNC_E* the server gave */
    const char *message; /* the server's message */
    uint32_t ops;        /* field operations in the change */
} fieldsync_rejection;

typedef int (*fieldsync_rejection_cb)(const fieldsync_rejection *r, void *user);

/* Visit changes the server rejected, oldest first. Pointers valid during the callback. 0,
 * FIELDSYNC_ECANCELED (cb stopped), FIELDSYNC_ESTORE. */
FIELDSYNC_API int fieldsync_rejected(fieldsync_client *c, fieldsync_rejection_cb cb, void *user);

/* Forget a rejected change once the user has seen it (the local record keeps its value).
 * 0, FIELDSYNC_ENOTFOUND. */
FIELDSYNC_API int fieldsync_rejected_dismiss(fieldsync_client *c, uint64_t device_seq);

/* ------------------------------------------------------------------------------------------ */
/* Conflicts                                                                                  */

enum fieldsync_conflict_state {
    FIELDSYNC_CONFLICT_OPEN = 1,
    FIELDSYNC_CONFLICT_RESOLVING = 2, /* resolved locally, resolution not yet acknowledged */
    FIELDSYNC_CONFLICT_RESOLVED = 3
};

/* Two concurrent writes of one field with different values, as learned from a pull. Values are
 * field values (tag + value) as in FieldOp.value; an empty value is a cleared field; for a keyed
 * element, one tagged element. All pointers valid during the callback only. */
typedef struct fieldsync_conflict {
    uint64_t id; /* the server's conflict id */
    uint8_t record_id[FIELDSYNC_ID_LEN];
    uint32_t field;
    const uint8_t *element_id; /* NULL unless a keyed element */
    size_t element_id_len;
    const uint8_t *winner_value; /* the value the merge kept */
    size_t winner_len;
    uint64_t winner_hlc;
    uint8_t winner_device[FIELDSYNC_ID_LEN];
    const uint8_t *loser_value; /* the other value, kept so nothing is lost */
    size_t loser_len;
    uint64_t loser_hlc;
    uint8_t loser_device[FIELDSYNC_ID_LEN];
    int state; /* enum fieldsync_conflict_state */
    uint8_t resolved_by[FIELDSYNC_ID_LEN];
    uint64_t resolved_hlc;
} fieldsync_conflict;

typedef int (*fieldsync_conflict_cb)(const fieldsync_conflict *cf, void *user);

/* Visit every conflict known locally (open ones first, then by id). 0, FIELDSYNC_ECANCELED
 * (cb stopped), FIELDSYNC_ESTORE, FIELDSYNC_ENOMEM. */
FIELDSYNC_API int fieldsync_conflicts(fieldsync_client *c, fieldsync_conflict_cb cb, void *user);

/* Resolve conflict conflict_id by writing `value` (a field value as in the conflict struct,
 * e.g. its winner_value or loser_value, or a new one) at the conflict's address: an ordinary
 * edit that carries the conflict id to the server at the next sync (Change.resolves). Only
 * coordinators and admins may resolve (the server rejects others: see fieldsync_rejected).
 * 0, FIELDSYNC_ENOTFOUND (unknown conflict or its record), FIELDSYNC_ESTATE (already resolved),
 * FIELDSYNC_ESCHEMA, FIELDSYNC_EUTF8, FIELDSYNC_ESTORE, FIELDSYNC_ENOMEM. */
FIELDSYNC_API int fieldsync_resolve(fieldsync_client *c, uint64_t conflict_id, const uint8_t *value,
                                    size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Status                                                                                     */

typedef struct fieldsync_status {
    int enrolled;                        /* 1 once fieldsync_enroll succeeded */
    uint8_t device_id[FIELDSYNC_ID_LEN]; /* zeroes before enrolment */
    const char *device_name;             /* "" before enrolment */
    int role;                            /* FIELDSYNC_ROLE_* */
    const char *regions;                 /* comma-separated region codes; "" = all (admin) */
    int own_only;
    const char *server_host; /* "" before enrolment */
    uint16_t server_port;
    uint64_t pending_changes;  /* field edits not yet acknowledged (a new record sent whole: 1) */
    uint64_t pending_records;  /* records with such entries */
    uint64_t rejected_changes; /* changes set aside after a rejection */
    uint64_t open_conflicts;
    uint64_t records;        /* live records in the store */
    uint64_t last_sync_ms;   /* local wall time of the last successful sync; 0 = never */
    uint64_t cursor;         /* pull cursor */
    int64_t clock_offset_ms; /* server time minus local wall time, from the last Welcome */
    uint64_t device_seq;     /* highest device_seq assigned so far */
    uint64_t hlc;            /* greatest clock issued or seen */
} fieldsync_status;

/* Fill *out. The strings are owned by the handle and valid until the next call on it.
 * 0, FIELDSYNC_EINVAL, FIELDSYNC_ESTORE, FIELDSYNC_ENOMEM. */
FIELDSYNC_API int fieldsync_status_get(fieldsync_client *c, fieldsync_status *out);

#ifdef __cplusplus
}
#endif

#endif
