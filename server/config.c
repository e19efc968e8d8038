/*
 * config: defaults, the config file and the flags, in that order of precedence (see
 * config.h). One table names every setting once: its flag, its type, its field and its help
 * line, so the file, the flags and --help cannot drift apart. No I/O but reading the file.
 */
#include "config.h"

#include "error.h"
#include "frame.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_STR, K_U32, K_U64, K_BOOL, K_LISTEN, K_SYNC };

struct opt {
    const char *name;
    enum kind kind;
    size_t off;
    size_t size; /* K_STR: buffer size */
    const char *help;
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

static const struct opt opts[] = {
    {"data-dir", K_STR, F(data_dir), "data directory (created 0700; db, port file, tls/)"},
    {"listen", K_LISTEN, F(listen_host),
     "host:port to listen on (default 127.0.0.1:7443; "
     "port 0 = any)"},
    {"dev", K_BOOL, F(dev), "generate a development CA + certificate in <data-dir>/tls"},
    {"cert", K_STR, F(cert_path), "server certificate chain (PEM), production"},
    {"key", K_STR, F(key_path), "server private key (PEM), production"},
    {"port-file", K_STR, F(port_file),
     "where the bound port is written (default "
     "<data-dir>/port)"},
    {"synchronous", K_SYNC, F(synchronous), "SQLite synchronous: full|normal|off (default full)"},
    {"max-frame-preauth", K_U32, F(max_frame_preauth), "bytes per frame before Hello (4096)"},
    {"max-frame", K_U32, F(max_frame), "bytes per frame after Hello (1048576)"},
    {"max-batch", K_U32, F(max_batch), "changes per push batch (256)"},
    {"max-ops", K_U32, F(max_ops), "operations per change (512)"},
    {"max-record", K_U32, F(max_record),
     "bytes of body + clocks + open conflicts per record; at most half of max-frame less "
     "4 KiB (0 = that)"},
    {"max-in-flight", K_U32, F(max_in_flight), "requests in flight per connection (8)"},
    {"max-page", K_U32, F(max_page), "records per pull page (500)"},
    {"max-output", K_U32, F(max_output),
     "bytes queued per connection before pausing it "
     "(4194304)"},
    {"max-clock-ahead-ms", K_U64, F(max_clock_ahead_ms), "clock skew accepted (600000)"},
    {"handshake-timeout-ms", K_U32, F(handshake_timeout_ms), "TLS + Hello deadline (15000)"},
    {"idle-timeout-ms", K_U32, F(idle_timeout_ms), "silent connections close after (120000)"},
    {"max-connections", K_U32, F(max_connections), "connection cap (15000)"},
    {"max-preauth", K_U32, F(max_preauth),
     "connections before Hello in all; past it the oldest is closed (0 = max-connections / 2)"},
    {"max-preauth-per-address", K_U32, F(max_preauth_per_address),
     "connections from one address (IPv6: one /64) before Hello; 0 = no cap (64)"},
    {"rate-per-device", K_U32, F(rate_per_device), "requests/s per device, burst 4x (50)"},
    {"enroll-attempts-per-min", K_U32, F(enroll_attempts_per_min),
     "enrolment attempts per "
     "source address (10)"},
    {"ticket-lifetime-s", K_U32, F(ticket_lifetime_s), "TLS session ticket lifetime (86400)"},
    {"log-level", K_STR, F(log_level), "debug|info|warn|error (info)"},
};

#define N_OPTS (sizeof opts / sizeof *opts)

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->data_dir, sizeof c->data_dir, "./data");
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 7443;
    c->synchronous = STORE_SYNC_FULL;
    c->max_frame_preauth = FRAME_MAX_PREAUTH;
    c->max_frame = FRAME_MAX_DEFAULT;
    c->max_batch = 256;
    c->max_ops = 512;
    c->max_in_flight = 8;
    c->max_page = 500;
    c->max_output = 4u * 1024 * 1024;
    c->max_clock_ahead_ms = 10 * 60 * 1000;
    c->handshake_timeout_ms = 15000;
    c->idle_timeout_ms = 120000;
    c->max_connections = 15000;
    c->max_preauth_per_address = 64;
    c->rate_per_device = 50;
    c->enroll_attempts_per_min = 10;
    c->ticket_lifetime_s = 86400;
    snprintf(c->log_level, sizeof c->log_level, "info");
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
    if (!*v || !isdigit((unsigned char)*v))
        return FIELDSYNC_EINVAL;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || n > max)
        return FIELDSYNC_EINVAL;
    *out = n;
    return 0;
}

static int set_listen(struct config *c, const char *v)
{
    const char *colon = strrchr(v, ':');
    uint64_t port;
    if (!colon || colon == v || parse_u64(colon + 1, 65535, &port) < 0)
        return FIELDSYNC_EINVAL;
    const char *host = v;
    size_t n = (size_t)(colon - v);
    if (host[0] == '[') { /* [::1]:7443 */
        if (n < 3 || host[n - 1] != ']')
            return FIELDSYNC_EINVAL;
        host++;
        n -= 2;
    }
    if (n >= sizeof c->listen_host)
        return FIELDSYNC_EINVAL;
    memcpy(c->listen_host, host, n);
    c->listen_host[n] = '\0';
    c->listen_port = (int)port;
    return 0;
}

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen)
{
    const struct opt *o = NULL;
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(opts[i].name, key) == 0)
            o = &opts[i];
    if (!o) {
        snprintf(err, errlen, "unknown setting '%s'", key);
        return FIELDSYNC_EINVAL;
    }
    char *field = (char *)c + o->off;
    int rc = FIELDSYNC_EINVAL;
    uint64_t n;
    switch (o->kind) {
    case K_STR:
        if (strlen(value) >= o->size)
            goto out;
        snprintf(field, o->size, "%s", value);
        rc = 0;
        break;
    case K_U32:
        if ((rc = parse_u64(value, UINT32_MAX, &n)) == 0)
            *(uint32_t *)(void *)field = (uint32_t)n;
        break;
    case K_U64:
        if ((rc = parse_u64(value, UINT64_MAX, &n)) == 0)
            *(uint64_t *)(void *)field = n;
        break;
    case K_BOOL:
        if (strcmp(value, "1") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
            *(int *)(void *)field = 1, rc = 0;
        else if (strcmp(value, "0") == 0 || strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
            *(int *)(void *)field = 0, rc = 0;
        break;
    case K_LISTEN:
        rc = set_listen(c, value);
        break;
    case K_SYNC:
        rc = 0;
        if (strcmp(value, "full") == 0)
            c->synchronous = STORE_SYNC_FULL;
        else if (strcmp(value, "normal") == 0)
            c->synchronous = STORE_SYNC_NORMAL;
        else if (strcmp(value, "off") == 0)
            c->synchronous = STORE_SYNC_OFF;
        else
            rc = FIELDSYNC_EINVAL;
        break;
    }
out:
    if (rc < 0)
        snprintf(err, errlen, "invalid value '%s' for %s", value, key);
    return rc;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    int rc = FIELDSYNC_EIO;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    char line[1024];
    int lineno = 0;
    rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
            rc = FIELDSYNC_EINVAL;
            goto out;
        }
        *eq = '\0';
        char msg[200];
        if ((rc = config_set(c, trim(s), trim(eq + 1), msg, sizeof msg)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            goto out;
        }
    }
out:
    if (f)
        fclose(f);
    return rc;
}

/* Split "--name=value" / "--name value"; returns the value or NULL. *i advances. */
static const char *flag_value(int argc, char **argv, int *i, char *name, size_t cap, int boolean)
{
    const char *a = argv[*i] + 2;
    const char *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    if (n >= cap)
        n = cap - 1;
    memcpy(name, a, n);
    name[n] = '\0';
    if (eq)
        return eq + 1;
    if (boolean)
        return "1";
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int is_known(const char *name)
{
    if (strcmp(name, "config") == 0)
        return 1;
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(opts[i].name, name) == 0)
            return 1;
    return 0;
}

static int is_bool(const char *name)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(opts[i].name, name) == 0)
            return opts[i].kind == K_BOOL;
    return 0;
}

int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
    int rc = 0;
    char name[64];
    /* --config first, so that flags override the file whatever their order. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_usage(stdout);
            return 1;
        }
        if (strncmp(argv[i], "--config", 8) == 0 && (argv[i][8] == '\0' || argv[i][8] == '=')) {
            const char *v = flag_value(argc, argv, &i, name, sizeof name, 0);
            if (!v) {
                snprintf(err, errlen, "--config needs a file");
                return FIELDSYNC_EINVAL;
            }
            if ((rc = config_load_file(c, v, err, errlen)) < 0)
                return rc;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s'", argv[i]);
            return FIELDSYNC_EINVAL;
        }
        char probe[64];
        int j = i;
        flag_value(argc, argv, &j, probe, sizeof probe, 1); /* name only */
        if (!is_known(probe)) {
            snprintf(err, errlen, "unknown option --%s", probe);
            return FIELDSYNC_EINVAL;
        }
        const char *v = flag_value(argc, argv, &i, name, sizeof name, is_bool(probe));
        if (!v) {
            snprintf(err, errlen, "--%s needs a value", name);
            return FIELDSYNC_EINVAL;
        }
        if (strcmp(name, "config") == 0)
            continue;
        if ((rc = config_set(c, name, v, err, errlen)) < 0)
            return rc;
    }
    return config_check(c, err, errlen);
}

uint32_t config_max_record(const struct config *c)
{
    /* A page carries a record with its open conflicts (<= max_record) and the conflicts
     * resolved since the puller's cursor, which were open together then (<= max_record too):
     * two of them and the page's own bytes fit one frame. */
    return c->max_frame / 2 > 4096 ? c->max_frame / 2 - 4096 : 0;
}

int config_check(const struct config *c, char *err, size_t errlen)
{
    /* A record must fit one pull page (one frame) beside its clocks and conflicts, or every
     * device of its region would fail its pull at it for ever. */
    if (c->max_record > config_max_record(c)) {
        snprintf(err, errlen, "--max-record %u is over half of --max-frame %u less 4 KiB",
                 c->max_record, c->max_frame);
        return FIELDSYNC_EINVAL;
    }
    if (c->max_frame < 16384) {
        snprintf(err, errlen, "--max-frame must be at least 16384");
        return FIELDSYNC_EINVAL;
    }
    if (c->max_frame < c->max_frame_preauth || c->max_frame_preauth < 512) {
        snprintf(err, errlen, "--max-frame-preauth must be at least 512 and at most --max-frame");
        return FIELDSYNC_EINVAL;
    }
    return 0;
}

void config_finish(struct config *c)
{
    if (!c->port_file[0])
        snprintf(c->port_file, sizeof c->port_file, "%.500s/port", c->data_dir);
    if (!c->max_record)
        c->max_record = config_max_record(c);
    if (!c->max_preauth)
        c->max_preauth = c->max_connections / 2 ? c->max_connections / 2 : 1;
}

void config_usage(FILE *f)
{
    fprintf(f, "usage: fieldsync-server [--config FILE] [--dev] [options]\n"
               "       fieldsync-server enroll|devices|revoke|conflicts --help\n\n"
               "Runs the fieldsync sync server. Options (also `name = value` lines in --config "
               "FILE):\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s", opts[i].name, opts[i].kind == K_BOOL ? "" : " V");
        fprintf(f, "  %-30s %s\n", flag, opts[i].help);
    }
    fprintf(f, "  %-30s %s\n", "--config FILE", "read settings from FILE first");
    fprintf(f, "\nSignals: SIGINT/SIGTERM stop the server cleanly (in-flight commits finish).\n");
}
