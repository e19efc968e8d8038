/*
 * bench_link: time and bytes to sync 100 new reports over a bad field link, beside the floor
 * (payload size / link rate). The link is built by the bench (root only): a network namespace
 * joined to this one by a veth pair, each end shaped by `tc ... tbf` to the link rate (this
 * kernel has no netem), and a userspace relay on the root side that delays every chunk by half
 * the round-trip time each way and, with the loss probability, stalls a chunk by a
 * retransmission timeout (TCP over the veth itself never loses: a lost segment shows up to the
 * application as such a stall). The relay also cuts the connection once, half-way through, so
 * the client does what a phone does: reconnect (resuming its TLS ticket), Hello, and resend
 * every change not yet acknowledged (duplicates are harmless).
 *
 * The client is a thread that joins the namespace (setns affects only the calling thread).
 * Skips cleanly, saying why, when not root or when ip/tc are missing.
 *
 * Usage: bench_link [--reports 100] [--rate-kbit 64] [--rtt-ms 600] [--loss-pct 5]
 *                   [--batch 25] [--no-cut]
 */
#define _GNU_SOURCE
#include "bclient.h"
#include "benchlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct opts {
    int reports, rate_kbit, rtt_ms, loss_pct, batch, cut;
};
static struct opts o = {100, 64, 600, 5, 25, 1};
static char ns_name[32], veth_a[16], veth_b[16], ip_root[32], ip_ns[32];
static int link_up;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int r = system(cmd);
    if (r != 0)
        fprintf(stderr, "bench_link: `%s` failed (%d)\n", cmd, r);
    return r;
}

static void link_down(void)
{
    if (!link_up)
        return;
    link_up = 0;
    sh("ip link del %s 2>/dev/null", veth_a);
    sh("ip netns del %s", ns_name);
}

static int link_setup(void)
{
    int id = (int)getpid() % 250 + 1;
    snprintf(ns_name, sizeof ns_name, "fsbench%d", (int)getpid());
    snprintf(veth_a, sizeof veth_a, "fsb%da", (int)getpid() % 100000);
    snprintf(veth_b, sizeof veth_b, "fsb%db", (int)getpid() % 100000);
    snprintf(ip_root, sizeof ip_root, "10.213.%d.1", id);
    snprintf(ip_ns, sizeof ip_ns, "10.213.%d.2", id);
    if (sh("ip netns add %s", ns_name) != 0)
        return -1;
    link_up = 1;
    atexit(link_down);
    /* tbf: rate-limit each direction; burst one MTU; a queue deep enough not to drop. */
    if (sh("ip link add %s type veth peer name %s", veth_a, veth_b) ||
        sh("ip link set %s netns %s", veth_b, ns_name) ||
        sh("ip addr add %s/24 dev %s", ip_root, veth_a) || sh("ip link set %s up", veth_a) ||
        sh("ip -n %s addr add %s/24 dev %s", ns_name, ip_ns, veth_b) ||
        sh("ip -n %s link set %s up", ns_name, veth_b) || sh("ip -n %s link set lo up", ns_name) ||
        sh("tc qdisc add dev %s root tbf rate %dkbit burst 1600 latency 10s", veth_a,
           o.rate_kbit) ||
        sh("ip netns exec %s tc qdisc add dev %s root tbf rate %dkbit burst 1600 latency 10s",
           ns_name, veth_b, o.rate_kbit))
        return -1;
    return 0;
}

/* ---- the relay: delay, stall, cut ---- */

struct chunk {
    struct chunk *next;
    double due;
    size_t len;
    uint8_t data[4096];
};

struct pipe_dir {
    int from, to;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct chunk *head, *tail;
    int eof;
    uint64_t seed;
    struct pair *pair;
};

struct pair {
    struct pipe_dir dir[2];
    pthread_t th[4];
    volatile int cut;
    uint64_t bytes; /* client -> server, for the cut point */
};

static uint64_t relay_cut_at; /* bytes c->s after which the first pair is cut (0 = never) */
static int relay_lfd, relay_port, server_port;
static volatile int relay_stop;

static double rnd01(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static void *pump_read(void *arg)
{
    struct pipe_dir *d = arg;
    for (;;) {
        struct chunk *c = malloc(sizeof *c);
        if (!c)
            break;
        ssize_t n = d->pair->cut ? -1 : recv(d->from, c->data, sizeof c->data, 0);
        if (n <= 0) {
            free(c);
            break;
        }
        c->len = (size_t)n;
        c->next = NULL;
        c->due = benchlib_now() + o.rtt_ms / 2000.0;
        if (rnd01(&d->seed) * 100 < o.loss_pct)
            c->due += 0.2 + o.rtt_ms / 1000.0; /* a retransmission: RTO ~ RTT + 200 ms */
        pthread_mutex_lock(&d->mu);
        if (d->tail && d->tail->due > c->due)
            c->due = d->tail->due; /* TCP delivers in order */
        if (d->tail)
            d->tail->next = c;
        else
            d->head = c;
        d->tail = c;
        pthread_cond_signal(&d->cond);
        pthread_mutex_unlock(&d->mu);
        if (d == &d->pair->dir[0]) {
            d->pair->bytes += (uint64_t)n;
            if (relay_cut_at && d->pair->bytes >= relay_cut_at) {
                relay_cut_at = 0;
                d->pair->cut = 1;
                fprintf(stderr, "bench_link: relay cuts the connection after %llu bytes\n",
                        (unsigned long long)d->pair->bytes);
                shutdown(d->pair->dir[0].from, SHUT_RDWR);
                shutdown(d->pair->dir[1].from, SHUT_RDWR);
            }
        }
    }
    pthread_mutex_lock(&d->mu);
    d->eof = 1;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static void *pump_write(void *arg)
{
    struct pipe_dir *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->head && !d->eof)
            pthread_cond_wait(&d->cond, &d->mu);
        if (!d->head)
            break;
        struct chunk *c = d->head;
        pthread_mutex_unlock(&d->mu);
        double wait = c->due - benchlib_now();
        if (wait > 0) {
            struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
            nanosleep(&ts, NULL);
        }
        size_t off = 0;
        while (!d->pair->cut && off < c->len) {
            ssize_t n = send(d->to, c->data + off, c->len - off, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        pthread_mutex_lock(&d->mu);
        d->head = c->next;
        if (!d->head)
            d->tail = NULL;
        free(c);
    }
    pthread_mutex_unlock(&d->mu);
    shutdown(d->to, SHUT_WR);
    return NULL;
}

static void *relay_main(void *arg)
{
    struct pair *pairs[16];
    int np = 0;
    while (!relay_stop && np < 16) {
        int cfd = accept(relay_lfd, NULL, NULL);
        if (cfd < 0 || relay_stop) {
            if (cfd >= 0)
                close(cfd);
            break;
        }
        int sfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(sfd, (struct sockaddr *)&a, sizeof a) != 0) {
            close(cfd);
            close(sfd);
            continue;
        }
        int one = 1;
        setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct pair *p = calloc(1, sizeof *p);
        if (!p)
            benchlib_die("out of memory");
        p->dir[0].from = cfd, p->dir[0].to = sfd; /* client -> server */
        p->dir[1].from = sfd, p->dir[1].to = cfd;
        for (int i = 0; i < 2; i++) {
            p->dir[i].pair = p;
            p->dir[i].seed = 0x1234567u + (uint64_t)np * 7 + (uint64_t)i;
            pthread_mutex_init(&p->dir[i].mu, NULL);
            pthread_cond_init(&p->dir[i].cond, NULL);
            pthread_create(&p->th[2 * i], NULL, pump_read, &p->dir[i]);
            pthread_create(&p->th[2 * i + 1], NULL, pump_write, &p->dir[i]);
        }
        pairs[np++] = p;
    }
    for (int i = 0; i < np; i++) {
        struct pair *p = pairs[i];
        shutdown(p->dir[0].from, SHUT_RDWR);
        shutdown(p->dir[1].from, SHUT_RDWR);
        for (int k = 0; k < 4; k++)
            pthread_join(p->th[k], NULL);
        close(p->dir[0].from);
        close(p->dir[1].from);
        for (int k = 0; k < 2; k++) {
            pthread_mutex_destroy(&p->dir[k].mu);
            pthread_cond_destroy(&p->dir[k].cond);
        }
        free(p);
    }
    return NULL;
}

/* ---- the device: a thread inside the namespace ---- */

struct device_run {
    struct testclient_identity id;
    const char *ca;
    double seconds;
    uint64_t bytes, payload;
    int connections, resent, ok;
};

static void *device_main(void *arg)
{
    struct device_run *r = arg;
    char path[64];
    snprintf(path, sizeof path, "/var/run/netns/%s", ns_name);
    int nsfd = open(path, O_RDONLY);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
        perror("bench_link: setns");
        return NULL;
    }
    close(nsfd);
    struct bclient_tls t;
    if (bclient_tls_setup(&t, r->ca) != 0)
        return NULL;
    struct benchlib_device d = {.id = r->id, .next_seq = 1};
    struct benchlib_batch *b = malloc(sizeof *b);
    int n = o.reports;
    struct benchlib_record *recs = calloc((size_t)n, sizeof *recs);
    uint64_t *seqs = calloc((size_t)n, sizeof *seqs);
    int *acked = calloc((size_t)n, sizeof *acked);
    if (!b || !recs || !seqs || !acked)
        benchlib_die("out of memory");
    /* The reports exist on the device before the link comes up: fixed ids, seqs and clocks. */
    for (int i = 0; i < n; i += o.batch) {
        int k = n - i < o.batch ? n - i : o.batch;
        r->payload += benchlib_batch_new(b, &d, (size_t)k, (uint64_t)i, recs + i);
        for (int j = 0; j < k; j++)
            seqs[i + j] = b->ch[j].device_seq;
    }
    mbedtls_ssl_session sess;
    int have_sess = 0, done = 0;
    double t0 = benchlib_now();
    while (done < n && benchlib_now() - t0 < 600) {
        struct bclient c;
        r->connections++;
        if (bclient_connect_addr(&c, &t, ip_root, relay_port, have_sess ? &sess : NULL) != 0)
            continue;
        if (!have_sess)
            have_sess = bclient_save_session(&c, &sess) == 0;
        if (bclient_hello(&c, &r->id) != 0) {
            r->bytes += c.bytes_sent + c.bytes_recv;
            bclient_close(&c);
            continue;
        }
        /* Resend everything not acknowledged, in batches, two in flight. */
        int next = 0, out = 0, broken = 0;
        int sent_from[8];
        while (!broken && (next < n || out > 0)) {
            while (out < 2 && next < n) {
                while (next < n && acked[next])
                    next++;
                if (next >= n)
                    break;
                int k = 0;
                b->push.n_changes = 0;
                benchlib_batch_new(b, &d, 0, 0, NULL);
                while (next + k < n && k < o.batch && !acked[next + k]) {
                    /* rebuild the same change: same id, seq, clock, body */
                    Fieldsync__Change *ch = &b->ch[k];
                    fieldsync__change__init(ch);
                    int i = next + k;
                    ch->device_seq = seqs[i];
                    ch->collection = 1;
                    ch->region = (char *)benchlib_region(recs[i].seed);
                    ch->hlc = recs[i].hlc;
                    ch->record_id.data = recs[i].id;
                    ch->record_id.len = 16;
                    ch->body.data = b->body[k];
                    ch->body.len =
                        benchlib_report(recs[i].seed, ch->region, b->body[k], BENCHLIB_BODY_CAP);
                    b->chp[k] = ch;
                    k++;
                }
                b->push.n_changes = (size_t)k;
                b->frame.request_id = 0;
                uint32_t rid = c.next_id;
                if (bclient_send(&c, &b->frame) < 0) {
                    broken = 1;
                    break;
                }
                if (r->connections > 1)
                    r->resent += k;
                sent_from[rid % 8] = next;
                next += k;
                out++;
            }
            if (broken || out == 0)
                break;
            Fieldsync__Frame *f = NULL;
            if (bclient_recv(&c, &f) < 0) {
                broken = 1;
                break;
            }
            if (f->msg_case == FIELDSYNC__FRAME__MSG_PUSH_ACK) {
                int from = sent_from[f->request_id % 8];
                for (size_t j = 0; j < f->push_ack->n_results; j++) {
                    int st = f->push_ack->results[j]->status;
                    if (st == FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED ||
                        st == FIELDSYNC__CHANGE_STATUS__CHANGE_DUPLICATE) {
                        if (!acked[from + (int)j])
                            done++;
                        acked[from + (int)j] = 1;
                    }
                }
                out--;
            }
            fieldsync__frame__free_unpacked(f, NULL);
        }
        r->bytes += c.bytes_sent + c.bytes_recv;
        bclient_close(&c);
    }
    r->seconds = benchlib_now() - t0;
    r->ok = done == n;
    if (have_sess)
        mbedtls_ssl_session_free(&sess);
    bclient_tls_close(&t);
    free(b);
    free(recs);
    free(seqs);
    free(acked);
    return NULL;
}

static void skip(const char *why)
{
    printf("bench_link: skipped: %s\n", why);
    benchlib_result("link", "sync 100 reports over 64 kbit/s", 0, "s", NULL, NULL, -1);
    exit(0);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-cut")) {
            o.cut = 0;
            continue;
        }
        if (i + 1 >= argc)
            benchlib_die("usage: bench_link [--reports N] [--rate-kbit K] [--rtt-ms MS] "
                         "[--loss-pct P] [--batch N] [--no-cut]");
        int v = atoi(argv[++i]);
        if (!strcmp(a, "--reports"))
            o.reports = v;
        else if (!strcmp(a, "--rate-kbit"))
            o.rate_kbit = v;
        else if (!strcmp(a, "--rtt-ms"))
            o.rtt_ms = v;
        else if (!strcmp(a, "--loss-pct"))
            o.loss_pct = v;
        else if (!strcmp(a, "--batch"))
            o.batch = v;
        else
            benchlib_die("unknown option %s", a);
    }
    if (o.reports < 1 || o.batch < 1 || o.batch > BENCHLIB_MAX_BATCH || o.rate_kbit < 1)
        benchlib_die("bad options");
    if (geteuid() != 0)
        skip("needs root (network namespace, veth, tc)");
    if (system("command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1") != 0)
        skip("ip or tc (iproute2) not installed");
    if (link_setup() != 0)
        skip("could not build the namespace link (see the failed command above)");

    struct testserver ts;
    struct device_run run;
    memset(&run, 0, sizeof run);
    if (benchlib_server_start(&ts, "full", NULL) != 0)
        benchlib_die("server did not start");
    if (benchlib_enroll(&ts, "collector", "GAO,TOMBOUCTOU,MENAKA", &run.id) != 0)
        benchlib_die("enrol failed");
    server_port = ts.port;
    run.ca = ts.ca_path;

    relay_lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip_root, &a.sin_addr);
    socklen_t al = sizeof a;
    if (bind(relay_lfd, (struct sockaddr *)&a, sizeof a) || listen(relay_lfd, 8) ||
        getsockname(relay_lfd, (struct sockaddr *)&a, &al))
        benchlib_die("relay listen: %s", strerror(errno));
    relay_port = ntohs(a.sin_port);
    /* cut once, half-way through the payload */
    relay_cut_at = o.cut ? (uint64_t)o.reports * 950 / 2 : 0;
    pthread_t rth, dth;
    pthread_create(&rth, NULL, relay_main, NULL);
    pthread_create(&dth, NULL, device_main, &run);
    pthread_join(dth, NULL);
    relay_stop = 1;
    shutdown(relay_lfd, SHUT_RDWR);
    pthread_join(rth, NULL);
    close(relay_lfd);
    if (testserver_stop(&ts) != 0)
        fprintf(stderr, "bench_link: server did not stop cleanly\n");
    link_down();

    double floor_s = (double)run.payload * 8 / (o.rate_kbit * 1000.0);
    printf("bench_link: %d new reports over %d kbit/s each way, RTT %d ms, %d%% of chunks "
           "stalled by a retransmission, %s\n",
           o.reports, o.rate_kbit, o.rtt_ms, o.loss_pct, o.cut ? "one cut half-way" : "no cut");
    printf("  %s in %.1f s over %d connection(s) (%d changes resent), %llu B on the wire; "
           "floor: %llu B of reports / link rate = %.1f s -> %.2fx the floor\n",
           run.ok ? "synced" : "NOT SYNCED", run.seconds, run.connections, run.resent,
           (unsigned long long)run.bytes, (unsigned long long)run.payload, floor_s,
           run.seconds / floor_s);
    char b[64], m[64];
    snprintf(b, sizeof b, "floor %.1f s", floor_s);
    snprintf(m, sizeof m, "sync %d reports, %d kbit/s", o.reports, o.rate_kbit);
    benchlib_result("link", m, run.seconds, "s", b, NULL, run.ok ? -1 : 0);
    snprintf(b, sizeof b, "%llu B of reports", (unsigned long long)run.payload);
    benchlib_result("link", "bytes on the wire for them", (double)run.bytes, "B", b, NULL, -1);
    return run.ok ? 0 : 1;
}
