/*
 * merge: the field-level LWW-map CRDT shared by server and client, generic over protobuf-c
 * message descriptors (any collection merges; no per-type code). Pure: no I/O, no SQLite,
 * no libuv; deterministic.
 *
 * A record's state is two byte strings:
 *   body   — the canonical protobuf encoding of the merged message: top-level fields in field
 *            number order; elements of keyed repeated fields (element type has a `bytes id`
 *            field 1... any field named "id") sorted by element id; unknown fields kept as
 *            opaque values in number order. Replicas that saw the same operations hold
 *            byte-identical bodies.
 *   clocks — the "clock blob": per addressed field (field, element id) its winning (hlc,
 *            device) and whether it is a tombstone, in canonical order (format in
 *            docs/protocol.md, "Clock blob"). Field 0 is the record itself: its value is
 *            non-empty when the record is deleted.
 *
 * Addressing: a top-level field number; a repeated message field whose element type has an
 * `id` field is addressed per element (field number + element id). Every other field is one
 * value (all of its tagged occurrences together).
 *
 * Winner per address: the greater (hlc, device) (hlc_cmp). Applying an op that loses, or one
 * already applied, changes nothing: merge is commutative, associative and idempotent.
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

/* A record's state; buffers are owned by the struct and grown with realloc. */
struct merge_record {
    uint8_t *body;
    size_t body_len, body_cap;
    uint8_t *clocks;
    size_t clocks_len, clocks_cap;
};

/* What applying one op did. Views point into the record or the op and are valid until the
 * next call that changes the record. */
struct merge_result {
    int applied;  /* 1: the op won and the state changed */
    int conflict; /* 1: concurrent write of the same address, different value */
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
void merge_record_close(struct merge_record *r);

/* Validate an op against the descriptor: the value must be a well-formed encoding of that
 * field only (right field number, right wire type, valid UTF-8 in strings, nested messages
 * parseable); element ids of the right size. 0, FIELDSYNC_ESCHEMA, FIELDSYNC_EUTF8,
 * FIELDSYNC_EBADID. Unknown field numbers are accepted as opaque values. */
int merge_op_check(const ProtobufCMessageDescriptor *desc, const struct merge_op *op);

/* Apply one op (call merge_op_check first for untrusted input). 0 with *res filled,
 * FIELDSYNC_ENOMEM, or a check error. */
int merge_apply(const ProtobufCMessageDescriptor *desc, struct merge_record *r,
                const struct merge_op *op, struct merge_result *res);

/* Split an encoded message into the ops that would build it (one per address present),
 * all stamped (hlc, device, base). Calls cb for each; a non-zero return from cb stops and
 * is returned. FIELDSYNC_ESCHEMA on a malformed body. */
typedef int (*merge_op_cb)(void *user, const struct merge_op *op);
int merge_split_body(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t len,
                     uint64_t hlc, const uint8_t *device, merge_op_cb cb, void *user);

/* Turn a full remote state (body + clocks, e.g. from a PullPage) into ops, each with its own
 * clock from the blob, tombstones included. Used to merge a pulled record locally. */
int merge_state_ops(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t body_len,
                    const uint8_t *clocks, size_t clocks_len, merge_op_cb cb, void *user);

/* Look up the current value and clock at an address (for conflicts and base clocks).
 * 1 found, 0 never written. Views valid until the record changes. */
int merge_get(const ProtobufCMessageDescriptor *desc, const struct merge_record *r, uint32_t field,
              const uint8_t *element_id, size_t element_id_len, const uint8_t **value,
              size_t *value_len, uint64_t *hlc, uint8_t device[16], int *tombstone);

/* 1 if the record's field 0 says deleted. */
int merge_is_deleted(const struct merge_record *r);

#endif
