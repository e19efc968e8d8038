/* test_uuid: v7 layout, time order, formatting and parsing. */
#include "check.h"
#include "error.h"
#include "uuid.h"

static void test_uuid_v7_layout_and_order(void)
{
    uint8_t a[16], b[16];
    CHECK_EQ(uuid_v7(a, 1700000000000ull), 0);
    CHECK_EQ(uuid_v7(b, 1700000000001ull), 0);
    CHECK_EQ(a[6] >> 4, 7);
    CHECK_EQ(a[8] >> 6, 2);
    CHECK(memcmp(a, b, 16) < 0);
    CHECK(!uuid_is_nil(a));
}

static void test_uuid_format_parse(void)
{
    uint8_t rnd[10] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6}, id[16], back[16];
    uuid_v7_from(id, 0x0123456789abull, rnd);
    char s[UUID_STR_LEN + 1];
    uuid_format(id, s);
    CHECK_STR(s, "01234567-89ab-7ead-beef-010203040506");
    CHECK_EQ(uuid_parse(s, back), 0);
    CHECK_MEM(id, back, 16);
    CHECK_EQ(uuid_parse("0123456789AB7EADBEEF010203040506", back), 0);
    CHECK_MEM(id, back, 16);
    CHECK_EQ(uuid_parse("0123", back), FIELDSYNC_EBADID);
    CHECK_EQ(uuid_parse("01234567-89ab-7ead-bebe-01020304050g", back), FIELDSYNC_EBADID);
    CHECK_EQ(uuid_parse("01234567+89ab-7ead-beef-010203040506", back), FIELDSYNC_EBADID);
}

int main(void)
{
    RUN(test_uuid_v7_layout_and_order);
    RUN(test_uuid_format_parse);
    return 0;
}
