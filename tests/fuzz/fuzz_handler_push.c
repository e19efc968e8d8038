/*
 * fuzz_handler_push: libFuzzer target for the PushBatch handler behind an authenticated
 * in-process session (tests/fuzz/handler_harness.h: real dispatch, h_push, writer thread,
 * group commit, merge and SQLite store; no socket, no TLS). The store starts with the
 * harness's seeded records (and their conflicts) and lives across inputs, so pushes meet
 * records, clocks, conflicts and device sequences left by earlier ones.
 *
 * Input: byte 0 picks the harness device that says Hello (% 4: collector GAO,MENAKA;
 * collector GAO own-only; coordinator GAO,TOMBOUCTOU; admin); the rest is the bytes of one
 * PushBatch message, sent as Frame{request_id 2, push = those bytes}. Unless the server closed
 * the connection, the harness then pulls the change feed from where the previous input left
 * it, so whatever this push stored is served once and checked: a valid encoding of its
 * collection whose clock blob loads, in the session's scope.
 * Invariants: those of handler_harness.h (one reply; a PushAck has one result per change, in
 * order; no ERROR_INTERNAL/ERROR_STORE; the connection is freed after close).
 */
#include "handler_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!hh_device_sends(data, size, FIELDSYNC__FRAME__MSG_PUSH))
        return 0;
    hh_pull_feed(10);
    hh_close();
    return 0;
}
