/*
 * cli_text: text forms used by the CLI: the shortest decimal form of doubles and
 * floats, base64, and a JSON writer that keeps UTF-8 as is and prints numbers in their
 * shortest round-trip form (jansson's own dump prints 17 digits: 16.271899999999999).
 *
 * Pure: no library, no protobuf; depends on jansson only for the json_t tree it writes.
 */
#include "cli_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_text_double(double d, char out[32])
{
    /* %.17g always round-trips; try shorter forms first so 16.2719 stays 16.2719. */
    for (int p = 1; p <= 17; p++) {
        snprintf(out, 32, "%.*g", p, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

double cli_text_float_as_double(float f)
{
    char buf[32];

    if (!isfinite(f))
        return (double)f;
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return (double)f;
}

void cli_text_float(float f, char out[32])
{
    for (int p = 1; p <= 9; p++) {
        snprintf(out, 32, "%.*g", p, (double)f);
        if ((float)strtod(out, NULL) == f)
            return;
    }
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cli_text_b64_encode(const uint8_t *p, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int b64val(char c)
{
    if (c == '-')
        return 62; /* URL-safe alphabet accepted too */
    if (c == '_')
        return 63;
    const char *q = c ? strchr(b64chars, c) : NULL;
    return q ? (int)(q - b64chars) : -1;
}

int cli_text_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    uint8_t *buf = malloc(n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (!buf)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0) {
            free(buf);
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *outlen = o;
    return 0;
}

/* ---- writing JSON text -------------------------------------------------------------------- */

static int put_string(const char *s, size_t n, FILE *out)
{
    if (fputc('"', out) == EOF)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    return fputc('"', out) == EOF ? -1 : 0;
}

static void indent(int pretty, int level, FILE *out)
{
    if (!pretty)
        return;
    fputc('\n', out);
    for (int i = 0; i < level; i++)
        fputs("  ", out);
}

static int dump(const json_t *j, int pretty, int level, FILE *out)
{
    char buf[32];

    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *v;
        int first = 1;
        fputc('{', out);
        json_object_foreach((json_t *)j, key, v)
        {
            if (!first)
                fputc(',', out);
            first = 0;
            indent(pretty, level + 1, out);
            put_string(key, strlen(key), out);
            fputs(pretty ? ": " : ":", out);
            if (dump(v, pretty, level + 1, out) < 0)
                return -1;
        }
        if (!first)
            indent(pretty, level, out);
        fputc('}', out);
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        fputc('[', out);
        for (size_t i = 0; i < n; i++) {
            if (i)
                fputc(',', out);
            indent(pretty, level + 1, out);
            if (dump(json_array_get(j, i), pretty, level + 1, out) < 0)
                return -1;
        }
        if (n)
            indent(pretty, level, out);
        fputc(']', out);
        break;
    }
    case JSON_STRING:
        put_string(json_string_value(j), json_string_length(j), out);
        break;
    case JSON_INTEGER:
        fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        break;
    case JSON_REAL:
        cli_text_double(json_real_value(j), buf);
        fputs(buf, out);
        break;
    case JSON_TRUE:
        fputs("true", out);
        break;
    case JSON_FALSE:
        fputs("false", out);
        break;
    case JSON_NULL:
        fputs("null", out);
        break;
    }
    return ferror(out) ? -1 : 0;
}

int cli_text_json(const json_t *j, unsigned flags, FILE *out)
{
    return dump(j, (flags & CLI_TEXT_PRETTY) != 0, 0, out) < 0 ? FIELDSYNC_EIO : 0;
}
