/*
 * cmd_sync: the commands of `fieldsync` that involve the server: enroll, sync (with a progress
 * bar and clean Ctrl-C), status, conflicts and resolve.
 *
 * Ctrl-C during a sync sets a flag and calls fieldsync_interrupt() (async-signal-safe by its
 * contract); the progress callback then returns non-zero, and libfieldsync stops with nothing
 * half-applied. The handler is installed only around fieldsync_sync/fieldsync_enroll.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t interrupted;
static fieldsync_client *volatile interrupt_target;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    fieldsync_interrupt(interrupt_target);
}

static void catch_sigint(fieldsync_client *c, struct sigaction *old_int, struct sigaction *old_term)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    interrupt_target = c;
    sigaction(SIGINT, &sa, old_int);
    sigaction(SIGTERM, &sa, old_term);
}

static void restore_sigint(const struct sigaction *old_int, const struct sigaction *old_term)
{
    sigaction(SIGINT, old_int, NULL);
    sigaction(SIGTERM, old_term, NULL);
    interrupt_target = NULL;
}

/* ---- enroll ------------------------------------------------------------------------------- */

static const char enroll_usage[] =
    "usage: fieldsync enroll --server HOST[:PORT] --ca CA.pem CODE [--name NAME]\n\n"
    "Redeem a one-time enrolment code (printed by `fieldsync-server enroll`): this store\n"
    "becomes a device with its own credential, role and regions. PORT defaults to 7443.\n"
    "The CA certificate is copied into the store. One store per device identity.\n\n"
    "example:\n"
    "  fieldsync --store gao.db enroll --server sync.example.org:7443 --ca ca.pem \\\n"
    "      K7QF-2M9X-HC4T-8WZP --name \"Coordination Gao\"\n";

/* "host", "host:port", "[v6]:port". 0 or -1. host points into buf. */
static int split_hostport(const char *s, char *buf, size_t n, const char **host, uint16_t *port)
{
    const char *colon;
    uint64_t p = 7443;

    if (strlen(s) >= n || !*s)
        return -1;
    strcpy(buf, s);
    if (buf[0] == '[') {
        char *end = strchr(buf, ']');
        if (!end)
            return -1;
        *end = '\0';
        *host = buf + 1;
        colon = end[1] == ':' ? end + 1 : NULL;
        if (!colon && end[1])
            return -1;
    } else {
        char *c = strrchr(buf, ':');
        if (c && strchr(buf, ':') != c)
            c = NULL; /* a bare IPv6 address */
        if (c)
            *c = '\0';
        colon = c;
        *host = buf;
    }
    if (colon && (cli_parse_u64(colon + 1, &p) < 0 || p == 0 || p > 65535))
        return -1;
    *port = (uint16_t)p;
    return **host ? 0 : -1;
}

static const char *role_name(int role)
{
    switch (role) {
    case FIELDSYNC_ROLE_COLLECTOR:
        return "collector";
    case FIELDSYNC_ROLE_COORDINATOR:
        return "coordinator";
    case FIELDSYNC_ROLE_ADMIN:
        return "admin";
    default:
        return "unknown";
    }
}

int cmd_sync_enroll(struct cli *x, int argc, char **argv)
{
    const char *server = NULL, *ca = NULL, *name = NULL, *pos[1];
    const struct cli_opt opts[] = {
        {"server", &server, NULL}, {"ca", &ca, NULL}, {"name", &name, NULL}, {NULL, NULL, NULL}};
    char buf[300], id[FIELDSYNC_ID_STR_LEN + 1];
    const char *host;
    uint16_t port;
    struct sigaction oi, ot;
    fieldsync_status st;
    int code = cli_parse(x, argc, argv, opts, enroll_usage, pos, 1, 1, NULL, NULL, NULL);

    if (code != 0)
        return code;
    if (!server || !ca)
        return cli_usage(x, enroll_usage, "--server and --ca are required");
    if (split_hostport(server, buf, sizeof buf, &host, &port) < 0)
        return cli_usage(x, enroll_usage, "--server %s: expected HOST or HOST:PORT", server);
    code = cli_open(x, 1);
    if (code != 0)
        return code;
    catch_sigint(x->c, &oi, &ot);
    int rc = fieldsync_enroll(x->c, host, port, ca, pos[0], name);
    restore_sigint(&oi, &ot);
    if (rc < 0)
        return cli_fail(x, rc, "enrolment at %s:%u failed", host, port);
    rc = fieldsync_status_get(x->c, &st);
    if (rc < 0)
        return cli_fail(x, rc, "status");
    fieldsync_id_format(st.device_id, id);
    printf("enrolled: device %s", id);
    if (st.device_name && *st.device_name)
        printf(" (%s)", st.device_name);
    printf(", role %s, regions %s%s\n", role_name(st.role), *st.regions ? st.regions : "all",
           st.own_only ? " (own records only)" : "");
    return CLI_EXIT_OK;
}

static const char set_server_usage[] =
    "usage: fieldsync set-server HOST[:PORT] [--ca CA.pem]\n\n"
    "Change the server this enrolled store syncs with (a new address; the device identity\n"
    "stays), and optionally the CA certificate to trust. PORT defaults to 7443.\n\n"
    "example:\n"
    "  fieldsync set-server 10.20.0.5:7443\n";

int cmd_sync_set_server(struct cli *x, int argc, char **argv)
{
    const char *ca = NULL, *pos[1];
    const struct cli_opt opts[] = {{"ca", &ca, NULL}, {NULL, NULL, NULL}};
    char buf[300];
    const char *host;
    uint16_t port;
    int code = cli_parse(x, argc, argv, opts, set_server_usage, pos, 1, 1, NULL, NULL, NULL);

    if (code != 0)
        return code;
    if (split_hostport(pos[0], buf, sizeof buf, &host, &port) < 0)
        return cli_usage(x, set_server_usage, "%s: expected HOST or HOST:PORT", pos[0]);
    code = cli_open(x, 0);
    if (code != 0)
        return code;
    int rc = fieldsync_set_server(x->c, host, port, ca);
    return rc < 0 ? cli_fail(x, rc, "cannot set the server") : CLI_EXIT_OK;
}

/* ---- sync --------------------------------------------------------------------------------- */

static const char sync_usage[] =
    "usage: fieldsync sync [--no-push] [--no-pull] [--page-size N] [--timeout MS]\n\n"
    "Send every local change the server has not acknowledged, then receive what changed on\n"
    "the server. A progress bar is drawn on a terminal, else one line per phase. Ctrl-C stops\n"
    "cleanly: what was acknowledged or received stays, the next sync carries on (exit 130).\n\n"
    "example:\n"
    "  fieldsync sync\n";

struct progress {
    int tty;
    int phase; /* last phase seen */
    fieldsync_progress last;
};

static const char *phase_name(int phase)
{
    switch (phase) {
    case FIELDSYNC_PHASE_CONNECT:
        return "connect";
    case FIELDSYNC_PHASE_PUSH:
        return "push";
    case FIELDSYNC_PHASE_PULL:
        return "pull";
    case FIELDSYNC_PHASE_DONE:
        return "done";
    default:
        return "?";
    }
}

static void phase_line(const fieldsync_progress *p)
{
    switch (p->phase) {
    case FIELDSYNC_PHASE_CONNECT:
        fprintf(stderr, "connect: ok\n");
        break;
    case FIELDSYNC_PHASE_PUSH:
        fprintf(stderr, "push: %" PRIu64 "/%" PRIu64 " changes acknowledged\n", p->done, p->total);
        break;
    case FIELDSYNC_PHASE_PULL:
        fprintf(stderr, "pull: %" PRIu64 " record%s received\n", p->done, p->done == 1 ? "" : "s");
        break;
    default:
        break;
    }
}

static int on_progress(const fieldsync_progress *p, void *user)
{
    struct progress *pr = user;

    if (pr->tty) {
        char bar[31];
        int fill = 0;
        if (p->phase == FIELDSYNC_PHASE_PUSH && p->total)
            fill = (int)(p->done * 30 / p->total);
        else if (p->phase == FIELDSYNC_PHASE_DONE)
            fill = 30;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : (p->phase == FIELDSYNC_PHASE_PULL ? '~' : '.');
        bar[30] = '\0';
        fprintf(stderr, "\r\033[K%-7s [%s] %" PRIu64, phase_name(p->phase), bar, p->done);
        if (p->total)
            fprintf(stderr, "/%" PRIu64, p->total);
        fprintf(stderr, "  %.1f KB sent, %.1f KB received", (double)p->bytes_sent / 1024,
                (double)p->bytes_received / 1024);
        if (p->phase == FIELDSYNC_PHASE_DONE)
            fputc('\n', stderr);
    } else if (p->phase != pr->phase && pr->phase) {
        phase_line(&pr->last); /* the phase that just ended, with its final counts */
    }
    pr->phase = p->phase;
    pr->last = *p;
    return interrupted ? 1 : 0;
}

static int on_rejection(const fieldsync_rejection *r, void *user)
{
    char id[FIELDSYNC_ID_STR_LEN + 1];

    (void)user;
    fieldsync_id_format(r->record_id, id);
    fprintf(stderr, "  rejected: record %s change %" PRIu64 ": %s: %s\n", id, r->device_seq,
            fieldsync_err_name(r->code), r->message ? r->message : "");
    return 0;
}

int cmd_sync_run(struct cli *x, int argc, char **argv)
{
    int no_push = 0, no_pull = 0;
    const char *page = NULL, *timeout = NULL;
    const struct cli_opt opts[] = {{"no-push", NULL, &no_push},
                                   {"no-pull", NULL, &no_pull},
                                   {"page-size", &page, NULL},
                                   {"timeout", &timeout, NULL},
                                   {NULL, NULL, NULL}};
    fieldsync_sync_opts so;
    fieldsync_sync_stats stats;
    struct progress pr = {0};
    struct sigaction oi, ot;
    uint64_t v;
    int code = cli_parse(x, argc, argv, opts, sync_usage, NULL, 0, 0, NULL, NULL, NULL);

    if (code != 0)
        return code;
    fieldsync_sync_opts_init(&so);
    memset(&stats, 0, sizeof stats);
    so.no_push = no_push;
    so.no_pull = no_pull;
    so.stats = &stats;
    so.progress = on_progress;
    so.user = &pr;
    if (page) {
        if (cli_parse_u64(page, &v) < 0 || v > UINT32_MAX)
            return cli_usage(x, sync_usage, "--page-size %s: expected a number", page);
        so.page_size = (uint32_t)v;
    }
    if (timeout) {
        if (cli_parse_u64(timeout, &v) < 0 || v == 0 || v > UINT32_MAX)
            return cli_usage(x, sync_usage, "--timeout %s: expected milliseconds", timeout);
        so.connect_timeout_ms = so.io_timeout_ms = (uint32_t)v;
    }
    code = cli_open(x, 0);
    if (code != 0)
        return code;
    pr.tty = isatty(STDERR_FILENO);
    catch_sigint(x->c, &oi, &ot);
    int rc = fieldsync_sync(x->c, &so);
    restore_sigint(&oi, &ot);
    if (pr.tty && pr.phase && pr.phase != FIELDSYNC_PHASE_DONE)
        fputc('\n', stderr);
    else if (!pr.tty && pr.phase && pr.phase != FIELDSYNC_PHASE_DONE && rc == 0)
        phase_line(&pr.last);
    if (rc == 0 || stats.pushed || stats.duplicates || stats.rejected || stats.pulled)
        fprintf(stderr,
                "pushed %" PRIu64 " change%s (%" PRIu64 " already there), rejected %" PRIu64
                ", pulled %" PRIu64 " record%s, %" PRIu64 " conflict%s received, %.1f s%s\n",
                stats.pushed, stats.pushed == 1 ? "" : "s", stats.duplicates, stats.rejected,
                stats.pulled, stats.pulled == 1 ? "" : "s", stats.conflicts,
                stats.conflicts == 1 ? "" : "s", (double)stats.elapsed_ms / 1000,
                stats.resumed ? ", TLS session resumed" : "");
    if (rc == FIELDSYNC_ECANCELED || (rc < 0 && interrupted)) {
        fprintf(stderr, "fieldsync sync: ECANCELED: interrupted; what was acknowledged or "
                        "received is kept, run `fieldsync sync` again to carry on\n");
        return CLI_EXIT_CANCELED;
    }
    if (rc < 0) {
        /* Keep the server's message: the status call below replaces fieldsync_errmsg. */
        char msg[512];
        fieldsync_status st;
        snprintf(msg, sizeof msg, "%s", fieldsync_errmsg(x->c));
        if (rc == FIELDSYNC_ESTATE && fieldsync_status_get(x->c, &st) == 0 && !st.enrolled) {
            fprintf(stderr, "fieldsync sync: ESTATE: this store is not enrolled: run "
                            "`fieldsync enroll` first\n");
            return CLI_EXIT_DENIED;
        }
        fprintf(stderr, "fieldsync sync: %s: sync failed: %s\n", fieldsync_err_name(rc),
                *msg ? msg : fieldsync_strerror(rc));
        return cli_exit_code(rc);
    }
    if (stats.rejected)
        fieldsync_rejected(x->c, on_rejection, NULL);
    fieldsync_status st;
    if (fieldsync_status_get(x->c, &st) == 0 && st.open_conflicts)
        fprintf(stderr, "%" PRIu64 " open conflict%s: see `fieldsync conflicts --open`\n",
                st.open_conflicts, st.open_conflicts == 1 ? "" : "s");
    return CLI_EXIT_OK;
}

/* ---- rejected ----------------------------------------------------------------------------- */

static const char rejected_usage[] =
    "usage: fieldsync rejected [--dismiss SEQ|all]\n\n"
    "List the local changes the server refused (with its reason); they are kept aside and not\n"
    "resent. The local record keeps its value. --dismiss forgets one (by its change number)\n"
    "or all of them once read.\n\n"
    "example:\n"
    "  fieldsync rejected\n"
    "  fieldsync rejected --dismiss 42\n";

struct seq_list {
    uint64_t *v;
    size_t n, cap;
};

static int on_rejection_list(const fieldsync_rejection *r, void *user)
{
    struct seq_list *l = user;
    char id[FIELDSYNC_ID_STR_LEN + 1];

    fieldsync_id_format(r->record_id, id);
    printf("change %" PRIu64 " record %s", r->device_seq, id);
    if (r->ops)
        printf(" (%" PRIu32 " field%s)", r->ops, r->ops == 1 ? "" : "s");
    printf(": %s: %s\n", fieldsync_err_name(r->code), r->message ? r->message : "");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        uint64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return 1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = r->device_seq;
    return 0;
}

int cmd_sync_rejected(struct cli *x, int argc, char **argv)
{
    const char *dismiss = NULL;
    const struct cli_opt opts[] = {{"dismiss", &dismiss, NULL}, {NULL, NULL, NULL}};
    struct seq_list l = {0};
    uint64_t seq = 0;
    int code = cli_parse(x, argc, argv, opts, rejected_usage, NULL, 0, 0, NULL, NULL, NULL);

    if (code != 0)
        return code;
    if (dismiss && strcmp(dismiss, "all") != 0 && cli_parse_u64(dismiss, &seq) < 0)
        return cli_usage(x, rejected_usage, "--dismiss %s: expected a change number or all",
                         dismiss);
    code = cli_open(x, 0);
    if (code != 0)
        return code;
    int rc = 0;
    if (dismiss && strcmp(dismiss, "all") != 0) {
        rc = fieldsync_rejected_dismiss(x->c, seq);
        code = rc < 0 ? cli_fail(x, rc, "change %" PRIu64, seq) : CLI_EXIT_OK;
        goto out;
    }
    rc = fieldsync_rejected(x->c, on_rejection_list, &l);
    if (rc < 0) {
        code = cli_fail(x, rc == FIELDSYNC_ECANCELED ? FIELDSYNC_ENOMEM : rc, "rejected");
        goto out;
    }
    for (size_t i = 0; dismiss && i < l.n && rc == 0; i++)
        rc = fieldsync_rejected_dismiss(x->c, l.v[i]);
    if (rc < 0) {
        code = cli_fail(x, rc, "dismiss");
        goto out;
    }
    fprintf(stderr, "%zu rejected change%s%s\n", l.n, l.n == 1 ? "" : "s",
            dismiss && l.n ? " dismissed" : "");
    code = CLI_EXIT_OK;
out:
    free(l.v);
    return code;
}

/* ---- status ------------------------------------------------------------------------------- */

static const char status_usage[] =
    "usage: fieldsync status [--json]\n\n"
    "Show this device and its store: device id and name, role, regions, server, records,\n"
    "changes not yet acknowledged by the server, rejected changes, open conflicts, last sync,\n"
    "pull cursor and clock offset from the server.\n\n"
    "example:\n"
    "  fieldsync status\n";

int cmd_sync_status(struct cli *x, int argc, char **argv)
{
    int as_json = 0;
    const struct cli_opt opts[] = {{"json", NULL, &as_json}, {NULL, NULL, NULL}};
    fieldsync_status st;
    char id[FIELDSYNC_ID_STR_LEN + 1], last[40] = "never";
    int code = cli_parse(x, argc, argv, opts, status_usage, NULL, 0, 0, NULL, NULL, NULL);

    if (code == 0)
        code = cli_open(x, 0);
    if (code != 0)
        return code;
    int rc = fieldsync_status_get(x->c, &st);
    if (rc < 0)
        return cli_fail(x, rc, "status");
    fieldsync_id_format(st.device_id, id);
    if (st.last_sync_ms)
        cli_format_ms(st.last_sync_ms, last);
    if (as_json) {
        json_t *j = json_pack(
            "{s:s, s:b, s:s, s:s, s:s, s:s, s:b, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:s, s:I,"
            " s:I, s:I}",
            "store", x->store, "enrolled", st.enrolled, "device_id", st.enrolled ? id : "",
            "device_name", st.device_name ? st.device_name : "", "role", role_name(st.role),
            "regions", st.regions ? st.regions : "", "own_only", st.own_only, "server_host",
            st.server_host ? st.server_host : "", "server_port", (int)st.server_port, "records",
            (json_int_t)st.records, "pending_changes", (json_int_t)st.pending_changes,
            "pending_records", (json_int_t)st.pending_records, "rejected_changes",
            (json_int_t)st.rejected_changes, "open_conflicts", (json_int_t)st.open_conflicts,
            "last_sync", st.last_sync_ms ? last : "", "cursor", (json_int_t)st.cursor,
            "clock_offset_ms", (json_int_t)st.clock_offset_ms, "device_seq",
            (json_int_t)st.device_seq);
        if (!j)
            return cli_fail(x, FIELDSYNC_ENOMEM, "status");
        cli_text_json(j, CLI_TEXT_PRETTY, stdout);
        putchar('\n');
        json_decref(j);
        return CLI_EXIT_OK;
    }
    printf("store:            %s\n", x->store);
    if (st.enrolled) {
        printf("device:           %s%s%s%s\n", id, *st.device_name ? " (" : "", st.device_name,
               *st.device_name ? ")" : "");
        printf("role:             %s\n", role_name(st.role));
        printf("regions:          %s%s\n", *st.regions ? st.regions : "all",
               st.own_only ? " (own records only)" : "");
        printf("server:           %s:%u\n", st.server_host, (unsigned)st.server_port);
    } else {
        printf("device:           not enrolled (run `fieldsync enroll`)\n");
    }
    printf("records:          %" PRIu64 "\n", st.records);
    printf("pending changes:  %" PRIu64 " in %" PRIu64 " record%s\n", st.pending_changes,
           st.pending_records, st.pending_records == 1 ? "" : "s");
    printf("rejected changes: %" PRIu64 "\n", st.rejected_changes);
    printf("open conflicts:   %" PRIu64 "\n", st.open_conflicts);
    printf("last sync:        %s\n", last);
    printf("cursor:           %" PRIu64 "\n", st.cursor);
    printf("clock offset:     %+" PRId64 " ms (server minus this machine)\n", st.clock_offset_ms);
    printf("device seq:       %" PRIu64 "\n", st.device_seq);
    return CLI_EXIT_OK;
}

/* ---- conflicts ---------------------------------------------------------------------------- */

/* A conflict copied out of the callback (its pointers are valid only during it). */
struct conflict_copy {
    fieldsync_conflict cf;
    uint8_t *mem; /* element id, winner, loser values, in one block */
};

struct conflict_list {
    struct conflict_copy *v;
    size_t n, cap;
    int failed;
};

static int on_conflict(const fieldsync_conflict *cf, void *user)
{
    struct conflict_list *l = user;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct conflict_copy *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            goto oom;
        l->v = v;
        l->cap = cap;
    }
    struct conflict_copy *c = &l->v[l->n];
    size_t total = cf->element_id_len + cf->winner_len + cf->loser_len;
    c->cf = *cf;
    c->mem = malloc(total ? total : 1);
    if (!c->mem)
        goto oom;
    uint8_t *p = c->mem;
    if (cf->element_id_len)
        memcpy(p, cf->element_id, cf->element_id_len);
    c->cf.element_id = cf->element_id ? p : NULL;
    p += cf->element_id_len;
    if (cf->winner_len)
        memcpy(p, cf->winner_value, cf->winner_len);
    c->cf.winner_value = p;
    p += cf->winner_len;
    if (cf->loser_len)
        memcpy(p, cf->loser_value, cf->loser_len);
    c->cf.loser_value = p;
    l->n++;
    return 0;
oom:
    l->failed = 1;
    return 1;
}

static void conflicts_free(struct conflict_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].mem);
    free(l->v);
}

static int load_conflicts(struct cli *x, struct conflict_list *l)
{
    int rc = fieldsync_conflicts(x->c, on_conflict, l);

    if (l->failed)
        rc = FIELDSYNC_ENOMEM;
    return rc < 0 ? cli_fail(x, rc, "cannot read conflicts") : 0;
}

/* Message type and field descriptor of a conflict's address. */
static void conflict_field(struct cli *x, const fieldsync_conflict *cf,
                           const ProtobufCMessageDescriptor **d, const ProtobufCFieldDescriptor **f)
{
    fieldsync_record *rec = NULL;

    *d = cli_collection(FIELDSYNC_COLLECTION_CONSULTATION);
    if (fieldsync_get(x->c, cf->record_id, &rec) == 0) {
        *d = cli_collection(rec->collection);
        fieldsync_free(x->c, rec);
    }
    *f = *d ? protobuf_c_message_descriptor_get_field(*d, cf->field) : NULL;
}

/* Compact JSON text of a conflict value (caller frees). */
static char *value_text(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                        const uint8_t *v, size_t len)
{
    json_t *j = NULL;
    char *buf = NULL;
    size_t n = 0;

    if (!f || cli_field_value_json(d, f, v, len, &j) < 0) {
        buf = malloc(64);
        if (buf)
            snprintf(buf, 64, "(%zu bytes, not decodable by this version)", len);
        return buf;
    }
    FILE *m = open_memstream(&buf, &n);
    if (m) {
        cli_text_json(j, 0, m);
        fclose(m);
    }
    json_decref(j);
    return buf;
}

static const char conflicts_usage[] =
    "usage: fieldsync conflicts [--open]\n\n"
    "List the conflicts known locally (learned at sync): two concurrent edits of one field\n"
    "with different values. Both values are shown as JSON with who wrote them and when; the\n"
    "winner is what the merge kept (the later clock), the loser is kept so nothing is lost.\n"
    "  --open  only conflicts not yet resolved\n\n"
    "example:\n"
    "  fieldsync conflicts --open\n";

static const char *state_name(int state)
{
    switch (state) {
    case FIELDSYNC_CONFLICT_OPEN:
        return "open";
    case FIELDSYNC_CONFLICT_RESOLVING:
        return "resolving";
    case FIELDSYNC_CONFLICT_RESOLVED:
        return "resolved";
    default:
        return "?";
    }
}

static void print_side(const char *label, const char *value, const uint8_t dev[16], uint64_t hlc,
                       const uint8_t me[16])
{
    char id[FIELDSYNC_ID_STR_LEN + 1], when[40];

    fieldsync_id_format(dev, id);
    cli_format_ms(hlc >> 16, when);
    printf("    %s %s\n        by %s%s at %s\n", label, value ? value : "?", id,
           memcmp(dev, me, 16) == 0 ? " (this device)" : "", when);
}

int cmd_sync_conflicts(struct cli *x, int argc, char **argv)
{
    int open_only = 0;
    const struct cli_opt opts[] = {{"open", NULL, &open_only}, {NULL, NULL, NULL}};
    struct conflict_list l = {0};
    fieldsync_status st;
    size_t shown = 0;
    int code = cli_parse(x, argc, argv, opts, conflicts_usage, NULL, 0, 0, NULL, NULL, NULL);

    if (code == 0)
        code = cli_open(x, 0);
    if (code != 0)
        return code;
    int rc = fieldsync_status_get(x->c, &st);
    if (rc < 0)
        return cli_fail(x, rc, "status");
    code = load_conflicts(x, &l);
    for (size_t i = 0; code == 0 && i < l.n; i++) {
        const fieldsync_conflict *cf = &l.v[i].cf;
        const ProtobufCMessageDescriptor *d;
        const ProtobufCFieldDescriptor *f;
        char rid[FIELDSYNC_ID_STR_LEN + 1], eid[FIELDSYNC_ID_STR_LEN + 1] = "";

        if (open_only && cf->state != FIELDSYNC_CONFLICT_OPEN)
            continue;
        conflict_field(x, cf, &d, &f);
        fieldsync_id_format(cf->record_id, rid);
        if (cf->element_id && cf->element_id_len == FIELDSYNC_ID_LEN)
            fieldsync_id_format(cf->element_id, eid);
        printf("conflict %" PRIu64 " [%s] record %s field %s", cf->id, state_name(cf->state), rid,
               f ? f->name : "?");
        if (!f)
            printf("#%" PRIu32, cf->field);
        if (*eid)
            printf(" element %s", eid);
        putchar('\n');
        char *w = value_text(d, f, cf->winner_value, cf->winner_len);
        char *lo = value_text(d, f, cf->loser_value, cf->loser_len);
        print_side("winner:", w, cf->winner_device, cf->winner_hlc, st.device_id);
        print_side("loser: ", lo, cf->loser_device, cf->loser_hlc, st.device_id);
        free(w);
        free(lo);
        shown++;
    }
    if (code == 0)
        fprintf(stderr, "%zu conflict%s\n", shown, shown == 1 ? "" : "s");
    conflicts_free(&l);
    return code;
}

/* ---- resolve ------------------------------------------------------------------------------ */

static const char resolve_usage[] =
    "usage: fieldsync resolve CONFLICT_ID (--take mine|theirs|winner|loser | --value JSON)\n\n"
    "Resolve a conflict by writing the chosen value (an ordinary edit that carries the\n"
    "resolution to the server at the next sync). mine/theirs pick the value written by this\n"
    "device or by the other one; --value gives a new value: text for a string field, JSON\n"
    "otherwise (an element object for concerns, recommendations, follow_ups).\n"
    "Only coordinators and admins may resolve.\n\n"
    "examples:\n"
    "  fieldsync resolve 17 --take loser\n"
    "  fieldsync resolve 17 --value \"Réunion tenue le 15 mars à la mairie\"\n";

/* Build the field value (tag + value) for --value. */
static int value_from_text(struct cli *x, const fieldsync_conflict *cf,
                           const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                           const char *text, uint8_t **out, size_t *len)
{
    char err[CLI_JSON_ERRLEN] = "";
    ProtobufCMessage *m = NULL;
    json_t *el = NULL, *wrap = NULL;
    int rc = FIELDSYNC_ENOMEM;

    if (cli_keyed(f)) {
        json_error_t jerr;
        el = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        if (!el || !json_is_object(el)) {
            snprintf(err, sizeof err, "--value: expected a JSON object for an element of %s%s%s",
                     f->name, el ? "" : ": ", el ? "" : jerr.text);
            rc = FIELDSYNC_ESCHEMA;
            goto out;
        }
        if (!json_object_get(el, "id") && cf->element_id_len == FIELDSYNC_ID_LEN) {
            char eid[FIELDSYNC_ID_STR_LEN + 1];
            fieldsync_id_format(cf->element_id, eid);
            if (json_object_set_new(el, "id", json_string(eid)) < 0)
                goto out;
        }
        wrap = json_pack("{s:[O]}", f->name, el);
        if (!wrap)
            goto out;
        rc = cli_json_to_pb(d, wrap, &m, err, sizeof err);
    } else {
        m = malloc(d->sizeof_message);
        if (!m)
            goto out;
        protobuf_c_message_init(d, m);
        rc = cli_json_set_field(m, f->name, text, NULL, err, sizeof err);
    }
    if (rc == 0)
        rc = cli_pack(m, out, len);
out:
    if (rc < 0 && err[0])
        fprintf(stderr, "fieldsync %s: %s: %s\n", x->cmd, fieldsync_err_name(rc), err);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    json_decref(wrap);
    json_decref(el);
    return rc;
}

int cmd_sync_resolve(struct cli *x, int argc, char **argv)
{
    const char *take = NULL, *value = NULL, *pos[1];
    const struct cli_opt opts[] = {
        {"take", &take, NULL}, {"value", &value, NULL}, {NULL, NULL, NULL}};
    struct conflict_list l = {0};
    const fieldsync_conflict *cf = NULL;
    fieldsync_status st;
    uint64_t cid;
    uint8_t *buf = NULL;
    const uint8_t *v = NULL;
    size_t len = 0;
    int rc, code = cli_parse(x, argc, argv, opts, resolve_usage, pos, 1, 1, NULL, NULL, NULL);

    if (code != 0)
        return code;
    if (cli_parse_u64(pos[0], &cid) < 0)
        return cli_usage(x, resolve_usage, "CONFLICT_ID %s: expected a number", pos[0]);
    if (!take == !value)
        return cli_usage(x, resolve_usage, "give either --take or --value");
    if (take && strcmp(take, "mine") && strcmp(take, "theirs") && strcmp(take, "winner") &&
        strcmp(take, "loser"))
        return cli_usage(x, resolve_usage, "--take %s: expected mine, theirs, winner or loser",
                         take);
    code = cli_open(x, 0);
    if (code != 0)
        return code;
    rc = fieldsync_status_get(x->c, &st);
    if (rc < 0)
        return cli_fail(x, rc, "status");
    code = load_conflicts(x, &l);
    if (code != 0)
        goto out;
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].cf.id == cid)
            cf = &l.v[i].cf;
    if (!cf) {
        code = cli_fail(x, FIELDSYNC_ENOTFOUND, "conflict %" PRIu64 " (see `fieldsync conflicts`)",
                        cid);
        goto out;
    }
    int winner;
    if (take && (strcmp(take, "mine") == 0 || strcmp(take, "theirs") == 0)) {
        int mine_wins = memcmp(cf->winner_device, st.device_id, FIELDSYNC_ID_LEN) == 0;
        int mine_loses = memcmp(cf->loser_device, st.device_id, FIELDSYNC_ID_LEN) == 0;
        if (mine_wins == mine_loses) {
            fprintf(stderr,
                    "fieldsync resolve: EINVAL: %s of the values was written by this "
                    "device; use --take winner or --take loser\n",
                    mine_wins ? "both" : "neither");
            code = CLI_EXIT_USAGE;
            goto out;
        }
        winner = (strcmp(take, "mine") == 0) == mine_wins;
    } else {
        winner = take && strcmp(take, "winner") == 0;
    }
    if (take) {
        v = winner ? cf->winner_value : cf->loser_value;
        len = winner ? cf->winner_len : cf->loser_len;
    } else {
        const ProtobufCMessageDescriptor *d;
        const ProtobufCFieldDescriptor *f;
        conflict_field(x, cf, &d, &f);
        if (!f) {
            code = cli_fail(x, FIELDSYNC_ECOLLECTION,
                            "field %" PRIu32 " is unknown to this "
                            "version; use --take",
                            cf->field);
            goto out;
        }
        rc = value_from_text(x, cf, d, f, value, &buf, &len);
        if (rc < 0) {
            code = cli_exit_code(rc);
            goto out;
        }
        v = buf;
    }
    rc = fieldsync_resolve(x->c, cid, v, len);
    if (rc < 0) {
        code = cli_fail(x, rc, "cannot resolve conflict %" PRIu64, cid);
        goto out;
    }
    fprintf(stderr, "conflict %" PRIu64 " resolved locally; `fieldsync sync` sends it\n", cid);
    code = CLI_EXIT_OK;
out:
    free(buf);
    conflicts_free(&l);
    return code;
}
