/*
 * merge: the field-level LWW-map CRDT shared by server and client, generic over protobuf-c
 * message descriptors (any collection merges; no per-type code). Pure: no I/O, no SQLite,
 * no libuv; deterministic.
 *
 * A record's state is two byte strings:
 *   body   — the canonical protobuf encoding of the merged message: top-level fields in
 *            field number order; elements of keyed repeated fields sorted by element id;
 *            unknown fields kept as opaque values in number order. Replicas that saw the
 *            same operations hold byte-identical bodies.
 *   clocks — the "clock blob": per addressed field (field, element id) its winning (hlc,
 *            device), the winner's base clock, and whether it is a tombstone, in canonical
 *            order (format in docs/merge.md, "Clock blob"). Field 0 is the record itself:
 *            its value is non-empty when the record is deleted.
 *
 * Addressing: a top-level field number; a repeated message field whose element type has a
 * singular bytes or string field named `id` is "keyed": addressed per element (field number +
 * element id = the bytes of that `id`, 1..16). Every other field is one value (all of its
 * tagged occurrences together); unknown field numbers too, as opaque values.
 *
 * Winner per address: the greater (hlc, device) (hlc_cmp); for two different ops with the same
 * clock (a misbehaving client), then tombstone, then value bytes. Applying an op that loses, or
 * one already applied, changes nothing: merge is commutative, associative and idempotent.
 * Conflicts: see struct merge_result and docs/merge.md (the full specification, for app teams
 * writing their own implementation).
 */
#ifndef FS_MERGE_H
#define FS_MERGE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define MERGE_ID_MAX 16 /* element ids are at most 16 bytes */

/* One field operation (views into caller memory; nothing is copied or kept). */
struct merge_op {
    uint32_t field;            /* 0 = the record (value non-empty: deleted; empty: live) */
    const uint8_t *element_id; /* NULL unless addressing one keyed element */
    size_t element_id_len;     /* 1..MERGE_ID_MAX when element_id is set */
    const uint8_t *value;      /* encoded field exactly as inside the message (tag + value) */
    size_t value_len;          /* 0 = clear to default */
    int tombstone;             /* delete the keyed element */
    uint64_t hlc;
    const uint8_t *device;      /* 16 bytes */
    uint64_t base_hlc;          /* clock of the value this op overwrote on its device; 0 none */
    const uint8_t *base_device; /* 16 bytes, or NULL with base_hlc 0 */
};

struct merge_entry; /* merge_internal.h */
struct merge_head;

/* A record's state; buffers are owned by the struct and grown with realloc. Read body and
 * clocks (and their _len); the other members are private scratch reused across calls, so
 * that applying to a record allocates only when a buffer must grow. */
struct merge_record {
    uint8_t *body;
    size_t body_len, body_cap;
    uint8_t *clocks;
    size_t clocks_len, clocks_cap;
    /* private */
    uint8_t *spare_body, *spare_clocks;
    size_t spare_body_len, spare_body_cap, spare_clocks_len, spare_clocks_cap;
    struct merge_entry *index;
    size_t index_cap;
    struct merge_head *heads;
    size_t heads_cap;
};

/* What applying one op did. Views point into the record or the op and are valid until the
 * next call that changes the record. */
struct merge_result {
    int applied; /* 1: the op won and the state changed */
    /* 1: the op and the previous winner are in conflict (docs/merge.md, "Conflicts"): values
     * differ and base(op) < clock(old) and base(old) < clock(op) in (hlc, device) order, i.e.
     * neither writer could have seen the other. Set whether the op won (applied: the old
     * value lost) or lost (applied 0: the op's value lost to old). Only the current winner is
     * compared: a correct, delivery-order-dependent subset of all conflicting pairs; the
     * server's log is the authoritative one; merge_open_conflicts gives the order-independent
     * view. A duplicate of the winner never reports. */
    int conflict;
    /* The previous winner at this address (for history and conflicts). */
    const uint8_t *old_value;
    size_t old_len;
    int old_tombstone;
    uint64_t old_hlc; /* 0 if the address had never been written */
    uint8_t old_device[16];
};

void merge_record_init(struct merge_record *r);
/* Take copies of an existing state. 0, FIELDSYNC_ENOMEM, FIELDSYNC_ESCHEMA (bad blob). */
int merge_record_load(struct merge_record *r, const uint8_t *body, size_t body_len,
                      const uint8_t *clocks, size_t clocks_len);
/* As merge_record_load, without the pass that checks the clock blob: for a state this replica
 * wrote itself (merge_apply* parse and check it anyway, and refuse a corrupt one with
 * FIELDSYNC_ESCHEMA). 0 or FIELDSYNC_ENOMEM. */
int merge_record_load_stored(struct merge_record *r, const uint8_t *body, size_t body_len,
                             const uint8_t *clocks, size_t clocks_len);
void merge_record_close(struct merge_record *r);

/* Validate an op against the descriptor: the value must be a well-formed encoding of that
 * field only (right field number, right wire type, valid UTF-8 in strings, nested messages
 * parseable); element ids of the right size. 0, FIELDSYNC_ESCHEMA, FIELDSYNC_EUTF8,
 * FIELDSYNC_EBADID, FIELDSYNC_EINVAL (hlc 0, no device, no desc). Unknown field numbers are
 * accepted as opaque values (well-formedness only; no element id). Full list: docs/merge.md. */
int merge_op_check(const ProtobufCMessageDescriptor *desc, const struct merge_op *op);

/* Apply one op (call merge_op_check first for untrusted input). 0 with *res filled,
 * FIELDSYNC_ENOMEM, or a check error. Even without merge_op_check, apply refuses
 * (FIELDSYNC_EINVAL / ESCHEMA / EBADID) an op that would make the state unparseable: hlc 0,
 * no device, element id of the wrong size, a value that is not occurrences of its field, a
 * keyed element whose value carries another id. FIELDSYNC_ESCHEMA also for a corrupt state.
 * On any error the record is unchanged. res may be NULL. */
int merge_apply(const ProtobufCMessageDescriptor *desc, struct merge_record *r,
                const struct merge_op *op, struct merge_result *res);

/* Apply n ops in order, parsing and re-encoding the record once (the fast path for a new
 * record: merge_split_body into an array, then this). Same result as n merge_apply calls;
 * res (NULL or n entries) gets one result per op; old_value views may point into the record's
 * previous body or into earlier ops' values. On error nothing is changed. */
int merge_apply_many(const ProtobufCMessageDescriptor *desc, struct merge_record *r,
                     const struct merge_op *ops, size_t n, struct merge_result *res);

/* Split an encoded message into the ops that would build it (one per address present),
 * all stamped (hlc, device), no base. Calls cb for each, in address order. The ops' views
 * point into body and device only, so ops may be kept (e.g. for merge_apply_many) as long as
 * those live. A non-zero return from cb stops and is returned. FIELDSYNC_ESCHEMA on a
 * malformed body or a plain field whose occurrences are not adjacent, FIELDSYNC_EBADID on an
 * element without a valid id, FIELDSYNC_ENOMEM. The ops are not checked against the schema:
 * call merge_op_check on each. */
typedef int (*merge_op_cb)(void *user, const struct merge_op *op);
int merge_split_body(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t len,
                     uint64_t hlc, const uint8_t *device, merge_op_cb cb, void *user);

/* The state of a new record created by body, all stamped (hlc, device): the same bytes as
 * merge_split_body's ops (each merge_op_check'ed) applied with merge_apply_many to the empty
 * state, in one validating pass and without re-encoding when the body is canonical (top-level
 * fields in number order, keyed elements in id order, a field's occurrences together: what
 * protobuf encoders write for a sorted message). Replaces r's state. 0; 1 when the fast path
 * does not apply (a body not canonical, or invalid, or hlc 0 / no device): r is unchanged and
 * the caller takes the general path, which also reports the precise error; FIELDSYNC_ENOMEM
 * (r's state is then undefined: reload it). */
int merge_record_create(const ProtobufCMessageDescriptor *desc, struct merge_record *r,
                        const uint8_t *body, size_t len, uint64_t hlc, const uint8_t *device);

/* Turn a full remote state (body + clocks, e.g. from a PullPage) into ops, each with its own
 * clock and base from the blob, tombstones included (field 0 when deleted: value {1},
 * tombstone 1). Used to merge a pulled record locally: apply each op. Views valid during the
 * callback only. FIELDSYNC_ESCHEMA if body and clocks are malformed or disagree. */
int merge_state_ops(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t body_len,
                    const uint8_t *clocks, size_t clocks_len, merge_op_cb cb, void *user);

/* Look up the current value and clock at an address (for conflicts and base clocks).
 * 1 found, 0 never written (or a corrupt state). Any output pointer may be NULL. For field 0
 * desc may be NULL; value is {1} (len 1) when deleted. A cleared field or a tombstoned
 * element is found with value_len 0. Views valid until the record changes. */
int merge_get(const ProtobufCMessageDescriptor *desc, const struct merge_record *r, uint32_t field,
              const uint8_t *element_id, size_t element_id_len, const uint8_t **value,
              size_t *value_len, uint64_t *hlc, uint8_t device[16], int *tombstone);

/* An open conflict: at one address, a concurrent op that lost to the winner with another
 * value and that no op since was written over (a "losing head", docs/merge.md, "Open
 * conflicts"). Views valid during the callback only. The loser's value is not kept in the
 * state (only a hash of it): take it from history. */
struct merge_open {
    uint32_t field;
    const uint8_t *element_id; /* NULL unless a keyed element */
    size_t element_id_len;
    const uint8_t *winner_value; /* as in merge_get */
    size_t winner_len;
    int winner_tombstone;
    uint64_t winner_hlc;
    const uint8_t *winner_device;
    uint64_t loser_hlc;
    const uint8_t *loser_device;
    uint64_t loser_base_hlc; /* 0: none */
    const uint8_t *loser_base_device;
};
typedef int (*merge_open_cb)(void *user, const struct merge_open *o);

/* Enumerate the record's open conflicts in address order, then loser clock order. Unlike the
 * per-op merge_result.conflict, this set depends only on which ops the record received, not on
 * their order: replicas that received the same ops list the same open conflicts. An op written
 * over both values (base >= both clocks) closes it. Ops merged from merge_state_ops carry no
 * losing heads (a pulled state lists only winners). A non-zero return from cb stops and is
 * returned. 0, FIELDSYNC_ESCHEMA, FIELDSYNC_ENOMEM. */
int merge_open_conflicts(const ProtobufCMessageDescriptor *desc, const struct merge_record *r,
                         merge_open_cb cb, void *user);

/* 1 if the record's field 0 says deleted. */
int merge_is_deleted(const struct merge_record *r);

#endif
