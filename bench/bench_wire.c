/*
 * bench_wire: bytes on the wire per synced report, counted at the client's socket (TLS record
 * headers, nonces and tags, frame headers, the PushAck coming back: everything but TCP/IP).
 *
 *   new report, batch 1 / 32:     push + ack bytes per report, beside the report's protobuf size
 *   one-field edit, batch 1 / 32: push + ack bytes per edit (end_time changed)
 *   handshake full / resumed, Hello+Welcome: for reference
 *
 * Targets: a new report <= 1.15x its encoded size; a one-field edit <= 300 bytes.
 * Usage: bench_wire [--reports N] (default 256 per batch size).
 */
#include "bclient.h"
#include "benchlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push_wait(struct bclient *c, struct benchlib_batch *b, size_t n)
{
    b->frame.request_id = 0;
    if (bclient_send(c, &b->frame) < 0)
        return -1;
    Fieldsync__Frame *r = NULL;
    if (bclient_recv(c, &r) < 0)
        return -1;
    int applied = benchlib_ack_applied(r);
    fieldsync__frame__free_unpacked(r, NULL);
    return applied == (int)n ? 0 : -1;
}

int main(int argc, char **argv)
{
    size_t reports = 256;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reports") && i + 1 < argc)
            reports = strtoul(argv[++i], NULL, 10);
        else
            benchlib_die("usage: bench_wire [--reports N]");
    }
    reports = (reports + 31) / 32 * 32;
    struct testserver ts;
    struct testclient_identity id;
    struct bclient_tls t;
    struct bclient c;
    mbedtls_ssl_session sess;
    if (benchlib_server_start(&ts, "normal", NULL) != 0)
        benchlib_die("server did not start");
    if (benchlib_enroll(&ts, "collector", "GAO,TOMBOUCTOU,MENAKA", &id) != 0)
        benchlib_die("enrol failed");
    if (bclient_tls_setup(&t, ts.ca_path) != 0)
        benchlib_die("tls setup");

    /* handshakes */
    if (bclient_connect(&c, &t, ts.port, NULL) != 0)
        benchlib_die("connect");
    uint64_t hs_full = c.bytes_sent + c.bytes_recv;
    uint64_t before = hs_full;
    if (bclient_hello(&c, &id) != 0)
        benchlib_die("hello");
    uint64_t hello = c.bytes_sent + c.bytes_recv - before;
    /* the ticket arrives with the handshake's last flight */
    bclient_save_session(&c, &sess);
    bclient_close(&c);
    if (bclient_connect(&c, &t, ts.port, &sess) != 0)
        benchlib_die("resume");
    uint64_t hs_res = c.bytes_sent + c.bytes_recv;
    int resumed = bclient_resumed(&c);
    if (bclient_hello(&c, &id) != 0)
        benchlib_die("hello");

    struct benchlib_device dev = {.id = id, .next_seq = 1};
    struct benchlib_batch *b = malloc(sizeof *b);
    struct benchlib_record *recs = calloc(reports * 2, sizeof *recs);
    if (!b || !recs)
        benchlib_die("out of memory");
    static const size_t sizes[2] = {1, 32};
    double new_per[2], body_avg[2], edit_per[2];
    for (int k = 0; k < 2; k++) {
        size_t bs = sizes[k];
        uint64_t body_total = 0;
        uint64_t b0 = c.bytes_sent + c.bytes_recv;
        struct benchlib_record *rk = recs + (size_t)k * reports;
        for (size_t i = 0; i < reports; i += bs) {
            body_total += benchlib_batch_new(b, &dev, bs, 1000 * (uint64_t)k + i, rk + i);
            if (push_wait(&c, b, bs) != 0)
                benchlib_die("push of new reports failed");
        }
        new_per[k] = (double)(c.bytes_sent + c.bytes_recv - b0) / (double)reports;
        body_avg[k] = (double)body_total / (double)reports;
        b0 = c.bytes_sent + c.bytes_recv;
        for (size_t i = 0; i < reports; i += bs) {
            benchlib_batch_edit(b, &dev, bs, rk + i);
            if (push_wait(&c, b, bs) != 0)
                benchlib_die("push of edits failed");
        }
        edit_per[k] = (double)(c.bytes_sent + c.bytes_recv - b0) / (double)reports;
    }
    bclient_close(&c);
    mbedtls_ssl_session_free(&sess);
    bclient_tls_close(&t);
    free(b);
    free(recs);
    if (testserver_stop(&ts) != 0)
        fprintf(stderr, "bench_wire: server did not stop cleanly\n");

    printf("bench_wire: %zu reports per batch size, bytes counted at the client socket\n", reports);
    printf("  handshake full %llu B, resumed %llu B (%s), Hello+Welcome %llu B\n",
           (unsigned long long)hs_full, (unsigned long long)hs_res,
           resumed ? "ticket accepted" : "NOT resumed", (unsigned long long)hello);
    char base[64], tgt[64];
    for (int k = 0; k < 2; k++) {
        double ratio = new_per[k] / body_avg[k];
        printf("  batch %2zu: new report %.1f B on the wire for %.1f B of protobuf (%.3fx); "
               "one-field edit %.1f B\n",
               sizes[k], new_per[k], body_avg[k], ratio, edit_per[k]);
        char metric[64];
        snprintf(base, sizeof base, "%.0f B protobuf", body_avg[k]);
        snprintf(tgt, sizeof tgt, "<= %.0f B (1.15x)", body_avg[k] * 1.15);
        snprintf(metric, sizeof metric, "new report, batch %zu", sizes[k]);
        benchlib_result("wire", metric, new_per[k], "B/report", base, tgt, ratio <= 1.15);
        snprintf(metric, sizeof metric, "one-field edit, batch %zu", sizes[k]);
        benchlib_result("wire", metric, edit_per[k], "B/edit", "pouchdb 5.9 KB", "<= 300 B",
                        edit_per[k] <= 300);
    }
    benchlib_result("wire", "TLS handshake, full", (double)hs_full, "B", NULL, NULL, -1);
    benchlib_result("wire", "TLS handshake, resumed", (double)hs_res, "B", NULL, NULL, -1);
    return 0;
}
