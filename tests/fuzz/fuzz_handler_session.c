/*
 * fuzz_handler_session: libFuzzer target for the session handlers (Hello, Enroll, Ping) and
 * the dispatch state machine, in-process (tests/fuzz/handler_harness.h: real dispatch,
 * handlers, writer, readers and SQLite store; no socket, no TLS).
 *
 * Input: byte 0 picks how the bytes arrive: bit 0 set = stepwise (after each whole frame the
 * loop runs until the jobs it started are done, as a client waiting for each answer); else
 * bit 1 set = the first frame alone and answered, then the rest in one read burst (Hello,
 * then pipelined requests); else all in one burst. The rest is the client's plaintext byte
 * stream (4-byte length + Frame, repeated) on a fresh, unauthenticated connection. Seeds
 * carry Hellos with the harness devices' credentials (one revoked), the harness's enrolment
 * codes (one expired), Pings, and pushes and pulls after a Hello, so every state is reachable.
 * Invariants: those of handler_harness.h (exactly one reply per request unless the server
 * closed, replies decode and match their requests, pages within the announced scope...).
 */
#include "frame.h"
#include "handler_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    hh_init(0);
    hh_open();
    const uint8_t *p = data + 1;
    size_t n = size - 1, first = 0;
    if ((data[0] & 3) == 2 && n >= FRAME_HEADER_LEN) {
        first = FRAME_HEADER_LEN + (size_t)frame_get_len(p);
        first = first < n ? first : n;
        hh_send(p, first, 0);
    }
    hh_send(p + first, n - first, data[0] & 1);
    hh_close();
    return 0;
}
