/*
 * pbwire: bounded reading and writing of the protobuf wire format (varints, tags, fields),
 * without descriptors or allocation. Used by merge to work on encoded messages directly.
 */
#ifndef FS_PBWIRE_H
#define FS_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

#define PBWIRE_VARINT    0
#define PBWIRE_I64       1
#define PBWIRE_LEN       2
#define PBWIRE_I32       5
#define PBWIRE_FIELD_MAX 536870911u /* 2^29 - 1 */

/* One field occurrence inside a buffer. */
struct pbwire_field {
    uint32_t num;
    int wt;
    const uint8_t *start; /* first byte of the tag */
    size_t len;           /* tag + value */
    const uint8_t *val;   /* payload: LEN content, or the raw varint/fixed bytes */
    size_t val_len;
    uint64_t v; /* varint value, or the little-endian fixed value */
};

/* The general case of pbwire_varint (out of line). */
int pbwire_varint_slow(const uint8_t *p, size_t n, size_t *off, uint64_t *v);
/* Read a varint at p[*off..n): 0 and *off advanced, or -1 (truncated or over 10 bytes).
 * Inline for the one-byte case (tags, lengths, small numbers: most varints). */
static inline int pbwire_varint(const uint8_t *p, size_t n, size_t *off, uint64_t *v)
{
    if (*off < n && p[*off] < 0x80) {
        *v = p[(*off)++];
        return 0;
    }
    return pbwire_varint_slow(p, n, off, v);
}
/* Read the field at p[*off..n): 0, or -1 when malformed (bad tag, field 0, groups, wire
 * types 6/7, truncated). */
int pbwire_next(const uint8_t *p, size_t n, size_t *off, struct pbwire_field *f);
/* Write v as a varint into out (10 bytes room); returns the bytes written. */
size_t pbwire_put_varint(uint8_t *out, uint64_t v);
/* 1 if p[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int pbwire_utf8_ok(const uint8_t *p, size_t n);

#endif
