/*
 * fuzz_auth: libFuzzer target for the part of enrolment that reads network input before any
 * store access: auth_code_normalize on Enroll.code as sent (any bytes up to a NUL).
 * Invariants (abort on violation): a code is accepted only as 16 characters of the Crockford
 * alphabet; normalising an accepted code again gives the same code; inserting dashes, spaces
 * and changing case does not change the result; every code auth_code_new makes is accepted
 * and normalises to itself without its dashes.
 */
#include "auth.h"
#include "error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECKF(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_auth: %s:%d: %s\n", __FILE__, __LINE__, #c);                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    char in[257], norm[AUTH_CODE_CHARS + 1], again[AUTH_CODE_CHARS + 1];
    memcpy(in, data, size);
    in[size] = '\0';
    int rc = auth_code_normalize(in, norm);
    CHECKF(rc == 0 || rc == FIELDSYNC_EENROLL);
    if (rc == 0) {
        CHECKF(strlen(norm) == AUTH_CODE_CHARS);
        for (size_t i = 0; i < AUTH_CODE_CHARS; i++)
            CHECKF(norm[i] && strchr(alphabet, norm[i]) != NULL);
        CHECKF(auth_code_normalize(norm, again) == 0 && strcmp(norm, again) == 0);
        /* As a person would type it: lower case, dashes and spaces anywhere. */
        char typed[3 * AUTH_CODE_CHARS + 1];
        size_t o = 0;
        for (size_t i = 0; i < AUTH_CODE_CHARS; i++) {
            typed[o++] = (char)tolower((unsigned char)norm[i]);
            if (size && (data[i % size] & 1))
                typed[o++] = (data[i % size] & 2) ? '-' : ' ';
        }
        typed[o] = '\0';
        CHECKF(auth_code_normalize(typed, again) == 0 && strcmp(norm, again) == 0);
    }
    if (size && data[0] == 0x42) {
        char code[AUTH_CODE_SHOWN + 1];
        CHECKF(auth_code_new(code) == 0);
        CHECKF(strlen(code) == AUTH_CODE_SHOWN);
        CHECKF(auth_code_normalize(code, again) == 0);
        char nodash[AUTH_CODE_CHARS + 1];
        size_t k = 0;
        for (const char *p = code; *p; p++)
            if (*p != '-')
                nodash[k++] = *p;
        nodash[k] = '\0';
        CHECKF(strcmp(nodash, again) == 0);
    }
    return 0;
}
