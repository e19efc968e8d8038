/*
 * cli_json: JSON <-> protobuf-c messages, driven only by the message descriptors, so a new
 * collection (another .proto message) needs no code here.
 *
 * Invariants: a message built here is allocated with the system allocator exactly as
 * protobuf_c_message_unpack(d, NULL, ...) would, so protobuf_c_message_free_unpacked(m, NULL)
 * frees it, including after a parse error half way through (counts are set before elements are
 * filled; unfilled slots are NULL). Strings left at their default keep protobuf-c's static empty
 * string. Numbers are range-checked before they are stored; nothing is silently truncated.
 *
 * Must not depend on the client library or the store: it is tested on its own (test_cli_json).
 */
#include "cli_json.h"

#include "uuid.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 160

#define MEMBER(m, off) ((void *)((char *)(m) + (off)))

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- field layout ------------------------------------------------------------------------ */

size_t cli_json_type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static int is_oneof(const ProtobufCFieldDescriptor *f)
{
    return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

/* An optional field whose presence is a separate has_ member. */
static int has_flag(const ProtobufCFieldDescriptor *f)
{
    return f->label == PROTOBUF_C_LABEL_OPTIONAL && !is_oneof(f) &&
           f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

static int is_zero(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)p == NULL;
    case PROTOBUF_C_TYPE_FLOAT: {
        float v;
        memcpy(&v, p, sizeof v);
        return v == 0 && !signbit(v);
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v;
        memcpy(&v, p, sizeof v);
        return v == 0 && !signbit(v);
    }
    default: {
        static const uint8_t zeros[8];
        return memcmp(p, zeros, cli_json_type_size(f->type)) == 0;
    }
    }
}

/* Is singular field f set in m (proto3: different from its default)? */
static int present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const void *p = MEMBER(m, f->offset);

    if (is_oneof(f))
        return *(const uint32_t *)MEMBER(m, f->quantifier_offset) == f->id;
    if (has_flag(f))
        return *(const protobuf_c_boolean *)MEMBER(m, f->quantifier_offset) != 0;
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return 1;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        const void *v = *(void *const *)p;
        return v != NULL && v != f->default_value;
    }
    return !is_zero(f, p);
}

/* ---- protobuf -> JSON --------------------------------------------------------------------- */

static int msg_to_json(const ProtobufCMessage *m, unsigned flags, json_t **out, char *path,
                       char *err, size_t errlen);

static json_t *nonfinite(double v)
{
    return json_string(isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
}

static int value_to_json(const ProtobufCFieldDescriptor *f, const void *p, unsigned flags,
                         json_t **out, char *path, char *err, size_t errlen)
{
    json_t *j = NULL;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        j = json_integer(*(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        j = json_integer(*(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        j = json_integer(*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        if (v <= (uint64_t)LLONG_MAX) {
            j = json_integer((json_int_t)v);
        } else {
            char buf[24];
            snprintf(buf, sizeof buf, "%" PRIu64, v);
            j = json_string(buf); /* past JSON's safe range: the protobuf JSON string form */
        }
        break;
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float v = *(const float *)p;
        j = isfinite(v) ? json_real(cli_text_float_as_double(v)) : nonfinite(v);
        break;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = *(const double *)p;
        j = isfinite(v) ? json_real(v) : nonfinite(v);
        break;
    }
    case PROTOBUF_C_TYPE_BOOL:
        j = json_boolean(*(const protobuf_c_boolean *)p);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        j = ev ? json_string(ev->name) : json_integer(v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        j = json_string(s ? s : "");
        if (!j) {
            seterr(err, errlen, "%s: invalid UTF-8 in a string", path);
            return FIELDSYNC_EUTF8;
        }
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        if (b->len == 16) {
            char buf[37];
            uuid_format(b->data, buf);
            j = json_string(buf);
        } else {
            char *s = cli_text_b64_encode(b->data, b->len);
            j = s ? json_string(s) : NULL;
            free(s);
        }
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        if (!sub) {
            j = json_null();
            break;
        }
        return msg_to_json(sub, flags, out, path, err, errlen);
    }
    }
    if (!j) {
        seterr(err, errlen, "%s: out of memory", path);
        return FIELDSYNC_ENOMEM;
    }
    *out = j;
    return 0;
}

static const char *sep(const char *path)
{
    return *path ? "." : "";
}

static void path_push(char *path, size_t *saved, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Append a component to the path (truncated silently if deep); restore with path[*saved]=0. */
static void path_push(char *path, size_t *saved, const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(path);

    *saved = n;
    if (n >= PATH_MAX_LEN - 1)
        return;
    va_start(ap, fmt);
    vsnprintf(path + n, PATH_MAX_LEN - n, fmt, ap);
    va_end(ap);
}

static int msg_to_json(const ProtobufCMessage *m, unsigned flags, json_t **out, char *path,
                       char *err, size_t errlen)
{
    int rc = FIELDSYNC_ENOMEM;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *obj = json_object();
    json_t *v = NULL;

    if (!obj)
        goto out;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        size_t saved;

        path_push(path, &saved, "%s%s", sep(path), f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)MEMBER(m, f->quantifier_offset);
            const char *arr = *(char *const *)MEMBER(m, f->offset);
            size_t sz = cli_json_type_size(f->type);
            if (n == 0 && !(flags & CLI_JSON_DEFAULTS)) {
                path[saved] = '\0';
                continue;
            }
            v = json_array();
            if (!v)
                goto out;
            for (size_t k = 0; k < n; k++) {
                json_t *e = NULL;
                size_t saved2;
                path_push(path, &saved2, "[%zu]", k);
                rc = value_to_json(f, arr + k * sz, flags, &e, path, err, errlen);
                path[saved2] = '\0';
                if (rc < 0)
                    goto out;
                rc = FIELDSYNC_ENOMEM;
                if (json_array_append_new(v, e) < 0)
                    goto out;
            }
        } else {
            if (!present(m, f) && (!(flags & CLI_JSON_DEFAULTS) || is_oneof(f))) {
                path[saved] = '\0';
                continue;
            }
            rc = value_to_json(f, MEMBER(m, f->offset), flags, &v, path, err, errlen);
            if (rc < 0)
                goto out;
        }
        path[saved] = '\0';
        rc = FIELDSYNC_ENOMEM;
        if (json_object_set_new(obj, f->name, v) < 0) {
            v = NULL; /* json_object_set_new drops the reference even on failure */
            goto out;
        }
        v = NULL;
    }
    *out = obj;
    obj = NULL;
    rc = 0;
out:
    if (rc == FIELDSYNC_ENOMEM)
        seterr(err, errlen, "out of memory");
    json_decref(v);
    json_decref(obj);
    return rc;
}

int cli_json_from_pb(const ProtobufCMessage *m, unsigned flags, json_t **out, char *err,
                     size_t errlen)
{
    char path[PATH_MAX_LEN] = "";

    *out = NULL;
    if (!m || !m->descriptor || m->descriptor->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC) {
        seterr(err, errlen, "not a protobuf-c message");
        return FIELDSYNC_EINVAL;
    }
    return msg_to_json(m, flags, out, path, err, errlen);
}

/* ---- JSON -> protobuf --------------------------------------------------------------------- */

static int json_to_msg(const ProtobufCMessageDescriptor *d, const json_t *j, ProtobufCMessage **out,
                       char *path, char *err, size_t errlen);

static const char *jtype(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

static int wrong_type(const char *path, const char *want, const json_t *j, char *err, size_t errlen)
{
    seterr(err, errlen, "%s: expected %s, got %s", path, want, jtype(j));
    return FIELDSYNC_ESCHEMA;
}

/* Integer from a JSON integer, an integral number or a decimal string (protobuf JSON allows it
 * for 64-bit values). Range [lo, hi] for signed; unsigned uses ulo/uhi with is_unsigned. */
static int get_int(const json_t *j, int is_unsigned, int64_t lo, int64_t hi, uint64_t uhi,
                   uint64_t *out, const char *path, char *err, size_t errlen)
{
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        if (is_unsigned ? (v < 0 || (uint64_t)v > uhi) : (v < lo || v > hi))
            goto range;
        *out = (uint64_t)v;
        return 0;
    }
    if (json_is_real(j)) {
        double v = json_real_value(j);
        if (v != floor(v))
            return wrong_type(path, "an integer", j, err, errlen);
        if (is_unsigned ? (v < 0 || v > (double)uhi) : (v < (double)lo || v > (double)hi))
            goto range;
        *out = is_unsigned ? (uint64_t)v : (uint64_t)(int64_t)v;
        return 0;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        char *end;
        errno = 0;
        if (is_unsigned) {
            if (*s == '-' || *s == '\0')
                goto bad;
            unsigned long long v = strtoull(s, &end, 10);
            if (*end || errno)
                goto bad;
            if (v > uhi)
                goto range;
            *out = v;
        } else {
            if (*s == '\0')
                goto bad;
            long long v = strtoll(s, &end, 10);
            if (*end || errno)
                goto bad;
            if (v < lo || v > hi)
                goto range;
            *out = (uint64_t)v;
        }
        return 0;
    bad:
        seterr(err, errlen, "%s: \"%s\" is not an integer", path, s);
        return FIELDSYNC_ESCHEMA;
    }
    return wrong_type(path, "an integer", j, err, errlen);
range:
    seterr(err, errlen, "%s: integer out of range", path);
    return FIELDSYNC_ESCHEMA;
}

static int get_double(const json_t *j, double *out, const char *path, char *err, size_t errlen)
{
    if (json_is_number(j)) {
        *out = json_number_value(j);
        return 0;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        if (strcmp(s, "NaN") == 0)
            *out = NAN;
        else if (strcmp(s, "Infinity") == 0)
            *out = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            *out = -INFINITY;
        else
            return wrong_type(path, "a number", j, err, errlen);
        return 0;
    }
    return wrong_type(path, "a number", j, err, errlen);
}

/* Store the JSON value j into the slot p of field f's type (p is zeroed/default on entry). */
static int json_to_value(const ProtobufCFieldDescriptor *f, const json_t *j, void *p, char *path,
                         char *err, size_t errlen)
{
    int rc;
    uint64_t u;
    double d;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        rc = get_int(j, 0, INT32_MIN, INT32_MAX, 0, &u, path, err, errlen);
        if (rc == 0)
            *(int32_t *)p = (int32_t)(int64_t)u;
        return rc;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        rc = get_int(j, 1, 0, 0, UINT32_MAX, &u, path, err, errlen);
        if (rc == 0)
            *(uint32_t *)p = (uint32_t)u;
        return rc;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        rc = get_int(j, 0, INT64_MIN, INT64_MAX, 0, &u, path, err, errlen);
        if (rc == 0)
            *(int64_t *)p = (int64_t)u;
        return rc;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        rc = get_int(j, 1, 0, 0, UINT64_MAX, &u, path, err, errlen);
        if (rc == 0)
            *(uint64_t *)p = u;
        return rc;
    case PROTOBUF_C_TYPE_FLOAT:
        rc = get_double(j, &d, path, err, errlen);
        if (rc == 0 && isfinite(d) && fabs(d) > FLT_MAX) {
            seterr(err, errlen, "%s: number out of range for a float", path);
            rc = FIELDSYNC_ESCHEMA;
        }
        if (rc == 0)
            *(float *)p = (float)d;
        return rc;
    case PROTOBUF_C_TYPE_DOUBLE:
        rc = get_double(j, &d, path, err, errlen);
        if (rc == 0)
            *(double *)p = d;
        return rc;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(j))
            return wrong_type(path, "true or false", j, err, errlen);
        *(protobuf_c_boolean *)p = json_is_true(j);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        if (json_is_string(j)) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(j));
            if (!ev) {
                seterr(err, errlen, "%s: \"%s\" is not a value of %s (e.g. %s)", path,
                       json_string_value(j), ed->name,
                       ed->n_values > 1 ? ed->values[1].name : ed->values[0].name);
                return FIELDSYNC_ESCHEMA;
            }
            *(int *)p = ev->value;
            return 0;
        }
        rc = get_int(j, 0, INT32_MIN, INT32_MAX, 0, &u, path, err, errlen);
        if (rc == 0)
            *(int *)p = (int)(int64_t)u; /* open enum: unknown numbers are kept */
        return rc;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(j))
            return wrong_type(path, "a string", j, err, errlen);
        size_t n = json_string_length(j);
        const char *s = json_string_value(j);
        if (memchr(s, '\0', n)) {
            seterr(err, errlen, "%s: a string may not contain U+0000", path);
            return FIELDSYNC_ESCHEMA;
        }
        char *copy = malloc(n + 1);
        if (!copy)
            return FIELDSYNC_ENOMEM;
        memcpy(copy, s, n + 1);
        *(char **)p = copy;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = p;
        uint8_t id[16];
        if (!json_is_string(j))
            return wrong_type(path, "a string (UUID or base64)", j, err, errlen);
        const char *s = json_string_value(j);
        /* The dashed form only: 32 hex digits are also valid base64. */
        if (strlen(s) == UUID_STR_LEN && uuid_parse(s, id) == 0) {
            b->data = malloc(16);
            if (!b->data)
                return FIELDSYNC_ENOMEM;
            memcpy(b->data, id, 16);
            b->len = 16;
            return 0;
        }
        if (*s == '\0')
            return 0;
        if (cli_text_b64_decode(s, json_string_length(j), &b->data, &b->len) < 0) {
            seterr(err, errlen, "%s: \"%s\" is neither a UUID nor base64", path, s);
            return FIELDSYNC_ESCHEMA;
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return json_to_msg(f->descriptor, j, (ProtobufCMessage **)p, path, err, errlen);
    }
    seterr(err, errlen, "%s: unsupported field type", path);
    return FIELDSYNC_ESCHEMA;
}

static int json_to_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const json_t *v,
                         char *path, char *err, size_t errlen)
{
    size_t sz = cli_json_type_size(f->type);

    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_is_array(v))
            return wrong_type(path, "an array", v, err, errlen);
        size_t n = json_array_size(v);
        if (n == 0)
            return 0;
        char *arr = calloc(n, sz);
        if (!arr)
            return FIELDSYNC_ENOMEM;
        /* Count first: on error, free_unpacked frees the filled slots and skips NULL ones. */
        *(void **)MEMBER(m, f->offset) = arr;
        *(size_t *)MEMBER(m, f->quantifier_offset) = n;
        for (size_t k = 0; k < n; k++) {
            const json_t *e = json_array_get(v, k);
            size_t saved;
            path_push(path, &saved, "[%zu]", k);
            if (json_is_null(e)) {
                seterr(err, errlen, "%s: null is not allowed in an array", path);
                return FIELDSYNC_ESCHEMA;
            }
            int rc = json_to_value(f, e, arr + k * sz, path, err, errlen);
            if (rc < 0)
                return rc;
            path[saved] = '\0';
        }
        return 0;
    }
    if (is_oneof(f)) {
        uint32_t *cs = MEMBER(m, f->quantifier_offset);
        if (*cs != 0) {
            seterr(err, errlen, "%s: another member of its oneof is already set", path);
            return FIELDSYNC_ESCHEMA;
        }
        memset(MEMBER(m, f->offset), 0, sz);
        int rc = json_to_value(f, v, MEMBER(m, f->offset), path, err, errlen);
        *cs = f->id; /* even on error, so free_unpacked releases what was stored */
        return rc;
    }
    void *p = MEMBER(m, f->offset);
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
        *(void **)p = NULL; /* was the static default: never freed, never kept */
    if (f->type == PROTOBUF_C_TYPE_BYTES)
        memset(p, 0, sz);
    int rc = json_to_value(f, v, p, path, err, errlen);
    if (f->type == PROTOBUF_C_TYPE_STRING && *(char **)p == NULL)
        *(const void **)p = f->default_value;
    if (rc == 0 && has_flag(f))
        *(protobuf_c_boolean *)MEMBER(m, f->quantifier_offset) = 1;
    return rc;
}

static int json_to_msg(const ProtobufCMessageDescriptor *d, const json_t *j, ProtobufCMessage **out,
                       char *path, char *err, size_t errlen)
{
    int rc = FIELDSYNC_ENOMEM;
    ProtobufCMessage *m = NULL;
    const char *key;
    json_t *v;

    if (!json_is_object(j)) {
        rc = wrong_type(*path ? path : "value", "an object", j, err, errlen);
        goto out;
    }
    m = malloc(d->sizeof_message);
    if (!m)
        goto out;
    protobuf_c_message_init(d, m);
    json_object_foreach((json_t *)j, key, v)
    {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
        size_t saved;

        path_push(path, &saved, "%s%s", sep(path), key);
        if (!f) {
            seterr(err, errlen, "unknown key \"%s\" (%s is not a field of %s)", path, key, d->name);
            rc = FIELDSYNC_ESCHEMA;
            goto out;
        }
        if (!json_is_null(v)) {
            rc = json_to_field(m, f, v, path, err, errlen);
            if (rc < 0)
                goto out;
        }
        path[saved] = '\0';
    }
    *out = m;
    m = NULL;
    rc = 0;
out:
    if (rc == FIELDSYNC_ENOMEM)
        seterr(err, errlen, "out of memory");
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int cli_json_to_pb(const ProtobufCMessageDescriptor *d, const json_t *j, ProtobufCMessage **out,
                   char *err, size_t errlen)
{
    char path[PATH_MAX_LEN] = "";

    *out = NULL;
    return json_to_msg(d, j, out, path, err, errlen);
}

/* ---- editing one field -------------------------------------------------------------------- */

void cli_json_swap_field(ProtobufCMessage *a, ProtobufCMessage *b,
                         const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *d = a->descriptor;
    size_t sz =
        f->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(void *) : cli_json_type_size(f->type);
    size_t qsz = 0;
    unsigned char tmp[sizeof(ProtobufCBinaryData) > 8 ? sizeof(ProtobufCBinaryData) : 8];

    if (is_oneof(f)) {
        /* Members share storage: swap the widest member and the case. */
        for (unsigned i = 0; i < d->n_fields; i++)
            if (is_oneof(&d->fields[i]) && d->fields[i].quantifier_offset == f->quantifier_offset &&
                cli_json_type_size(d->fields[i].type) > sz)
                sz = cli_json_type_size(d->fields[i].type);
        qsz = sizeof(uint32_t);
    } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        qsz = sizeof(size_t);
    } else if (has_flag(f)) {
        qsz = sizeof(protobuf_c_boolean);
    }
    memcpy(tmp, MEMBER(a, f->offset), sz);
    memcpy(MEMBER(a, f->offset), MEMBER(b, f->offset), sz);
    memcpy(MEMBER(b, f->offset), tmp, sz);
    if (qsz) {
        memcpy(tmp, MEMBER(a, f->quantifier_offset), qsz);
        memcpy(MEMBER(a, f->quantifier_offset), MEMBER(b, f->quantifier_offset), qsz);
        memcpy(MEMBER(b, f->quantifier_offset), tmp, qsz);
    }
}

int cli_json_set_field(ProtobufCMessage *m, const char *name, const char *text,
                       const ProtobufCFieldDescriptor **field, char *err, size_t errlen)
{
    int rc = FIELDSYNC_ENOMEM;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
    ProtobufCMessage *tmp = NULL;
    json_t *obj = NULL, *v = NULL;
    json_error_t jerr;

    if (!f) {
        size_t o = 0;
        o += (size_t)snprintf(err, errlen, "%s has no field \"%s\"; fields:", d->name, name);
        for (unsigned i = 0; i < d->n_fields && o < errlen; i++)
            o += (size_t)snprintf(err + o, errlen - o, " %s", d->fields[i].name);
        rc = FIELDSYNC_ENOTFOUND;
        goto out;
    }
    if (f->label != PROTOBUF_C_LABEL_REPEATED &&
        (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES)) {
        v = json_string(text);
        if (!v) {
            seterr(err, errlen, "%s: invalid UTF-8", name);
            rc = FIELDSYNC_EUTF8;
            goto out;
        }
    } else {
        v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!v && f->type == PROTOBUF_C_TYPE_ENUM && f->label != PROTOBUF_C_LABEL_REPEATED)
            v = json_string(text); /* a bare enum name */
        if (!v) {
            seterr(err, errlen, "%s: value is not valid JSON: %s", name, jerr.text);
            rc = FIELDSYNC_ESCHEMA;
            goto out;
        }
    }
    obj = json_object();
    if (!obj || json_object_set(obj, name, v) < 0)
        goto out;
    rc = cli_json_to_pb(d, obj, &tmp, err, errlen);
    if (rc < 0)
        goto out;
    if (is_oneof(f) && *(uint32_t *)MEMBER(m, f->quantifier_offset) != f->id &&
        *(uint32_t *)MEMBER(tmp, f->quantifier_offset) == 0) {
        /* Clearing a member that is not the one set: leave the oneof alone. */
    } else {
        cli_json_swap_field(m, tmp, f);
    }
    if (field)
        *field = f;
    rc = 0;
out:
    if (tmp)
        protobuf_c_message_free_unpacked(tmp, NULL);
    json_decref(v);
    json_decref(obj);
    return rc;
}

const ProtobufCBinaryData *cli_json_element_id(const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "id");

    if (!f || f->type != PROTOBUF_C_TYPE_BYTES || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    const ProtobufCBinaryData *b = MEMBER(m, f->offset);
    return b->len ? b : NULL;
}
