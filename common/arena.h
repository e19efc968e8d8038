/*
 * arena: a bump allocator usable as a ProtobufCAllocator, so that unpacking one message costs
 * no malloc per field. Reset between messages; memory is kept for reuse and released by
 * arena_close(). Blocks beyond the first are chained; a request bigger than a block gets a
 * block of its own.
 */
#ifndef FS_ARENA_H
#define FS_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct arena_block;

struct arena {
    ProtobufCAllocator pb;    /* pass &a->pb to protobuf-c */
    struct arena_block *head; /* current block; older blocks follow */
    size_t block_size;
    size_t limit; /* total bytes allowed (0 = no limit) */
    size_t used_total;
};

void arena_init(struct arena *a, size_t block_size, size_t limit);
/* NULL when out of memory or past the limit. 16-byte aligned. */
void *arena_alloc(struct arena *a, size_t n);
/* Forget every allocation; keep the first block for reuse. */
void arena_reset(struct arena *a);
void arena_close(struct arena *a);
/* Move everything src holds into dst (whose own blocks are released first): what was
 * allocated from src stays valid and now belongs to dst; src is left empty, ready for use. */
void arena_take(struct arena *dst, struct arena *src);

#endif
