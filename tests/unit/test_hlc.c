/* test_hlc: the hybrid logical clock never goes backwards and packs in time order. */
#include "check.h"
#include "hlc.h"

static void test_hlc_monotonic_when_wall_goes_back(void)
{
    struct hlc h;
    hlc_init(&h, 0);
    uint64_t a = hlc_now(&h, 1000);
    uint64_t b = hlc_now(&h, 999); /* wall clock stepped back */
    uint64_t c = hlc_now(&h, 1000);
    CHECK_U64(a, <, b);
    CHECK_U64(b, <, c);
    CHECK_U64(hlc_ms(a), ==, 1000);
    CHECK_U64(hlc_ms(c), ==, 1000);
    CHECK_EQ(hlc_counter(c), 2);
    uint64_t d = hlc_now(&h, 2000);
    CHECK_U64(d, ==, hlc_make(2000, 0));
}

static void test_hlc_update_jumps_to_remote(void)
{
    struct hlc h;
    hlc_init(&h, 0);
    hlc_now(&h, 1000);
    uint64_t remote = hlc_make(5000, 7);
    uint64_t u = hlc_update(&h, remote, 1001);
    CHECK_U64(u, >, remote);
    CHECK_U64(hlc_now(&h, 1002), >, u);
    /* A remote clock in the past changes nothing but the counter. */
    uint64_t v = hlc_update(&h, hlc_make(10, 0), 1003);
    CHECK_U64(v, >, u);
}

static void test_hlc_counter_carry(void)
{
    struct hlc h;
    hlc_init(&h, hlc_make(1000, 0xffff));
    uint64_t n = hlc_now(&h, 1000);
    CHECK_U64(hlc_ms(n), ==, 1001);
    CHECK_EQ(hlc_counter(n), 0);
}

static void test_hlc_pack_order(void)
{
    uint8_t d1[16] = {1}, d2[16] = {2};
    uint8_t pa[HLC_PACKED_LEN], pb[HLC_PACKED_LEN];
    uint64_t clocks[] = {0, 1, 0xff, 0x100, hlc_make(1700000000000ull, 3), UINT64_MAX};
    for (size_t i = 0; i < sizeof clocks / sizeof *clocks; i++)
        for (size_t j = 0; j < sizeof clocks / sizeof *clocks; j++)
            for (int k = 0; k < 2; k++) {
                const uint8_t *da = d1, *db = k ? d2 : d1;
                hlc_pack(clocks[i], da, pa);
                hlc_pack(clocks[j], db, pb);
                int m = memcmp(pa, pb, HLC_PACKED_LEN);
                m = (m > 0) - (m < 0);
                CHECK_EQ(m, hlc_cmp(clocks[i], da, clocks[j], db));
            }
    uint64_t back;
    uint8_t dev[16];
    hlc_pack(clocks[4], d2, pa);
    hlc_unpack(pa, &back, dev);
    CHECK_U64(back, ==, clocks[4]);
    CHECK_MEM(dev, d2, 16);
}

int main(void)
{
    RUN(test_hlc_monotonic_when_wall_goes_back);
    RUN(test_hlc_update_jumps_to_remote);
    RUN(test_hlc_counter_carry);
    RUN(test_hlc_pack_order);
    return 0;
}
