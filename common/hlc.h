/*
 * Hybrid logical clock. An HLC is a uint64: (physical ms since the epoch << 16) | counter, so
 * numeric order is time order. Ties between equal HLCs from different devices are broken by
 * the 16-byte device id; hlc_pack() writes (hlc, device) as 24 bytes whose memcmp order is
 * that total order. Pure: the caller supplies wall-clock time.
 */
#ifndef FS_HLC_H
#define FS_HLC_H

#include <stdint.h>

#define HLC_DEVICE_LEN 16
#define HLC_PACKED_LEN 24

/* Clocks at or past this (the year 6429) are refused wherever they arrive from the network:
 * a local clock must stay able to pass every clock it has seen (2^64 - 1 would wrap it to 0),
 * and SQLite keeps clocks as signed 64-bit integers. */
#define HLC_LIMIT ((UINT64_C(1) << 63) - (UINT64_C(1) << 16))

struct hlc {
    uint64_t last; /* greatest clock issued or seen */
};

static inline uint64_t hlc_make(uint64_t ms, uint16_t counter)
{
    return (ms << 16) | counter;
}
static inline uint64_t hlc_ms(uint64_t hlc)
{
    return hlc >> 16;
}
static inline uint16_t hlc_counter(uint64_t hlc)
{
    return (uint16_t)(hlc & 0xffff);
}

void hlc_init(struct hlc *h, uint64_t last);
/* A new clock for a local event: > every clock issued or seen, >= wall_ms when possible. */
uint64_t hlc_now(struct hlc *h, uint64_t wall_ms);
/* Merge a clock received from elsewhere; returns the new local clock (> remote and > last). */
uint64_t hlc_update(struct hlc *h, uint64_t remote, uint64_t wall_ms);
/* Total order on (hlc, device): <0, 0, >0. A NULL device sorts as all zeroes. */
int hlc_cmp(uint64_t a, const uint8_t *dev_a, uint64_t b, const uint8_t *dev_b);
/* 24 bytes, big-endian hlc then device: memcmp order = hlc_cmp order. */
void hlc_pack(uint64_t hlc, const uint8_t *dev, uint8_t out[HLC_PACKED_LEN]);
void hlc_unpack(const uint8_t in[HLC_PACKED_LEN], uint64_t *hlc, uint8_t dev[HLC_DEVICE_LEN]);

#endif
