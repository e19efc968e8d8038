/*
 * cli_export: writers for `fieldsync export`: CSV for Excel, JSON Lines, GeoJSON for QGIS.
 *
 * Columns are derived from the message descriptor, depth first: a scalar field is one column
 * named after it; a singular sub-message is flattened into "name.sub" columns (a Date becomes one
 * ISO "YYYY-MM-DD" column); a repeated message field becomes "name_count"; other repeated fields
 * are joined with ';'. A record is one row whatever it holds, so every row has every column.
 *
 * CSV follows what Excel needs to show French accents and not to run formulas: UTF-8 with a BOM,
 * CRLF, RFC 4180 quoting, and text from the field (untrusted) that starts with = + - @ TAB or CR
 * gets a leading apostrophe. Numbers we format ourselves are never altered (west longitudes are
 * negative). GeoJSON coordinates are [lon, lat] (RFC 7946).
 *
 * Depends on cli_json (value formatting) and jansson only; not on the client library.
 */
#include "cli_export.h"

#include "uuid.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 4

enum cell_kind { CELL_EMPTY, CELL_TEXT, CELL_NUMBER, CELL_BOOL };

int cli_export_format_parse(const char *name, enum cli_export_format *out)
{
    if (strcmp(name, "csv") == 0)
        *out = CLI_EXPORT_CSV;
    else if (strcmp(name, "jsonl") == 0 || strcmp(name, "json") == 0)
        *out = CLI_EXPORT_JSONL;
    else if (strcmp(name, "geojson") == 0)
        *out = CLI_EXPORT_GEOJSON;
    else
        return FIELDSYNC_EINVAL;
    return 0;
}

void cli_export_init(struct cli_export *x, enum cli_export_format format, FILE *out,
                     const ProtobufCMessageDescriptor *d)
{
    memset(x, 0, sizeof *x);
    x->format = format;
    x->out = out;
    x->desc = d;
    x->sep = ',';
}

void cli_export_close(struct cli_export *x)
{
    free(x->buf);
    x->buf = NULL;
    x->cap = 0;
    json_decref(x->props);
    x->props = NULL;
}

/* ---- scratch buffer ----------------------------------------------------------------------- */

static int buf_put(struct cli_export *x, size_t *len, const char *s, size_t n)
{
    if (*len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 256;
        while (cap < *len + n + 1)
            cap *= 2;
        char *b = realloc(x->buf, cap);
        if (!b)
            return FIELDSYNC_ENOMEM;
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + *len, s, n);
    *len += n;
    x->buf[*len] = '\0';
    return 0;
}

/* ---- CSV ---------------------------------------------------------------------------------- */

int cli_export_csv_cell(FILE *out, const char *s, int is_text, char sep)
{
    int quote = strpbrk(s, "\"\r\n") != NULL || strchr(s, sep) != NULL;
    int guard = is_text && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
                            s[0] == '\t' || s[0] == '\r');

    if (quote)
        fputc('"', out);
    if (guard)
        fputc('\'', out);
    if (quote) {
        for (const char *p = s; *p; p++) {
            if (*p == '"')
                fputc('"', out);
            fputc(*p, out);
        }
        fputc('"', out);
    } else {
        fputs(s, out);
    }
    return ferror(out) ? FIELDSYNC_EIO : 0;
}

/* ---- one cell, in whatever format --------------------------------------------------------- */

static int emit(struct cli_export *x, int header, enum cell_kind k, const char *text)
{
    if (x->format == CLI_EXPORT_CSV) {
        if (x->ncols++ > 0)
            fputc(x->sep, x->out);
        if (header)
            return cli_export_csv_cell(x->out, x->name, 0, x->sep);
        if (k == CELL_NUMBER && x->decimal_comma && strchr(text, '.')) {
            /* French Excel reads 15,6597 as a number and 15.6597 as text. */
            char num[48];
            snprintf(num, sizeof num, "%s", text);
            *strchr(num, '.') = ',';
            return cli_export_csv_cell(x->out, num, 0, x->sep);
        }
        return cli_export_csv_cell(x->out, k == CELL_EMPTY ? "" : text, k == CELL_TEXT, x->sep);
    }
    /* GeoJSON properties: typed values, null for empty. */
    json_t *v;
    switch (k) {
    case CELL_EMPTY:
        v = json_null();
        break;
    case CELL_NUMBER:
        if (strpbrk(text, ".eEnN"))
            v = json_real(strtod(text, NULL));
        else
            v = json_integer(strtoll(text, NULL, 10));
        break;
    case CELL_BOOL:
        v = json_boolean(strcmp(text, "true") == 0);
        break;
    default:
        v = json_string(text);
        break;
    }
    if (!v || json_object_set_new(x->props, x->name, v) < 0)
        return FIELDSYNC_ENOMEM;
    return 0;
}

/* Text of one scalar value at p into x->buf (appended at *len); its kind in *k. */
static int scalar_text(struct cli_export *x, const ProtobufCFieldDescriptor *f, const void *p,
                       size_t *len, enum cell_kind *k)
{
    char num[40];

    *k = CELL_NUMBER;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(num, sizeof num, "%" PRId32, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(num, sizeof num, "%" PRIu32, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof num, "%" PRIu64, *(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        if (!isfinite(*(const float *)p))
            *k = CELL_TEXT;
        cli_text_float(*(const float *)p, num);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!isfinite(*(const double *)p))
            *k = CELL_TEXT;
        cli_text_double(*(const double *)p, num);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *k = CELL_BOOL;
        snprintf(num, sizeof num, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        *k = CELL_TEXT;
        if (ev)
            return buf_put(x, len, ev->name, strlen(ev->name));
        snprintf(num, sizeof num, "%d", v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        *k = CELL_TEXT;
        return s ? buf_put(x, len, s, strlen(s)) : 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        *k = CELL_TEXT;
        if (b->len == 16) {
            char id[37];
            uuid_format(b->data, id);
            return buf_put(x, len, id, 36);
        }
        snprintf(num, sizeof num, "(%zu bytes)", b->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *k = CELL_TEXT;
        num[0] = '\0';
        break;
    }
    return buf_put(x, len, num, strlen(num));
}

static int is_date(const ProtobufCMessageDescriptor *d)
{
    return d->n_fields == 3 && protobuf_c_message_descriptor_get_field_by_name(d, "year") &&
           protobuf_c_message_descriptor_get_field_by_name(d, "month") &&
           protobuf_c_message_descriptor_get_field_by_name(d, "day");
}

static uint32_t date_part(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (f->type != PROTOBUF_C_TYPE_UINT32 && f->type != PROTOBUF_C_TYPE_INT32)
        return 0;
    return *(const uint32_t *)((const char *)m + f->offset);
}

/* Append ".name" (or "name" at the top) to the column name; return the previous length. */
static size_t name_push(struct cli_export *x, const char *suffix_sep, const char *name,
                        const char *suffix)
{
    size_t n = strlen(x->name);
    snprintf(x->name + n, sizeof x->name - n, "%s%s%s", n ? suffix_sep : "", name, suffix);
    return n;
}

static int oneof_unset(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
    return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
           *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id;
}

/* One cell per column of type d; m NULL (an absent sub-message) gives empty cells. */
static int walk(struct cli_export *x, const ProtobufCMessageDescriptor *d,
                const ProtobufCMessage *m, int header, int depth)
{
    int rc = 0;

    for (unsigned i = 0; i < d->n_fields && rc == 0; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *p = m ? (const char *)m + f->offset : NULL;
        size_t len = 0;
        size_t saved;
        enum cell_kind k = CELL_EMPTY;

        rc = buf_put(x, &len, "", 0); /* empty the scratch cell */
        if (rc < 0)
            break;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = m ? *(const size_t *)((const char *)m + f->quantifier_offset) : 0;
            const char *arr = m ? *(char *const *)p : NULL;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                char num[24];
                saved = name_push(x, ".", f->name, "_count");
                snprintf(num, sizeof num, "%zu", n);
                rc = emit(x, header, m ? CELL_NUMBER : CELL_EMPTY, num);
                x->name[saved] = '\0';
                continue;
            }
            saved = name_push(x, ".", f->name, "");
            for (size_t e = 0; e < n && rc == 0; e++) {
                if (e)
                    rc = buf_put(x, &len, ";", 1);
                if (rc == 0)
                    rc = scalar_text(x, f, arr + e * cli_json_type_size(f->type), &len, &k);
            }
            if (rc == 0)
                rc = emit(x, header, n ? CELL_TEXT : CELL_EMPTY, x->buf);
            x->name[saved] = '\0';
            continue;
        }
        saved = name_push(x, ".", f->name, "");
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sub = m ? *(ProtobufCMessage *const *)p : NULL;
            const ProtobufCMessageDescriptor *sd = f->descriptor;
            if (m && oneof_unset(f, m))
                sub = NULL;
            if (is_date(sd)) {
                char date[40] = "";
                if (sub)
                    snprintf(date, sizeof date, "%04u-%02u-%02u", (unsigned)date_part(sub, "year"),
                             (unsigned)date_part(sub, "month"), (unsigned)date_part(sub, "day"));
                rc = emit(x, header, sub ? CELL_TEXT : CELL_EMPTY, date);
            } else if (depth < MAX_DEPTH) {
                rc = walk(x, sd, sub, header, depth + 1);
            }
            x->name[saved] = '\0';
            continue;
        }
        if (m && !oneof_unset(f, m))
            rc = scalar_text(x, f, p, &len, &k);
        if (rc == 0)
            rc = emit(x, header, k, x->buf);
        x->name[saved] = '\0';
    }
    return rc;
}

/* ---- records ------------------------------------------------------------------------------ */

/* A singular message field whose type has lat and lon numbers. */
static const ProtobufCFieldDescriptor *find_geo(const ProtobufCMessageDescriptor *d)
{
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
            continue;
        const ProtobufCFieldDescriptor *lat =
            protobuf_c_message_descriptor_get_field_by_name(f->descriptor, "lat");
        const ProtobufCFieldDescriptor *lon =
            protobuf_c_message_descriptor_get_field_by_name(f->descriptor, "lon");
        if (lat && lon && lat->type == PROTOBUF_C_TYPE_DOUBLE &&
            lon->type == PROTOBUF_C_TYPE_DOUBLE)
            return f;
    }
    return NULL;
}

static double coord(const ProtobufCMessage *pt, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(pt->descriptor, name);
    return *(const double *)((const char *)pt + f->offset);
}

int cli_export_begin(struct cli_export *x)
{
    int rc = FIELDSYNC_EIO;

    x->records = 0;
    x->omitted = 0;
    switch (x->format) {
    case CLI_EXPORT_CSV:
        fputs("\xEF\xBB\xBF", x->out); /* BOM: Excel then reads UTF-8, accents intact */
        x->ncols = 0;
        snprintf(x->name, sizeof x->name, "id");
        rc = emit(x, 1, CELL_TEXT, "");
        x->name[0] = '\0';
        if (rc == 0)
            rc = walk(x, x->desc, NULL, 1, 0);
        fputs("\r\n", x->out);
        break;
    case CLI_EXPORT_JSONL:
        rc = 0;
        break;
    case CLI_EXPORT_GEOJSON:
        x->geo = find_geo(x->desc);
        if (!x->geo) {
            snprintf(x->err, sizeof x->err, "%s has no location field (lat, lon)", x->desc->name);
            return FIELDSYNC_ESCHEMA;
        }
        fputs("{\"type\":\"FeatureCollection\",\"features\":[", x->out);
        rc = 0;
        break;
    }
    if (rc == 0 && ferror(x->out))
        rc = FIELDSYNC_EIO;
    return rc;
}

static int write_jsonl(struct cli_export *x, const char *id, const ProtobufCMessage *m)
{
    int rc = FIELDSYNC_ENOMEM;
    json_t *body = NULL, *line = json_object();

    if (!line || json_object_set_new(line, "_id", json_string(id)) < 0)
        goto out;
    rc = cli_json_from_pb(m, 0, &body, x->err, sizeof x->err);
    if (rc < 0)
        goto out;
    rc = FIELDSYNC_ENOMEM;
    if (json_object_update(line, body) < 0)
        goto out;
    rc = cli_text_json(line, 0, x->out);
    if (rc == 0 && fputc('\n', x->out) == EOF)
        rc = FIELDSYNC_EIO;
out:
    json_decref(body);
    json_decref(line);
    return rc;
}

static int write_feature(struct cli_export *x, const char *id, const ProtobufCMessage *m)
{
    int rc = FIELDSYNC_ENOMEM;
    const ProtobufCMessage *pt = *(ProtobufCMessage *const *)((const char *)m + x->geo->offset);
    json_t *feat = NULL, *geom = NULL, *coords = NULL;

    if (pt && oneof_unset(x->geo, m))
        pt = NULL;
    double lat = pt ? coord(pt, "lat") : NAN, lon = pt ? coord(pt, "lon") : NAN;
    if (!pt || !isfinite(lat) || !isfinite(lon) || fabs(lat) > 90 || fabs(lon) > 180) {
        x->omitted++;
        return 0;
    }
    x->props = json_object();
    if (!x->props)
        goto out;
    snprintf(x->name, sizeof x->name, "id");
    rc = emit(x, 0, CELL_TEXT, id);
    x->name[0] = '\0';
    if (rc == 0)
        rc = walk(x, x->desc, m, 0, 0);
    if (rc < 0)
        goto out;
    rc = FIELDSYNC_ENOMEM;
    feat = json_object();
    geom = json_object();
    coords = json_array();
    if (!feat || !geom || !coords)
        goto out;
    /* RFC 7946: longitude first. */
    if (json_array_append_new(coords, json_real(lon)) < 0 ||
        json_array_append_new(coords, json_real(lat)) < 0 ||
        json_object_set_new(geom, "type", json_string("Point")) < 0 ||
        json_object_set(geom, "coordinates", coords) < 0 ||
        json_object_set_new(feat, "type", json_string("Feature")) < 0 ||
        json_object_set_new(feat, "id", json_string(id)) < 0 ||
        json_object_set(feat, "geometry", geom) < 0 ||
        json_object_set(feat, "properties", x->props) < 0)
        goto out;
    fputs(x->records ? ",\n" : "\n", x->out);
    rc = cli_text_json(feat, 0, x->out);
out:
    json_decref(coords);
    json_decref(geom);
    json_decref(feat);
    json_decref(x->props);
    x->props = NULL;
    return rc;
}

int cli_export_record(struct cli_export *x, const char *id, const ProtobufCMessage *m)
{
    int rc = 0;
    size_t before = x->omitted;

    switch (x->format) {
    case CLI_EXPORT_CSV:
        x->ncols = 0;
        snprintf(x->name, sizeof x->name, "id");
        rc = emit(x, 0, CELL_TEXT, id);
        x->name[0] = '\0';
        if (rc == 0)
            rc = walk(x, x->desc, m, 0, 0);
        if (rc == 0)
            fputs("\r\n", x->out);
        break;
    case CLI_EXPORT_JSONL:
        rc = write_jsonl(x, id, m);
        break;
    case CLI_EXPORT_GEOJSON:
        rc = write_feature(x, id, m);
        break;
    }
    if (rc == 0 && ferror(x->out))
        rc = FIELDSYNC_EIO;
    if (rc == 0 && x->omitted == before)
        x->records++;
    return rc;
}

int cli_export_end(struct cli_export *x)
{
    if (x->format == CLI_EXPORT_GEOJSON)
        fputs(x->records ? "\n]}\n" : "]}\n", x->out);
    if (fflush(x->out) != 0 || ferror(x->out))
        return FIELDSYNC_EIO;
    return 0;
}
