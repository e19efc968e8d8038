/*
 * arena: bump allocator (see arena.h). Not thread-safe: one arena per connection or thread.
 * Decoded frames hold secrets (a Hello's credential): every byte handed out is wiped before
 * its block is reused or freed.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

static void *pb_alloc(void *data, size_t n)
{
    return arena_alloc(data, n);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    (void)p; /* freed all at once by arena_reset */
}

void arena_init(struct arena *a, size_t block_size, size_t limit)
{
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
    a->head = NULL;
    a->block_size = block_size ? block_size : 4096;
    a->limit = limit;
    a->used_total = 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
    /* Rounding up must not wrap (SIZE_MAX - 3 would become 0, then a 16-byte block), nor
     * may the block header push the malloc size past SIZE_MAX. */
    if (n > SIZE_MAX - 15 - sizeof(struct arena_block))
        return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    if (a->limit && (n > a->limit || a->used_total > a->limit - n))
        return NULL;
    struct arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = n > a->block_size ? n : a->block_size;
        b = malloc(sizeof *b + size);
        if (!b)
            return NULL;
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->used_total += n;
    return p;
}

static void block_free(struct arena_block *b)
{
    explicit_bzero(b->data, b->used);
    free(b);
}

void arena_reset(struct arena *a)
{
    struct arena_block *b = a->head;
    if (!b)
        return;
    /* Keep the oldest block (the regular-sized one); free the rest. */
    while (b->next) {
        struct arena_block *next = b->next;
        block_free(b);
        b = next;
    }
    explicit_bzero(b->data, b->used);
    b->used = 0;
    a->head = b;
    a->used_total = 0;
}

void arena_close(struct arena *a)
{
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        block_free(b);
        b = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

void arena_take(struct arena *dst, struct arena *src)
{
    arena_close(dst);
    *dst = *src;
    dst->pb.allocator_data = dst;
    arena_init(src, src->block_size, src->limit);
}
