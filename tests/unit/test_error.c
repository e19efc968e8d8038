/* test_error: the one error list maps 1:1 onto the wire and has names and messages. */
#include "check.h"
#include "error.h"
#include "sync.pb-c.h"

static void test_error_roundtrip_wire(void)
{
#define XX(name, num, msg)                                                                         \
    CHECK_EQ(error_to_wire(FIELDSYNC_##name), num);                                                \
    CHECK_EQ(error_from_wire(num), FIELDSYNC_##name);                                              \
    CHECK_STR(error_name(FIELDSYNC_##name), #name);                                                \
    CHECK_STR(error_str(FIELDSYNC_##name), msg);
    FIELDSYNC_ERRNO_MAP(XX)
#undef XX
}

static void test_error_matches_proto_enum(void)
{
    /* Every C code has a wire enum value of the same number, and vice versa. */
    const ProtobufCEnumDescriptor *d = &fieldsync__error_code__descriptor;
    int n = 0;
#define XX(name, num, msg)                                                                         \
    CHECK(protobuf_c_enum_descriptor_get_value(d, num) != NULL);                                   \
    n++;
    FIELDSYNC_ERRNO_MAP(XX)
#undef XX
    CHECK_EQ((int)d->n_values, n + 1); /* + ERROR_UNSPECIFIED */
}

static void test_error_unknown(void)
{
    CHECK_STR(error_name(0), "OK");
    CHECK_STR(error_name(-9999), "EUNKNOWN");
    CHECK_EQ(error_from_wire(9999), FIELDSYNC_EINTERNAL);
    CHECK_EQ(error_to_wire(-9999), -FIELDSYNC_EINTERNAL);
}

int main(void)
{
    RUN(test_error_roundtrip_wire);
    RUN(test_error_matches_proto_enum);
    RUN(test_error_unknown);
    return 0;
}
