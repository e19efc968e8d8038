/*
 * fuzz_frame: libFuzzer target for the framing layer as the server uses it: bytes arrive in
 * chunks of arbitrary sizes into a frame_reader (limit chosen by the input), each complete
 * payload is decoded with frame_decode into a bounded arena (4 x limit + 64 KiB, like a
 * connection's), and the arena is reset between frames.
 *
 * Input layout: byte 0 picks the limit (0..255 -> 1..4096 bytes, or 1 MiB when >= 0xf0),
 * bytes 1..4 seed the chunk sizes, the rest is the stream.
 * Invariants (abort on violation):
 *   - after a feed and a drain, fewer than limit + FRAME_HEADER_LEN bytes stay pending;
 *   - a payload is never longer than the limit; the stream is consumed exactly (the sum of
 *     header + payload lengths equals the bytes fed, less those pending) until an over-limit
 *     header stops it;
 *   - a decoded Frame re-encodes (frame_encode) to a frame that decodes again and re-encodes
 *     to the same bytes (pack is stable).
 */
#include "arena.h"
#include "error.h"
#include "frame.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECKF(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_frame: %s:%d: %s\n", __FILE__, __LINE__, #c);                    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint32_t rng_next(uint32_t *s)
{
    /* xorshift32: deterministic chunking from the input's own bytes */
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static void roundtrip(const Fieldsync__Frame *f)
{
    size_t n = frame_encoded_size(f);
    uint8_t *a = malloc(n);
    CHECKF(a != NULL);
    CHECKF(frame_encode(f, a, n) == n);
    CHECKF(frame_encode(f, a, n - 1) == 0); /* too small: refused, not overrun */
    CHECKF(frame_get_len(a) == n - FRAME_HEADER_LEN);
    Fieldsync__Frame *g = NULL;
    CHECKF(frame_decode(a + FRAME_HEADER_LEN, n - FRAME_HEADER_LEN, NULL, &g) == 0);
    CHECKF(g->msg_case == f->msg_case);
    size_t m = frame_encoded_size(g);
    CHECKF(m == n);
    uint8_t *b = malloc(m);
    CHECKF(b != NULL);
    CHECKF(frame_encode(g, b, m) == m);
    CHECKF(memcmp(a, b, n) == 0);
    fieldsync__frame__free_unpacked(g, NULL);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    uint32_t limit = data[0] >= 0xf0 ? FRAME_MAX_DEFAULT : 1u + (uint32_t)data[0] * 16u;
    uint32_t seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
                    (uint32_t)data[4] << 24;
    const uint8_t *p = data + 5;
    size_t n = size - 5;

    struct frame_reader r;
    struct arena a;
    frame_reader_init(&r, limit);
    arena_init(&a, 4096, 4 * (size_t)limit + 65536);
    size_t fed = 0, consumed = 0;
    int broken = 0;
    while (fed < n && !broken) {
        /* Mostly small chunks (a slow link), sometimes big ones. */
        uint32_t x = rng_next(&seed);
        size_t chunk = (x & 3) == 0 ? (x >> 8) % 4096 + 1 : (x >> 8) % 17 + 1;
        if (chunk > n - fed)
            chunk = n - fed;
        CHECKF(frame_reader_feed(&r, p + fed, chunk) == 0);
        fed += chunk;
        for (;;) {
            const uint8_t *payload;
            size_t len;
            int rc = frame_reader_next(&r, &payload, &len);
            if (rc == 0)
                break;
            if (rc < 0) {
                CHECKF(rc == FIELDSYNC_EFRAMESIZE);
                CHECKF(frame_reader_pending(&r) >= FRAME_HEADER_LEN);
                CHECKF(frame_get_len(p + consumed) > limit);
                broken = 1;
                break;
            }
            CHECKF(len <= limit);
            CHECKF(payload == r.buf + r.off - len);
            CHECKF(frame_get_len(p + consumed) == len);
            CHECKF(memcmp(payload, p + consumed + FRAME_HEADER_LEN, len) == 0);
            consumed += FRAME_HEADER_LEN + len;
            Fieldsync__Frame *f = NULL;
            if (frame_decode(payload, len, &a.pb, &f) == 0) {
                CHECKF(f->msg_case != FIELDSYNC__FRAME__MSG__NOT_SET);
                roundtrip(f);
                fieldsync__frame__free_unpacked(f, &a.pb);
            }
            arena_reset(&a);
        }
        if (!broken) {
            CHECKF(frame_reader_pending(&r) < (size_t)limit + FRAME_HEADER_LEN);
            CHECKF(consumed + frame_reader_pending(&r) == fed);
        }
        if ((seed & 7) == 0)
            frame_reader_shrink(&r); /* an idle moment: only frees when nothing is pending */
    }
    frame_reader_close(&r);
    arena_close(&a);
    return 0;
}
