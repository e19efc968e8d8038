/*
 * hlc: hybrid logical clock (Kulkarni et al.). Never goes backwards; jumps forward to the
 * greatest clock seen. Bounding how far a remote clock may push us ahead is the caller's job
 * (the server rejects clocks too far in its future before calling hlc_update).
 */
#include "hlc.h"

#include <string.h>

void hlc_init(struct hlc *h, uint64_t last)
{
    h->last = last;
}

static uint64_t after(uint64_t floor, uint64_t wall_ms)
{
    uint64_t wall = hlc_make(wall_ms, 0);
    if (wall > floor)
        return wall;
    /* Same or earlier millisecond: count up; the counter's carry moves into the ms part. */
    return floor + 1;
}

uint64_t hlc_now(struct hlc *h, uint64_t wall_ms)
{
    h->last = after(h->last, wall_ms);
    return h->last;
}

uint64_t hlc_update(struct hlc *h, uint64_t remote, uint64_t wall_ms)
{
    uint64_t floor = remote > h->last ? remote : h->last;
    h->last = after(floor, wall_ms);
    return h->last;
}

int hlc_cmp(uint64_t a, const uint8_t *dev_a, uint64_t b, const uint8_t *dev_b)
{
    static const uint8_t zero[HLC_DEVICE_LEN];
    if (a != b)
        return a < b ? -1 : 1;
    int c = memcmp(dev_a ? dev_a : zero, dev_b ? dev_b : zero, HLC_DEVICE_LEN);
    return (c > 0) - (c < 0);
}

void hlc_pack(uint64_t hlc, const uint8_t *dev, uint8_t out[HLC_PACKED_LEN])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(hlc >> (56 - 8 * i));
    if (dev)
        memcpy(out + 8, dev, HLC_DEVICE_LEN);
    else
        memset(out + 8, 0, HLC_DEVICE_LEN);
}

void hlc_unpack(const uint8_t in[HLC_PACKED_LEN], uint64_t *hlc, uint8_t dev[HLC_DEVICE_LEN])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    *hlc = v;
    memcpy(dev, in + 8, HLC_DEVICE_LEN);
}
