/*
 * internal.h: what the library's files share — the handle, the memory helpers, the error
 * helper and the local store (lstore.c, the only file that includes sqlite3.h) and TLS
 * (tls.c, the only file that includes mbedtls headers) interfaces. Nothing here is exported:
 * the sources are built with hidden visibility and the version script exports fieldsync_*.
 */
#ifndef FIELDSYNC_INTERNAL_H
#define FIELDSYNC_INTERNAL_H

#include "fieldsync.h"

#include <protobuf-c/protobuf-c.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FS_ERRMSG_MAX  512
#define FS_NAME_MAX    64
#define FS_REGIONS_MAX 512
#define FS_HOST_MAX    255
#define FS_REGION_MAX  64
#define FS_CRED_LEN    32
#define FS_DEVICE_LEN  16

struct lstore;
struct tls_session;

struct fieldsync_client {
    fieldsync_allocator al;
    ProtobufCAllocator pb; /* wraps al for protobuf-c */
    uint64_t (*now_ms)(void *user);
    void *clock_user;
    uint32_t connect_timeout_ms, io_timeout_ms;
    struct lstore *st;
    int failed; /* open failed: only errmsg and close work */
    atomic_int interrupted;
    struct tls_session *tls_cache; /* TLS session kept for resumption (tls.c) */
    char errmsg[FS_ERRMSG_MAX];
    /* Storage behind fieldsync_status strings. */
    char st_name[FS_NAME_MAX + 1];
    char st_regions[FS_REGIONS_MAX + 1];
    char st_host[FS_HOST_MAX + 1];
};

/* ---- client.c: memory, errors, time ---- */
void *fieldsync__alloc(fieldsync_client *c, size_t n);
void *fieldsync__realloc(fieldsync_client *c, void *p, size_t n);
void fieldsync__free(fieldsync_client *c, void *p);
/* Record a failure's detail (printf-style) and return rc. */
int fieldsync__fail(fieldsync_client *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t fieldsync__wall_ms(fieldsync_client *c);
/* Common entry check: handle usable. 0 or an error (message set). */
int fieldsync__enter(fieldsync_client *c);

/* A growable byte buffer on the handle's allocator. */
struct fs_buf {
    uint8_t *p;
    size_t len, cap;
};
int fieldsync__buf_reserve(fieldsync_client *c, struct fs_buf *b, size_t need);
int fieldsync__buf_put(fieldsync_client *c, struct fs_buf *b, const void *p, size_t n);
int fieldsync__buf_varint(fieldsync_client *c, struct fs_buf *b, uint64_t v);
void fieldsync__buf_free(fieldsync_client *c, struct fs_buf *b);

/* A bump allocator for unpacking one protobuf message without a malloc per field. */
struct fs_arena {
    ProtobufCAllocator pb;
    fieldsync_client *c;
    struct fs_arena_block *head;
    int failed; /* an allocation failed since the last reset (tells ENOMEM from bad input) */
};
void fieldsync__arena_init(struct fs_arena *a, fieldsync_client *c);
void fieldsync__arena_reset(struct fs_arena *a); /* keeps the first block */
void fieldsync__arena_close(struct fs_arena *a);

/* ---- lstore.c: the local SQLite store ---- */

/* Device state (one row). */
struct lstore_device {
    int enrolled;
    uint8_t id[FS_DEVICE_LEN];
    uint8_t credential[FS_CRED_LEN];
    char name[FS_NAME_MAX + 1];
    int role;
    char regions[FS_REGIONS_MAX + 1];
    int own_only;
    uint64_t next_seq; /* next device_seq to assign (1 first) */
    uint64_t hlc_last;
    int64_t clock_offset_ms;
    uint64_t cursor;
    uint64_t last_sync_ms;
    char host[FS_HOST_MAX + 1];
    uint16_t port;
};

/* One record's row; body/clocks are loaded into a merge_record by the caller. */
struct lstore_rec {
    uint8_t id[16];
    uint32_t collection;
    char region[FS_REGION_MAX + 1];
    int deleted;
    int synced; /* 1 once some change of it was numbered or it came from the server */
    uint8_t creator[16];
    uint64_t updated_hlc;
};

/* One pending or sent field operation (outbox row). Views valid until the next lstore call. */
struct lstore_op {
    int64_t rowid;
    uint8_t record_id[16];
    uint32_t field; /* 0 = the record itself (delete) */
    const uint8_t *element_id;
    size_t element_id_len;
    const uint8_t *value;
    size_t value_len;
    int tombstone;
    uint64_t hlc;
    uint64_t base_hlc;
    uint8_t base_device[16];
    uint64_t seq;
    uint64_t resolves;
};

/* One numbered change (a row of `changes`). */
struct lstore_change {
    uint64_t seq;
    uint8_t record_id[16];
    uint32_t collection;
    char region[FS_REGION_MAX + 1];
    uint64_t hlc;
    const uint8_t *body; /* snapshot for a new record, else NULL */
    size_t body_len;
    int delete_record;
    int restamped;
    uint32_t nops;
};

/* key: 32 bytes (copied) to seal the content columns, or NULL for a store in clear text;
 * FIELDSYNC_EAUTH when it does not match the store. */
int lstore_open(fieldsync_client *c, const char *path, int create, uint32_t busy_ms,
                const uint8_t *key, struct lstore **out);
void lstore_close(fieldsync_client *c, struct lstore *st);
int lstore_begin(fieldsync_client *c);
/* Reset every cached statement (ends read snapshots; invalidates views). */
void lstore_idle(fieldsync_client *c);
/* 1: commits fsync (synchronous = FULL); 0: back to NORMAL. Outside transactions only. */
int lstore_durable(fieldsync_client *c, int on);
int lstore_commit(fieldsync_client *c);
void lstore_rollback(fieldsync_client *c);

int lstore_device_get(fieldsync_client *c, struct lstore_device *d);
int lstore_device_enrolled(fieldsync_client *c, const struct lstore_device *d, const uint8_t *ca,
                           size_t ca_len);
int lstore_set_server(fieldsync_client *c, const char *host, uint16_t port, const uint8_t *ca,
                      size_t ca_len);
/* Role and regions as the server last said (Welcome). */
int lstore_set_scope(fieldsync_client *c, int role, const char *regions, int own_only);
/* The stored CA PEM, NUL-terminated, allocated on the handle (free with fieldsync__free). */
int lstore_ca_get(fieldsync_client *c, uint8_t **pem, size_t *len);
/* Store the clock offset and the HLC (never lowering it, unless force). */
int lstore_set_clock(fieldsync_client *c, uint64_t hlc_last, int64_t offset);
int lstore_force_clock(fieldsync_client *c, uint64_t hlc_last, int64_t offset);
int lstore_set_hlc(fieldsync_client *c, uint64_t hlc_last);
int lstore_set_cursor(fieldsync_client *c, uint64_t cursor);
int lstore_set_last_sync(fieldsync_client *c, uint64_t ms);
/* Take the next device_seq (inside the caller's transaction). */
int lstore_take_seq(fieldsync_client *c, uint64_t *seq);

/* Record rows. get: 1 found (meta, body, clocks filled; body/clocks views valid until the next
 * lstore call), 0 not found, <0 error. */
int lstore_record_get(fieldsync_client *c, const uint8_t id[16], struct lstore_rec *meta,
                      const uint8_t **body, size_t *body_len, const uint8_t **clocks,
                      size_t *clocks_len);
int lstore_record_put(fieldsync_client *c, const struct lstore_rec *meta, const uint8_t *body,
                      size_t body_len, const uint8_t *clocks, size_t clocks_len);
int lstore_record_set_synced(fieldsync_client *c, const uint8_t id[16]);

/* Outbox. upsert: merge op into the pending (seq 0) entry of its address, keeping that entry's
 * base; or insert a new pending entry with op's base. */
int lstore_outbox_upsert(fieldsync_client *c, const struct lstore_op *op);
/* Visit the pending (seq 0) entries of one record, or of every record (id NULL), ordered by
 * record then address. cb returning non-zero stops and is returned. */
typedef int (*lstore_op_cb)(fieldsync_client *c, const struct lstore_op *op, void *user);
int lstore_outbox_pending(fieldsync_client *c, lstore_op_cb cb, void *user);
int lstore_outbox_by_seq(fieldsync_client *c, uint64_t seq, lstore_op_cb cb, void *user);
int lstore_outbox_count(fieldsync_client *c, const uint8_t *record_id, uint64_t *entries,
                        uint64_t *records);

int lstore_change_add(fieldsync_client *c, const struct lstore_change *ch);
/* Unacknowledged, not rejected changes in seq order. */
typedef int (*lstore_change_cb)(fieldsync_client *c, const struct lstore_change *ch, void *user);
int lstore_changes_unacked(fieldsync_client *c, lstore_change_cb cb, void *user);
int lstore_change_get(fieldsync_client *c, uint64_t seq, struct lstore_change *ch);
/* Acknowledged: forget the change and its outbox rows. */
int lstore_change_delivered(fieldsync_client *c, uint64_t seq);
int lstore_change_rejected(fieldsync_client *c, uint64_t seq, int code, const char *msg);
int lstore_change_renumber(fieldsync_client *c, uint64_t seq, uint64_t new_seq, uint64_t hlc);
int lstore_rejected_list(fieldsync_client *c, fieldsync_rejection_cb cb, void *user);
int lstore_rejected_dismiss(fieldsync_client *c, uint64_t seq);
int lstore_count_rejected(fieldsync_client *c, uint64_t *n);

/* Conflicts. */
int lstore_conflict_put(fieldsync_client *c, const fieldsync_conflict *cf);
int lstore_conflict_get(fieldsync_client *c, uint64_t id, fieldsync_conflict *cf, uint8_t eid[16]);
int lstore_conflict_set_state(fieldsync_client *c, uint64_t id, int state);
int lstore_conflicts_list(fieldsync_client *c, fieldsync_conflict_cb cb, void *user);
int lstore_count_conflicts(fieldsync_client *c, uint64_t *open);

/* Queries. */
int lstore_list(fieldsync_client *c, const fieldsync_filter *f, fieldsync_record_cb cb, void *user,
                uint64_t *count);
int lstore_get_public(fieldsync_client *c, const uint8_t id[16], fieldsync_record **out);

/* ---- edit.c ---- */
/* Apply one local edit op (already validated) through merge, fill the outbox. Used by the
 * resolve path too. resolves = conflict id or 0. */
struct edit_op {
    uint32_t field;
    const uint8_t *element_id;
    size_t element_id_len;
    const uint8_t *value;
    size_t value_len;
    int tombstone;
};

/* ---- tls.c: a blocking TLS 1.2 client connection ---- */
struct tls_client;
int tls_client_connect(fieldsync_client *c, const char *host, uint16_t port, const uint8_t *ca_pem,
                       size_t ca_len, uint32_t connect_ms, uint32_t io_ms, struct tls_client **out);
/* 1 if the last handshake resumed the cached session. */
int tls_client_resumed(const struct tls_client *t);
int tls_client_write(struct tls_client *t, const uint8_t *p, size_t n);
/* Read exactly n bytes. */
int tls_client_read(struct tls_client *t, uint8_t *p, size_t n);
uint64_t tls_client_bytes_sent(const struct tls_client *t);
uint64_t tls_client_bytes_received(const struct tls_client *t);
void tls_client_close(struct tls_client *t);
void tls_session_free(fieldsync_client *c, struct tls_session *s);

/* ---- query.c ---- */
/* Read a PEM file (NUL-terminated copy on the handle's allocator). */
int fieldsync__read_file(fieldsync_client *c, const char *path, uint8_t **out, size_t *len);

/* ---- edit.c ---- */
/* At enrolment: records edited before it carry the all-zero placeholder device in their clocks
 * and bases; give them the new device id (inside the caller's transaction). */
int fieldsync__adopt_device(fieldsync_client *c, const uint8_t dev[16]);
/* Rewrite every clock of a record above `bound` to `hlc` (clock-ahead recovery). */
int fieldsync__restamp_record(fieldsync_client *c, const uint8_t id[16], uint64_t bound,
                              uint64_t hlc);

/* lstore extras */
/* Number pending entries into changes (inside the caller's transaction). on_body (optional)
 * is called for each new record sent whole, with the change's clock. */
typedef int (*lstore_body_cb)(fieldsync_client *c, const uint8_t id[16], uint64_t hlc, void *user);
int lstore_number_pending(fieldsync_client *c, uint32_t max_ops, uint64_t *numbered,
                          lstore_body_cb on_body, void *user);
int lstore_count_records(fieldsync_client *c, uint64_t *n);
/* Ids of every record (for whole-store rewrites), into a buffer of 16-byte ids. */
int lstore_record_ids(fieldsync_client *c, struct fs_buf *ids);
/* Pending entries with clocks above bound get hlc. */
int lstore_outbox_restamp(fieldsync_client *c, uint64_t bound, uint64_t hlc);
int lstore_outbox_adopt(fieldsync_client *c, const uint8_t dev[16]);

#endif
