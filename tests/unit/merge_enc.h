/*
 * merge_enc.h: tiny protobuf encoders for the merge tests (hand-made values, so tests do not
 * depend on the code under test to build their inputs).
 */
#ifndef FS_TEST_MERGE_ENC_H
#define FS_TEST_MERGE_ENC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct enc {
    uint8_t b[4096];
    size_t n;
};

static inline void enc_varint(struct enc *e, uint64_t v)
{
    while (v >= 0x80) {
        e->b[e->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    e->b[e->n++] = (uint8_t)v;
}

static inline void enc_tag(struct enc *e, uint32_t field, int wt)
{
    enc_varint(e, ((uint64_t)field << 3) | (uint64_t)wt);
}

static inline void enc_bytes(struct enc *e, uint32_t field, const void *p, size_t n)
{
    enc_tag(e, field, 2);
    enc_varint(e, n);
    memcpy(e->b + e->n, p, n);
    e->n += n;
}

static inline void enc_str(struct enc *e, uint32_t field, const char *s)
{
    enc_bytes(e, field, s, strlen(s));
}

static inline void enc_uint(struct enc *e, uint32_t field, uint64_t v)
{
    enc_tag(e, field, 0);
    enc_varint(e, v);
}

/* One Concern element (field 14 of ConsultationReport) with a 16-byte id made of `idbyte`. */
static inline void enc_concern(struct enc *e, uint8_t idbyte, const char *desc, uint32_t sev)
{
    struct enc c = {.n = 0};
    uint8_t id[16];
    memset(id, idbyte, sizeof id);
    enc_bytes(&c, 1, id, sizeof id);
    enc_uint(&c, 2, 1);
    enc_str(&c, 3, desc);
    enc_uint(&c, 4, sev);
    enc_bytes(e, 14, c.b, c.n);
}

#endif
