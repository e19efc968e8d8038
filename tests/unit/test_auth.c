/*
 * test_auth: enrolment codes (format, normalization, hashing), the credential check and the
 * per-address enrolment rate limit.
 */
#include "auth.h"
#include "rate.h"
#include "check.h"
#include "error.h"
#include "session.h"

#include <ctype.h>

static void test_auth_code_format_and_normalize(void)
{
    char code[AUTH_CODE_SHOWN + 1], other[AUTH_CODE_SHOWN + 1];
    CHECK_EQ(auth_code_new(code), 0);
    CHECK_EQ(auth_code_new(other), 0);
    CHECK(strcmp(code, other) != 0);
    CHECK_EQ(strlen(code), 19);
    CHECK(code[4] == '-' && code[9] == '-' && code[14] == '-');

    char norm[AUTH_CODE_CHARS + 1], typed[64], norm2[AUTH_CODE_CHARS + 1];
    CHECK_EQ(auth_code_normalize(code, norm), 0);
    CHECK_EQ(strlen(norm), 16);
    /* Lower case, spaces instead of dashes: the same code. */
    size_t n = 0;
    for (const char *p = code; *p; p++)
        typed[n++] = *p == '-' ? ' ' : (char)tolower((unsigned char)*p);
    typed[n] = '\0';
    CHECK_EQ(auth_code_normalize(typed, norm2), 0);
    CHECK_STR(norm, norm2);
    uint8_t h1[32], h2[32];
    auth_code_hash(norm, h1);
    auth_code_hash(norm2, h2);
    CHECK_MEM(h1, h2, 32);

    /* Crockford aliases: O → 0, I and L → 1. */
    CHECK_EQ(auth_code_normalize("OOOO-IIII-LLLL-0000", norm), 0);
    CHECK_STR(norm, "0000111111110000");
    /* U is not in the alphabet; wrong lengths fail. */
    CHECK_EQ(auth_code_normalize("UUUU-0000-0000-0000", norm), FIELDSYNC_EENROLL);
    CHECK_EQ(auth_code_normalize("0000-0000-0000-000", norm), FIELDSYNC_EENROLL);
    CHECK_EQ(auth_code_normalize("0000-0000-0000-00000", norm), FIELDSYNC_EENROLL);
    CHECK_EQ(auth_code_normalize("", norm), FIELDSYNC_EENROLL);
}

static void test_auth_check_credential(void)
{
    struct store_device d;
    memset(&d, 0, sizeof d);
    uint8_t cred[AUTH_CRED_LEN], hash[32];
    CHECK_EQ(auth_credential_new(cred, hash), 0);
    memcpy(d.cred_hash, hash, 32);
    CHECK_EQ(auth_check(&d, hash), 0);
    uint8_t again[32];
    auth_credential_hash(cred, sizeof cred, again);
    CHECK_EQ(auth_check(&d, again), 0);
    cred[31] ^= 1;
    auth_credential_hash(cred, sizeof cred, again);
    CHECK_EQ(auth_check(&d, again), FIELDSYNC_EAUTH);
    d.revoked_ms = 1;
    CHECK_EQ(auth_check(&d, hash), FIELDSYNC_EREVOKED);
    /* A wrong credential on a revoked device says AUTH, not REVOKED (no oracle). */
    CHECK_EQ(auth_check(&d, again), FIELDSYNC_EAUTH);
}

static void test_auth_enroll_rate(void)
{
    const uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
    uint64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        CHECK_EQ(rate_enroll_admit(a, 4, t + (uint64_t)i, 3), 0);
    CHECK_EQ(rate_enroll_admit(a, 4, t + 10, 3), FIELDSYNC_ERATE);
    CHECK_EQ(rate_enroll_admit(b, 4, t + 10, 3), 0);
    CHECK_EQ(rate_enroll_admit(a, 4, t + 60000, 3), 0); /* a new minute */
}

/* Addresses of one IPv6 /64 share a count; other addresses never reset a live count, however
 * many they are: when the table is full of live addresses, newcomers are refused instead. */
static void test_auth_enroll_rate_holds(void)
{
    uint64_t t = 50000000;
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1};
    for (int i = 0; i < 3; i++) {
        v6[15] = (uint8_t)i; /* three addresses of one /64 */
        CHECK_EQ(rate_enroll_admit(v6, 16, t, 3), 0);
    }
    v6[15] = 200;
    CHECK_EQ(rate_enroll_admit(v6, 16, t, 3), FIELDSYNC_ERATE);

    const uint8_t victim[4] = {192, 0, 2, 1};
    CHECK_EQ(rate_enroll_admit(victim, 4, t, 2), 0);
    CHECK_EQ(rate_enroll_admit(victim, 4, t, 2), 0);
    CHECK_EQ(rate_enroll_admit(victim, 4, t, 2), FIELDSYNC_ERATE);
    int refused = 0;
    for (uint32_t i = 0; i < 5000; i++) { /* 5,000 other addresses in the same minute */
        uint8_t ip[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        refused += rate_enroll_admit(ip, 4, t + 1, 2) == FIELDSYNC_ERATE;
    }
    CHECK(refused > 0); /* the table (1,024 ways) filled up: newcomers refused */
    CHECK_EQ(rate_enroll_admit(victim, 4, t + 2, 2), FIELDSYNC_ERATE); /* still limited */
    CHECK_EQ(rate_enroll_admit(victim, 4, t + 60000, 2), 0);           /* next minute */
}

static void test_auth_device_rate(void)
{
    uint8_t d1[16] = {1, 2, 3}, d2[16] = {9, 9, 9};
    d1[15] = 7;
    d2[15] = 8;
    uint64_t t = 5000000;
    for (int i = 0; i < 8; i++) /* rate 2/s: burst 8 */
        CHECK_EQ(rate_device_take(d1, t, 2), 0);
    CHECK_EQ(rate_device_take(d1, t, 2), FIELDSYNC_ERATE);
    CHECK_EQ(rate_device_take(d2, t, 2), 0);       /* another device: its own bucket */
    CHECK_EQ(rate_device_take(d1, t + 500, 2), 0); /* 500 ms refill one token */
    CHECK_EQ(rate_device_take(d1, t + 500, 2), FIELDSYNC_ERATE);
    CHECK_EQ(rate_device_take(d1, t + 500, 0), 0); /* 0 = unlimited */

    /* A busy device keeps its (empty) bucket while 20,000 others each make one request:
     * eviction takes the least recently used. */
    for (uint32_t i = 0; i < 20000; i++) {
        uint8_t d[16] = {0xee};
        memcpy(d + 12, &i, 4);
        rate_device_take(d, t + 400, 2);
        if (i % 1000 == 0)
            CHECK_EQ(rate_device_take(d1, t + 500, 2), FIELDSYNC_ERATE);
    }
    CHECK_EQ(rate_device_take(d1, t + 500, 2), FIELDSYNC_ERATE);
}

static void test_auth_roles(void)
{
    CHECK_EQ(auth_role_parse("collector"), SESSION_ROLE_COLLECTOR);
    CHECK_EQ(auth_role_parse("coordinator"), SESSION_ROLE_COORDINATOR);
    CHECK_EQ(auth_role_parse("admin"), SESSION_ROLE_ADMIN);
    CHECK_EQ(auth_role_parse("root"), 0);
    CHECK_STR(auth_role_name(SESSION_ROLE_ADMIN), "admin");
}

int main(void)
{
    RUN(test_auth_code_format_and_normalize);
    RUN(test_auth_check_credential);
    RUN(test_auth_enroll_rate);
    RUN(test_auth_enroll_rate_holds);
    RUN(test_auth_device_rate);
    RUN(test_auth_roles);
    return 0;
}
