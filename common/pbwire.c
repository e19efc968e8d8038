/*
 * pbwire: the protobuf wire format, read with bounds checks on every byte. Never reads past
 * n; never allocates. Knows nothing of descriptors (merge does).
 */
#include "pbwire.h"

#include <string.h>

int pbwire_varint_slow(const uint8_t *p, size_t n, size_t *off, uint64_t *v)
{
    uint64_t r = 0;
    size_t i = *off;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (i >= n)
            return -1;
        uint8_t b = p[i++];
        if (shift == 63 && b > 1)
            return -1; /* would overflow 64 bits */
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *off = i;
            *v = r;
            return 0;
        }
    }
    return -1;
}

int pbwire_next(const uint8_t *p, size_t n, size_t *off, struct pbwire_field *f)
{
    size_t i = *off;
    uint64_t tag, len;
    if (pbwire_varint(p, n, &i, &tag) != 0)
        return -1;
    if ((tag >> 3) == 0 || (tag >> 3) > PBWIRE_FIELD_MAX)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    f->start = p + *off;
    f->v = 0;
    switch (f->wt) {
    case PBWIRE_VARINT: {
        size_t s = i;
        if (pbwire_varint(p, n, &i, &f->v) != 0)
            return -1;
        f->val = p + s;
        f->val_len = i - s;
        break;
    }
    case PBWIRE_I64:
    case PBWIRE_I32: {
        size_t w = f->wt == PBWIRE_I64 ? 8 : 4;
        if (n - i < w)
            return -1;
        for (size_t k = 0; k < w; k++)
            f->v |= (uint64_t)p[i + k] << (8 * k);
        f->val = p + i;
        f->val_len = w;
        i += w;
        break;
    }
    case PBWIRE_LEN:
        if (pbwire_varint(p, n, &i, &len) != 0 || len > n - i)
            return -1;
        f->val = p + i;
        f->val_len = (size_t)len;
        i += (size_t)len;
        break;
    default: /* groups (3, 4) are not supported; 6 and 7 do not exist */
        return -1;
    }
    f->len = i - *off;
    *off = i;
    return 0;
}

size_t pbwire_put_varint(uint8_t *out, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        out[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[i++] = (uint8_t)v;
    return i;
}

int pbwire_utf8_ok(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            /* ASCII runs (most of French text) 8 bytes at a time. */
            uint64_t w;
            i++;
            while (n - i >= 8) {
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}
