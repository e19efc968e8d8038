/*
 * bench_pull: a coordinator pulls every record from cursor 0 (pages of the server's maximum),
 * after the database was seeded with N new reports through pipelined pushes. Figures:
 * records/s, bytes on the wire per record, server RSS sampled during the pull (it must stay
 * flat: the server streams pages from its read connection, it does not load the feed), and
 * pulls from a recent cursor after 100 and after 1,000 further changes (their time must follow
 * the number of changes since the cursor, not the size of the database).
 * Baseline: the same records' protobuf bodies, to read the wire overhead against.
 *
 * Usage: bench_pull [--records 100000] [--suite chacha|aes128] (1000000 for the full run; the
 * suite the clients offer, default: the server's first choice)
 */
#include "bclient.h"
#include "benchlib.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int sampling;
static long rss_peak, rss_samples[4];
static pid_t server_pid;
static uint64_t sum_body, sum_clocks, n_recs;

static void *sampler(void *arg)
{
    while (sampling) {
        long kb = benchlib_status_kb(server_pid, "VmRSS:");
        if (kb > rss_peak)
            rss_peak = kb;
        usleep(10000);
    }
    return NULL;
}

/* Push n new reports on c, batches of 256, 8 in flight. */
static void seed(struct bclient *c, struct benchlib_device *d, struct benchlib_batch *b, size_t n,
                 uint64_t seed0)
{
    size_t sent = 0, acked = 0;
    int out = 0;
    while (acked < n) {
        while (out < 8 && sent < n) {
            size_t k = n - sent < 256 ? n - sent : 256;
            benchlib_batch_new(b, d, k, seed0 + sent, NULL);
            b->frame.request_id = 0;
            if (bclient_send(c, &b->frame) < 0)
                benchlib_die("seed: send");
            sent += k;
            out++;
        }
        Fieldsync__Frame *r = NULL;
        if (bclient_recv(c, &r) < 0)
            benchlib_die("seed: recv");
        int a = benchlib_ack_applied(r);
        fieldsync__frame__free_unpacked(r, NULL);
        if (a <= 0)
            benchlib_die("seed: push not applied");
        acked += (size_t)a;
        out--;
    }
}

/* Pull from cursor until no more; returns the records received, *cursor advanced. */
static size_t pull_all(struct bclient *c, uint64_t *cursor, size_t expect)
{
    size_t got = 0;
    int q = 0;
    for (;;) {
        Fieldsync__PullRequest pr = FIELDSYNC__PULL_REQUEST__INIT;
        pr.cursor = *cursor;
        Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
        f.msg_case = FIELDSYNC__FRAME__MSG_PULL;
        f.pull = &pr;
        if (bclient_send(c, &f) < 0)
            benchlib_die("pull: send");
        Fieldsync__Frame *r = NULL;
        if (bclient_recv(c, &r) < 0)
            benchlib_die("pull: recv");
        if (r->msg_case != FIELDSYNC__FRAME__MSG_PAGE)
            benchlib_die("pull: answer %d (%s)", r->msg_case,
                         r->msg_case == FIELDSYNC__FRAME__MSG_ERROR ? r->error->message : "");
        got += r->page->n_records;
        for (size_t i = 0; i < r->page->n_records; i++) {
            sum_body += r->page->records[i]->body.len;
            sum_clocks += r->page->records[i]->clocks.len;
            n_recs++;
        }
        *cursor = r->page->next_cursor;
        int more = r->page->more;
        fieldsync__frame__free_unpacked(r, NULL);
        while (expect && q < 4 && got >= expect * (size_t)(q + 1) / 4)
            rss_samples[q++] = benchlib_status_kb(server_pid, "VmRSS:");
        if (!more)
            return got;
    }
}

int main(int argc, char **argv)
{
    size_t records = 100000;
    const char *suite = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--records") && i + 1 < argc)
            records = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--suite") && i + 1 < argc)
            suite = argv[++i];
        else
            benchlib_die("usage: bench_pull [--records N] [--suite chacha|aes128]");
    }
    struct testserver ts;
    struct testclient_identity col, coord;
    struct bclient_tls t;
    struct bclient pc, cc;
    if (benchlib_server_start(&ts, "normal", NULL) != 0)
        benchlib_die("server did not start");
    server_pid = ts.pid;
    if (benchlib_enroll(&ts, "collector", "GAO,TOMBOUCTOU,MENAKA", &col) != 0 ||
        benchlib_enroll(&ts, "coordinator", "GAO,TOMBOUCTOU,MENAKA", &coord) != 0)
        benchlib_die("enrol failed");
    if (bclient_tls_setup(&t, ts.ca_path) != 0)
        benchlib_die("tls setup");
    bclient_tls_suites(&t, bclient_suites_named(suite));
    if (bclient_connect(&pc, &t, ts.port, NULL) != 0 || bclient_hello(&pc, &col) != 0 ||
        bclient_connect(&cc, &t, ts.port, NULL) != 0 || bclient_hello(&cc, &coord) != 0)
        benchlib_die("connect");
    struct benchlib_device d = {.id = col, .next_seq = 1};
    struct benchlib_batch *b = malloc(sizeof *b);
    if (!b)
        benchlib_die("out of memory");
    double t0 = benchlib_now();
    seed(&pc, &d, b, records, 0);
    double seed_s = benchlib_now() - t0;
    fprintf(stderr, "bench_pull: seeded %zu reports in %.1f s (%.0f/s)\n", records, seed_s,
            records / seed_s);
    usleep(300000);
    long rss_before = benchlib_status_kb(ts.pid, "VmRSS:");
    rss_peak = rss_before;
    pthread_t th;
    sampling = 1;
    pthread_create(&th, NULL, sampler, NULL);
    uint64_t cursor = 0, bytes0 = cc.bytes_recv + cc.bytes_sent;
    double cpu0 = benchlib_cpu_s(ts.pid);
    char suite_used[96];
    snprintf(suite_used, sizeof suite_used, "%s", mbedtls_ssl_get_ciphersuite(&cc.ssl));
    t0 = benchlib_now();
    size_t got = pull_all(&cc, &cursor, records);
    double pull_s = benchlib_now() - t0;
    double pull_cpu = benchlib_cpu_s(ts.pid) - cpu0;
    sampling = 0;
    pthread_join(th, NULL);
    double wire_per = (double)(cc.bytes_recv + cc.bytes_sent - bytes0) / (double)got;

    /* from a recent cursor */
    static const size_t deltas[2] = {100, 1000};
    double delta_ms[2];
    size_t delta_got[2];
    for (int k = 0; k < 2; k++) {
        seed(&pc, &d, b, deltas[k], records + 10 * deltas[k]);
        t0 = benchlib_now();
        delta_got[k] = pull_all(&cc, &cursor, 0);
        delta_ms[k] = (benchlib_now() - t0) * 1000;
    }
    bclient_close(&pc);
    bclient_close(&cc);
    bclient_tls_close(&t);
    free(b);
    uint8_t body[BENCHLIB_BODY_CAP];
    size_t body_len = 0;
    for (uint64_t i = 0; i < 300; i++)
        body_len += benchlib_report(i, benchlib_region(i), body, sizeof body);
    body_len /= 300;
    if (testserver_stop(&ts) != 0)
        fprintf(stderr, "bench_pull: server did not stop cleanly\n");

    printf("bench_pull: %zu records seeded (%.0f/s through pushes)\n", records, records / seed_s);
    printf("  full pull from cursor 0: %zu records in %.2f s = %.0f records/s, %.0f B on the "
           "wire per record (body ~%zu B), server CPU %.1f us per record (%s)\n",
           got, pull_s, got / pull_s, wire_per, body_len, pull_cpu * 1e6 / (double)got, suite_used);
    printf("  pulled RecordState: body %.0f B, clock blob %.0f B on average\n",
           n_recs ? (double)sum_body / (double)n_recs : 0.0,
           n_recs ? (double)sum_clocks / (double)n_recs : 0.0);
    printf("  server RSS: %ld kB before, at 25/50/75/100%% of the pull %ld/%ld/%ld/%ld kB, peak "
           "%ld kB\n",
           rss_before, rss_samples[0], rss_samples[1], rss_samples[2], rss_samples[3], rss_peak);
    for (int k = 0; k < 2; k++)
        printf("  pull from a recent cursor, %zu changes since: %zu records in %.1f ms\n",
               deltas[k], delta_got[k], delta_ms[k]);
    char m[64], base[64];
    snprintf(m, sizeof m, "full pull of %zu records", records);
    benchlib_result("pull", m, got / pull_s, "records/s", NULL, NULL, got == records ? -1 : 0);
    snprintf(base, sizeof base, "%zu B body", body_len);
    benchlib_result("pull", "wire per pulled record", wire_per, "B", base, NULL, -1);
    long growth = rss_samples[3] - rss_samples[0];
    snprintf(base, sizeof base, "%ld kB before pull", rss_before);
    benchlib_result("pull", "server RSS growth 25%->100% of pull", (double)growth, "kB", base,
                    "flat (< 8 MB)", growth < 8192);
    benchlib_result("pull", "clock blob per pulled record",
                    n_recs ? (double)sum_clocks / (double)n_recs : 0.0, "B", NULL, NULL, -1);
    benchlib_result("pull", "peak server RSS during pull", (double)rss_peak, "kB", base, NULL, -1);
    for (int k = 0; k < 2; k++) {
        snprintf(m, sizeof m, "pull after %zu changes", deltas[k]);
        snprintf(base, sizeof base, "full pull %.0f ms", pull_s * 1000);
        benchlib_result("pull", m, delta_ms[k], "ms", base, "~ changes since",
                        delta_got[k] == deltas[k] ? -1 : 0);
    }
    return got == records ? 0 : 1;
}
