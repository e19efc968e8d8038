/*
 * bench_ingest: N devices (threads, one TLS connection each) push pipelined batches of new
 * ~1 KB ConsultationReports to the real server, then one-field edits of those reports; each
 * batch counts once it is acked (i.e. durably committed). Baseline measured in the same run,
 * on the same disk, with the same synchronous setting and the same report bodies: raw SQLite
 * batched INSERTs (time-ordered UUIDv7 keys, WAL, 1,000 rows per transaction) and raw upserts
 * (INSERT .. ON CONFLICT DO UPDATE of a whole ~1 KB body, existing ids in random order).
 * Target: the server at >= 50% of the raw rate.
 *
 * Usage: bench_ingest [--devices 64] [--batch 32] [--in-flight 4] [--seconds 8]
 *                     [--sync full|normal] [--suite chacha|aes128]
 *
 * Also printed: the server's CPU time per report (from /proc) beside the raw loop's CPU time per
 * row (its thread's CPU clock), which separates "the server does more work per report" from
 * "the bench's own 64 TLS clients share the machine's cores with the server".
 */
#include "bclient.h"
#include "benchlib.h"
#include "uuid.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 64 /* ring of send times, > any in-flight setting */

struct opts {
    int devices, batch, in_flight;
    double seconds;
    const char *sync;
    const char *suite;
};

struct dev {
    pthread_t th;
    struct benchlib_device d;
    int port;
    const char *ca;
    struct benchlib_record *recs;
    size_t nrecs, cap;
    size_t *order; /* edit order: a permutation of recs */
    double *lat[2];
    size_t nlat[2], latcap[2];
    uint64_t applied[2];
    int failed;
    int index;
};

static struct opts o = {64, 32, 4, 8.0, "full", NULL};
static pthread_barrier_t barrier;
static double phase_end[2];
static char suite_used[96];
static char thread_line[2][400];

static void add_lat(struct dev *v, int ph, double s)
{
    if (v->nlat[ph] == v->latcap[ph]) {
        v->latcap[ph] = v->latcap[ph] ? 2 * v->latcap[ph] : 1024;
        v->lat[ph] = realloc(v->lat[ph], v->latcap[ph] * sizeof(double));
        if (!v->lat[ph])
            benchlib_die("out of memory");
    }
    v->lat[ph][v->nlat[ph]++] = s;
}

/* One phase: keep in_flight batches outstanding until the deadline, then drain. */
static void shuffle_order(struct dev *v)
{
    v->order = malloc((v->nrecs ? v->nrecs : 1) * sizeof *v->order);
    if (!v->order)
        benchlib_die("out of memory");
    for (size_t i = 0; i < v->nrecs; i++)
        v->order[i] = i;
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(v->index + 1);
    for (size_t i = v->nrecs; i > 1; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t j = (size_t)(x % i), t = v->order[i - 1];
        v->order[i - 1] = v->order[j];
        v->order[j] = t;
    }
}

static int run_phase(struct dev *v, struct bclient *c, struct benchlib_batch *b, int ph)
{
    double sent_at[WINDOW];
    size_t sent_n[WINDOW];
    int outstanding = 0;
    size_t edit_pos = 0;
    if (ph == 1)
        shuffle_order(v);
    uint64_t seed = (uint64_t)v->index * 1000003u;
    for (;;) {
        int stop = benchlib_now() >= phase_end[ph];
        while (!stop && outstanding < o.in_flight) {
            size_t n = (size_t)o.batch;
            if (ph == 0) {
                if (v->nrecs + n > v->cap) {
                    v->cap = v->cap ? 2 * v->cap : 4096;
                    v->recs = realloc(v->recs, v->cap * sizeof *v->recs);
                    if (!v->recs)
                        benchlib_die("out of memory");
                }
                benchlib_batch_new(b, &v->d, n, seed + v->nrecs, v->recs + v->nrecs);
                v->nrecs += n;
            } else {
                /* The device's records in a random order (as the raw upserts go), gathered
                 * into a batch; their clocks, advanced by the edit, are written back. */
                if (n > v->nrecs)
                    n = v->nrecs;
                struct benchlib_record pick[BENCHLIB_MAX_BATCH];
                size_t at[BENCHLIB_MAX_BATCH];
                for (size_t k = 0; k < n; k++) {
                    if (edit_pos == v->nrecs)
                        edit_pos = 0;
                    at[k] = v->order[edit_pos++];
                    pick[k] = v->recs[at[k]];
                }
                benchlib_batch_edit(b, &v->d, n, pick);
                for (size_t k = 0; k < n; k++)
                    v->recs[at[k]].hlc = pick[k].hlc;
                /* pick[] is gone after this scope: the frame points at ids in recs */
                for (size_t k = 0; k < n; k++)
                    b->ch[k].record_id.data = v->recs[at[k]].id;
            }
            b->frame.request_id = 0;
            uint32_t rid = c->next_id;
            if (bclient_send(c, &b->frame) < 0)
                return -1;
            sent_at[rid % WINDOW] = benchlib_now();
            sent_n[rid % WINDOW] = n;
            outstanding++;
        }
        if (outstanding == 0)
            return 0;
        Fieldsync__Frame *r = NULL;
        if (bclient_recv(c, &r) < 0)
            return -1;
        int applied = benchlib_ack_applied(r);
        uint32_t rid = r->request_id;
        if (applied < 0 && r->msg_case == FIELDSYNC__FRAME__MSG_ERROR)
            fprintf(stderr, "bench_ingest: server error %d: %s\n", r->error->code,
                    r->error->message);
        fieldsync__frame__free_unpacked(r, NULL);
        if (applied != (int)sent_n[rid % WINDOW])
            return -1;
        add_lat(v, ph, benchlib_now() - sent_at[rid % WINDOW]);
        v->applied[ph] += (uint64_t)applied;
        outstanding--;
    }
}

static void *device_main(void *arg)
{
    struct dev *v = arg;
    struct bclient_tls t;
    struct bclient c;
    struct benchlib_batch *b = malloc(sizeof *b);
    int ok = b && bclient_tls_setup(&t, v->ca) == 0;
    if (ok)
        bclient_tls_suites(&t, bclient_suites_named(o.suite));
    ok = ok && bclient_connect(&c, &t, v->port, NULL) == 0 && bclient_hello(&c, &v->d.id) == 0;
    if (ok && v->index == 0)
        snprintf(suite_used, sizeof suite_used, "%s", mbedtls_ssl_get_ciphersuite(&c.ssl));
    if (!ok)
        v->failed = 1;
    pthread_barrier_wait(&barrier); /* everyone connected */
    for (int ph = 0; ph < 2; ph++) {
        pthread_barrier_wait(&barrier); /* main set the deadline */
        if (!v->failed && run_phase(v, &c, b, ph) != 0)
            v->failed = 1;
        pthread_barrier_wait(&barrier); /* drained */
    }
    if (ok)
        bclient_close(&c);
    bclient_tls_close(&t);
    free(b);
    return NULL;
}

/* ---- baseline: raw SQLite, same bodies, same disk, same synchronous ---- */

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define RAW_POOL 8192

static double raw_cpu_us[2];
static double raw_io_b[2]; /* bytes written to storage per row */

static double raw_sqlite(const char *dir, size_t rows, int upsert_pass, double *upsert_rate)
{
    char path[600];
    snprintf(path, sizeof path, "%s/raw-baseline.db", dir);
    sqlite3 *db;
    sqlite3_stmt *ins, *ups;
    char pragma[64];
    if (sqlite3_open(path, &db) != SQLITE_OK)
        benchlib_die("sqlite open %s", path);
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", o.sync);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    sqlite3_exec(db, pragma, NULL, NULL, NULL);
    sqlite3_exec(db, "CREATE TABLE r(id BLOB PRIMARY KEY, body BLOB NOT NULL)", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, "INSERT INTO r(id, body) VALUES(?1, ?2)", -1, &ins, NULL) ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO r(id, body) VALUES(?1, ?2) ON CONFLICT(id) DO UPDATE "
                           "SET body = excluded.body",
                           -1, &ups, NULL))
        benchlib_die("sqlite prepare: %s", sqlite3_errmsg(db));
    struct benchlib_device d = {.next_seq = 1};
    struct benchlib_record *recs = malloc(rows * sizeof *recs);
    /* Encoded outside the timed loop, as the server receives them already encoded: a pool of
     * RAW_POOL distinct reports (the generator's variety), row i takes report i % RAW_POOL. */
    uint8_t *bodies = malloc((size_t)RAW_POOL * BENCHLIB_BODY_CAP);
    size_t *lens = malloc(RAW_POOL * sizeof *lens);
    if (!recs || !bodies || !lens)
        benchlib_die("out of memory");
    for (size_t i = 0; i < RAW_POOL; i++)
        lens[i] = benchlib_report(i, benchlib_region(i), bodies + i * BENCHLIB_BODY_CAP,
                                  BENCHLIB_BODY_CAP);
    for (size_t i = 0; i < rows; i++) {
        uint8_t rnd[10];
        uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 7;
        for (int j = 0; j < 10; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            rnd[j] = (uint8_t)x;
        }
        uuid_v7_from(recs[i].id, benchlib_hlc(&d) >> 16, rnd);
    }
    /* Upserts go to the existing ids in a fixed-seed random order, each with another report's
     * body (so the bytes change): what a naive server would do for the same edits, without
     * the page locality of rewriting rows in key order with the same bytes. */
    size_t *perm = malloc(rows * sizeof *perm);
    if (!perm)
        benchlib_die("out of memory");
    for (size_t i = 0; i < rows; i++)
        perm[i] = i;
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (size_t i = rows - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t j = (size_t)(x % (i + 1)), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    double rates[2] = {0, 0};
    for (int pass = 0; pass <= upsert_pass; pass++) {
        sqlite3_stmt *st = pass ? ups : ins;
        double t0 = benchlib_now(), c0 = thread_cpu_s();
        long long io0 = benchlib_io_written(getpid());
        for (size_t i = 0; i < rows; i++) {
            if (i % 1000 == 0)
                sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
            size_t k = pass ? perm[i] : i;             /* the row */
            size_t bi = (pass ? k + 1 : i) % RAW_POOL; /* its (new) body */
            sqlite3_bind_blob(st, 1, recs[k].id, 16, SQLITE_STATIC);
            sqlite3_bind_blob(st, 2, bodies + bi * BENCHLIB_BODY_CAP, (int)lens[bi], SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                benchlib_die("sqlite step: %s", sqlite3_errmsg(db));
            sqlite3_reset(st);
            if (i % 1000 == 999 || i + 1 == rows)
                if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
                    benchlib_die("commit: %s", sqlite3_errmsg(db));
        }
        rates[pass] = (double)rows / (benchlib_now() - t0);
        raw_cpu_us[pass] = (thread_cpu_s() - c0) * 1e6 / (double)rows;
        raw_io_b[pass] = (double)(benchlib_io_written(getpid()) - io0) / (double)rows;
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(ups);
    sqlite3_close(db);
    free(recs);
    free(bodies);
    free(lens);
    free(perm);
    *upsert_rate = rates[1];
    return rates[0];
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            benchlib_die("usage: bench_ingest [--devices N] [--batch N] [--in-flight N] "
                         "[--seconds S] [--sync full|normal] [--suite chacha|aes128]");
        if (!strcmp(a, "--devices"))
            o.devices = atoi(v);
        else if (!strcmp(a, "--batch"))
            o.batch = atoi(v);
        else if (!strcmp(a, "--in-flight"))
            o.in_flight = atoi(v);
        else if (!strcmp(a, "--seconds"))
            o.seconds = atof(v);
        else if (!strcmp(a, "--sync"))
            o.sync = v;
        else if (!strcmp(a, "--suite"))
            o.suite = v;
        else
            benchlib_die("unknown option %s", a);
        i++;
    }
    if (o.devices < 1 || o.batch < 1 || o.batch > BENCHLIB_MAX_BATCH || o.in_flight < 1 ||
        o.in_flight > 8 || o.seconds <= 0)
        benchlib_die("bad options (in-flight is at most the server's 8)");
    struct testserver ts;
    if (benchlib_server_start(&ts, o.sync, NULL) != 0)
        benchlib_die("server did not start");
    struct dev *devs = calloc((size_t)o.devices, sizeof *devs);
    if (!devs)
        benchlib_die("out of memory");
    double t_enrol = benchlib_now();
    for (int i = 0; i < o.devices; i++) {
        if (benchlib_enroll(&ts, "collector", "GAO,TOMBOUCTOU,MENAKA", &devs[i].d.id) != 0)
            benchlib_die("enrol %d failed", i);
        devs[i].d.next_seq = 1;
        devs[i].index = i;
        devs[i].port = ts.port;
        devs[i].ca = ts.ca_path;
    }
    fprintf(stderr, "bench_ingest: %d devices enrolled in %.1f s\n", o.devices,
            benchlib_now() - t_enrol);
    pthread_barrier_init(&barrier, NULL, (unsigned)o.devices + 1);
    for (int i = 0; i < o.devices; i++)
        if (pthread_create(&devs[i].th, NULL, device_main, &devs[i]) != 0)
            benchlib_die("pthread_create");
    double rate[2], cpu[2], p50[2], p99[2], io_b[2];
    uint64_t total[2];
    pthread_barrier_wait(&barrier);
    for (int ph = 0; ph < 2; ph++) {
        double c0 = benchlib_cpu_s(ts.pid);
        long long io0 = benchlib_io_written(ts.pid);
        int tids0[16], tids1[16];
        double tc0[16], tc1[16];
        int nt0 = benchlib_threads_cpu(ts.pid, tids0, tc0, 16);
        double t0 = benchlib_now();
        phase_end[ph] = t0 + o.seconds;
        pthread_barrier_wait(&barrier); /* start */
        pthread_barrier_wait(&barrier); /* drained */
        double el = benchlib_now() - t0;
        cpu[ph] = benchlib_cpu_s(ts.pid) - c0;
        io_b[ph] = (double)(benchlib_io_written(ts.pid) - io0);
        int nt1 = benchlib_threads_cpu(ts.pid, tids1, tc1, 16);
        /* Per-thread share of the phase: a thread near 100% is the bottleneck. */
        char *tp = thread_line[ph];
        size_t tl = sizeof thread_line[ph];
        for (int i = 0; i < nt1 && tl > 40; i++) {
            double before = 0;
            for (int j = 0; j < nt0; j++)
                if (tids0[j] == tids1[i])
                    before = tc0[j];
            int w = snprintf(tp, tl, " %s%d %.0f%%", tids1[i] == ts.pid ? "loop:" : "", tids1[i],
                             100.0 * (tc1[i] - before) / el);
            tp += w;
            tl -= (size_t)w;
        }
        total[ph] = 0;
        size_t nl = 0;
        for (int i = 0; i < o.devices; i++) {
            total[ph] += devs[i].applied[ph];
            nl += devs[i].nlat[ph];
        }
        double *all = malloc((nl + 1) * sizeof *all);
        if (!all)
            benchlib_die("out of memory");
        nl = 0;
        for (int i = 0; i < o.devices; i++) {
            memcpy(all + nl, devs[i].lat[ph], devs[i].nlat[ph] * sizeof *all);
            nl += devs[i].nlat[ph];
        }
        p50[ph] = benchlib_quantile(all, nl, 0.50) * 1000;
        p99[ph] = benchlib_quantile(all, nl, 0.99) * 1000;
        free(all);
        rate[ph] = (double)total[ph] / el;
    }
    for (int i = 0; i < o.devices; i++)
        pthread_join(devs[i].th, NULL);
    int failed = 0;
    for (int i = 0; i < o.devices; i++)
        failed += devs[i].failed;
    long rss = benchlib_status_kb(ts.pid, "VmHWM:");

    /* baseline after the load, on the server's own disk, server idle */
    size_t rows = total[0] < 20000 ? 20000 : total[0] > 4000000 ? 4000000 : (size_t)total[0];
    double ups_rate;
    double ins_rate = raw_sqlite(ts.dir, rows, 1, &ups_rate);
    if (testserver_stop(&ts) != 0)
        fprintf(stderr, "bench_ingest: server did not stop cleanly\n");

    printf("bench_ingest: %d devices x %d in flight x batches of %d, %.0f s per phase, "
           "synchronous=%s, %s%s\n",
           o.devices, o.in_flight, o.batch, o.seconds, o.sync, suite_used,
           failed ? " (SOME DEVICES FAILED)" : "");
    static const char *const names[2] = {"new reports", "one-field edits"};
    double base[2] = {ins_rate, ups_rate};
    static const char *const bnames[2] = {"raw INSERT", "raw upsert"};
    for (int ph = 0; ph < 2; ph++) {
        double us = total[ph] ? cpu[ph] * 1e6 / (double)total[ph] : 0.0;
        printf("  %-16s %8.0f /s (%llu acked), ack p50 %.1f ms p99 %.1f ms, server CPU %.1f us "
               "each; %s %.0f /s (%.1f us CPU each) -> %.0f%%\n",
               names[ph], rate[ph], (unsigned long long)total[ph], p50[ph], p99[ph], us, bnames[ph],
               base[ph], raw_cpu_us[ph], 100.0 * rate[ph] / base[ph]);
        printf("    server threads' CPU over the phase:%s\n", thread_line[ph]);
        double iob = total[ph] ? io_b[ph] / (double)total[ph] : 0;
        printf("    written to storage: server %.0f B per change, raw %.0f B per row\n", iob,
               raw_io_b[ph]);
        char b[64], m[64];
        snprintf(b, sizeof b, "%s %.0f/s", bnames[ph], base[ph]);
        snprintf(m, sizeof m, "%s/s", names[ph]);
        benchlib_result("ingest", m, rate[ph], "/s", b, ">= 50% of raw",
                        !failed && rate[ph] >= 0.5 * base[ph]);
        snprintf(m, sizeof m, "%s: server CPU each", names[ph]);
        snprintf(b, sizeof b, "raw %.1f us CPU/row", raw_cpu_us[ph]);
        benchlib_result("ingest", m, us, "us", b, NULL, -1);
        snprintf(m, sizeof m, "%s: bytes written each", names[ph]);
        snprintf(b, sizeof b, "raw %.0f B/row", raw_io_b[ph]);
        benchlib_result("ingest", m, total[ph] ? io_b[ph] / (double)total[ph] : 0, "B", b, NULL,
                        -1);
        snprintf(m, sizeof m, "%s ack p50", names[ph]);
        benchlib_result("ingest", m, p50[ph], "ms", NULL, NULL, -1);
        snprintf(m, sizeof m, "%s ack p99", names[ph]);
        benchlib_result("ingest", m, p99[ph], "ms", NULL, NULL, -1);
    }
    printf("  server peak RSS %ld kB; raw baseline over %zu rows\n", rss, rows);
    for (int i = 0; i < o.devices; i++) {
        free(devs[i].recs);
        free(devs[i].order);
        free(devs[i].lat[0]);
        free(devs[i].lat[1]);
    }
    free(devs);
    pthread_barrier_destroy(&barrier);
    return failed ? 1 : 0;
}
