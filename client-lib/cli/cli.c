/*
 * cli: helpers shared by the `fieldsync` commands: option parsing, error messages and exit
 * codes, the store handle, ids and dates, and the bridge between libfieldsync's encoded records
 * and protobuf-c messages.
 *
 * The tool uses libfieldsync only through its public header (fieldsync.h); message types come
 * from the generated protobuf-c code, exactly as an app would use its own protobuf library.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consultation.pb-c.h"

int cli_exit_code(int rc)
{
    switch (rc) {
    case 0:
        return CLI_EXIT_OK;
    case FIELDSYNC_EINVAL:
    case FIELDSYNC_ESCHEMA:
    case FIELDSYNC_EUTF8:
    case FIELDSYNC_EBADID:
    case FIELDSYNC_EREGION:
    case FIELDSYNC_ECOLLECTION:
        return CLI_EXIT_DATA;
    case FIELDSYNC_ENOTFOUND:
        return CLI_EXIT_NOTFOUND;
    case FIELDSYNC_ECONNECT:
    case FIELDSYNC_ETLS:
    case FIELDSYNC_ETIMEDOUT:
    case FIELDSYNC_EIO:
    case FIELDSYNC_EPROTO:
    case FIELDSYNC_EFRAMESIZE:
    case FIELDSYNC_EVERSION:
    case FIELDSYNC_EBUSY:
    case FIELDSYNC_ERATE:
    case FIELDSYNC_ESHUTDOWN:
    case FIELDSYNC_ECLOCK:
    case FIELDSYNC_EBATCH:
        return CLI_EXIT_NETWORK;
    case FIELDSYNC_EAUTH:
    case FIELDSYNC_EREVOKED:
    case FIELDSYNC_EENROLL:
    case FIELDSYNC_ESCOPE:
    case FIELDSYNC_ESTATE:
        return CLI_EXIT_DENIED;
    case FIELDSYNC_ESTORE:
        return CLI_EXIT_STORE;
    case FIELDSYNC_ECANCELED:
        return CLI_EXIT_CANCELED;
    default:
        return CLI_EXIT_FAIL;
    }
}

int cli_fail(struct cli *x, int rc, const char *fmt, ...)
{
    va_list ap;
    const char *detail = x->c ? fieldsync_errmsg(x->c) : "";

    fprintf(stderr, "fieldsync %s: %s: ", x->cmd ? x->cmd : "", fieldsync_err_name(rc));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", detail && *detail ? detail : fieldsync_strerror(rc));
    return cli_exit_code(rc);
}

int cli_usage(struct cli *x, const char *usage, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fieldsync %s: ", x->cmd ? x->cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return CLI_EXIT_USAGE;
}

int cli_parse(struct cli *x, int argc, char **argv, const struct cli_opt *opts, const char *usage,
              const char **pos, int minpos, int maxpos, int *npos, const char **extra, int *nextra)
{
    int n = 0, only_pos = 0;

    if (nextra)
        *nextra = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        /* "-" (standard input) and negative numbers are arguments, not options. */
        if (only_pos || a[0] != '-' || a[1] == '\0' || (a[1] >= '0' && a[1] <= '9') ||
            a[1] == '.') {
            if (n >= maxpos)
                return cli_usage(x, usage, "unexpected argument \"%s\"", a);
            pos[n++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return CLI_HELP;
        }
        if (a[1] != '-')
            return cli_usage(x, usage, "unknown option \"%s\"", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_opt *o = NULL;
        for (const struct cli_opt *p = opts; p && p->name; p++)
            if (strlen(p->name) == len && strncmp(p->name, name, len) == 0)
                o = p;
        if (!o && extra) {
            if (!eq && i + 1 >= argc)
                return cli_usage(x, usage, "option \"%s\" needs a value", a);
            /* Keep the name NUL-terminated: --name=value is split in place. */
            if (eq)
                argv[i][2 + len] = '\0';
            extra[2 * *nextra] = name;
            extra[2 * *nextra + 1] = eq ? eq + 1 : argv[++i];
            (*nextra)++;
            continue;
        }
        if (!o)
            return cli_usage(x, usage, "unknown option \"%s\"", a);
        if (o->flag) {
            if (eq)
                return cli_usage(x, usage, "option \"--%s\" takes no value", o->name);
            *o->flag = 1;
        } else if (eq) {
            *o->val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return cli_usage(x, usage, "option \"--%s\" needs a value", o->name);
            *o->val = argv[++i];
        }
    }
    if (n < minpos)
        return cli_usage(x, usage, "missing argument");
    if (npos)
        *npos = n;
    return 0;
}

static int hex_digit(int ch)
{
    return isdigit(ch) ? ch - '0' : isxdigit(ch) ? (tolower(ch) - 'a') + 10 : -1;
}

/* The store key in x->key_file: exactly 32 raw bytes, or 64 hex digits (then whitespace).
 * 0 or an exit code (message printed). */
static int load_key(struct cli *x, uint8_t key[32])
{
    uint8_t buf[160];
    size_t n = 0, got;
    FILE *f = fopen(x->key_file, "rb");
    if (!f) {
        fprintf(stderr, "fieldsync %s: --key-file %s: %s\n", x->cmd, x->key_file, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    while (n < sizeof buf && (got = fread(buf + n, 1, sizeof buf - n, f)) > 0)
        n += got;
    fclose(f);
    int ok = 0;
    if (n == 32) {
        memcpy(key, buf, 32);
        ok = 1;
    } else if (n >= 64 && n < sizeof buf) {
        ok = 1;
        for (size_t i = 0; ok && i < 32; i++) {
            int hi = hex_digit(buf[2 * i]), lo = hex_digit(buf[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            key[i] = (uint8_t)(hi << 4 | (lo & 0xf));
        }
        for (size_t i = 64; ok && i < n; i++)
            ok = isspace(buf[i]) != 0;
    }
    memset(buf, 0, sizeof buf);
    if (!ok) {
        memset(key, 0, 32);
        fprintf(stderr, "fieldsync %s: --key-file %s: expected 32 raw bytes or 64 hex digits\n",
                x->cmd, x->key_file);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int cli_open(struct cli *x, int create)
{
    fieldsync_open_opts o;
    uint8_t key[32];

    fieldsync_open_opts_init(&o);
    o.create = create;
    if (x->key_file) {
        int code = load_key(x, key);
        if (code)
            return code;
        o.store_key = key;
    }
    int rc = fieldsync_open(x->store, &o, &x->c);
    memset(key, 0, sizeof key); /* the library keeps its own copy */
    if (rc < 0) {
        int code;
        if (!create && rc == FIELDSYNC_ESTORE) {
            fprintf(stderr,
                    "fieldsync %s: ESTORE: cannot open the store %s: %s\n"
                    "(set --store FILE or FIELDSYNC_STORE, or run `fieldsync enroll` first)\n",
                    x->cmd, x->store, x->c ? fieldsync_errmsg(x->c) : fieldsync_strerror(rc));
            code = CLI_EXIT_STORE;
        } else {
            code = cli_fail(x, rc, "cannot open the store %s", x->store);
        }
        fieldsync_close(x->c);
        x->c = NULL;
        return code;
    }
    return 0;
}

void cli_close(struct cli *x)
{
    fieldsync_close(x->c);
    x->c = NULL;
}

int cli_parse_id(struct cli *x, const char *what, const char *text, uint8_t id[16])
{
    if (fieldsync_id_parse(text, id) < 0) {
        fprintf(stderr,
                "fieldsync %s: EBADID: %s \"%s\" is not an id (36 characters, "
                "e.g. 01890a5d-ac96-774b-bcce-b302099a8057)\n",
                x->cmd, what, text);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int cli_parse_date(const char *s, uint32_t *out)
{
    unsigned y, m, d;
    char tail;

    if (sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) == 3 ||
        (strlen(s) == 8 && sscanf(s, "%4u%2u%2u%c", &y, &m, &d, &tail) == 3)) {
        if (y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= 31) {
            *out = y * 10000 + m * 100 + d;
            return 0;
        }
    }
    return -1;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (!s || *s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

void cli_format_ms(uint64_t ms, char out[40])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 40, "%" PRIu64 " ms", ms);
        return;
    }
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03uZ", (unsigned)(ms % 1000));
}

static const struct {
    uint32_t number;
    const ProtobufCMessageDescriptor *desc;
} collections[] = {
    {FIELDSYNC_COLLECTION_CONSULTATION, &fieldsync__consultation_report__descriptor},
};

const ProtobufCMessageDescriptor *cli_collection(uint32_t collection)
{
    for (size_t i = 0; i < sizeof collections / sizeof collections[0]; i++)
        if (collections[i].number == collection)
            return collections[i].desc;
    return NULL;
}

uint32_t cli_collection_number(const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < sizeof collections / sizeof collections[0]; i++)
        if (collections[i].desc == d)
            return collections[i].number;
    return 0;
}

int cli_keyed(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    const ProtobufCFieldDescriptor *id =
        protobuf_c_message_descriptor_get_field_by_name(f->descriptor, "id");
    return id && id->type == PROTOBUF_C_TYPE_BYTES && id->label != PROTOBUF_C_LABEL_REPEATED;
}

int cli_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);

    if (!buf)
        return FIELDSYNC_ENOMEM;
    *len = protobuf_c_message_pack(m, buf);
    *out = buf;
    return 0;
}

int cli_unpack(struct cli *x, const fieldsync_record *r, ProtobufCMessage **out)
{
    const ProtobufCMessageDescriptor *d = cli_collection(r->collection);
    char id[FIELDSYNC_ID_STR_LEN + 1];

    fieldsync_id_format(r->id, id);
    if (!d) {
        fprintf(stderr,
                "fieldsync %s: ECOLLECTION: record %s is of collection %" PRIu32
                ", unknown to this version of fieldsync\n",
                x->cmd, id, r->collection);
        return FIELDSYNC_ECOLLECTION;
    }
    *out = protobuf_c_message_unpack(d, NULL, r->body_len, r->body);
    if (!*out) {
        fprintf(stderr, "fieldsync %s: ESCHEMA: record %s: body is not a valid %s\n", x->cmd, id,
                d->name);
        return FIELDSYNC_ESCHEMA;
    }
    return 0;
}

int cli_field_value_json(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                         const uint8_t *value, size_t len, json_t **out)
{
    int rc = FIELDSYNC_ESCHEMA;
    ProtobufCMessage *m = NULL;
    json_t *obj = NULL, *v;
    char err[CLI_JSON_ERRLEN];

    *out = NULL;
    if (len == 0) {
        *out = json_null();
        return 0;
    }
    m = protobuf_c_message_unpack(d, NULL, len, value);
    if (!m)
        goto out;
    rc = cli_json_from_pb(m, 0, &obj, err, sizeof err);
    if (rc == 0 && !json_object_get(obj, f->name)) {
        /* The value is the field's default, written out explicitly. */
        json_decref(obj);
        obj = NULL;
        rc = cli_json_from_pb(m, CLI_JSON_DEFAULTS, &obj, err, sizeof err);
    }
    if (rc < 0)
        goto out;
    v = json_object_get(obj, f->name);
    if (v && cli_keyed(f) && json_array_size(v) == 1)
        v = json_array_get(v, 0);
    *out = json_incref(v ? v : json_null());
    rc = 0;
out:
    json_decref(obj);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int cli_fill_element_ids(struct cli *x, ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!cli_keyed(f))
            continue;
        const ProtobufCFieldDescriptor *idf =
            protobuf_c_message_descriptor_get_field_by_name(f->descriptor, "id");
        size_t n = *(size_t *)((char *)m + f->quantifier_offset);
        ProtobufCMessage **arr = *(ProtobufCMessage ***)((char *)m + f->offset);
        for (size_t k = 0; k < n; k++) {
            ProtobufCBinaryData *b = (ProtobufCBinaryData *)((char *)arr[k] + idf->offset);
            if (b->len != 0)
                continue;
            uint8_t *id = malloc(FIELDSYNC_ID_LEN);
            if (!id)
                return FIELDSYNC_ENOMEM;
            int rc = fieldsync_new_id(x->c, id);
            if (rc < 0) {
                free(id);
                return rc;
            }
            b->data = id;
            b->len = FIELDSYNC_ID_LEN;
        }
    }
    return 0;
}
