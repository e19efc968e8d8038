/*
 * test_benchlib: the benchmarks' own parts, so their figures can be trusted: realistic report
 * generation, push batches (ids, sequence numbers, edit bases), quantiles, and the counting TLS
 * client against the real server (bytes counted at the socket, ticket resumption, acks).
 */
#include "bclient.h"
#include "benchlib.h"
#include "check.h"
#include "consultation.pb-c.h"

#include <stdlib.h>
#include <string.h>

static void test_benchlib_report_is_a_realistic_report(void)
{
    uint8_t buf[BENCHLIB_BODY_CAP];
    for (uint64_t seed = 0; seed < 50; seed++) {
        const char *region = benchlib_region(seed);
        size_t n = benchlib_report(seed, region, buf, sizeof buf);
        CHECK_INT(n, >=, 800);
        CHECK_INT(n, <=, 1200);
        Fieldsync__ConsultationReport *r = fieldsync__consultation_report__unpack(NULL, n, buf);
        CHECK(r != NULL);
        CHECK_STR(r->region, region);
        CHECK_INT(r->n_concerns, >=, 3);
        CHECK_INT(r->n_concerns, <=, 4);
        CHECK_EQ(r->concerns[0]->id.len, 16);
        CHECK(strstr(r->summary, "é") != NULL); /* French, UTF-8 */
        fieldsync__consultation_report__free_unpacked(r, NULL);
    }
    CHECK_EQ(benchlib_report(1, "GAO", buf, 100), 0); /* too small a buffer */
}

static void test_benchlib_batch_new_then_edit(void)
{
    struct benchlib_batch *b = malloc(sizeof *b);
    struct benchlib_record recs[4];
    struct benchlib_device d = {.next_seq = 1};
    memset(d.id.device_id, 7, 16);
    CHECK(b != NULL);
    size_t bytes = benchlib_batch_new(b, &d, 4, 10, recs);
    CHECK_EQ(b->push.n_changes, 4);
    CHECK_INT(bytes, >, 3000);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(b->ch[i].device_seq, i + 1);
        CHECK_U64(b->ch[i].hlc, ==, recs[i].hlc);
        CHECK_MEM(b->ch[i].record_id.data, recs[i].id, 16);
        if (i)
            CHECK_U64(recs[i].hlc, >, recs[i - 1].hlc);
    }
    CHECK(memcmp(recs[0].id, recs[1].id, 16) != 0);
    uint64_t created = recs[2].hlc;
    benchlib_batch_edit(b, &d, 4, recs);
    CHECK_EQ(b->ch[2].device_seq, 7);
    CHECK_EQ(b->ch[2].n_ops, 1);
    CHECK_U64(b->ch[2].ops[0]->base_hlc, ==, created); /* based on what it overwrites */
    CHECK_U64(recs[2].hlc, ==, b->ch[2].hlc);          /* the next edit's base */
    CHECK_EQ(b->ch[2].ops[0]->field, 9);
    /* A second edit is based on the first. */
    uint64_t first = recs[2].hlc;
    benchlib_batch_edit(b, &d, 4, recs);
    CHECK_U64(b->ch[2].ops[0]->base_hlc, ==, first);
    free(b);
}

static void test_benchlib_quantile(void)
{
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = 100 - i;
    CHECK_EQ((int)benchlib_quantile(v, 100, 0.0), 1);
    CHECK_EQ((int)benchlib_quantile(v, 100, 0.5), 51);
    CHECK_EQ((int)benchlib_quantile(v, 100, 0.99), 99);
    CHECK_EQ((int)benchlib_quantile(v, 0, 0.5), 0);
}

/* Real server, real TLS: counted bytes, resumption, a push acked as applied then duplicate. */
static void test_benchlib_client_counts_and_pushes(void)
{
    struct testserver ts;
    struct testclient_identity id;
    struct bclient_tls t;
    struct bclient c;
    mbedtls_ssl_session sess;
    CHECK_EQ(benchlib_server_start(&ts, "normal", NULL), 0);
    CHECK_EQ(benchlib_enroll(&ts, "collector", "GAO,TOMBOUCTOU,MENAKA", &id), 0);
    CHECK_EQ(bclient_tls_setup(&t, ts.ca_path), 0);
    CHECK_EQ(bclient_connect(&c, &t, ts.port, NULL), 0);
    CHECK_EQ(bclient_resumed(&c), 0);
    CHECK_INT(c.bytes_recv, >, 400); /* the certificate came */
    CHECK_EQ(bclient_hello(&c, &id), 0);
    CHECK_EQ(bclient_save_session(&c, &sess), 0);

    struct benchlib_batch *b = malloc(sizeof *b);
    struct benchlib_device d = {.id = id, .next_seq = 1};
    CHECK(b != NULL);
    size_t body = benchlib_batch_new(b, &d, 1, 0, NULL);
    uint64_t sent0 = c.bytes_sent;
    CHECK_EQ(bclient_send(&c, &b->frame), 0);
    CHECK_U64(c.bytes_sent - sent0, >, body);       /* the report, framed and sealed */
    CHECK_U64(c.bytes_sent - sent0, <, body + 200); /* and not much more */
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(bclient_recv(&c, &r), 0);
    CHECK_EQ(benchlib_ack_applied(r), 1);
    fieldsync__frame__free_unpacked(r, NULL);
    /* the same change again: acked as a duplicate, not applied */
    b->frame.request_id = 0;
    CHECK_EQ(bclient_send(&c, &b->frame), 0);
    CHECK_EQ(bclient_recv(&c, &r), 0);
    CHECK_EQ(benchlib_ack_applied(r), 0);
    CHECK_EQ(r->push_ack->results[0]->status, FIELDSYNC__CHANGE_STATUS__CHANGE_DUPLICATE);
    fieldsync__frame__free_unpacked(r, NULL);
    bclient_close(&c);

    CHECK_EQ(bclient_connect(&c, &t, ts.port, &sess), 0);
    CHECK_EQ(bclient_resumed(&c), 1);
    CHECK_EQ(bclient_hello(&c, &id), 0);
    bclient_drop_tls(&c); /* socket kept, TLS state gone */
    CHECK(c.fd >= 0);
    bclient_close(&c);
    CHECK(benchlib_status_kb(ts.pid, "VmRSS:") > 0);
    CHECK(benchlib_cpu_s(ts.pid) >= 0);
    mbedtls_ssl_session_free(&sess);
    bclient_tls_close(&t);
    free(b);
    CHECK_EQ(testserver_stop(&ts), 0);
}

int main(void)
{
    test_benchlib_report_is_a_realistic_report();
    test_benchlib_batch_new_then_edit();
    test_benchlib_quantile();
    test_benchlib_client_counts_and_pushes();
    return 0;
}
