/*
 * bench_conns: C concurrent idle, authenticated TLS devices held open against the real
 * server; server RSS per connection from /proc/<pid>/status before and after. The bench keeps
 * only the socket of each connection once Hello is answered (its own TLS state is freed), so
 * the server, not the bench, is what grows. Handshakes after the first resume a ticket, which
 * leaves the server with the same per-connection state as a full handshake, faster.
 * Baseline in the same run: the heap a bare mbedtls 2.28 server context takes in this process
 * after mbedtls_ssl_setup alone (its two record buffers), i.e. the floor for any server that
 * keeps one mbedtls context per idle connection with this build's configuration.
 * Target: <= 45 KB per connection.
 *
 * Usage: bench_conns [--conns 2000] [--devices 16] [--full] (10000 for the full target;
 * RLIMIT_NOFILE is raised to 20000 here and inherited by the server child; --full: every
 * connection does a full handshake instead of resuming).
 */
#include "bclient.h"
#include "benchlib.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double bare_context_kb(int n)
{
    mbedtls_ssl_config conf;
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_context *v = calloc((size_t)n, sizeof *v);
    if (!v)
        benchlib_die("out of memory");
    long before = benchlib_status_kb(getpid(), "VmRSS:");
    for (int i = 0; i < n; i++) {
        mbedtls_ssl_init(&v[i]);
        if (mbedtls_ssl_setup(&v[i], &conf) != 0)
            benchlib_die("mbedtls_ssl_setup");
    }
    long after = benchlib_status_kb(getpid(), "VmRSS:");
    for (int i = 0; i < n; i++)
        mbedtls_ssl_free(&v[i]);
    free(v);
    mbedtls_ssl_config_free(&conf);
    malloc_trim(0);
    return (double)(after - before) / n + (double)sizeof(mbedtls_ssl_context) / 1024.0;
}

int main(int argc, char **argv)
{
    int conns = 2000, ndev = 16, full = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--conns") && i + 1 < argc)
            conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--full"))
            full = 1;
        else if (!strcmp(argv[i], "--devices") && i + 1 < argc)
            ndev = atoi(argv[++i]);
        else
            benchlib_die("usage: bench_conns [--conns N] [--devices N] [--full]");
    }
    long lim = benchlib_raise_nofile(20000);
    if (lim < conns + 64)
        benchlib_die("RLIMIT_NOFILE is %ld, need %d", lim, conns + 64);
    double base_kb = bare_context_kb(conns < 2000 ? conns : 2000);

    struct testserver ts;
    const char *extra[] = {"--idle-timeout-ms", "600000", "--max-connections", "20000", NULL};
    if (benchlib_server_start(&ts, "normal", extra) != 0)
        benchlib_die("server did not start");
    struct testclient_identity *ids = calloc((size_t)ndev, sizeof *ids);
    struct bclient *cs = calloc((size_t)conns, sizeof *cs);
    if (!ids || !cs)
        benchlib_die("out of memory");
    for (int i = 0; i < ndev; i++)
        if (benchlib_enroll(&ts, "collector", "GAO", &ids[i]) != 0)
            benchlib_die("enrol failed");
    struct bclient_tls t;
    mbedtls_ssl_session sess;
    if (bclient_tls_setup(&t, ts.ca_path) != 0)
        benchlib_die("tls setup");
    /* warm-up connection: the ticket, and the server's one-time allocations */
    struct bclient w;
    if (bclient_connect(&w, &t, ts.port, NULL) != 0 || bclient_hello(&w, &ids[0]) != 0)
        benchlib_die("first connection failed");
    bclient_save_session(&w, &sess);
    bclient_close(&w);
    usleep(200000);
    long rss0 = benchlib_status_kb(ts.pid, "VmRSS:");
    double t0 = benchlib_now();
    int resumed = 0;
    for (int i = 0; i < conns; i++) {
        if (bclient_connect(&cs[i], &t, ts.port, full ? NULL : &sess) != 0)
            benchlib_die("connection %d: handshake failed", i);
        resumed += bclient_resumed(&cs[i]);
        if (bclient_hello(&cs[i], &ids[i % ndev]) != 0)
            benchlib_die("connection %d: hello failed", i);
        bclient_drop_tls(&cs[i]);
    }
    double el = benchlib_now() - t0;
    sleep(1);
    long rss1 = benchlib_status_kb(ts.pid, "VmRSS:");
    long hwm = benchlib_status_kb(ts.pid, "VmHWM:");
    /* still alive? one more full session on top of the idle ones */
    int alive = bclient_connect(&w, &t, ts.port, &sess) == 0 && bclient_hello(&w, &ids[0]) == 0;
    bclient_close(&w);
    for (int i = 0; i < conns; i++)
        bclient_close(&cs[i]);
    sleep(1);
    long rss2 = benchlib_status_kb(ts.pid, "VmRSS:");
    mbedtls_ssl_session_free(&sess);
    bclient_tls_close(&t);
    free(cs);
    free(ids);
    if (testserver_stop(&ts) != 0)
        fprintf(stderr, "bench_conns: server did not stop cleanly\n");

    double per = (double)(rss1 - rss0) / conns;
    printf("bench_conns: %d idle authenticated TLS connections (%d resumed handshakes) opened in "
           "%.1f s (%.0f/s); server %s afterwards\n",
           conns, resumed, el, conns / el, alive ? "still serving" : "NOT SERVING");
    printf("  server RSS %ld kB before, %ld kB with them open (peak %ld kB), %ld kB after they "
           "closed: %.1f KB per connection; bare mbedtls_ssl_setup context %.1f KB\n",
           rss0, rss1, hwm, rss2, per, base_kb);
    char b[64], m[64];
    snprintf(b, sizeof b, "bare mbedtls ctx %.1f KB", base_kb);
    snprintf(m, sizeof m, "server RSS per idle conn (%d)", conns);
    benchlib_result("conns", m, per, "KB", b, "<= 45 KB", alive && per <= 45);
    return alive ? 0 : 1;
}
