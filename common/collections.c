/*
 * collections: the registry of collections and a tiny top-level protobuf scanner for the
 * indexed columns (see collections.h). Invariant: every length read from a body is checked
 * against the bytes left before use. Depends on the generated consultation.pb-c.h only.
 */
#include "collections.h"

#include "consultation.pb-c.h"
#include "error.h"

static const struct collection registry[] = {
    {COLLECTION_CONSULTATION_REPORT, "fieldsync.ConsultationReport",
     &fieldsync__consultation_report__descriptor, 1, 3, 7},
};

const struct collection *collections_find(uint32_t number)
{
    for (size_t i = 0; i < sizeof registry / sizeof *registry; i++)
        if (registry[i].number == number)
            return &registry[i];
    return NULL;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return FIELDSYNC_ESCHEMA;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return FIELDSYNC_ESCHEMA;
}

/* Next top-level field: number, wire type, and for length-delimited fields the payload. */
static int next_field(const uint8_t **p, const uint8_t *end, uint32_t *num, const uint8_t **val,
                      size_t *vlen, uint64_t *varint)
{
    uint64_t key, n;
    int rc = get_varint(p, end, &key);
    if (rc < 0)
        return rc;
    *num = (uint32_t)(key >> 3);
    if (*num == 0 || key >> 3 > 0x1fffffff)
        return FIELDSYNC_ESCHEMA;
    *val = NULL;
    *vlen = 0;
    *varint = 0;
    switch (key & 7) {
    case 0:
        return get_varint(p, end, varint);
    case 1:
        n = 8;
        break;
    case 5:
        n = 4;
        break;
    case 2:
        if ((rc = get_varint(p, end, &n)) < 0)
            return rc;
        *val = *p;
        *vlen = (size_t)n;
        break;
    default:
        return FIELDSYNC_ESCHEMA;
    }
    if (n > (uint64_t)(end - *p))
        return FIELDSYNC_ESCHEMA;
    *p += n;
    return 0;
}

static uint32_t parse_date(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint64_t y = 0, m = 0, d = 0;
    while (p < end) {
        uint32_t num;
        const uint8_t *v;
        size_t vl;
        uint64_t x;
        if (next_field(&p, end, &num, &v, &vl, &x) < 0)
            return 0;
        if (num == 1)
            y = x;
        else if (num == 2)
            m = x;
        else if (num == 3)
            d = x;
    }
    if (y > 9999 || m > 12 || d > 31)
        return 0;
    return (uint32_t)(y * 10000 + m * 100 + d);
}

int collections_index(const struct collection *c, const uint8_t *body, size_t len,
                      struct collection_index *out)
{
    const uint8_t *p = body, *end = body + len;
    out->region = out->commune = NULL;
    out->region_len = out->commune_len = 0;
    out->date = 0;
    while (p < end) {
        uint32_t num;
        const uint8_t *v;
        size_t vl;
        uint64_t x;
        int rc = next_field(&p, end, &num, &v, &vl, &x);
        if (rc < 0)
            return rc;
        if (!v)
            continue;
        if (num == c->region_field) {
            out->region = v;
            out->region_len = vl;
        } else if (num == c->commune_field) {
            out->commune = v;
            out->commune_len = vl;
        } else if (num == c->date_field) {
            out->date = parse_date(v, vl);
        }
    }
    return 0;
}

int collections_string_value(uint32_t field, const uint8_t *value, size_t len, const uint8_t **s,
                             size_t *n)
{
    if (len == 0)
        return 0;
    const uint8_t *p = value, *end = value + len;
    int found = 0;
    while (p < end) {
        uint32_t num;
        const uint8_t *v;
        size_t vl;
        uint64_t x;
        if (next_field(&p, end, &num, &v, &vl, &x) < 0 || num != field || !v)
            return FIELDSYNC_ESCHEMA;
        *s = v;
        *n = vl;
        found = 1;
    }
    return found;
}
