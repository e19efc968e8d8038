/*
 * fuzz_handler_pull: libFuzzer target for the PullRequest handler behind an authenticated
 * in-process session (tests/fuzz/handler_harness.h: real dispatch, h_pull, reader pool and
 * SQLite store; no socket, no TLS), over a store seeded through the real push path with
 * records of every harness device in several regions, edits that left conflicts, a delete.
 *
 * Input: byte 0 picks the harness device (% 4: collector GAO,MENAKA; collector GAO own-only;
 * coordinator GAO,TOMBOUCTOU; admin); with bit 2 set, the harness follows the pages (the same
 * request again from next_cursor while `more`, at most 4 pages). The rest is the bytes of one
 * PullRequest message, sent as Frame{request_id 2, pull = those bytes}.
 * Invariants: those of handler_harness.h (one reply per request; a page holds at most the page
 * size, in feed order after the cursor, only records in the announced scope and of the asked
 * collections, each decodable with a clock blob that loads; conflicts come with their record).
 */
#include "handler_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!hh_device_sends(data, size, FIELDSYNC__FRAME__MSG_PULL))
        return 0;
    const Fieldsync__PullPage *pg = hh_page(2);
    Fieldsync__PullRequest *q = NULL;
    if ((data[0] & 4) && pg && pg->more)
        q = fieldsync__pull_request__unpack(NULL, size - 1, data + 1);
    for (uint32_t rid = 3; q && pg && pg->more && rid < 6 && !hh_closed(); rid++) {
        q->cursor = pg->next_cursor;
        uint8_t msg[256];
        size_t n = fieldsync__pull_request__get_packed_size(q);
        if (n > sizeof msg)
            break;
        fieldsync__pull_request__pack(q, msg);
        hh_send_msg(rid, FIELDSYNC__FRAME__MSG_PULL, msg, n);
        pg = hh_page(rid);
    }
    if (q)
        fieldsync__pull_request__free_unpacked(q, NULL);
    hh_close();
    return 0;
}
