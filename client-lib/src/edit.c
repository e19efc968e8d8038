/*
 * edit: offline editing. Every public edit runs in one local transaction: stamp a new HLC
 * (wall clock + server offset, never below any clock issued or seen), apply each operation to
 * the record through merge (the same code as the server), write the record and fill the outbox
 * (one pending entry per address: the base clock kept is the one the field had when first
 * overwritten since the entry was last numbered). Nothing is half-applied: any failure rolls
 * the transaction back and the in-memory record is dropped.
 * Depends on merge.h, collections.h, hlc.h, uuid.h and lstore (no SQLite here).
 */
#include "internal.h"

#include "collections.h"
#include "hlc.h"
#include "merge.h"
#include "uuid.h"

#include <string.h>

#define WT_VARINT 0
#define WT_I64    1
#define WT_LEN    2
#define WT_I32    5

/* ---- small protobuf wire helpers ---- */

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return FIELDSYNC_ESCHEMA;
}

/* Find the last occurrence of length-delimited field `num` in a message. 1 found, 0 not,
 * FIELDSYNC_ESCHEMA if malformed. */
static int find_len_field(const uint8_t *msg, size_t len, uint32_t num, const uint8_t **val,
                          size_t *vlen)
{
    const uint8_t *p = msg, *end = msg + len;
    int found = 0;
    while (p < end) {
        uint64_t tag, n;
        if (get_varint(&p, end, &tag) < 0)
            return FIELDSYNC_ESCHEMA;
        switch (tag & 7) {
        case WT_VARINT:
            if (get_varint(&p, end, &n) < 0)
                return FIELDSYNC_ESCHEMA;
            break;
        case WT_I64:
            if ((size_t)(end - p) < 8)
                return FIELDSYNC_ESCHEMA;
            p += 8;
            break;
        case WT_I32:
            if ((size_t)(end - p) < 4)
                return FIELDSYNC_ESCHEMA;
            p += 4;
            break;
        case WT_LEN:
            if (get_varint(&p, end, &n) < 0 || n > (uint64_t)(end - p))
                return FIELDSYNC_ESCHEMA;
            if ((tag >> 3) == num) {
                *val = p;
                *vlen = (size_t)n;
                found = 1;
            }
            p += n;
            break;
        default:
            return FIELDSYNC_ESCHEMA;
        }
    }
    return found;
}

static int put_tag(fieldsync_client *c, struct fs_buf *b, uint32_t field, int wt)
{
    return fieldsync__buf_varint(c, b, ((uint64_t)field << 3) | (uint64_t)wt);
}

static int put_len_field(fieldsync_client *c, struct fs_buf *b, uint32_t field, const void *p,
                         size_t n)
{
    int rc;
    if ((rc = put_tag(c, b, field, WT_LEN)) < 0 || (rc = fieldsync__buf_varint(c, b, n)) < 0)
        return rc;
    return fieldsync__buf_put(c, b, p, n);
}

static void put_le(uint8_t *out, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

/* ---- collections and fields ---- */

static int find_collection(fieldsync_client *c, uint32_t number, const struct collection **out)
{
    *out = collections_find(number);
    if (!*out)
        return fieldsync__fail(c, FIELDSYNC_ECOLLECTION, "unknown collection %u", number);
    return 0;
}

static const ProtobufCFieldDescriptor *keyed_id_field(const ProtobufCFieldDescriptor *fd)
{
    if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label != PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    const ProtobufCFieldDescriptor *idf =
        protobuf_c_message_descriptor_get_field_by_name(fd->descriptor, "id");
    if (!idf || idf->type != PROTOBUF_C_TYPE_BYTES)
        return NULL;
    return idf;
}

/* ---- the edit transaction ---- */

struct edit_ctx {
    fieldsync_client *c;
    const struct collection *col;
    struct lstore_rec meta;
    struct merge_record rec;
    uint8_t device[16];
    uint64_t hlc;
    int64_t clock_offset_ms; /* server time minus device clock, as last learnt */
    int creating;
};

/* Begin, read device state, stamp a clock, load the record (unless creating). */
static int edit_begin(struct edit_ctx *e, const uint8_t id[16], int creating)
{
    fieldsync_client *c = e->c;
    struct lstore_device d;
    int rc;
    const uint8_t *body, *clocks;
    size_t body_len, clocks_len;

    e->creating = creating;
    if ((rc = lstore_begin(c)) < 0)
        return rc;
    if ((rc = lstore_device_get(c, &d)) < 0)
        return rc;
    if (d.enrolled)
        memcpy(e->device, d.id, 16);
    else
        memset(e->device, 0, 16);
    struct hlc h;
    hlc_init(&h, d.hlc_last);
    uint64_t wall = (uint64_t)((int64_t)fieldsync__wall_ms(c) + d.clock_offset_ms);
    e->hlc = hlc_now(&h, wall);
    e->clock_offset_ms = d.clock_offset_ms;
    if ((rc = lstore_set_hlc(c, e->hlc)) < 0)
        return rc;
    if (creating)
        return 0;
    rc = lstore_record_get(c, id, &e->meta, &body, &body_len, &clocks, &clocks_len);
    if (rc < 0)
        return rc;
    if (rc == 0 || e->meta.deleted) {
        char text[FIELDSYNC_ID_STR_LEN + 1];
        uuid_format(id, text);
        return fieldsync__fail(c, FIELDSYNC_ENOTFOUND, "no record %s%s", text,
                               rc ? " (deleted)" : "");
    }
    if ((rc = find_collection(c, e->meta.collection, &e->col)) < 0)
        return rc;
    rc = merge_record_load(&e->rec, body, body_len, clocks, clocks_len);
    if (rc < 0)
        return fieldsync__fail(c, rc, "cannot load the stored record: %s", fieldsync_err_name(rc));
    return 0;
}

/* Apply one op locally and queue it. */
static int edit_op(struct edit_ctx *e, const struct edit_op *op, uint64_t resolves)
{
    fieldsync_client *c = e->c;
    struct merge_op m;
    struct merge_result res;
    struct lstore_op lo;
    int rc;
    uint64_t base_hlc = 0;
    uint8_t base_dev[16] = {0};
    const uint8_t *v;
    size_t vlen;
    int tomb = 0;

    memset(&m, 0, sizeof m);
    m.field = op->field;
    m.element_id = op->element_id;
    m.element_id_len = op->element_id_len;
    m.value = op->value;
    m.value_len = op->value_len;
    m.tombstone = op->tombstone;
    m.hlc = e->hlc;
    m.device = e->device;
    if (op->field != 0 && (rc = merge_op_check(e->col->desc, &m)) < 0)
        return fieldsync__fail(c, rc, "field %u: value does not match the schema (%s)", op->field,
                               fieldsync_err_name(rc));
    if (!e->creating && merge_get(e->col->desc, &e->rec, op->field, op->element_id,
                                  op->element_id_len, &v, &vlen, &base_hlc, base_dev, &tomb) != 1) {
        base_hlc = 0;
        memset(base_dev, 0, 16);
    }
    m.base_hlc = base_hlc;
    m.base_device = base_hlc ? base_dev : NULL;
    if ((rc = merge_apply(e->col->desc, &e->rec, &m, &res)) < 0)
        return fieldsync__fail(c, rc, "merge failed on field %u (%s)", op->field,
                               fieldsync_err_name(rc));
    memset(&lo, 0, sizeof lo);
    memcpy(lo.record_id, e->meta.id, 16);
    lo.field = op->field;
    lo.element_id = op->element_id;
    lo.element_id_len = op->element_id_len;
    lo.value = op->value;
    lo.value_len = op->value_len;
    lo.tombstone = op->tombstone;
    lo.hlc = e->hlc;
    lo.base_hlc = base_hlc;
    memcpy(lo.base_device, base_dev, 16);
    lo.resolves = resolves;
    return lstore_outbox_upsert(c, &lo);
}

static int edit_finish(struct edit_ctx *e, int rc)
{
    fieldsync_client *c = e->c;
    if (rc == 0) {
        e->meta.deleted = merge_is_deleted(&e->rec);
        if (e->hlc > e->meta.updated_hlc)
            e->meta.updated_hlc = e->hlc;
        rc = lstore_record_put(c, &e->meta, e->rec.body, e->rec.body_len, e->rec.clocks,
                               e->rec.clocks_len);
    }
    if (rc == 0)
        rc = lstore_commit(c);
    if (rc < 0)
        lstore_rollback(c);
    merge_record_close(&e->rec);
    return rc;
}

static void edit_init(struct edit_ctx *e, fieldsync_client *c)
{
    memset(e, 0, sizeof *e);
    e->c = c;
    merge_record_init(&e->rec);
}

/* One-op edit of an existing record. */
static int edit_one(fieldsync_client *c, const uint8_t id[16], const struct edit_op *op,
                    uint64_t resolves)
{
    struct edit_ctx e;
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!id)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "NULL record id");
    edit_init(&e, c);
    rc = edit_begin(&e, id, 0);
    if (rc == 0 && op->field == e.col->region_field && op->field != 0)
        rc = fieldsync__fail(c, FIELDSYNC_EREGION, "a record's region cannot change");
    if (rc == 0)
        rc = edit_op(&e, op, resolves);
    return edit_finish(&e, rc);
}

/* ---- body splitting (create_body, set_body) ---- */

struct addr {
    uint32_t field;
    size_t eid_off, eid_len; /* into the buffer */
    size_t val_off, val_len;
};

struct addr_list {
    fieldsync_client *c;
    struct fs_buf data;  /* element ids and values */
    struct fs_buf addrs; /* struct addr[] */
    int rc;
};

static int collect_cb(void *user, const struct merge_op *op)
{
    struct addr_list *l = user;
    struct addr a;
    int rc;
    a.field = op->field;
    a.eid_off = l->data.len;
    a.eid_len = op->element_id ? op->element_id_len : 0;
    if ((rc = fieldsync__buf_put(l->c, &l->data, op->element_id, a.eid_len)) < 0)
        return l->rc = rc;
    a.val_off = l->data.len;
    a.val_len = op->value_len;
    if ((rc = fieldsync__buf_put(l->c, &l->data, op->value, op->value_len)) < 0)
        return l->rc = rc;
    if ((rc = fieldsync__buf_put(l->c, &l->addrs, &a, sizeof a)) < 0)
        return l->rc = rc;
    return 0;
}

static int split(fieldsync_client *c, const ProtobufCMessageDescriptor *desc, const uint8_t *body,
                 size_t len, struct addr_list *l)
{
    static const uint8_t zero[16];
    memset(l, 0, sizeof *l);
    l->c = c;
    int rc = merge_split_body(desc, body, len, 1, zero, collect_cb, l);
    if (l->rc < 0)
        return l->rc;
    if (rc < 0)
        return fieldsync__fail(c, rc, "the message is not a valid encoding (%s)",
                               fieldsync_err_name(rc));
    return 0;
}

static void addr_list_free(struct addr_list *l)
{
    fieldsync__buf_free(l->c, &l->data);
    fieldsync__buf_free(l->c, &l->addrs);
}

static size_t addr_count(const struct addr_list *l)
{
    return l->addrs.len / sizeof(struct addr);
}

static const struct addr *addr_at(const struct addr_list *l, size_t i)
{
    return (const struct addr *)(const void *)l->addrs.p + i;
}

static const struct addr *addr_find(const struct addr_list *l, const struct addr *a,
                                    const struct addr_list *al)
{
    for (size_t i = 0; i < addr_count(l); i++) {
        const struct addr *b = addr_at(l, i);
        if (b->field == a->field && b->eid_len == a->eid_len &&
            (!a->eid_len ||
             memcmp(l->data.p + b->eid_off, al->data.p + a->eid_off, a->eid_len) == 0))
            return b;
    }
    return NULL;
}

static void addr_to_op(const struct addr_list *l, const struct addr *a, struct edit_op *op)
{
    memset(op, 0, sizeof *op);
    op->field = a->field;
    op->element_id = a->eid_len ? l->data.p + a->eid_off : NULL;
    op->element_id_len = a->eid_len;
    op->value = a->val_len ? l->data.p + a->val_off : NULL;
    op->value_len = a->val_len;
}

/* ---- create ---- */

static int check_region(fieldsync_client *c, const char *region)
{
    size_t n = region ? strlen(region) : 0;
    if (n == 0 || n > FS_REGION_MAX)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "region must be 1..%d bytes", FS_REGION_MAX);
    return 0;
}

/* The collection's clock-offset field (sint64, zigzag varint) as one op, its value in b. */
static int put_offset(struct edit_ctx *e, struct fs_buf *b)
{
    int64_t v = -e->clock_offset_ms; /* device clock minus server time */
    uint64_t zz = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    int rc;
    b->len = 0;
    if ((rc = put_tag(e->c, b, e->col->offset_field, WT_VARINT)) < 0 ||
        (rc = fieldsync__buf_varint(e->c, b, zz)) < 0)
        return rc;
    struct edit_op op = {.field = e->col->offset_field, .value = b->p, .value_len = b->len};
    return edit_op(e, &op, 0);
}

int fieldsync_create_body(fieldsync_client *c, uint32_t collection, const char *region,
                          const uint8_t *body, size_t len, uint8_t out_id[FIELDSYNC_ID_LEN])
{
    struct edit_ctx e;
    struct addr_list l;
    struct fs_buf rv = {0};
    int rc = fieldsync__enter(c);
    int have_region = 0;

    if (rc < 0)
        return rc;
    if (!out_id || (!body && len))
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "create: NULL argument");
    if ((rc = check_region(c, region)) < 0)
        return rc;
    edit_init(&e, c);
    memset(&l, 0, sizeof l);
    l.c = c;
    if ((rc = find_collection(c, collection, &e.col)) < 0)
        goto out_early;
    if ((rc = split(c, e.col->desc, body, len, &l)) < 0)
        goto out_early;
    /* The region field, if present, must say the same as `region`. */
    if (e.col->region_field) {
        for (size_t i = 0; i < addr_count(&l); i++) {
            const struct addr *a = addr_at(&l, i);
            if (a->field != e.col->region_field)
                continue;
            const uint8_t *s;
            size_t n;
            if (collections_string_value(a->field, l.data.p + a->val_off, a->val_len, &s, &n) !=
                    1 ||
                n != strlen(region) || memcmp(s, region, n) != 0) {
                rc = fieldsync__fail(c, FIELDSYNC_EREGION,
                                     "the message's region differs from \"%s\"", region);
                goto out_early;
            }
            have_region = 1;
        }
        if (!have_region &&
            (rc = put_len_field(c, &rv, e.col->region_field, region, strlen(region))) < 0)
            goto out_early;
    }
    if ((rc = edit_begin(&e, NULL, 1)) < 0)
        goto out;
    if ((rc = uuid_v7(e.meta.id, hlc_ms(e.hlc))) < 0) {
        rc = fieldsync__fail(c, rc, "no randomness from the OS");
        goto out;
    }
    e.meta.collection = collection;
    memcpy(e.meta.region, region, strlen(region) + 1);
    memcpy(e.meta.creator, e.device, 16);
    if (rv.len) {
        struct edit_op op = {.field = e.col->region_field, .value = rv.p, .value_len = rv.len};
        if ((rc = edit_op(&e, &op, 0)) < 0)
            goto out;
    }
    int have_offset = 0;
    for (size_t i = 0; i < addr_count(&l); i++) {
        struct edit_op op;
        addr_to_op(&l, addr_at(&l, i), &op);
        if (op.field == 0)
            continue;
        have_offset |= op.field == e.col->offset_field;
        if ((rc = edit_op(&e, &op, 0)) < 0)
            goto out;
    }
    /* Human-facing times are stored as entered: record beside them how far this device's clock
     * was from the server's (DESIGN §5), unless the caller set it or it is not known to differ. */
    if (e.col->offset_field && !have_offset && e.clock_offset_ms != 0 &&
        (rc = put_offset(&e, &rv)) < 0)
        goto out;
    memcpy(out_id, e.meta.id, 16);
out:
    rc = edit_finish(&e, rc);
    goto done;
out_early:
    merge_record_close(&e.rec);
done:
    addr_list_free(&l);
    fieldsync__buf_free(c, &rv);
    return rc;
}

int fieldsync_create(fieldsync_client *c, uint32_t collection, const char *region,
                     uint8_t out_id[FIELDSYNC_ID_LEN])
{
    return fieldsync_create_body(c, collection, region, NULL, 0, out_id);
}

/* ---- field setters ---- */

static int field_desc(fieldsync_client *c, const uint8_t id[16], uint32_t field,
                      const ProtobufCFieldDescriptor **fd);

int fieldsync_set_field(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN], uint32_t field,
                        const uint8_t *value, size_t len)
{
    const ProtobufCFieldDescriptor *fd = NULL;
    struct edit_op op = {.field = field, .value = value, .value_len = len};
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (field == 0 || (!value && len))
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "set_field: bad field or value");
    if (!id)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "NULL record id");
    /* Keyed fields go through the element calls; unknown fields are opaque values. */
    if ((rc = field_desc(c, id, field, &fd)) < 0 && rc != FIELDSYNC_ESCHEMA)
        return rc;
    if (rc == 0 && keyed_id_field(fd))
        return fieldsync__fail(c, FIELDSYNC_EINVAL,
                               "field %s is keyed: use fieldsync_element_put/_remove", fd->name);
    return edit_one(c, id, &op, 0);
}

int fieldsync_clear_field(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN], uint32_t field)
{
    return fieldsync_set_field(c, id, field, NULL, 0);
}

/* Look up the record's collection and the field's descriptor (outside the edit transaction:
 * a record's collection never changes). */
static int field_desc(fieldsync_client *c, const uint8_t id[16], uint32_t field,
                      const ProtobufCFieldDescriptor **fd)
{
    struct lstore_rec meta;
    const struct collection *col;
    const uint8_t *body, *clocks;
    size_t bl, cl;
    int rc = lstore_record_get(c, id, &meta, &body, &bl, &clocks, &cl);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        char text[FIELDSYNC_ID_STR_LEN + 1];
        uuid_format(id, text);
        return fieldsync__fail(c, FIELDSYNC_ENOTFOUND, "no record %s", text);
    }
    if ((rc = find_collection(c, meta.collection, &col)) < 0)
        return rc;
    *fd = protobuf_c_message_descriptor_get_field(col->desc, (unsigned)field);
    if (!*fd)
        return fieldsync__fail(c, FIELDSYNC_ESCHEMA, "no field %u in %s", field, col->name);
    return 0;
}

static int set_scalar(fieldsync_client *c, const uint8_t id[16], uint32_t field, int kind,
                      int64_t iv, double dv, const char *sv)
{
    const ProtobufCFieldDescriptor *fd;
    struct fs_buf b = {0};
    uint8_t le[8];
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!id)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "NULL record id");
    if ((rc = field_desc(c, id, field, &fd)) < 0)
        return rc;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED)
        return fieldsync__fail(c, FIELDSYNC_ESCHEMA, "field %s is repeated: use set_field",
                               fd->name);
    rc = FIELDSYNC_ESCHEMA;
    switch (kind) {
    case 's':
        if (fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_BYTES)
            goto bad_type;
        rc = *sv ? put_len_field(c, &b, field, sv, strlen(sv)) : 0;
        break;
    case 'b':
        if (fd->type != PROTOBUF_C_TYPE_BOOL)
            goto bad_type;
        rc = iv ? put_tag(c, &b, field, WT_VARINT) : 0;
        if (rc == 0 && iv)
            rc = fieldsync__buf_varint(c, &b, 1);
        break;
    case 'd':
        if (fd->type == PROTOBUF_C_TYPE_DOUBLE) {
            uint64_t bits;
            memcpy(&bits, &dv, 8);
            put_le(le, bits, 8);
            rc = dv != 0.0 || (bits >> 63) ? put_tag(c, &b, field, WT_I64) : 0;
            if (rc == 0 && (dv != 0.0 || (bits >> 63)))
                rc = fieldsync__buf_put(c, &b, le, 8);
        } else if (fd->type == PROTOBUF_C_TYPE_FLOAT) {
            float f = (float)dv;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            put_le(le, bits, 4);
            rc = bits ? put_tag(c, &b, field, WT_I32) : 0;
            if (rc == 0 && bits)
                rc = fieldsync__buf_put(c, &b, le, 4);
        } else {
            goto bad_type;
        }
        break;
    case 'i': {
        uint64_t u;
        int wt = WT_VARINT, width = 0;
        switch (fd->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_ENUM:
            if (iv < INT32_MIN || iv > INT32_MAX)
                goto range;
            u = (uint64_t)iv; /* negative int32: sign-extended to 10 bytes, as protobuf does */
            break;
        case PROTOBUF_C_TYPE_INT64:
            u = (uint64_t)iv;
            break;
        case PROTOBUF_C_TYPE_UINT32:
            if (iv < 0 || iv > (int64_t)UINT32_MAX)
                goto range;
            u = (uint64_t)iv;
            break;
        case PROTOBUF_C_TYPE_UINT64:
            if (iv < 0)
                goto range;
            u = (uint64_t)iv;
            break;
        case PROTOBUF_C_TYPE_SINT32:
            if (iv < INT32_MIN || iv > INT32_MAX)
                goto range;
            u = (uint32_t)(((uint32_t)iv << 1) ^ (uint32_t)((int32_t)iv >> 31));
            break;
        case PROTOBUF_C_TYPE_SINT64:
            u = ((uint64_t)iv << 1) ^ (uint64_t)(iv >> 63);
            break;
        case PROTOBUF_C_TYPE_FIXED32:
            if (iv < 0 || iv > (int64_t)UINT32_MAX)
                goto range;
            u = (uint64_t)iv, wt = WT_I32, width = 4;
            break;
        case PROTOBUF_C_TYPE_SFIXED32:
            if (iv < INT32_MIN || iv > INT32_MAX)
                goto range;
            u = (uint32_t)(int32_t)iv, wt = WT_I32, width = 4;
            break;
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_SFIXED64:
            u = (uint64_t)iv, wt = WT_I64, width = 8;
            break;
        default:
            goto bad_type;
        }
        rc = 0;
        if (iv != 0) {
            if ((rc = put_tag(c, &b, field, wt)) < 0)
                break;
            if (width) {
                put_le(le, u, width);
                rc = fieldsync__buf_put(c, &b, le, (size_t)width);
            } else {
                rc = fieldsync__buf_varint(c, &b, u);
            }
        }
        break;
    }
    }
    if (rc == 0) {
        struct edit_op op = {.field = field, .value = b.p, .value_len = b.len};
        rc = edit_one(c, id, &op, 0);
    }
    fieldsync__buf_free(c, &b);
    return rc;
range:
    return fieldsync__fail(c, FIELDSYNC_EINVAL, "value %lld out of range for field %s",
                           (long long)iv, fd->name);
bad_type:
    fieldsync__buf_free(c, &b);
    return fieldsync__fail(c, FIELDSYNC_ESCHEMA, "field %s has another type", fd->name);
}

int fieldsync_set_string(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN], uint32_t field,
                         const char *s)
{
    if (c && !s)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "NULL string");
    return set_scalar(c, id, field, 's', 0, 0, s);
}

int fieldsync_set_int(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN], uint32_t field,
                      int64_t v)
{
    return set_scalar(c, id, field, 'i', v, 0, NULL);
}

int fieldsync_set_double(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN], uint32_t field,
                         double v)
{
    return set_scalar(c, id, field, 'd', 0, v, NULL);
}

int fieldsync_set_bool(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN], uint32_t field,
                       int v)
{
    return set_scalar(c, id, field, 'b', v != 0, 0, NULL);
}

/* ---- keyed elements ---- */

int fieldsync_element_put(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN], uint32_t field,
                          const uint8_t element_id[FIELDSYNC_ID_LEN], const uint8_t *msg,
                          size_t len)
{
    const ProtobufCFieldDescriptor *fd, *idf;
    struct fs_buf inner = {0}, val = {0};
    const uint8_t *mid = NULL;
    size_t mid_len = 0;
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!id || (!msg && len))
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "element_put: NULL argument");
    if ((rc = field_desc(c, id, field, &fd)) < 0)
        return rc;
    if (!(idf = keyed_id_field(fd)))
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "field %s is not a keyed repeated field",
                               fd->name);
    rc = find_len_field(msg, len, idf->id, &mid, &mid_len);
    if (rc < 0) {
        rc = fieldsync__fail(c, rc, "the element is not a valid %s", fd->name);
        goto out;
    }
    if (rc == 1) {
        if (mid_len != FIELDSYNC_ID_LEN || uuid_is_nil(mid)) {
            rc = fieldsync__fail(c, FIELDSYNC_EBADID, "the element's id must be 16 non-zero bytes");
            goto out;
        }
        if (element_id && memcmp(mid, element_id, 16) != 0) {
            rc = fieldsync__fail(c, FIELDSYNC_EINVAL, "element_id differs from the message's id");
            goto out;
        }
        rc = fieldsync__buf_put(c, &inner, msg, len);
    } else {
        if (!element_id || uuid_is_nil(element_id)) {
            rc = fieldsync__fail(c, FIELDSYNC_EBADID, "the element has no id");
            goto out;
        }
        /* Put the id first, as protobuf encoders do. */
        if ((rc = put_len_field(c, &inner, idf->id, element_id, 16)) == 0)
            rc = fieldsync__buf_put(c, &inner, msg, len);
        mid = element_id;
    }
    if (rc < 0)
        goto out;
    uint8_t eid[16];
    memcpy(eid, mid ? mid : element_id, 16);
    if ((rc = put_len_field(c, &val, field, inner.p, inner.len)) < 0)
        goto out;
    struct edit_op op = {.field = field,
                         .element_id = eid,
                         .element_id_len = 16,
                         .value = val.p,
                         .value_len = val.len};
    rc = edit_one(c, id, &op, 0);
out:
    fieldsync__buf_free(c, &inner);
    fieldsync__buf_free(c, &val);
    return rc;
}

int fieldsync_element_remove(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN],
                             uint32_t field, const uint8_t element_id[FIELDSYNC_ID_LEN])
{
    const ProtobufCFieldDescriptor *fd;
    struct edit_ctx e;
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!id || !element_id)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "element_remove: NULL argument");
    if ((rc = field_desc(c, id, field, &fd)) < 0)
        return rc;
    if (!keyed_id_field(fd))
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "field %s is not a keyed repeated field",
                               fd->name);
    edit_init(&e, c);
    if ((rc = edit_begin(&e, id, 0)) == 0) {
        const uint8_t *v;
        size_t vl;
        uint64_t h;
        uint8_t dev[16];
        int tomb = 0;
        if (merge_get(e.col->desc, &e.rec, field, element_id, 16, &v, &vl, &h, dev, &tomb) != 1 ||
            tomb) {
            char text[FIELDSYNC_ID_STR_LEN + 1];
            uuid_format(element_id, text);
            rc = fieldsync__fail(c, FIELDSYNC_ENOTFOUND, "no element %s in %s", text, fd->name);
        } else {
            struct edit_op op = {
                .field = field, .element_id = element_id, .element_id_len = 16, .tombstone = 1};
            rc = edit_op(&e, &op, 0);
        }
    }
    return edit_finish(&e, rc);
}

/* ---- whole body ---- */

int fieldsync_set_body(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN], const uint8_t *body,
                       size_t len)
{
    struct edit_ctx e;
    struct addr_list now, want;
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!id || (!body && len))
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "set_body: NULL argument");
    edit_init(&e, c);
    memset(&now, 0, sizeof now);
    memset(&want, 0, sizeof want);
    now.c = want.c = c;
    if ((rc = edit_begin(&e, id, 0)) < 0)
        goto out;
    if ((rc = split(c, e.col->desc, e.rec.body, e.rec.body_len, &now)) < 0)
        goto out;
    if ((rc = split(c, e.col->desc, body, len, &want)) < 0)
        goto out;
    /* Changed or new addresses. */
    for (size_t i = 0; i < addr_count(&want); i++) {
        const struct addr *a = addr_at(&want, i);
        const struct addr *b = addr_find(&now, a, &want);
        if (a->field == 0)
            continue;
        if (b && b->val_len == a->val_len &&
            memcmp(now.data.p + b->val_off, want.data.p + a->val_off, a->val_len) == 0)
            continue;
        if (a->field == e.col->region_field) {
            rc = fieldsync__fail(c, FIELDSYNC_EREGION, "a record's region cannot change");
            goto out;
        }
        struct edit_op op;
        addr_to_op(&want, a, &op);
        if ((rc = edit_op(&e, &op, 0)) < 0)
            goto out;
    }
    /* Addresses gone: clear the field or remove the element (the region stays). */
    for (size_t i = 0; i < addr_count(&now); i++) {
        const struct addr *b = addr_at(&now, i);
        if (b->field == 0 || b->field == e.col->region_field || addr_find(&want, b, &now))
            continue;
        struct edit_op op;
        addr_to_op(&now, b, &op);
        op.value = NULL;
        op.value_len = 0;
        op.tombstone = b->eid_len != 0;
        if ((rc = edit_op(&e, &op, 0)) < 0)
            goto out;
    }
out:
    rc = edit_finish(&e, rc);
    addr_list_free(&now);
    addr_list_free(&want);
    return rc;
}

/* ---- delete ---- */

int fieldsync_delete(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN])
{
    static const uint8_t deleted = 1;
    struct edit_op op = {.field = 0, .value = &deleted, .value_len = 1};
    return edit_one(c, id, &op, 0);
}

/* ---- resolve ---- */

int fieldsync_resolve(fieldsync_client *c, uint64_t conflict_id, const uint8_t *value, size_t len)
{
    fieldsync_conflict cf;
    uint8_t eid[16];
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!value && len)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "resolve: NULL value");
    if ((rc = lstore_conflict_get(c, conflict_id, &cf, eid)) < 0)
        return rc;
    if (cf.state != FIELDSYNC_CONFLICT_OPEN)
        return fieldsync__fail(
            c, FIELDSYNC_ESTATE, "conflict %llu is already %s", (unsigned long long)conflict_id,
            cf.state == FIELDSYNC_CONFLICT_RESOLVING ? "being resolved" : "resolved");
    size_t eid_len = cf.element_id_len;
    struct edit_op op = {.field = cf.field,
                         .element_id = eid_len ? eid : NULL,
                         .element_id_len = eid_len,
                         .value = value,
                         .value_len = len,
                         .tombstone = eid_len && !len};
    struct edit_ctx e;
    edit_init(&e, c);
    if ((rc = edit_begin(&e, cf.record_id, 0)) == 0)
        rc = edit_op(&e, &op, conflict_id);
    if (rc == 0)
        rc = lstore_conflict_set_state(c, conflict_id, FIELDSYNC_CONFLICT_RESOLVING);
    return edit_finish(&e, rc);
}

/* ---- whole-record rewrites (enrolment, clock-ahead recovery) ---- */

struct rewrite {
    const ProtobufCMessageDescriptor *desc;
    struct merge_record *out;
    const uint8_t *to_dev; /* replaces the all-zero placeholder device, or NULL */
    uint64_t bound, hlc;   /* clocks above bound become hlc (bound 0: none) */
};

static int rewrite_cb(void *user, const struct merge_op *op)
{
    static const uint8_t zero[16];
    struct rewrite *rw = user;
    struct merge_op m = *op;
    struct merge_result res;
    if (rw->to_dev && (!op->device || memcmp(op->device, zero, 16) == 0))
        m.device = rw->to_dev;
    if (rw->bound && m.hlc > rw->bound)
        m.hlc = rw->hlc;
    m.base_hlc = 0;
    m.base_device = NULL;
    return merge_apply(rw->desc, rw->out, &m, &res);
}

static int rewrite_record(fieldsync_client *c, const uint8_t id[16], struct rewrite *rw)
{
    struct lstore_rec meta;
    const struct collection *col;
    struct merge_record nr;
    const uint8_t *body, *clocks;
    size_t body_len, clocks_len;
    int rc = lstore_record_get(c, id, &meta, &body, &body_len, &clocks, &clocks_len);
    if (rc <= 0)
        return rc;
    if (!(col = collections_find(meta.collection)))
        return 0;
    merge_record_init(&nr);
    rw->desc = col->desc;
    rw->out = &nr;
    rc = merge_state_ops(col->desc, body, body_len, clocks, clocks_len, rewrite_cb, rw);
    if (rc < 0) {
        rc = fieldsync__fail(c, rc, "cannot rewrite a stored record (%s)", fieldsync_err_name(rc));
    } else {
        if (rw->bound && meta.updated_hlc > rw->bound)
            meta.updated_hlc = rw->hlc;
        rc = lstore_record_put(c, &meta, nr.body, nr.body_len, nr.clocks, nr.clocks_len);
    }
    merge_record_close(&nr);
    return rc;
}

static int rewrite_all(fieldsync_client *c, struct rewrite *rw)
{
    struct fs_buf ids = {0};
    int rc = lstore_record_ids(c, &ids);
    for (size_t i = 0; rc == 0 && i + 16 <= ids.len; i += 16)
        rc = rewrite_record(c, ids.p + i, rw);
    fieldsync__buf_free(c, &ids);
    return rc;
}

int fieldsync__adopt_device(fieldsync_client *c, const uint8_t dev[16])
{
    struct rewrite rw = {.to_dev = dev};
    int rc = rewrite_all(c, &rw);
    if (rc == 0)
        rc = lstore_outbox_adopt(c, dev);
    return rc;
}

int fieldsync__restamp_record(fieldsync_client *c, const uint8_t id[16], uint64_t bound,
                              uint64_t hlc)
{
    struct rewrite rw = {.bound = bound, .hlc = hlc};
    return rewrite_record(c, id, &rw);
}
