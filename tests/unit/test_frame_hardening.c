/*
 * test_frame_hardening: regression tests for what fuzzing and the bad-input catalogue found in
 * the framing layer (common/frame.c) and the decode arena (common/arena.c), plus the reader
 * properties the server relies on under hostile input.
 */
#include "arena.h"
#include "check.h"
#include "error.h"
#include "frame.h"

#include <stdint.h>
#include <string.h>

/* fuzz_frame crash-207f60dc: a tag written as a padded varint (0x82 0x00) is field 0, which
 * protobuf-c 1.4 kept as an unknown field; repacking it gave bytes it then refused. */
static void test_frame_hardening_field_zero_padded_tag(void)
{
    static const uint8_t top[] = {0x08, 0x0b, 0x82, 0x00, 0x00, 0x2a, 0x00};
    static const uint8_t nested[] = {0x08, 0x0b, 0x5a, 0x07, 0x82, 0x00,
                                     0x02, 0x00, 0x08, 0x2a, 0x00};
    /* PushBatch { changes: Change { field 0 padded } } */
    static const uint8_t deep[] = {0x08, 0x01, 0x4a, 0x06, 0x0a, 0x04, 0x82, 0x00, 0x01, 0x00};
    Fieldsync__Frame *f = NULL;
    CHECK_EQ(frame_decode(top, sizeof top, NULL, &f), FIELDSYNC_EPROTO);
    CHECK_EQ(frame_decode(nested, sizeof nested, NULL, &f), FIELDSYNC_EPROTO);
    CHECK_EQ(frame_decode(deep, sizeof deep, NULL, &f), FIELDSYNC_EPROTO);
    /* With the arena too (the server's path), and nothing leaks either way (ASan). */
    struct arena a;
    arena_init(&a, 1024, 65536);
    CHECK_EQ(frame_decode(deep, sizeof deep, &a.pb, &f), FIELDSYNC_EPROTO);
    arena_close(&a);
    /* Unknown fields with a real number are still fine (a newer client's additions). */
    static const uint8_t ok[] = {0x08, 0x0b, 0x2a, 0x03, 0xf8, 0x06, 0x01};
    CHECK_EQ(frame_decode(ok, sizeof ok, NULL, &f), 0);
    CHECK_EQ(f->msg_case, FIELDSYNC__FRAME__MSG_PING);
    fieldsync__frame__free_unpacked(f, NULL);
}

/* SIZE_MAX - 3 rounded up to 16 wrapped to 0 and got a 16-byte block. */
static void test_frame_hardening_arena_huge_request(void)
{
    struct arena a;
    arena_init(&a, 1024, 0); /* no limit: only the overflow check stands */
    CHECK(arena_alloc(&a, SIZE_MAX) == NULL);
    CHECK(arena_alloc(&a, SIZE_MAX - 3) == NULL);
    CHECK(arena_alloc(&a, SIZE_MAX - 15) == NULL);
    void *p = arena_alloc(&a, 100);
    CHECK(p != NULL);
    CHECK_EQ((uintptr_t)p % 16, 0);
    arena_close(&a);
    arena_init(&a, 1024, 4096);
    CHECK(arena_alloc(&a, 4096) != NULL);
    CHECK(arena_alloc(&a, 1) == NULL); /* the limit counts rounded sizes */
    arena_reset(&a);
    CHECK(arena_alloc(&a, 4000) != NULL);
    arena_close(&a);
}

/* The verdict on an over-limit length comes from the 4 header bytes alone. */
static void test_frame_hardening_header_alone_decides(void)
{
    struct frame_reader r;
    frame_reader_init(&r, 4096);
    static const uint8_t hdr[] = {0x00, 0x00, 0x10, 0x01};
    const uint8_t *p;
    size_t n;
    for (size_t i = 0; i < 3; i++) {
        CHECK_EQ(frame_reader_feed(&r, hdr + i, 1), 0);
        CHECK_EQ(frame_reader_next(&r, &p, &n), 0);
    }
    CHECK_EQ(frame_reader_feed(&r, hdr + 3, 1), 0);
    CHECK_EQ(frame_reader_next(&r, &p, &n), FIELDSYNC_EFRAMESIZE);
    CHECK_INT(r.cap, <=, 256);
    frame_reader_close(&r);
}

/* Frames cut at every byte boundary come out whole and in order. */
static void test_frame_hardening_byte_by_byte(void)
{
    uint8_t stream[64];
    size_t len = 0;
    for (uint8_t k = 0; k < 4; k++) {
        uint8_t pl[5] = {0x08, k, 0x2a, 0x00, 0x00};
        size_t pn = 4 + (k & 1);
        frame_put_len(stream + len, (uint32_t)pn);
        memcpy(stream + len + 4, pl, pn);
        len += 4 + pn;
    }
    frame_put_len(stream + len, 0); /* an empty frame is a frame (decode refuses it) */
    len += 4;
    struct frame_reader r;
    frame_reader_init(&r, 16);
    int frames = 0;
    for (size_t i = 0; i < len; i++) {
        CHECK_EQ(frame_reader_feed(&r, stream + i, 1), 0);
        const uint8_t *p;
        size_t n;
        int rc;
        while ((rc = frame_reader_next(&r, &p, &n)) == 1) {
            if (frames < 4) {
                CHECK_EQ(n, 4 + (size_t)(frames & 1));
                CHECK_EQ(p[1], frames);
                Fieldsync__Frame *f = NULL;
                int d = frame_decode(p, n, NULL, &f);
                if (frames & 1) {
                    CHECK_EQ(d, FIELDSYNC_EPROTO); /* a trailing 0x00: a zero tag */
                } else {
                    CHECK_EQ(d, 0);
                    fieldsync__frame__free_unpacked(f, NULL);
                }
            } else {
                CHECK_EQ(n, 0);
            }
            frames++;
        }
        CHECK_EQ(rc, 0);
        CHECK_INT(frame_reader_pending(&r), <, 16 + 4);
    }
    CHECK_EQ(frames, 5);
    CHECK_EQ(frame_reader_pending(&r), 0);
    frame_reader_shrink(&r);
    CHECK(r.buf == NULL);
    frame_reader_close(&r);
}

int main(void)
{
    RUN(test_frame_hardening_field_zero_padded_tag);
    RUN(test_frame_hardening_arena_huge_request);
    RUN(test_frame_hardening_header_alone_decides);
    RUN(test_frame_hardening_byte_by_byte);
    return 0;
}
