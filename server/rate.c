/*
 * rate: see rate.h. Depends on uuid (the OS's CSPRNG, for the seed) and error.
 */
#include "rate.h"

#include "error.h"
#include "uuid.h"

#include <string.h>

#define WAYS 8

static uint64_t seed; /* loop thread only, like the tables */
static int seeded;

/* Keyed FNV-1a over key. */
uint32_t rate_hash(const uint8_t *key, size_t len)
{
    if (!seeded) {
        if (uuid_random(&seed, sizeof seed) < 0)
            seed = 0x9e3779b97f4a7c15u;
        seeded = 1;
    }
    uint64_t h = 14695981039346656037u ^ seed;
    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 1099511628211u;
    return (uint32_t)(h ^ (h >> 32));
}

/* ---- enrolment attempts per address and minute ---- */

#define ENROLL_SETS 128

struct window {
    uint8_t key[8]; /* IPv4 address, or the /64 of an IPv6 one */
    uint8_t key_len;
    uint32_t count;
    uint64_t start_ms;
};

static struct window windows[ENROLL_SETS][WAYS];

int rate_enroll_admit(const uint8_t *ip, size_t ip_len, uint64_t now_ms, uint32_t per_min)
{
    if (per_min == 0)
        return 0;
    /* One IPv6 client holds a whole /64: count it as one address. */
    size_t klen = rate_addr_key_len(ip_len);
    struct window *set = windows[rate_hash(ip, klen) % ENROLL_SETS], *w = NULL, *free_way = NULL;
    for (int i = 0; i < WAYS; i++) {
        struct window *x = &set[i];
        int live = x->key_len && now_ms - x->start_ms < 60000;
        if (x->key_len == klen && memcmp(x->key, ip, klen) == 0)
            w = x;
        else if (!live && !free_way)
            free_way = x;
    }
    if (w && now_ms - w->start_ms >= 60000) {
        w->count = 0;
        w->start_ms = now_ms;
    }
    if (!w) {
        if (!free_way)
            return FIELDSYNC_ERATE; /* every way live this minute: fail closed */
        w = free_way;
        memcpy(w->key, ip, klen);
        w->key_len = (uint8_t)klen;
        w->count = 0;
        w->start_ms = now_ms;
    }
    if (w->count >= per_min)
        return FIELDSYNC_ERATE;
    w->count++;
    return 0;
}

/* ---- request tokens per device ---- */

#define DEVICE_SETS 2048

struct bucket {
    uint8_t id[16];
    int used;
    double tokens;
    uint64_t last_ms;
};

static struct bucket buckets[DEVICE_SETS][WAYS];

static void refill(struct bucket *b, uint64_t now_ms, uint32_t rate, double burst)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        if (b->tokens > burst)
            b->tokens = burst;
        b->last_ms = now_ms;
    }
}

int rate_device_take(const uint8_t device_id[16], uint64_t now_ms, uint32_t rate)
{
    if (rate == 0)
        return 0;
    double burst = 4.0 * rate;
    struct bucket *set = buckets[rate_hash(device_id, 16) % DEVICE_SETS], *b = NULL, *victim = NULL;
    for (int i = 0; i < WAYS && !b; i++) {
        struct bucket *x = &set[i];
        if (x->used && memcmp(x->id, device_id, 16) == 0) {
            b = x;
        } else if (!x->used) {
            if (!victim || victim->used)
                victim = x;
        } else if (!victim || (victim->used && x->last_ms < victim->last_ms)) {
            victim = x; /* least recently used: the fullest bucket once refilled */
        }
    }
    if (!b) {
        b = victim;
        memcpy(b->id, device_id, 16);
        b->used = 1;
        b->tokens = burst;
        b->last_ms = now_ms;
    }
    refill(b, now_ms, rate, burst);
    if (b->tokens < 1.0)
        return FIELDSYNC_ERATE;
    b->tokens -= 1.0;
    return 0;
}
