/*
 * uuid: UUIDv7 generation, formatting and parsing. Depends only on libc and getrandom(2).
 */
#include "uuid.h"

#include "error.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

void uuid_v7_from(uint8_t out[UUID_LEN], uint64_t unix_ms, const uint8_t rnd[10])
{
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(unix_ms >> (40 - 8 * i));
    memcpy(out + 6, rnd, 10);
    out[6] = (uint8_t)(0x70 | (out[6] & 0x0f));
    out[8] = (uint8_t)(0x80 | (out[8] & 0x3f));
}

int uuid_random(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return FIELDSYNC_EIO;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int uuid_v7(uint8_t out[UUID_LEN], uint64_t unix_ms)
{
    uint8_t rnd[10];
    int rc = uuid_random(rnd, sizeof rnd);
    if (rc == 0)
        uuid_v7_from(out, unix_ms, rnd);
    return rc;
}

void uuid_format(const uint8_t id[UUID_LEN], char out[UUID_STR_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < UUID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[id[i] >> 4];
        *p++ = hex[id[i] & 15];
    }
    *p = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int uuid_parse(const char *s, uint8_t out[UUID_LEN])
{
    size_t len = strlen(s);
    int dashed = len == UUID_STR_LEN;
    if (!dashed && len != 2 * UUID_LEN)
        return FIELDSYNC_EBADID;
    for (int i = 0; i < UUID_LEN; i++) {
        if (dashed && (i == 4 || i == 6 || i == 8 || i == 10)) {
            if (*s != '-')
                return FIELDSYNC_EBADID;
            s++;
        }
        int hi = hexval(s[0]), lo = hexval(s[1]);
        if (hi < 0 || lo < 0)
            return FIELDSYNC_EBADID;
        out[i] = (uint8_t)(hi << 4 | lo);
        s += 2;
    }
    return 0;
}

int uuid_is_nil(const uint8_t id[UUID_LEN])
{
    for (int i = 0; i < UUID_LEN; i++)
        if (id[i])
            return 0;
    return 1;
}
