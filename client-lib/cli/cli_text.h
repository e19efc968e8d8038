/*
 * cli_text: text forms shared by the CLI's JSON mapping and exports: shortest
 * round-trip numbers, base64, and a JSON writer.
 */
#ifndef CLI_TEXT_H
#define CLI_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fieldsync_errno.h"

#ifndef FIELDSYNC_ERRNO_ENUM_DEFINED
#define FIELDSYNC_ERRNO_ENUM_DEFINED
enum fieldsync_errno {
    FIELDSYNC_OK = 0,
#define XX(name, code, msg) FIELDSYNC_##name = -(code),
    FIELDSYNC_ERRNO_MAP(XX)
#undef XX
};
#endif

/* Flags for cli_text_json. */
#define CLI_TEXT_PRETTY 1u /* two-space indent, one member per line */

/* Shortest decimal text that reads back (strtod) to exactly d; out holds 32 bytes. Finite d. */
void cli_text_double(double d, char out[32]);

/* Same for a float: the shortest text that reads back to exactly f. */
void cli_text_float(float f, char out[32]);

/* The double whose shortest text is the shortest text of f (3.7f -> 3.7, not 3.70000005). */
double cli_text_float_as_double(float f);

/* Standard base64 with padding, NUL-terminated; NULL when out of memory. Caller frees. */
char *cli_text_b64_encode(const uint8_t *p, size_t n);
/* Decode standard or URL-safe base64, padding optional, into a new buffer (caller frees).
 * 0 or -1 (invalid or out of memory). */
int cli_text_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen);

/* Write j as JSON text (UTF-8 as is, no trailing newline). 0 or FIELDSYNC_EIO. */
int cli_text_json(const json_t *j, unsigned flags, FILE *out);

#endif
