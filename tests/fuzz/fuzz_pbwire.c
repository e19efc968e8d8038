/*
 * fuzz_pbwire: libFuzzer target for the bounded protobuf wire reader (common/pbwire.h), which
 * merge runs on bodies and values straight from the network.
 *
 * The input is walked as a message with pbwire_next until the end or the first error; every
 * field must lie inside the buffer, start where the previous one ended and advance; a
 * varint's value must re-encode (pbwire_put_varint) to bytes that read back the same; a
 * length-delimited value is walked recursively as a nested message (depth-bounded).
 * pbwire_varint is checked at every offset, and pbwire_utf8_ok against an independent
 * reference (Unicode table 3-7, well-formed byte sequences) on the input and on every LEN value.
 * The same input also goes through the collections helpers the store runs on bodies and op
 * values (collections_index, collections_string_value): their views must stay inside it.
 */
#include "collections.h"
#include "pbwire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECKF(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_pbwire: %s:%d: %s\n", __FILE__, __LINE__, #c);                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Reference UTF-8 check: table 3-7 of the Unicode standard, byte by byte. */
static int utf8_ref(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c <= 0x7f) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
        } else if (c == 0xe0) {
            k = 2, lo = 0xa0;
        } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
            k = 2;
        } else if (c == 0xed) {
            k = 2, hi = 0x9f;
        } else if (c == 0xf0) {
            k = 3, lo = 0x90;
        } else if (c >= 0xf1 && c <= 0xf3) {
            k = 3;
        } else if (c == 0xf4) {
            k = 3, hi = 0x8f;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t j = 2; j <= k; j++)
            if (p[i + j] < 0x80 || p[i + j] > 0xbf)
                return 0;
        i += k + 1;
    }
    return 1;
}

static void walk(const uint8_t *p, size_t n, int depth)
{
    size_t off = 0;
    struct pbwire_field f;
    while (off < n) {
        size_t before = off;
        if (pbwire_next(p, n, &off, &f) != 0) {
            CHECKF(off == before); /* a failed read does not move */
            return;
        }
        CHECKF(off > before && off <= n);
        CHECKF(f.start == p + before);
        CHECKF(f.len == off - before);
        CHECKF(f.num >= 1 && f.num <= PBWIRE_FIELD_MAX);
        CHECKF(f.val >= f.start && f.val + f.val_len == p + off);
        switch (f.wt) {
        case PBWIRE_VARINT: {
            uint8_t enc[10];
            size_t k = pbwire_put_varint(enc, f.v);
            CHECKF(k >= 1 && k <= 10 && k <= f.val_len);
            size_t o = 0;
            uint64_t back;
            CHECKF(pbwire_varint(enc, k, &o, &back) == 0 && o == k && back == f.v);
            break;
        }
        case PBWIRE_I64:
            CHECKF(f.val_len == 8);
            break;
        case PBWIRE_I32:
            CHECKF(f.val_len == 4);
            break;
        case PBWIRE_LEN:
            CHECKF(pbwire_utf8_ok(f.val, f.val_len) == utf8_ref(f.val, f.val_len));
            if (depth < 8)
                walk(f.val, f.val_len, depth + 1);
            break;
        default:
            CHECKF(0); /* groups and 6/7 are refused */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past n. */
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    walk(p, size, 0);
    CHECKF(pbwire_utf8_ok(p, size) == utf8_ref(p, size));
    for (size_t i = 0; i < size && i < 64; i++) {
        size_t o = i;
        uint64_t v;
        if (pbwire_varint(p, size, &o, &v) == 0) {
            CHECKF(o > i && o - i <= 10);
            uint8_t enc[10];
            CHECKF(pbwire_put_varint(enc, v) <= o - i);
        } else {
            CHECKF(o == i);
        }
    }
    const struct collection *c = collections_find(COLLECTION_CONSULTATION_REPORT);
    CHECKF(c != NULL);
    struct collection_index ix;
    if (collections_index(c, p, size, &ix) == 0) {
        CHECKF(!ix.region_len || (ix.region >= p && ix.region + ix.region_len <= p + size));
        CHECKF(!ix.commune_len || (ix.commune >= p && ix.commune + ix.commune_len <= p + size));
    }
    const uint8_t *sv;
    size_t sn;
    uint32_t field = size ? (uint32_t)(p[0] >> 3) : 1;
    if (collections_string_value(field ? field : 1, p, size, &sv, &sn) == 1)
        CHECKF(sv >= p && sv + sn <= p + size);
    free(p);
    return 0;
}
