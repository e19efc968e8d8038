/*
 * merge internals shared by merge.c, merge_state.c and merge_schema.c. Not for other modules.
 */
#ifndef FS_MERGE_INTERNAL_H
#define FS_MERGE_INTERNAL_H

#include "merge.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define MERGE_BLOB_VERSION 1
#define MERGE_F_TOMB       0x01u /* element tombstone; for field 0: the record is deleted */
#define MERGE_F_ELEM       0x02u /* an element id follows */
#define MERGE_F_BASE       0x04u /* the winner's base clock follows */
#define MERGE_F_HEADS      0x08u /* concurrent losing heads follow */
#define MERGE_F_SAME       0x10u /* (hlc, dev) omitted: the previous entry's (never on the first) */
#define MERGE_HEADS_MAX    32    /* losing heads kept per address (beyond: the oldest is dropped) */
#define MERGE_DEPTH_MAX    32    /* nesting bound for op_check */

/* A losing head: an op at an address that no other op received there has seen (see
 * docs/merge.md, "Open conflicts"). Only its clocks and a hash of its value are kept. */
struct merge_head {
    uint64_t hlc;
    uint64_t base_hlc; /* 0: none */
    uint64_t hash;     /* merge_value_hash of its value */
    uint8_t dev[16];
    uint8_t base_dev[16];
};

/* One address and its winner, as parsed from a state or built from an op. */
struct merge_entry {
    uint32_t field;
    uint8_t flags; /* MERGE_F_TOMB | MERGE_F_BASE (MERGE_F_ELEM is implied by idlen) */
    uint8_t idlen; /* 0: no element */
    uint8_t id[MERGE_ID_MAX];
    uint64_t hlc;
    uint64_t base_hlc;
    uint8_t dev[16];
    uint8_t base_dev[16];
    const uint8_t *val; /* the encoded value (tag + value), or NULL */
    size_t vlen;
    uint32_t heads_off, nheads; /* losing heads: index->h[heads_off ..], by ascending clock */
};

/* A record's entries in canonical (address) order, and their losing heads. */
struct merge_index {
    struct merge_entry *e;
    size_t n, cap;
    struct merge_head *h; /* append-only while applying; compacted on write */
    size_t nh, hcap;
};

/* Streaming reader of a clock blob (no allocation). */
struct merge_blob_reader {
    const uint8_t *p;
    size_t n, off;
    const uint8_t *devs;
    uint64_t ndev;
    uint64_t count, i;
    uint64_t last_hlc, last_dev; /* the previous entry's clock (dev: device index) */
};

/* merge_state.c */
int merge_state_addr_cmp(uint32_t fa, const uint8_t *ida, size_t la, uint32_t fb,
                         const uint8_t *idb, size_t lb);
int merge_state_reader_open(struct merge_blob_reader *br, const uint8_t *p, size_t n);
/* 1 with *e filled (val NULL), 0 at the end, FIELDSYNC_ESCHEMA, FIELDSYNC_ENOMEM. Heads are
 * appended to ix (e->heads_off) or, with ix NULL, checked and skipped. */
int merge_state_reader_next(struct merge_blob_reader *br, struct merge_entry *e,
                            struct merge_index *ix);
int merge_state_index_reserve(struct merge_index *ix, size_t n);
int merge_state_heads_reserve(struct merge_index *ix, size_t n);
/* 64-bit FNV-1a of (tombstone ? 1 : 0) then the value bytes (docs/merge.md). */
uint64_t merge_state_value_hash(int tombstone, const uint8_t *val, size_t vlen);
int merge_state_parse(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t body_len,
                      const uint8_t *clocks, size_t clocks_len, struct merge_index *ix);
int merge_state_write_body(const struct merge_index *ix, uint8_t **buf, size_t *len, size_t *cap);
int merge_state_write_clocks(const struct merge_index *ix, uint8_t **buf, size_t *len, size_t *cap);

/* merge_schema.c */
/* The element id field of a keyed repeated message field, or NULL if fd is not keyed. */
const ProtobufCFieldDescriptor *merge_schema_id_field(const ProtobufCFieldDescriptor *fd);
/* The keyed-ness of top-level field num of desc: id field descriptor or NULL. */
const ProtobufCFieldDescriptor *merge_schema_keyed(const ProtobufCMessageDescriptor *desc,
                                                   uint32_t num);
/* The element id inside an encoded element (LEN payload). 0, FIELDSYNC_ESCHEMA (malformed),
 * FIELDSYNC_EBADID (missing, empty or longer than MERGE_ID_MAX). */
int merge_schema_element_id(const ProtobufCFieldDescriptor *idfd, const uint8_t *msg, size_t len,
                            const uint8_t **id, size_t *idlen);
/* Full validation of an encoded message against desc (recursive). */
int merge_schema_check_message(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n,
                               int depth);
/* Full validation of one occurrence of a known field. */
int merge_schema_check_occurrence(const ProtobufCFieldDescriptor *fd, int wt, const uint8_t *val,
                                  size_t val_len, int depth);

#endif
