/*
 * collections: the registry of synced collections (collection number -> protobuf message
 * descriptor and the few fields the server indexes). Shared by server and client so both
 * agree on what collection 1 is. Pure: no I/O.
 */
#ifndef FS_COLLECTIONS_H
#define FS_COLLECTIONS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define COLLECTION_CONSULTATION_REPORT 1
#define COLLECTIONS_TEXT_MAX           128 /* indexed text columns are cut to this */

struct collection {
    uint32_t number;
    const char *name; /* full protobuf name, e.g. "fieldsync.ConsultationReport" */
    const ProtobufCMessageDescriptor *desc;
    uint32_t region_field;  /* string field holding the record's region (immutable) */
    uint32_t commune_field; /* string field indexed as "commune"; 0 = none */
    uint32_t date_field;    /* fieldsync.Date field indexed as the record's date; 0 = none */
    uint32_t offset_field;  /* sint64: device clock minus server time (ms) when the record was
                               entered, set by the client library on creation; 0 = none */
};

/* Columns extracted from a body for the server's indexes. Strings are views into the body
 * (not NUL-terminated); absent fields have length 0 / date 0. */
struct collection_index {
    const uint8_t *region;
    size_t region_len;
    const uint8_t *commune;
    size_t commune_len;
    uint32_t date; /* yyyymmdd, 0 when absent */
};

/* The collection with this number, or NULL. */
const struct collection *collections_find(uint32_t number);
/* Extract the indexed columns from an encoded message of collection c (a shallow scan of the
 * top-level fields; the last occurrence wins, as protobuf says). 0 or FIELDSYNC_ESCHEMA. */
int collections_index(const struct collection *c, const uint8_t *body, size_t len,
                      struct collection_index *out);
/* Parse one encoded string field (tag + length + bytes, as in a FieldOp value) of number
 * field: 1 and (*s, *n) set, 0 if value is empty (cleared), FIELDSYNC_ESCHEMA otherwise. */
int collections_string_value(uint32_t field, const uint8_t *value, size_t len, const uint8_t **s,
                             size_t *n);

#endif
