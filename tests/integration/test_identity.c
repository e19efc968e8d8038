/*
 * test_identity: enrolment, Hello, revocation and the transport's defences, against the real
 * server (port 0, temporary data directory, --dev TLS) driven through the real admin CLI and
 * the test TLS client.
 */
#include "check.h"
#include "error.h"
#include "frame.h"
#include "support/testclient.h"
#include "support/testserver.h"
#include "uuid.h"

#include <ctype.h>
#include <string.h>
#include <unistd.h>

static struct testserver ts;
static struct testclient_identity dev1;
static char code1[32];

static struct testclient *connect_tls(void)
{
    struct testclient *c = NULL;
    CHECK_EQ(testclient_connect(&c, ts.port, ts.ca_path), 0);
    return c;
}

/* Enrol through the CLI, redeem (code typed in lower case without dashes), say Hello. */
static void test_identity_enroll_and_hello(void)
{
    CHECK_EQ(testserver_enroll(&ts, "collector", "gao,Tombouctou", 0, code1, sizeof code1), 0);
    CHECK_EQ(strlen(code1), 19);
    char typed[32];
    size_t n = 0;
    for (const char *p = code1; *p; p++)
        if (*p != '-')
            typed[n++] = (char)tolower((unsigned char)*p);
    typed[n] = '\0';

    struct testclient *c = connect_tls();
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(testclient_enroll(c, typed, "phone-1", &dev1, &r), 0);
    CHECK_EQ(r->enroll_result->role, FIELDSYNC__ROLE__ROLE_COLLECTOR);
    CHECK_EQ(r->enroll_result->n_regions, 2);
    CHECK_STR(r->enroll_result->regions[0], "GAO");
    CHECK_STR(r->enroll_result->regions[1], "TOMBOUCTOU");
    CHECK_STR(r->enroll_result->device_name, "phone-1");
    CHECK(!uuid_is_nil(dev1.device_id));
    fieldsync__frame__free_unpacked(r, NULL);

    /* Same connection: still unauthenticated, so Hello is next. */
    CHECK_EQ(testclient_hello(c, &dev1, 7, &r), 0);
    Fieldsync__Welcome *w = r->welcome;
    CHECK_EQ(w->protocol_version, 1);
    CHECK(w->server_hlc != 0);
    CHECK_EQ(w->role, FIELDSYNC__ROLE__ROLE_COLLECTOR);
    CHECK_EQ(w->n_regions, 2);
    CHECK_STR(w->regions[0], "GAO");
    CHECK_EQ(w->own_only, 0);
    CHECK_STR(w->device_name, "phone-1");
    CHECK(w->limits != NULL);
    CHECK_EQ(w->limits->max_frame, 1024 * 1024);
    CHECK_EQ(w->limits->max_batch, 256);
    CHECK_EQ(w->limits->max_in_flight, 8);
    CHECK_EQ(w->limits->idle_timeout_ms, 120000);
    CHECK_EQ(w->server_high_water, 0);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK_EQ(testclient_ping(c), 0);
    /* A second Hello on an authenticated session is a state error. */
    CHECK_EQ(testclient_hello(c, &dev1, 7, NULL), FIELDSYNC_ESTATE);
    CHECK_EQ(testclient_ping(c), 0);
    testclient_close(c);

    /* The CLI lists the device with the high-water mark it reported. */
    const char *args[] = {"devices", "--json", NULL};
    char out[4096];
    CHECK_EQ(testserver_cli(&ts, args, out, sizeof out), 0);
    char id[UUID_STR_LEN + 1];
    uuid_format(dev1.device_id, id);
    CHECK(strstr(out, id) != NULL);
    CHECK(strstr(out, "\"reported_hw\":7") != NULL);
    CHECK(strstr(out, "\"name\":\"phone-1\"") != NULL);
}

static void test_identity_code_is_single_use(void)
{
    struct testclient *c = connect_tls();
    CHECK_EQ(testclient_enroll(c, code1, NULL, NULL, NULL), FIELDSYNC_EENROLL);
    /* A code that never existed, and garbage, fail the same way; the connection survives. */
    CHECK_EQ(testclient_enroll(c, "0000-0000-0000-0000", NULL, NULL, NULL), FIELDSYNC_EENROLL);
    CHECK_EQ(testclient_enroll(c, "not a code!", NULL, NULL, NULL), FIELDSYNC_EENROLL);
    CHECK_EQ(testclient_ping(c), 0);
    testclient_close(c);
}

static void test_identity_wrong_credential(void)
{
    struct testclient_identity bad = dev1;
    bad.credential[5] ^= 0x40;
    struct testclient *c = connect_tls();
    CHECK_EQ(testclient_hello(c, &bad, 0, NULL), FIELDSYNC_EAUTH);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);

    struct testclient_identity unknown = dev1;
    unknown.device_id[15] ^= 1;
    c = connect_tls();
    CHECK_EQ(testclient_hello(c, &unknown, 0, NULL), FIELDSYNC_EAUTH);
    testclient_close(c);
}

static void test_identity_push_before_hello(void)
{
    struct testclient *c = connect_tls();
    Fieldsync__PushBatch b = FIELDSYNC__PUSH_BATCH__INIT;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_PUSH;
    f.push = &b;
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(testclient_request(c, &f, &r), FIELDSYNC_ESTATE);
    CHECK_EQ(r->request_id, f.request_id);
    fieldsync__frame__free_unpacked(r, NULL);
    Fieldsync__PullRequest p = FIELDSYNC__PULL_REQUEST__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_PULL;
    f.pull = &p;
    CHECK_EQ(testclient_request(c, &f, NULL), FIELDSYNC_ESTATE);
    /* Not fatal: Hello still works afterwards. */
    CHECK_EQ(testclient_hello(c, &dev1, 0, NULL), 0);
    testclient_close(c);
}

static void test_identity_bad_version(void)
{
    struct testclient *c = connect_tls();
    Fieldsync__Hello h = FIELDSYNC__HELLO__INIT;
    h.protocol_version = 2;
    h.device_id.data = dev1.device_id;
    h.device_id.len = 16;
    h.credential.data = dev1.credential;
    h.credential.len = 32;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_HELLO;
    f.hello = &h;
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(testclient_request(c, &f, &r), FIELDSYNC_EVERSION);
    CHECK(r->error->closing);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
}

static void test_identity_frame_too_big(void)
{
    struct testclient *good = connect_tls();
    CHECK_EQ(testclient_hello(good, &dev1, 0, NULL), 0);

    struct testclient *c = connect_tls();
    /* Announce 5000 bytes (pre-auth limit 4096) and send a little of it. */
    uint8_t junk[4 + 100] = {0, 0, 0x13, 0x88};
    memset(junk + 4, 0xAB, 100);
    CHECK_EQ(testclient_send_raw(c, junk, sizeof junk), 0);
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(testclient_recv(c, &r), 0);
    CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_ERROR);
    CHECK_EQ(r->error->code, FIELDSYNC__ERROR_CODE__ERROR_FRAME_TOO_BIG);
    CHECK(r->error->closing);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);

    /* Garbage that is not a Frame at all. */
    c = connect_tls();
    uint8_t bad[4 + 3] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
    CHECK_EQ(testclient_send_raw(c, bad, sizeof bad), 0);
    CHECK_EQ(testclient_recv(c, &r), 0);
    CHECK_EQ(r->error->code, FIELDSYNC__ERROR_CODE__ERROR_PROTOCOL);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);

    CHECK_EQ(testclient_ping(good), 0);
    testclient_close(good);
}

static void test_identity_plaintext_to_tls_port(void)
{
    struct testclient *raw = NULL;
    CHECK_EQ(testclient_connect_raw(&raw, ts.port), 0);
    static const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    CHECK_EQ(testclient_send_raw(raw, http, sizeof http - 1), 0);
    CHECK_EQ(testclient_wait_closed(raw), 0); /* closed, not left hanging */
    testclient_close(raw);

    struct testclient *c = connect_tls();
    CHECK_EQ(testclient_ping(c), 0);
    testclient_close(c);
}

static void test_identity_revoked(void)
{
    struct testclient *c = connect_tls();
    CHECK_EQ(testclient_hello(c, &dev1, 0, NULL), 0);
    testclient_close(c);

    char id[UUID_STR_LEN + 1];
    uuid_format(dev1.device_id, id);
    id[13] = '\0'; /* a unique prefix is enough */
    CHECK_EQ(testserver_revoke(&ts, id), 0);

    c = connect_tls();
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(testclient_hello(c, &dev1, 0, &r), FIELDSYNC_EREVOKED);
    CHECK(r->error->closing);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);

    const char *args[] = {"devices", "--json", NULL};
    char out[4096];
    CHECK_EQ(testserver_cli(&ts, args, out, sizeof out), 0);
    CHECK(strstr(out, "\"revoked_ms\":0}") == NULL);
}

/* Session tickets: a second connection resumes the first one's TLS session. */
static void test_identity_session_resumption(void)
{
    struct testclient *c = connect_tls();
    CHECK_EQ(testclient_resumed(c), 0);
    struct testclient_session *sess = NULL;
    CHECK_EQ(testclient_session_save(c, &sess), 0);
    testclient_close(c);
    CHECK_EQ(testclient_connect_resume(&c, ts.port, ts.ca_path, sess), 0);
    CHECK_EQ(testclient_resumed(c), 1);
    CHECK_EQ(testclient_hello(c, &dev1, 0, NULL), 0);
    testclient_close(c);
    testclient_session_free(sess);
}

/* A second server with tight limits: handshake timeout and enrolment rate. */
static void test_identity_limits(void)
{
    struct testserver t2;
    const char *extra[] = {"--handshake-timeout-ms", "300", "--enroll-attempts-per-min", "2", NULL};
    CHECK_EQ(testserver_start(&t2, extra), 0);
    struct testclient *c = NULL;
    CHECK_EQ(testclient_connect(&c, t2.port, t2.ca_path), 0);
    CHECK_EQ(testclient_enroll(c, "0000-0000-0000-0000", NULL, NULL, NULL), FIELDSYNC_EENROLL);
    CHECK_EQ(testclient_enroll(c, "0000-0000-0000-0001", NULL, NULL, NULL), FIELDSYNC_EENROLL);
    CHECK_EQ(testclient_enroll(c, "0000-0000-0000-0002", NULL, NULL, NULL), FIELDSYNC_ERATE);
    /* Silent after that: the handshake deadline closes it with ERROR_TIMEOUT. */
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(testclient_recv(c, &r), 0);
    CHECK_EQ(r->error->code, FIELDSYNC__ERROR_CODE__ERROR_TIMEOUT);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
    CHECK_EQ(testserver_stop(&t2), 0);
}

static Fieldsync__Frame *ping_frame(Fieldsync__Frame *f, Fieldsync__Ping *p, uint32_t id)
{
    fieldsync__ping__init(p);
    p->nonce = id;
    fieldsync__frame__init(f);
    f->request_id = id;
    f->msg_case = FIELDSYNC__FRAME__MSG_PING;
    f->ping = p;
    return f;
}

/* Connection cap, requests in flight and the per-device rate. */
static void test_identity_busy_rate_and_cap(void)
{
    struct testserver t3;
    const char *extra[] = {"--max-connections",
                           "2",
                           "--max-in-flight",
                           "1",
                           "--rate-per-device",
                           "1",
                           "--idle-timeout-ms",
                           "400",
                           NULL};
    CHECK_EQ(testserver_start(&t3, extra), 0);
    char code[32];
    CHECK_EQ(testserver_enroll(&t3, "coordinator", "GAO", 0, code, sizeof code), 0);
    struct testclient *a = NULL, *b = NULL, *c = NULL;
    struct testclient_identity id;
    CHECK_EQ(testclient_connect(&a, t3.port, t3.ca_path), 0);
    CHECK_EQ(testclient_enroll(a, code, "t3", &id, NULL), 0);

    /* Hello (a writer job) and a Ping pipelined: with one request in flight allowed, the
     * Ping is refused with ERROR_BUSY (not closing) and the Hello still succeeds. */
    Fieldsync__Hello h = FIELDSYNC__HELLO__INIT;
    h.protocol_version = 1;
    h.device_id.data = id.device_id;
    h.device_id.len = 16;
    h.credential.data = id.credential;
    h.credential.len = 32;
    Fieldsync__Frame hf = FIELDSYNC__FRAME__INIT, pf;
    Fieldsync__Ping ping;
    hf.request_id = 100;
    hf.msg_case = FIELDSYNC__FRAME__MSG_HELLO;
    hf.hello = &h;
    /* One write, so that both arrive in one TLS record (and one read on the server). */
    uint8_t two[512];
    size_t n1 = frame_encode(&hf, two, sizeof two);
    size_t n2 = frame_encode(ping_frame(&pf, &ping, 101), two + n1, sizeof two - n1);
    CHECK(n1 > 0 && n2 > 0);
    CHECK_EQ(testclient_send_raw(a, two, n1 + n2), 0);
    int got_busy = 0, got_welcome = 0;
    for (int i = 0; i < 2; i++) {
        Fieldsync__Frame *r = NULL;
        CHECK_EQ(testclient_recv(a, &r), 0);
        if (r->request_id == 101) {
            CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_ERROR);
            CHECK_EQ(r->error->code, FIELDSYNC__ERROR_CODE__ERROR_BUSY);
            CHECK(!r->error->closing);
            got_busy = 1;
        } else {
            CHECK_EQ(r->request_id, 100);
            CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_WELCOME);
            CHECK_EQ(r->welcome->role, FIELDSYNC__ROLE__ROLE_COORDINATOR);
            CHECK_EQ(r->welcome->limits->max_in_flight, 1);
            got_welcome = 1;
        }
        fieldsync__frame__free_unpacked(r, NULL);
    }
    CHECK(got_busy && got_welcome);

    /* Rate 1/s, burst 4: the fifth quick request is refused with ERROR_RATE. */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(testclient_ping(a), 0);
    CHECK_EQ(testclient_ping(a), FIELDSYNC_ERATE);

    /* Two connections allowed: a third is accepted and closed at once. */
    CHECK_EQ(testclient_connect(&b, t3.port, t3.ca_path), 0);
    CHECK(testclient_connect(&c, t3.port, t3.ca_path) < 0);
    testclient_close(b);
    int rc = -1;
    for (int i = 0; i < 100 && rc != 0; i++) { /* until the server has seen b go */
        rc = testclient_connect(&c, t3.port, t3.ca_path);
        if (rc != 0)
            usleep(20000);
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(testclient_ping(c), 0);
    testclient_close(c);

    /* a has been silent since: the idle timeout closes it with ERROR_TIMEOUT. */
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(testclient_recv(a, &r), 0);
    CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_ERROR);
    CHECK_EQ(r->error->code, FIELDSYNC__ERROR_CODE__ERROR_TIMEOUT);
    CHECK(r->error->closing);
    fieldsync__frame__free_unpacked(r, NULL);
    CHECK_EQ(testclient_wait_closed(a), 0);
    testclient_close(a);
    CHECK_EQ(testserver_stop(&t3), 0);
}

int main(void)
{
    CHECK_EQ(testserver_start(&ts, NULL), 0);
    RUN(test_identity_enroll_and_hello);
    RUN(test_identity_code_is_single_use);
    RUN(test_identity_wrong_credential);
    RUN(test_identity_session_resumption);
    RUN(test_identity_push_before_hello);
    RUN(test_identity_bad_version);
    RUN(test_identity_frame_too_big);
    RUN(test_identity_plaintext_to_tls_port);
    RUN(test_identity_revoked);
    CHECK_EQ(testserver_stop(&ts), 0);
    RUN(test_identity_limits);
    RUN(test_identity_busy_rate_and_cap);
    return 0;
}
