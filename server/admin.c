/*
 * admin: enroll / devices / revoke / conflicts (see admin.h). Each opens the database directly with
 * store_open and leaves it closed; nothing here talks to the running server, which sees the
 * changes at its next read (a revocation takes effect at the device's next request).
 * Prints the enrolment code once (it is stored only as a hash) and never prints credentials.
 */
#include "admin.h"

#include "auth.h"
#include "config.h"
#include "error.h"
#include "pbwire.h"
#include "session.h"
#include "store.h"
#include "store_records.h"
#include "tls.h"
#include "uuid.h"

#include <errno.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct admin_opts {
    struct config cfg;
    const char *role, *regions, *name, *expires, *device;
    int own_only, qr, json, help, open_only;
};

static const char *const cmds[] = {"enroll", "devices", "revoke", "conflicts"};

int admin_is_command(const char *name)
{
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (strcmp(cmds[i], name) == 0)
            return 1;
    return 0;
}

static void usage(const char *cmd, FILE *f)
{
    if (strcmp(cmd, "enroll") == 0)
        fprintf(f, "usage: fieldsync-server enroll --role collector|coordinator|admin\n"
                   "           --region GAO[,TOMBOUCTOU,...] [--own-only] [--name NAME]\n"
                   "           [--expires 24h|30m|7d|0] [--qr=no] [--data-dir D] [--config F]\n"
                   "Prints a one-time enrolment code (and a QR code) that a device redeems "
                   "once.\n--region is required except for admin (all regions). Default "
                   "expiry 24h; 0 = never.\n");
    else if (strcmp(cmd, "devices") == 0)
        fprintf(f, "usage: fieldsync-server devices [--json] [--data-dir D] [--config F]\n"
                   "Lists enrolled devices: id, name, role, regions, enrolled, last seen,\n"
                   "changes received, the high-water mark the device reported and the one\n"
                   "applied (pending = reported - applied: changes still on the device), "
                   "revoked.\n");
    else if (strcmp(cmd, "conflicts") == 0)
        fprintf(f, "usage: fieldsync-server conflicts [--open] [--json] [--data-dir D] "
                   "[--config F]\n"
                   "Lists the conflicts the server recorded (concurrent edits of one field with\n"
                   "different values), oldest first: record, field, both values, devices and\n"
                   "times, open or resolved and by whom. --open: the open ones only.\n");
    else
        fprintf(f, "usage: fieldsync-server revoke DEVICE [--data-dir D] [--config F]\n"
                   "Revokes one device (DEVICE = id, unique id prefix or name). Its next "
                   "request\nis refused with ERROR_REVOKED; what it delivered is kept.\n");
}

static int parse(int argc, char **argv, struct admin_opts *o)
{
    config_defaults(&o->cfg);
    o->qr = 1;
    char err[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
#define VAL(flag)                                                                                  \
    (strcmp(a, flag) == 0 && i + 1 < argc     ? (v = argv[++i])                                    \
     : strncmp(a, flag "=", sizeof flag) == 0 ? (v = a + sizeof flag)                              \
                                              : NULL)
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            o->help = 1;
        else if (strcmp(a, "--own-only") == 0)
            o->own_only = 1;
        else if (strcmp(a, "--json") == 0)
            o->json = 1;
        else if (strcmp(a, "--open") == 0)
            o->open_only = 1;
        else if (strcmp(a, "--qr") == 0 || strcmp(a, "--qr=yes") == 0)
            o->qr = 1;
        else if (strcmp(a, "--qr=no") == 0)
            o->qr = 0;
        else if (VAL("--role"))
            o->role = v;
        else if (VAL("--region") || VAL("--regions"))
            o->regions = v;
        else if (VAL("--name"))
            o->name = v;
        else if (VAL("--expires"))
            o->expires = v;
        else if (VAL("--data-dir"))
            snprintf(o->cfg.data_dir, sizeof o->cfg.data_dir, "%s", v);
        else if (VAL("--config")) {
            if (config_load_file(&o->cfg, v, err, sizeof err) < 0) {
                fprintf(stderr, "fieldsync-server: %s\n", err);
                return -1;
            }
        } else if (a[0] != '-' && !o->device)
            o->device = a;
        else {
            fprintf(stderr, "fieldsync-server %s: unknown argument '%s'\n", argv[0], a);
            return -1;
        }
#undef VAL
    }
    return 0;
}

static int open_db(const struct admin_opts *o, int writable, struct store **st)
{
    char path[600], err[300];
    snprintf(path, sizeof path, "%.500s/fieldsync.db", o->cfg.data_dir);
    if (writable && mkdir(o->cfg.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "fieldsync-server: cannot create %s: %s\n", o->cfg.data_dir,
                strerror(errno));
        return FIELDSYNC_EIO;
    }
    int rc = store_open(st, path, writable, NULL, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "fieldsync-server: cannot open %s: %s\n", path, err);
    return rc;
}

/* "24h", "30m", "7d", "90s", "0" → ms (0 = never). -1 when invalid. */
static int64_t parse_duration(const char *s)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    if (end == s || n < 0)
        return -1;
    int64_t unit;
    if (*end == '\0' || strcmp(end, "s") == 0)
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60000;
    else if (strcmp(end, "h") == 0)
        unit = 3600000;
    else if (strcmp(end, "d") == 0)
        unit = 86400000;
    else
        return -1;
    if (n > INT64_MAX / unit)
        return -1;
    return n * unit;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fmt_time(int64_t ms, char *buf, size_t cap)
{
    if (ms == 0) {
        snprintf(buf, cap, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%MZ", &tm);
}

/* The QR code with Unicode half blocks: two module rows per line, light modules drawn (so
 * it reads on dark terminals), with a quiet zone of 2 modules. */
static void print_qr(const char *text)
{
    QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!q) {
        fprintf(stderr, "fieldsync-server: QR encoding failed (use the code above)\n");
        return;
    }
    const int quiet = 2, w = q->width, total = w + 2 * quiet;
    for (int y = 0; y < total; y += 2) {
        for (int x = 0; x < total; x++) {
            int dark[2];
            for (int k = 0; k < 2; k++) {
                int yy = y + k - quiet, xx = x - quiet;
                dark[k] = yy >= 0 && yy < w && xx >= 0 && xx < w && (q->data[yy * w + xx] & 1);
            }
            /* light = block */
            fputs(!dark[0] && !dark[1] ? "\u2588"
                  : !dark[0]           ? "\u2580"
                  : !dark[1]           ? "\u2584"
                                       : " ",
                  stdout);
        }
        fputc('\n', stdout);
    }
    QRcode_free(q);
}

static int cmd_enroll(struct admin_opts *o)
{
    struct store_enroll_code ec;
    memset(&ec, 0, sizeof ec);
    ec.role = o->role ? auth_role_parse(o->role) : 0;
    if (!ec.role) {
        fprintf(stderr, "fieldsync-server enroll: --role collector|coordinator|admin required\n");
        return 2;
    }
    struct session tmp;
    memset(&tmp, 0, sizeof tmp);
    if (o->regions && session_set_regions(&tmp, o->regions) < 0) {
        fprintf(stderr, "fieldsync-server enroll: bad --region list '%s'\n", o->regions);
        return 2;
    }
    if (tmp.n_regions == 0 && ec.role != SESSION_ROLE_ADMIN) {
        fprintf(stderr, "fieldsync-server enroll: --region required for a %s\n", o->role);
        return 2;
    }
    session_regions_csv(&tmp, ec.regions, sizeof ec.regions);
    ec.own_only = o->own_only;
    if (o->name) {
        if (strlen(o->name) > STORE_NAME_MAX ||
            !pbwire_utf8_ok((const uint8_t *)o->name, strlen(o->name))) {
            fprintf(stderr, "fieldsync-server enroll: --name not UTF-8 or longer than %d bytes\n",
                    STORE_NAME_MAX);
            return 2;
        }
        snprintf(ec.name, sizeof ec.name, "%s", o->name);
    }
    int64_t ttl = parse_duration(o->expires ? o->expires : "24h");
    if (ttl < 0) {
        fprintf(stderr, "fieldsync-server enroll: bad --expires '%s' (e.g. 24h, 30m, 7d, 0)\n",
                o->expires);
        return 2;
    }
    ec.created_ms = now_ms();
    ec.expires_ms = ttl ? ec.created_ms + ttl : 0;

    char code[AUTH_CODE_SHOWN + 1], norm[AUTH_CODE_CHARS + 1];
    if (auth_code_new(code) < 0 || auth_code_normalize(code, norm) < 0) {
        fprintf(stderr, "fieldsync-server enroll: no randomness\n");
        return 1;
    }
    auth_code_hash(norm, ec.code_hash);
    tls_zeroize(norm, sizeof norm);
    struct store *st = NULL;
    int status = 1;
    if (open_db(o, 1, &st) < 0)
        goto out;
    if (store_enroll_code_add(st, &ec) < 0) {
        fprintf(stderr, "fieldsync-server enroll: %s\n", store_errmsg(st));
        goto out;
    }
    char exp[40];
    fmt_time(ec.expires_ms, exp, sizeof exp);
    printf("Enrolment code for a %s in %s%s%s%s (one use, expires %s):\n\n",
           auth_role_name(ec.role), ec.regions[0] ? ec.regions : "all regions",
           ec.own_only ? ", own records only" : "", ec.name[0] ? ", name " : "", ec.name,
           ec.expires_ms ? exp : "never");
    printf("code %s\n\n", code);
    if (o->qr)
        print_qr(code);
    fflush(stdout);
    status = 0;
out:
    tls_zeroize(code, sizeof code);
    store_close(st);
    return status;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

struct list_ctx {
    int json, n;
};

static int print_device(void *user, const struct store_device *d)
{
    struct list_ctx *lc = user;
    char id[UUID_STR_LEN + 1], enrolled[40], seen[40], revoked[40];
    uuid_format(d->id, id);
    fmt_time(d->enrolled_ms, enrolled, sizeof enrolled);
    fmt_time(d->last_seen_ms, seen, sizeof seen);
    fmt_time(d->revoked_ms, revoked, sizeof revoked);
    uint64_t pending = d->reported_hw > d->applied_hw ? d->reported_hw - d->applied_hw : 0;
    if (lc->json) {
        printf("%s{\"id\":\"%s\",\"name\":", lc->n ? ",\n " : "[", id);
        json_str(d->name);
        printf(",\"role\":\"%s\",\"regions\":", auth_role_name(d->role));
        json_str(d->regions);
        printf(",\"own_only\":%s,\"enrolled_ms\":%lld,\"last_seen_ms\":%lld,"
               "\"changes_received\":%llu,\"reported_hw\":%llu,\"applied_hw\":%llu,"
               "\"pending\":%llu,\"revoked_ms\":%lld}",
               d->own_only ? "true" : "false", (long long)d->enrolled_ms,
               (long long)d->last_seen_ms, (unsigned long long)d->changes_received,
               (unsigned long long)d->reported_hw, (unsigned long long)d->applied_hw,
               (unsigned long long)pending, (long long)d->revoked_ms);
    } else {
        if (lc->n == 0)
            printf("%-36s  %-16s %-11s %-20s %-17s %-17s %8s %8s %8s %8s  %s\n", "ID", "NAME",
                   "ROLE", "REGIONS", "ENROLLED", "LAST SEEN", "RECEIVED", "REPORTED", "APPLIED",
                   "PENDING≈", "REVOKED");
        printf("%-36s  %-16s %-11s %-20s %-17s %-17s %8llu %8llu %8llu %8llu  %s\n", id,
               d->name[0] ? d->name : "-",
               d->own_only && d->role == SESSION_ROLE_COLLECTOR ? "collector*"
                                                                : auth_role_name(d->role),
               d->regions[0] ? d->regions : "*", enrolled, seen,
               (unsigned long long)d->changes_received, (unsigned long long)d->reported_hw,
               (unsigned long long)d->applied_hw, (unsigned long long)pending, revoked);
    }
    lc->n++;
    return 0;
}

static int cmd_devices(struct admin_opts *o)
{
    struct store *st = NULL;
    if (open_db(o, 0, &st) < 0)
        return 1;
    struct list_ctx lc = {o->json, 0};
    int rc = store_device_list(st, print_device, &lc);
    if (rc < 0)
        fprintf(stderr, "fieldsync-server devices: %s\n", store_errmsg(st));
    else if (o->json)
        printf("%s]\n", lc.n ? "" : "[");
    else if (lc.n == 0)
        printf("no devices enrolled\n");
    else
        printf("(* own records only; PENDING = reported - applied: changes the device "
               "still holds)\n");
    store_close(st);
    return rc < 0 ? 1 : 0;
}

struct match_ctx {
    const char *want;
    int n;
    struct store_device found;
};

static int match_device(void *user, const struct store_device *d)
{
    struct match_ctx *m = user;
    char id[UUID_STR_LEN + 1], hex[33];
    uuid_format(d->id, id);
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", d->id[i]);
    size_t n = strlen(m->want);
    if (strcmp(d->name, m->want) == 0 || (n >= 4 && strncmp(id, m->want, n) == 0) ||
        (n >= 4 && strncmp(hex, m->want, n) == 0)) {
        m->n++;
        m->found = *d;
    }
    return 0;
}

static int cmd_revoke(struct admin_opts *o)
{
    if (!o->device) {
        usage("revoke", stderr);
        return 2;
    }
    struct store *st = NULL;
    int status = 1;
    if (open_db(o, 1, &st) < 0)
        goto out;
    struct match_ctx m;
    memset(&m, 0, sizeof m);
    m.want = o->device;
    if (store_device_list(st, match_device, &m) < 0) {
        fprintf(stderr, "fieldsync-server revoke: %s\n", store_errmsg(st));
        goto out;
    }
    if (m.n == 0) {
        fprintf(stderr, "fieldsync-server revoke: no device matches '%s'\n", o->device);
        goto out;
    }
    if (m.n > 1) {
        fprintf(stderr, "fieldsync-server revoke: '%s' matches %d devices; give more of the id\n",
                o->device, m.n);
        goto out;
    }
    char id[UUID_STR_LEN + 1];
    uuid_format(m.found.id, id);
    if (store_device_revoke(st, m.found.id, now_ms()) < 0) {
        fprintf(stderr, "fieldsync-server revoke: %s\n", store_errmsg(st));
        goto out;
    }
    printf("revoked %s (%s)%s\n", id, m.found.name[0] ? m.found.name : "unnamed",
           m.found.revoked_ms ? " (already revoked)" : "");
    status = 0;
out:
    store_close(st);
    return status;
}

/* A conflict value as text when it is one length-delimited field holding printable UTF-8
 * (the usual case: a string field), else NULL; *n its length. */
static const char *value_text(const uint8_t *v, size_t len, size_t *n)
{
    size_t off = 0;
    struct pbwire_field f;
    if (!v || pbwire_next(v, len, &off, &f) != 0 || off != len || f.wt != PBWIRE_LEN ||
        !pbwire_utf8_ok(f.val, f.val_len))
        return NULL;
    for (size_t i = 0; i < f.val_len; i++)
        if (f.val[i] < 0x20)
            return NULL;
    *n = f.val_len;
    return (const char *)f.val;
}

static void print_value(const uint8_t *v, size_t len, int json)
{
    size_t n = 0;
    const char *t = value_text(v, len, &n);
    char buf[256];
    if (t) {
        snprintf(buf, sizeof buf, "%.*s", (int)(n < 200 ? n : 200), t);
        if (json)
            json_str(buf);
        else
            printf("\"%s\"%s", buf, n > 200 ? "…" : "");
    } else if (json) {
        printf("null");
    } else {
        printf("<%zu bytes>", len);
    }
}

static int print_conflict(void *user, const struct store_conflict_view *c)
{
    struct list_ctx *lc = user;
    char rec[UUID_STR_LEN + 1], wd[UUID_STR_LEN + 1], ld[UUID_STR_LEN + 1],
        by[UUID_STR_LEN + 1] = "-", wt[40], lt[40];
    uuid_format(c->record_id, rec);
    uuid_format(c->winner_device, wd);
    uuid_format(c->loser_device, ld);
    if (c->resolved_by)
        uuid_format(c->resolved_by, by);
    fmt_time((int64_t)(c->winner_hlc >> 16), wt, sizeof wt);
    fmt_time((int64_t)(c->loser_hlc >> 16), lt, sizeof lt);
    const char *state = c->state == FIELDSYNC__CONFLICT_STATE__CONFLICT_OPEN ? "open" : "resolved";
    if (lc->json) {
        printf("%s{\"id\":%llu,\"record\":\"%s\",\"field\":%u,\"element\":%s,"
               "\"state\":\"%s\",\"winner\":{\"device\":\"%s\",\"hlc\":%llu,\"text\":",
               lc->n ? ",\n " : "[", (unsigned long long)c->id, rec, c->field,
               c->element_id_len ? "true" : "false", state, wd, (unsigned long long)c->winner_hlc);
        print_value(c->winner_value, c->winner_len, 1);
        printf(",\"bytes\":%zu},\"loser\":{\"device\":\"%s\",\"hlc\":%llu,\"text\":", c->winner_len,
               ld, (unsigned long long)c->loser_hlc);
        print_value(c->loser_value, c->loser_len, 1);
        printf(",\"bytes\":%zu},\"resolved_by\":", c->loser_len);
        if (c->resolved_by)
            printf("\"%s\"}", by);
        else
            printf("null}");
    } else {
        printf("#%llu %s record %s field %u%s\n", (unsigned long long)c->id, state, rec, c->field,
               c->element_id_len ? " (one element)" : "");
        printf("   kept:     ");
        print_value(c->winner_value, c->winner_len, 0);
        printf("  by %s at %s\n   also:     ", wd, wt);
        print_value(c->loser_value, c->loser_len, 0);
        printf("  by %s at %s\n", ld, lt);
        if (c->resolved_by)
            printf("   resolved by %s\n", by);
    }
    lc->n++;
    return 0;
}

static int cmd_conflicts(struct admin_opts *o)
{
    struct store *st = NULL;
    if (open_db(o, 0, &st) < 0)
        return 1;
    struct list_ctx lc = {o->json, 0};
    int rc = store_conflict_list(st, o->open_only, print_conflict, &lc);
    if (rc < 0)
        fprintf(stderr, "fieldsync-server conflicts: %s\n", store_errmsg(st));
    else if (o->json)
        printf("%s]\n", lc.n ? "" : "[");
    else if (lc.n == 0)
        printf("no %sconflicts\n", o->open_only ? "open " : "");
    store_close(st);
    return rc < 0 ? 1 : 0;
}

int admin_main(int argc, char **argv)
{
    struct admin_opts o;
    memset(&o, 0, sizeof o);
    if (parse(argc, argv, &o) < 0) {
        usage(argv[0], stderr);
        return 2;
    }
    if (o.help) {
        usage(argv[0], stdout);
        return 0;
    }
    if (strcmp(argv[0], "enroll") == 0)
        return cmd_enroll(&o);
    if (strcmp(argv[0], "devices") == 0)
        return cmd_devices(&o);
    if (strcmp(argv[0], "conflicts") == 0)
        return cmd_conflicts(&o);
    return cmd_revoke(&o);
}
