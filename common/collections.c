/*
 * collections: the registry of collections and a tiny top-level protobuf scanner for the
 * indexed columns (see collections.h). Invariant: every length read from a body is checked
 * against the bytes left before use. Depends on the generated consultation.pb-c.h only.
 */
#include "collections.h"

#include "consultation.pb-c.h"
#include "error.h"
#include "pbwire.h"

static const struct collection registry[] = {
    {COLLECTION_CONSULTATION_REPORT, "fieldsync.ConsultationReport",
     &fieldsync__consultation_report__descriptor, 1, 3, 7, 20},
};

const struct collection *collections_find(uint32_t number)
{
    for (size_t i = 0; i < sizeof registry / sizeof *registry; i++)
        if (registry[i].number == number)
            return &registry[i];
    return NULL;
}

static uint32_t parse_date(const uint8_t *p, size_t len)
{
    uint64_t y = 0, m = 0, d = 0;
    size_t off = 0;
    struct pbwire_field f;
    while (off < len) {
        if (pbwire_next(p, len, &off, &f) < 0)
            return 0;
        if (f.num == 1)
            y = f.v;
        else if (f.num == 2)
            m = f.v;
        else if (f.num == 3)
            d = f.v;
    }
    if (y > 9999 || m > 12 || d > 31)
        return 0;
    return (uint32_t)(y * 10000 + m * 100 + d);
}

int collections_index(const struct collection *c, const uint8_t *body, size_t len,
                      struct collection_index *out)
{
    out->region = out->commune = NULL;
    out->region_len = out->commune_len = 0;
    out->date = 0;
    size_t off = 0;
    struct pbwire_field f;
    while (off < len) {
        if (pbwire_next(body, len, &off, &f) < 0)
            return FIELDSYNC_ESCHEMA;
        if (f.wt != PBWIRE_LEN)
            continue;
        if (f.num == c->region_field) {
            out->region = f.val;
            out->region_len = f.val_len;
        } else if (f.num == c->commune_field) {
            out->commune = f.val;
            out->commune_len = f.val_len;
        } else if (f.num == c->date_field) {
            out->date = parse_date(f.val, f.val_len);
        }
    }
    return 0;
}

int collections_string_value(uint32_t field, const uint8_t *value, size_t len, const uint8_t **s,
                             size_t *n)
{
    if (len == 0)
        return 0;
    int found = 0;
    size_t off = 0;
    struct pbwire_field f;
    while (off < len) {
        if (pbwire_next(value, len, &off, &f) < 0 || f.num != field || f.wt != PBWIRE_LEN)
            return FIELDSYNC_ESCHEMA;
        *s = f.val;
        *n = f.val_len;
        found = 1;
    }
    return found;
}
