/* test_frame: framing round trip, reassembly byte by byte, limits checked before allocating. */
#include "check.h"
#include "error.h"
#include "frame.h"

static size_t encode_ping(uint8_t *buf, size_t cap, uint64_t nonce)
{
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    Fieldsync__Ping p = FIELDSYNC__PING__INIT;
    p.nonce = nonce;
    f.request_id = 7;
    f.msg_case = FIELDSYNC__FRAME__MSG_PING;
    f.ping = &p;
    return frame_encode(&f, buf, cap);
}

static void test_frame_roundtrip_bytewise(void)
{
    uint8_t buf[64];
    size_t n = encode_ping(buf, sizeof buf, 42);
    CHECK(n > FRAME_HEADER_LEN);
    CHECK_EQ(frame_get_len(buf), n - FRAME_HEADER_LEN);
    struct frame_reader r;
    frame_reader_init(&r, FRAME_MAX_PREAUTH);
    const uint8_t *p;
    size_t len;
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(frame_reader_next(&r, &p, &len), 0);
        CHECK_EQ(frame_reader_feed(&r, buf + i, 1), 0);
    }
    CHECK_EQ(frame_reader_next(&r, &p, &len), 1);
    struct arena a;
    arena_init(&a, 1024, 0);
    Fieldsync__Frame *f;
    CHECK_EQ(frame_decode(p, len, &a.pb, &f), 0);
    CHECK_EQ(f->msg_case, FIELDSYNC__FRAME__MSG_PING);
    CHECK_U64(f->ping->nonce, ==, 42);
    CHECK_EQ(f->request_id, 7);
    CHECK_EQ(frame_reader_next(&r, &p, &len), 0);
    CHECK_EQ(frame_reader_pending(&r), 0);
    arena_close(&a);
    frame_reader_close(&r);
}

static void test_frame_two_in_one_read(void)
{
    uint8_t buf[128];
    size_t n1 = encode_ping(buf, sizeof buf, 1);
    size_t n2 = encode_ping(buf + n1, sizeof buf - n1, 2);
    struct frame_reader r;
    frame_reader_init(&r, FRAME_MAX_PREAUTH);
    CHECK_EQ(frame_reader_feed(&r, buf, n1 + n2), 0);
    const uint8_t *p;
    size_t len;
    CHECK_EQ(frame_reader_next(&r, &p, &len), 1);
    CHECK_EQ(frame_reader_next(&r, &p, &len), 1);
    CHECK_EQ(frame_reader_next(&r, &p, &len), 0);
    frame_reader_close(&r);
}

static void test_frame_oversize_rejected_from_header(void)
{
    struct frame_reader r;
    frame_reader_init(&r, FRAME_MAX_PREAUTH);
    uint8_t hdr[4];
    frame_put_len(hdr, FRAME_MAX_PREAUTH + 1);
    CHECK_EQ(frame_reader_feed(&r, hdr, 4), 0);
    const uint8_t *p;
    size_t len;
    CHECK_EQ(frame_reader_next(&r, &p, &len), FIELDSYNC_EFRAMESIZE);
    CHECK(r.cap < 1024); /* nothing allocated for the announced length */
    frame_reader_close(&r);
}

static void test_frame_decode_garbage_and_empty(void)
{
    Fieldsync__Frame *f;
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ(frame_decode(garbage, sizeof garbage, NULL, &f), FIELDSYNC_EPROTO);
    /* A valid Frame with no message set (or an unknown oneof member) is a protocol error. */
    const uint8_t only_id[] = {0x08, 0x05};
    CHECK_EQ(frame_decode(only_id, sizeof only_id, NULL, &f), FIELDSYNC_EPROTO);
    const uint8_t unknown_member[] = {0xf2, 0x07, 0x00}; /* field 126, empty bytes */
    CHECK_EQ(frame_decode(unknown_member, sizeof unknown_member, NULL, &f), FIELDSYNC_EPROTO);
}

static void test_frame_encode_small_buffer(void)
{
    uint8_t buf[4];
    CHECK_EQ(encode_ping(buf, sizeof buf, 9), 0);
}

/* A decoded frame handed over with its arena (as dispatch hands a push to its job) stays
 * valid after the source arena is reset, and the source arena works on. */
static void test_frame_arena_take(void)
{
    Fieldsync__Ping ping = FIELDSYNC__PING__INIT;
    ping.nonce = 77;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.request_id = 9;
    f.msg_case = FIELDSYNC__FRAME__MSG_PING;
    f.ping = &ping;
    uint8_t buf[64];
    size_t n = frame_encode(&f, buf, sizeof buf);
    CHECK(n > FRAME_HEADER_LEN);
    struct arena conn_arena, job_arena;
    arena_init(&conn_arena, 256, 0);
    arena_init(&job_arena, 0, 0);
    Fieldsync__Frame *d = NULL;
    CHECK_EQ(frame_decode(buf + FRAME_HEADER_LEN, n - FRAME_HEADER_LEN, &conn_arena.pb, &d), 0);
    arena_take(&job_arena, &conn_arena);
    arena_reset(&conn_arena);
    CHECK(arena_alloc(&conn_arena, 100) != NULL); /* reused for the next frame */
    memset(arena_alloc(&conn_arena, 200), 0xee, 200);
    CHECK_EQ(d->request_id, 9);
    CHECK_EQ(d->ping->nonce, 77);
    arena_close(&conn_arena);
    arena_close(&job_arena);
}

int main(void)
{
    RUN(test_frame_roundtrip_bytewise);
    RUN(test_frame_two_in_one_read);
    RUN(test_frame_oversize_rejected_from_header);
    RUN(test_frame_decode_garbage_and_empty);
    RUN(test_frame_encode_small_buffer);
    RUN(test_frame_arena_take);
    return 0;
}
