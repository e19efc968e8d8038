/*
 * merge_schema: what the protobuf-c descriptor says about encoded values. Decides which
 * repeated message fields are keyed (element type has a bytes/string field named "id"),
 * extracts element ids, and validates untrusted encodings field by field (wire type per
 * declared type, UTF-8 in strings, nested messages recursively, bounded depth). Pure: reads
 * descriptors and bytes only; never allocates; never reads past a buffer.
 */
#include "merge_internal.h"

#include "error.h"
#include "pbwire.h"

#include <string.h>

const ProtobufCFieldDescriptor *merge_schema_id_field(const ProtobufCFieldDescriptor *fd)
{
    if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label != PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    const ProtobufCMessageDescriptor *sub = fd->descriptor;
    if (!sub)
        return NULL;
    const ProtobufCFieldDescriptor *id = protobuf_c_message_descriptor_get_field_by_name(sub, "id");
    if (!id || id->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    if (id->type != PROTOBUF_C_TYPE_BYTES && id->type != PROTOBUF_C_TYPE_STRING)
        return NULL;
    return id;
}

const ProtobufCFieldDescriptor *merge_schema_keyed(const ProtobufCMessageDescriptor *desc,
                                                   uint32_t num)
{
    if (!desc)
        return NULL;
    return merge_schema_id_field(protobuf_c_message_descriptor_get_field(desc, num));
}

int merge_schema_element_id(const ProtobufCFieldDescriptor *idfd, const uint8_t *msg, size_t len,
                            const uint8_t **id, size_t *idlen)
{
    size_t off = 0;
    struct pbwire_field f;
    *id = NULL;
    *idlen = 0;
    /* Protobuf semantics: the last occurrence of a singular field wins. */
    while (off < len) {
        if (pbwire_next(msg, len, &off, &f) != 0)
            return FIELDSYNC_ESCHEMA;
        if (f.num != idfd->id)
            continue;
        if (f.wt != PBWIRE_LEN)
            return FIELDSYNC_ESCHEMA;
        *id = f.val;
        *idlen = f.val_len;
    }
    if (!*id || *idlen == 0 || *idlen > MERGE_ID_MAX)
        return FIELDSYNC_EBADID;
    return 0;
}

/* The wire type a scalar type is encoded with (LEN for strings, bytes, messages). */
static int scalar_wire_type(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_BOOL:
    case PROTOBUF_C_TYPE_ENUM:
        return PBWIRE_VARINT;
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return PBWIRE_I32;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return PBWIRE_I64;
    default:
        return PBWIRE_LEN;
    }
}

static int packed_ok(int wt, const uint8_t *p, size_t n)
{
    if (wt == PBWIRE_I32)
        return n % 4 == 0;
    if (wt == PBWIRE_I64)
        return n % 8 == 0;
    size_t off = 0;
    uint64_t v;
    while (off < n)
        if (pbwire_varint(p, n, &off, &v) != 0)
            return 0;
    return 1;
}

int merge_schema_check_occurrence(const ProtobufCFieldDescriptor *fd, int wt, const uint8_t *val,
                                  size_t val_len, int depth)
{
    int want = scalar_wire_type(fd->type);
    if (wt != want) {
        /* Repeated numeric fields may come packed. */
        if (wt == PBWIRE_LEN && want != PBWIRE_LEN && fd->label == PROTOBUF_C_LABEL_REPEATED)
            return packed_ok(want, val, val_len) ? 0 : FIELDSYNC_ESCHEMA;
        return FIELDSYNC_ESCHEMA;
    }
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        return pbwire_utf8_ok(val, val_len) ? 0 : FIELDSYNC_EUTF8;
    case PROTOBUF_C_TYPE_MESSAGE:
        if (!fd->descriptor)
            return FIELDSYNC_ESCHEMA;
        return merge_schema_check_message(fd->descriptor, val, val_len, depth + 1);
    default:
        return 0;
    }
}

int merge_schema_check_message(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n,
                               int depth)
{
    size_t off = 0;
    struct pbwire_field f;
    if (depth > MERGE_DEPTH_MAX)
        return FIELDSYNC_ESCHEMA;
    while (off < n) {
        if (pbwire_next(p, n, &off, &f) != 0)
            return FIELDSYNC_ESCHEMA;
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, f.num);
        if (!fd)
            continue; /* unknown: kept as is, well-formedness checked by pbwire_next */
        int rc = merge_schema_check_occurrence(fd, f.wt, f.val, f.val_len, depth);
        if (rc != 0)
            return rc;
    }
    return 0;
}
