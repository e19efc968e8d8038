/*
 * frame: length-prefixed protobuf framing (see frame.h). Invariant: the reader never holds
 * more than limit + FRAME_HEADER_LEN bytes of one frame, and never allocates on the word of a
 * length it has not checked. Frames carry secrets (Hello's credential, Enroll's code): the
 * reader wipes every buffer it gives back to the allocator, and the bytes a compaction leaves
 * behind.
 */
#include "frame.h"

#include "error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void frame_reader_init(struct frame_reader *r, uint32_t limit)
{
    memset(r, 0, sizeof *r);
    r->limit = limit;
}

void frame_reader_set_limit(struct frame_reader *r, uint32_t limit)
{
    r->limit = limit;
}

size_t frame_reader_pending(const struct frame_reader *r)
{
    return r->len - r->off;
}

static void wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

int frame_reader_feed(struct frame_reader *r, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    if (r->off > 0) { /* compact: consumed frames go */
        size_t keep = r->len - r->off;
        memmove(r->buf, r->buf + r->off, keep);
        wipe(r->buf + keep, r->len - keep);
        r->len = keep;
        r->off = 0;
    }
    if (r->cap - r->len < n) {
        if (n > SIZE_MAX / 2 - r->len)
            return FIELDSYNC_ENOMEM;
        size_t want = r->len + n;
        size_t cap = r->cap ? r->cap : 256;
        while (cap < want)
            cap *= 2;
        /* Not realloc: it would free the old block with its bytes in it. */
        uint8_t *b = malloc(cap);
        if (!b)
            return FIELDSYNC_ENOMEM;
        if (r->len)
            memcpy(b, r->buf, r->len);
        wipe(r->buf, r->cap);
        free(r->buf);
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    return 0;
}

uint32_t frame_get_len(const uint8_t hdr[FRAME_HEADER_LEN])
{
    return (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
}

void frame_put_len(uint8_t hdr[FRAME_HEADER_LEN], uint32_t len)
{
    hdr[0] = (uint8_t)(len >> 24);
    hdr[1] = (uint8_t)(len >> 16);
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
}

int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len)
{
    size_t avail = r->len - r->off;
    if (avail < FRAME_HEADER_LEN)
        return 0;
    uint32_t n = frame_get_len(r->buf + r->off);
    if (n > r->limit)
        return FIELDSYNC_EFRAMESIZE;
    if (avail - FRAME_HEADER_LEN < n)
        return 0;
    *payload = r->buf + r->off + FRAME_HEADER_LEN;
    *len = n;
    r->off += FRAME_HEADER_LEN + n;
    return 1;
}

void frame_reader_shrink(struct frame_reader *r)
{
    if (r->off == r->len) {
        wipe(r->buf, r->cap);
        free(r->buf);
        r->buf = NULL;
        r->cap = r->len = r->off = 0;
    }
}

void frame_reader_close(struct frame_reader *r)
{
    wipe(r->buf, r->cap);
    free(r->buf);
    r->buf = NULL;
    r->cap = r->len = r->off = 0;
}

size_t frame_encoded_size(const Fieldsync__Frame *f)
{
    return FRAME_HEADER_LEN + fieldsync__frame__get_packed_size(f);
}

size_t frame_encode(const Fieldsync__Frame *f, uint8_t *out, size_t cap)
{
    size_t n = fieldsync__frame__get_packed_size(f);
    if (n > UINT32_MAX || cap < FRAME_HEADER_LEN + n)
        return 0;
    frame_put_len(out, (uint32_t)n);
    fieldsync__frame__pack(f, out + FRAME_HEADER_LEN);
    return FRAME_HEADER_LEN + n;
}

/* protobuf-c 1.4 refuses field number 0 only when the tag is one byte: a padded varint tag
 * (0x82 0x00) is kept as an unknown field numbered 0, which no other protobuf library accepts
 * and which repacks into bytes protobuf-c itself then refuses (found by fuzz_frame). Such a
 * message is not valid protobuf: look for one anywhere in the decoded tree. */
static int has_field_zero(const ProtobufCMessage *m, int depth)
{
    if (depth > 32)
        return 1;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return 1;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)m;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + fd->offset);
            for (size_t k = 0; k < n; k++)
                if (v[k] && has_field_zero(v[k], depth + 1))
                    return 1;
            continue;
        }
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
            continue;
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + fd->offset);
        if (sub && has_field_zero(sub, depth + 1))
            return 1;
    }
    return 0;
}

int frame_decode(const uint8_t *payload, size_t len, ProtobufCAllocator *alloc,
                 Fieldsync__Frame **out)
{
    Fieldsync__Frame *f = fieldsync__frame__unpack(alloc, len, payload);
    if (!f)
        return FIELDSYNC_EPROTO;
    if (f->msg_case == FIELDSYNC__FRAME__MSG__NOT_SET || has_field_zero(&f->base, 0)) {
        fieldsync__frame__free_unpacked(f, alloc);
        return FIELDSYNC_EPROTO;
    }
    *out = f;
    return 0;
}
