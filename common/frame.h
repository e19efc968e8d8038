/*
 * frame: the byte framing of the protocol. A frame is a 4-byte big-endian length followed by
 * that many bytes of one protobuf fieldsync.Frame. Lengths are checked against the limit in
 * force before anything is allocated for them. Pure: no sockets, no libuv, no TLS.
 */
#ifndef FS_FRAME_H
#define FS_FRAME_H

#include "arena.h"
#include "sync.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_LEN  4
#define FRAME_MAX_PREAUTH 4096u           /* before Hello/Enroll succeeded */
#define FRAME_MAX_DEFAULT (1024u * 1024u) /* after authentication, configurable */

/* Stream reassembly: bytes go in as they arrive, whole frame payloads come out. The buffer
 * grows only up to limit + FRAME_HEADER_LEN. */
struct frame_reader {
    uint8_t *buf;
    size_t len; /* bytes held */
    size_t cap;
    size_t off; /* start of unconsumed bytes */
    uint32_t limit;
};

void frame_reader_init(struct frame_reader *r, uint32_t limit);
void frame_reader_set_limit(struct frame_reader *r, uint32_t limit);
/* Append received bytes. 0, FIELDSYNC_ENOMEM. */
int frame_reader_feed(struct frame_reader *r, const uint8_t *p, size_t n);
/* Next complete payload: 1 and (*payload, *len) valid until the next call on r; 0 when more
 * bytes are needed; FIELDSYNC_EFRAMESIZE when the announced length exceeds the limit (the
 * stream cannot be resynchronised: close it). */
int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len);
/* Bytes buffered but not yet returned as frames. */
size_t frame_reader_pending(const struct frame_reader *r);
/* Give back memory when idle (keeps nothing buffered only if pending is 0). */
void frame_reader_shrink(struct frame_reader *r);
void frame_reader_close(struct frame_reader *r);

/* Read the 4-byte header: the payload length. */
uint32_t frame_get_len(const uint8_t hdr[FRAME_HEADER_LEN]);
void frame_put_len(uint8_t hdr[FRAME_HEADER_LEN], uint32_t len);
/* Size of header + packed frame. */
size_t frame_encoded_size(const Fieldsync__Frame *f);
/* Pack header + frame into out (cap bytes). Returns bytes written, or 0 if cap is too small. */
size_t frame_encode(const Fieldsync__Frame *f, uint8_t *out, size_t cap);
/* Unpack one payload with the given allocator (an arena's &pb, or NULL for malloc).
 * 0 and *out set; FIELDSYNC_EPROTO when the payload is not a valid Frame (including a field
 * numbered 0 at any depth, which protobuf-c alone lets through) or sets no message. */
int frame_decode(const uint8_t *payload, size_t len, ProtobufCAllocator *alloc,
                 Fieldsync__Frame **out);

#endif
