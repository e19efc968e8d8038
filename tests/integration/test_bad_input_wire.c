/*
 * test_bad_input_wire: the server under bad bytes, bad sessions and hostile connections —
 * framing, session state, Hello fields, TLS versions, timeouts, the connection cap, a client
 * that never reads, requests in flight and request rate. Every case expects one specific
 * error code (or a clean close where no answer is possible), then bi_check() proves a healthy
 * device on its own connection is still served and its acknowledged record unchanged.
 *
 * Two real servers: "main" with default limits, and "tight" (short handshake and idle
 * timeouts, 4 connections, a small output bound) for the cases that need them.
 */
#include "bad_input_util.h"
#include "check.h"
#include "error.h"
#include "frame.h"
#include "pbwire.h"
#include "uuid.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct testserver ts, tight;
static struct bi_env env, tenv;

#define TIGHT_HANDSHAKE_MS 700
#define TIGHT_IDLE_MS      1500
#define TIGHT_MAX_CONNS    4
#define TIGHT_MAX_OUTPUT   65536

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* One payload sent, one Error expected; the healthy device checked afterwards. */
static void expect_payload(struct testclient *c, const uint8_t *p, size_t n, int code, int closing)
{
    CHECK_EQ(bi_send_payload(c, p, n), 0);
    bi_expect_error(c, code, closing);
}

/* ---- framing ---- */

static void test_bad_input_frame_too_big_preauth(void)
{
    struct testclient *c = bi_connect(&env);
    uint8_t hdr[4];
    frame_put_len(hdr, FRAME_MAX_PREAUTH + 1);
    CHECK_EQ(testclient_send_raw(c, hdr, 4), 0);
    bi_expect_error(c, FIELDSYNC_EFRAMESIZE, 1);
    testclient_close(c);
    bi_check(&env);
}

/* The limit is inclusive: a valid frame of exactly 4096 bytes is served before Hello. */
static void test_bad_input_frame_at_preauth_limit(void)
{
    static uint8_t p[FRAME_MAX_PREAUTH];
    size_t n = 0;
    p[n++] = 0x08; /* request_id 7 */
    p[n++] = 7;
    p[n++] = 0x2a; /* ping {} */
    p[n++] = 0;
    /* Pad with an unknown field 100 (LEN) up to the limit exactly. */
    size_t pad = FRAME_MAX_PREAUTH - n - 2 - 2;
    n += pbwire_put_varint(p + n, (100u << 3) | 2);
    n += pbwire_put_varint(p + n, pad);
    memset(p + n, 'x', pad);
    n += pad;
    CHECK_EQ(n, FRAME_MAX_PREAUTH);
    struct testclient *c = bi_connect(&env);
    CHECK_EQ(bi_send_payload(c, p, n), 0);
    Fieldsync__Frame *r = NULL;
    CHECK_EQ(testclient_recv(c, &r), 0);
    CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_PONG);
    CHECK_EQ(r->request_id, 7);
    fieldsync__frame__free_unpacked(r, NULL);
    testclient_close(c);
    bi_check(&env);
}

static void test_bad_input_frame_too_big_after_auth(void)
{
    struct testclient *c = bi_session(&env);
    /* Header and the start of the payload in one write (one TLS record), so the server has
     * read every byte sent when it closes (no reset racing its Error frame). */
    uint8_t some[4 + 1000];
    frame_put_len(some, FRAME_MAX_DEFAULT + 1);
    memset(some + 4, 0x0a, sizeof some - 4);
    CHECK_EQ(testclient_send_raw(c, some, sizeof some), 0);
    bi_expect_error(c, FIELDSYNC_EFRAMESIZE, 1);
    testclient_close(c);
    bi_check(&env);
}

static void test_bad_input_frame_len_all_ones(void)
{
    struct testclient *c = bi_session(&env);
    static const uint8_t hdr[4] = {0xff, 0xff, 0xff, 0xff};
    CHECK_EQ(testclient_send_raw(c, hdr, 4), 0);
    bi_expect_error(c, FIELDSYNC_EFRAMESIZE, 1);
    testclient_close(c);
    bi_check(&env);
}

/* Unframed text inside TLS: "GET " read as a length is far over the limit. */
static void test_bad_input_garbage_text_in_tls(void)
{
    struct testclient *c = bi_connect(&env);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_EQ(testclient_send_raw(c, junk, sizeof junk - 1), 0);
    bi_expect_error(c, FIELDSYNC_EFRAMESIZE, 1);
    testclient_close(c);
    bi_check(&env);
}

static void test_bad_input_garbage_payload(void)
{
    struct testclient *c = bi_session(&env);
    static const uint8_t p[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_payload(c, p, sizeof p, FIELDSYNC_EPROTO, 1);
    testclient_close(c);
    bi_check(&env);
}

static void test_bad_input_empty_frame(void)
{
    struct testclient *c = bi_connect(&env);
    expect_payload(c, NULL, 0, FIELDSYNC_EPROTO, 1);
    testclient_close(c);
    bi_check(&env);
}

/* A oneof member this server does not know (field 15): no message set. */
static void test_bad_input_unknown_oneof(void)
{
    struct testclient *c = bi_session(&env);
    static const uint8_t p[] = {0x08, 0x05, 0x7a, 0x02, 0x08, 0x01};
    expect_payload(c, p, sizeof p, FIELDSYNC_EPROTO, 1);
    testclient_close(c);
    bi_check(&env);
}

/* request_id (a varint) sent as a length-delimited field. */
static void test_bad_input_wrong_wire_type(void)
{
    struct testclient *c = bi_session(&env);
    static const uint8_t p[] = {0x0a, 0x01, 0x05, 0x2a, 0x00};
    expect_payload(c, p, sizeof p, FIELDSYNC_EPROTO, 1);
    testclient_close(c);
    bi_check(&env);
}

/* A sub-message whose length runs past the end of the frame. */
static void test_bad_input_truncated_submessage(void)
{
    struct testclient *c = bi_session(&env);
    static const uint8_t p[] = {0x08, 0x05, 0x4a, 0x40, 0x0a, 0x02};
    expect_payload(c, p, sizeof p, FIELDSYNC_EPROTO, 1);
    testclient_close(c);
    bi_check(&env);
}

/* A server-to-client message (Welcome) from a client: refused, connection kept. */
static void test_bad_input_server_message_from_client(void)
{
    struct testclient *c = bi_session(&env);
    static const uint8_t p[] = {0x08, 0x05, 0x1a, 0x00};
    expect_payload(c, p, sizeof p, FIELDSYNC_EPROTO, 0);
    CHECK_EQ(testclient_ping(c), 0);
    testclient_close(c);
    bi_check(&env);
}

/* ---- session state and Hello ---- */

static void test_bad_input_push_before_hello(void)
{
    struct testclient *c = bi_connect(&env);
    uint8_t body[128], id[16];
    size_t n = bi_report(body, sizeof body, "GAO", "Intruder");
    bi_new_id(id);
    Fieldsync__Change ch, *chp = &ch;
    bi_change(&ch, 1, id, "GAO", bi_hlc_now(), body, n);
    CHECK_EQ(bi_push(c, &chp, 1, NULL), FIELDSYNC_ESTATE);
    Fieldsync__PullRequest p = FIELDSYNC__PULL_REQUEST__INIT;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_PULL;
    f.pull = &p;
    CHECK_EQ(testclient_request(c, &f, NULL), FIELDSYNC_ESTATE);
    CHECK_EQ(testclient_ping(c), 0); /* kept open */
    testclient_close(c);
    bi_check(&env);
}

static void test_bad_input_hello_and_enroll_after_auth(void)
{
    struct testclient *c = bi_session(&env);
    CHECK_EQ(testclient_hello(c, &env.bad_id, 0, NULL), FIELDSYNC_ESTATE);
    CHECK_EQ(testclient_enroll(c, "0000-0000-0000-0000", NULL, NULL, NULL), FIELDSYNC_ESTATE);
    CHECK_EQ(testclient_ping(c), 0);
    testclient_close(c);
    bi_check(&env);
}

static int hello_with(struct testclient *c, uint32_t version, size_t id_len, size_t cred_len,
                      const char *app_version)
{
    uint8_t id[17], cred[33];
    memcpy(id, env.bad_id.device_id, 16);
    memcpy(cred, env.bad_id.credential, 32);
    id[16] = cred[32] = 0;
    Fieldsync__Hello h = FIELDSYNC__HELLO__INIT;
    h.protocol_version = version;
    h.device_id.data = id;
    h.device_id.len = id_len;
    h.credential.data = cred;
    h.credential.len = cred_len;
    h.app_version = (char *)app_version;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_HELLO;
    f.hello = &h;
    return testclient_request(c, &f, NULL);
}

/* Enroll speaks the protocol version too. */
static void test_bad_input_enroll_bad_version(void)
{
    struct testclient *c = bi_connect(&env);
    Fieldsync__Enroll e = FIELDSYNC__ENROLL__INIT;
    e.protocol_version = 2;
    e.code = (char *)"0000-0000-0000-0000";
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_ENROLL;
    f.enroll = &e;
    CHECK_EQ(testclient_request(c, &f, NULL), FIELDSYNC_EVERSION);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
    bi_check(&env);
}

/* Two Hellos pipelined: the second arrives while the first is being checked. */
static void test_bad_input_hello_while_authenticating(void)
{
    struct testclient *c = bi_connect(&env);
    Fieldsync__Hello h = FIELDSYNC__HELLO__INIT;
    h.protocol_version = 1;
    h.device_id.data = env.bad_id.device_id;
    h.device_id.len = 16;
    h.credential.data = env.bad_id.credential;
    h.credential.len = 32;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_HELLO;
    f.hello = &h;
    uint8_t buf[512];
    f.request_id = 41;
    size_t n = frame_encode(&f, buf, sizeof buf);
    f.request_id = 42;
    n += frame_encode(&f, buf + n, sizeof buf - n);
    CHECK_EQ(testclient_send_raw(c, buf, n), 0);
    int welcome = 0, state = 0;
    for (int i = 0; i < 2; i++) {
        Fieldsync__Frame *r = NULL;
        CHECK_EQ(testclient_recv(c, &r), 0);
        if (r->request_id == 41) {
            CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_WELCOME);
            welcome++;
        } else {
            CHECK_EQ(r->request_id, 42);
            CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_ERROR);
            CHECK_EQ(error_from_wire((int)r->error->code), FIELDSYNC_ESTATE);
            CHECK(!r->error->closing);
            state++;
        }
        fieldsync__frame__free_unpacked(r, NULL);
    }
    CHECK_EQ(welcome, 1);
    CHECK_EQ(state, 1);
    CHECK_EQ(testclient_ping(c), 0);
    testclient_close(c);
    bi_check(&env);
}

static void test_bad_input_unsupported_version(void)
{
    static const uint32_t versions[] = {0, 2, 0xffffffffu};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        struct testclient *c = bi_connect(&env);
        CHECK_EQ(hello_with(c, versions[i], 16, 32, "x"), FIELDSYNC_EVERSION);
        CHECK_EQ(testclient_wait_closed(c), 0);
        testclient_close(c);
    }
    bi_check(&env);
}

static void test_bad_input_id_wrong_length(void)
{
    struct testclient *c = bi_connect(&env);
    CHECK_EQ(hello_with(c, 1, 15, 32, "x"), FIELDSYNC_EAUTH);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
    c = bi_connect(&env);
    CHECK_EQ(hello_with(c, 1, 17, 32, "x"), FIELDSYNC_EAUTH);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
    c = bi_connect(&env);
    CHECK_EQ(hello_with(c, 1, 16, 31, "x"), FIELDSYNC_EAUTH);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
    bi_check(&env);
}

static void test_bad_input_wrong_credential(void)
{
    struct testclient_identity bad = env.healthy_id;
    bad.credential[31] ^= 1; /* someone guessing the healthy device's credential */
    struct testclient *c = bi_connect(&env);
    CHECK_EQ(testclient_hello(c, &bad, 0, NULL), FIELDSYNC_EAUTH);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
    bi_check(&env);
}

static void test_bad_input_replayed_enrolment_code(void)
{
    char code[64];
    CHECK_EQ(testserver_enroll(&ts, "collector", "GAO", 0, code, sizeof code), 0);
    struct testclient *c = bi_connect(&env);
    struct testclient_identity id;
    CHECK_EQ(testclient_enroll(c, code, "once", &id, NULL), 0);
    /* The same code again, on this connection and on another: refused, connection kept. */
    CHECK_EQ(testclient_enroll(c, code, "twice", NULL, NULL), FIELDSYNC_EENROLL);
    CHECK_EQ(testclient_ping(c), 0);
    testclient_close(c);
    c = bi_connect(&env);
    CHECK_EQ(testclient_enroll(c, code, "thrice", NULL, NULL), FIELDSYNC_EENROLL);
    /* The first redemption's credential still works. */
    CHECK_EQ(testclient_hello(c, &id, 0, NULL), 0);
    testclient_close(c);
    bi_check(&env);
}

/* Invalid UTF-8 in Hello.app_version (free text for operators). */
static void test_bad_input_bad_utf8_in_hello(void)
{
    struct testclient *c = bi_connect(&env);
    int rc = hello_with(c, 1, 16, 32, "app\xc3\x28\xff");
    CHECK_EQ(rc, FIELDSYNC_EUTF8);
    CHECK_EQ(testclient_ping(c), 0); /* kept: only this Hello failed */
    testclient_close(c);
    bi_check(&env);
}

/* Invalid UTF-8 in Enroll.device_name: it would be stored and printed by `devices`. */
static void test_bad_input_bad_utf8_in_enroll(void)
{
    char code[64];
    CHECK_EQ(testserver_enroll(&ts, "collector", "GAO", 0, code, sizeof code), 0);
    struct testclient *c = bi_connect(&env);
    CHECK_EQ(testclient_enroll(c, code, "phone\xed\xa0\x80", NULL, NULL), FIELDSYNC_EUTF8);
    CHECK_EQ(testclient_ping(c), 0);
    testclient_close(c);
    bi_check(&env);
}

/* Revocation takes effect at the next request of an open session (DESIGN §7). */
static void test_bad_input_revoked_mid_session(void)
{
    char code[64];
    CHECK_EQ(testserver_enroll(&ts, "collector", "GAO", 0, code, sizeof code), 0);
    struct testclient *c = bi_connect(&env);
    struct testclient_identity id;
    CHECK_EQ(testclient_enroll(c, code, "to-revoke", &id, NULL), 0);
    CHECK_EQ(testclient_hello(c, &id, 0, NULL), 0);
    uint8_t body[128], rid[16];
    size_t n = bi_report(body, sizeof body, "GAO", "Avant");
    bi_new_id(rid);
    Fieldsync__Change ch;
    bi_change(&ch, 1, rid, "GAO", bi_hlc_now(), body, n);
    CHECK_EQ(bi_push_one(c, &ch, NULL), FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);

    char idstr[UUID_STR_LEN + 1];
    uuid_format(id.device_id, idstr);
    CHECK_EQ(testserver_revoke(&ts, idstr), 0);

    uint8_t rid2[16];
    n = bi_report(body, sizeof body, "GAO", "Apres");
    bi_new_id(rid2);
    Fieldsync__Change ch2, *chp = &ch2;
    bi_change(&ch2, 2, rid2, "GAO", bi_hlc_now(), body, n);
    Fieldsync__Frame *r = NULL;
    int rc = bi_push(c, &chp, 1, &r);
    if (r)
        fieldsync__frame__free_unpacked(r, NULL);
    CHECK_EQ(rc, FIELDSYNC_EREVOKED);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
    /* What it delivered before revocation stays. */
    uint8_t out[4096];
    CHECK(bi_pull_record(env.healthy, rid, out, sizeof out) > 0);
    CHECK_EQ(bi_pull_record(env.healthy, rid2, out, sizeof out), 0);
    bi_check(&env);
}

/* A device name with a newline must not forge a log line (server/log.c): a server of its
 * own, whose stderr (its log) goes to a file this test reads. */
static void test_bad_input_log_injection(void)
{
    char path[] = "/tmp/fs-bad-input-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    int saved = dup(STDERR_FILENO);
    CHECK(saved >= 0);
    CHECK(dup2(fd, STDERR_FILENO) >= 0);
    struct testserver t3;
    int rc = testserver_start(&t3, NULL);
    dup2(saved, STDERR_FILENO);
    close(saved);
    CHECK_EQ(rc, 0);

    char code[64];
    CHECK_EQ(testserver_enroll(&t3, "collector", "GAO", 0, code, sizeof code), 0);
    struct testclient *c = NULL;
    CHECK_EQ(testclient_connect(&c, t3.port, t3.ca_path), 0);
    struct testclient_identity id;
    CHECK_EQ(testclient_enroll(c, code, "evil\n2026-01-01T00:00:00.000Z error event=FORGED\x1b[2J",
                               &id, NULL),
             0);
    CHECK_EQ(testclient_hello(c, &id, 0, NULL), 0);
    testclient_close(c);
    CHECK_EQ(testserver_stop(&t3), 0);

    static char log[1 << 16];
    ssize_t n = pread(fd, log, sizeof log - 1, 0);
    close(fd);
    unlink(path);
    CHECK(n > 0);
    log[n] = '\0';
    CHECK(strstr(log, "evil?2026-01-01T00:00:00.000Z error event=FORGED?[2J") != NULL);
    CHECK(strstr(log, "\n2026-01-01T00:00:00.000Z") == NULL);
    CHECK(strchr(log, 0x1b) == NULL);
    bi_check(&env);
}

/* ---- TLS ---- */

static void test_bad_input_plaintext_http(void)
{
    struct testclient *c = NULL;
    CHECK_EQ(testclient_connect_raw(&c, ts.port), 0);
    static const char http[] =
        "POST /sync HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n";
    CHECK_EQ(testclient_send_raw(c, http, sizeof http - 1), 0);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
    bi_check(&env);
}

/* A hand-made ClientHello offering only TLS 1.0 (minor 1) or 1.1 (minor 2). */
static size_t old_client_hello(uint8_t *out, uint8_t minor)
{
    static const uint8_t suites[] = {0xc0, 0x09, 0xc0, 0x13, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x2f};
    static const uint8_t exts[] = {0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17, /* P-256 */
                                   0x00, 0x0b, 0x00, 0x02, 0x01, 0x00}; /* point formats */
    uint8_t body[256];
    size_t n = 0;
    body[n++] = 3;
    body[n++] = minor;
    for (int i = 0; i < 32; i++)
        body[n++] = (uint8_t)(i * 7 + 1);
    body[n++] = 0; /* session id */
    body[n++] = 0;
    body[n++] = sizeof suites;
    memcpy(body + n, suites, sizeof suites);
    n += sizeof suites;
    body[n++] = 1; /* compression: null */
    body[n++] = 0;
    body[n++] = 0;
    body[n++] = sizeof exts;
    memcpy(body + n, exts, sizeof exts);
    n += sizeof exts;
    size_t o = 0;
    out[o++] = 0x16; /* handshake record */
    out[o++] = 3;
    out[o++] = minor;
    out[o++] = (uint8_t)((n + 4) >> 8);
    out[o++] = (uint8_t)(n + 4);
    out[o++] = 1; /* ClientHello */
    out[o++] = 0;
    out[o++] = (uint8_t)(n >> 8);
    out[o++] = (uint8_t)n;
    memcpy(out + o, body, n);
    return o + n;
}

static void test_bad_input_old_tls_versions(void)
{
    for (uint8_t minor = 1; minor <= 2; minor++) {
        struct testclient *c = NULL;
        CHECK_EQ(testclient_connect_raw(&c, ts.port), 0);
        uint8_t hello[300];
        size_t n = old_client_hello(hello, minor);
        CHECK_EQ(testclient_send_raw(c, hello, n), 0);
        /* A fatal alert record (protocol_version or handshake_failure), then the close. */
        uint8_t in[64];
        int r = testclient_recv_raw(c, in, sizeof in);
        CHECK_INT(r, >=, 7);
        CHECK_EQ(in[0], 0x15);
        CHECK_EQ(in[5], 2); /* fatal */
        CHECK(in[6] == 70 || in[6] == 40);
        CHECK_EQ(testclient_wait_closed(c), 0);
        testclient_close(c);
    }
    bi_check(&env);
}

/* ---- load: in flight, rate ---- */

/* Frames of n pushes (each a new record) with request ids 1000.., packed into one buffer. */
static size_t pipelined_pushes(uint8_t *out, size_t cap, unsigned n, uint64_t *seq)
{
    size_t o = 0;
    for (unsigned i = 0; i < n; i++) {
        uint8_t body[128], id[16];
        size_t bl = bi_report(body, sizeof body, "GAO", "Pipeline");
        bi_new_id(id);
        Fieldsync__Change ch, *chp = &ch;
        bi_change(&ch, ++*seq, id, "GAO", bi_hlc_now(), body, bl);
        Fieldsync__PushBatch b = FIELDSYNC__PUSH_BATCH__INIT;
        b.changes = &chp;
        b.n_changes = 1;
        Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
        f.request_id = 1000 + i;
        f.msg_case = FIELDSYNC__FRAME__MSG_PUSH;
        f.push = &b;
        size_t w = frame_encode(&f, out + o, cap - o);
        CHECK(w > 0);
        o += w;
    }
    return o;
}

static void test_bad_input_too_many_in_flight(void)
{
    struct testclient *c = bi_session(&env);
    enum { N = 24 };
    static uint8_t buf[N * 256];
    size_t n = pipelined_pushes(buf, sizeof buf, N, &env.bad_seq);
    CHECK_EQ(testclient_send_raw(c, buf, n), 0);
    int acks = 0, busy = 0;
    uint8_t seen[N] = {0};
    for (int i = 0; i < N; i++) {
        Fieldsync__Frame *r = NULL;
        CHECK_EQ(testclient_recv(c, &r), 0);
        CHECK(r->request_id >= 1000 && r->request_id < 1000 + N);
        CHECK(!seen[r->request_id - 1000]);
        seen[r->request_id - 1000] = 1;
        if (r->msg_case == FIELDSYNC__FRAME__MSG_PUSH_ACK) {
            CHECK_EQ(r->push_ack->results[0]->status, FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
            acks++;
        } else {
            CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_ERROR);
            CHECK_EQ(error_from_wire((int)r->error->code), FIELDSYNC_EBUSY);
            CHECK(!r->error->closing);
            busy++;
        }
        fieldsync__frame__free_unpacked(r, NULL);
    }
    fprintf(stderr, "   %d acked, %d busy\n", acks, busy);
    CHECK_INT(acks, >=, 8); /* max_in_flight */
    CHECK_INT(busy, >=, 1);
    CHECK_EQ(testclient_ping(c), 0); /* kept open, and served again */
    testclient_close(c);
    bi_check(&env);
}

static void test_bad_input_request_rate(void)
{
    struct testclient *c = bi_session(&env);
    enum { N = 320 };
    static uint8_t buf[N * 16];
    size_t o = 0;
    for (unsigned i = 0; i < N; i++) {
        Fieldsync__Ping p = FIELDSYNC__PING__INIT;
        p.nonce = i;
        Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
        f.request_id = 5000 + i;
        f.msg_case = FIELDSYNC__FRAME__MSG_PING;
        f.ping = &p;
        size_t w = frame_encode(&f, buf + o, sizeof buf - o);
        CHECK(w > 0);
        o += w;
    }
    CHECK_EQ(testclient_send_raw(c, buf, o), 0);
    int pongs = 0, rated = 0;
    for (int i = 0; i < N; i++) {
        Fieldsync__Frame *r = NULL;
        CHECK_EQ(testclient_recv(c, &r), 0);
        if (r->msg_case == FIELDSYNC__FRAME__MSG_PONG) {
            pongs++;
        } else {
            CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_ERROR);
            CHECK_EQ(error_from_wire((int)r->error->code), FIELDSYNC_ERATE);
            CHECK(!r->error->closing);
            rated++;
        }
        fieldsync__frame__free_unpacked(r, NULL);
    }
    fprintf(stderr, "   %d pongs, %d rate-limited\n", pongs, rated);
    /* The burst (200); the bucket is the device's, shared with its requests just before. */
    CHECK_INT(pongs, >=, 150);
    CHECK_INT(rated, >=, 50);
    sleep_ms(100); /* the bucket refills at 50/s */
    CHECK_EQ(testclient_ping(c), 0);
    testclient_close(c);
    bi_check(&env);
}

/* ---- the tight server: timeouts, cap, output bound ---- */

/* The tight server closes idle connections quickly: the healthy device reconnects first. */
static void tight_check(void)
{
    testclient_close(tenv.healthy);
    tenv.healthy = bi_connect(&tenv);
    CHECK_EQ(testclient_hello(tenv.healthy, &tenv.healthy_id, 0, NULL), 0);
    bi_check(&tenv);
}

static void test_bad_input_truncated_frame_preauth(void)
{
    uint64_t t0 = mono_ms(); /* the deadline runs from accept, before the TLS handshake */
    struct testclient *c = bi_connect(&tenv);
    static const uint8_t part[] = {0, 0, 0, 100, 0x08, 0x01, 0x2a};
    CHECK_EQ(testclient_send_raw(c, part, sizeof part), 0);
    bi_expect_error(c, FIELDSYNC_ETIMEDOUT, 1);
    uint64_t dt = mono_ms() - t0;
    fprintf(stderr, "   closed after %llu ms\n", (unsigned long long)dt);
    CHECK_INT(dt, >=, TIGHT_HANDSHAKE_MS - 50);
    CHECK_INT(dt, <, TIGHT_HANDSHAKE_MS + 2000);
    testclient_close(c);
    tight_check();
}

static void test_bad_input_truncated_frame_after_auth(void)
{
    struct testclient *c = bi_connect(&tenv);
    CHECK_EQ(testclient_hello(c, &tenv.bad_id, 0, NULL), 0);
    static const uint8_t part[] = {0, 0, 1, 0, 0x08, 0x01, 0x4a};
    uint64_t t0 = mono_ms();
    CHECK_EQ(testclient_send_raw(c, part, sizeof part), 0);
    bi_expect_error(c, FIELDSYNC_ETIMEDOUT, 1);
    uint64_t dt = mono_ms() - t0;
    fprintf(stderr, "   closed after %llu ms\n", (unsigned long long)dt);
    CHECK_INT(dt, >=, TIGHT_IDLE_MS - 300);
    CHECK_INT(dt, <, TIGHT_IDLE_MS + 2000);
    testclient_close(c);
    tight_check();
}

/* A byte of ClientHello every 200 ms: the handshake deadline still closes it. */
static void test_bad_input_slowloris(void)
{
    struct testclient *c = NULL;
    CHECK_EQ(testclient_connect_raw(&c, tight.port), 0);
    testclient_set_timeout(c, 200);
    uint8_t hello[300];
    size_t n = old_client_hello(hello, 3);
    uint64_t t0 = mono_ms();
    int closed = 0;
    for (size_t i = 0; i < n && !closed; i++) {
        if (testclient_send_raw(c, hello + i, 1) != 0)
            break;
        uint8_t b[64];
        int r = testclient_recv_raw(c, b, sizeof b);
        if (r != FIELDSYNC_ETIMEDOUT)
            closed = 1;
    }
    uint64_t dt = mono_ms() - t0;
    fprintf(stderr, "   closed after %llu ms\n", (unsigned long long)dt);
    CHECK_INT(dt, <, TIGHT_HANDSHAKE_MS + 1500);
    testclient_set_timeout(c, 3000);
    CHECK_EQ(testclient_wait_closed(c), 0);
    testclient_close(c);
    tight_check();
}

static void test_bad_input_connections_over_cap(void)
{
    /* The healthy session holds one slot; fill the rest with silent TCP connections. */
    struct testclient *idle[TIGHT_MAX_CONNS];
    for (int i = 0; i < TIGHT_MAX_CONNS - 1; i++)
        CHECK_EQ(testclient_connect_raw(&idle[i], tight.port), 0);
    sleep_ms(100); /* let the server accept them */
    struct testclient *over = NULL;
    CHECK_EQ(testclient_connect_raw(&over, tight.port), 0);
    testclient_set_timeout(over, 500);
    uint64_t t0 = mono_ms();
    CHECK_EQ(testclient_wait_closed(over), 0); /* closed at accept, not after a timeout */
    CHECK_INT(mono_ms() - t0, <, 400);
    testclient_close(over);
    CHECK_EQ(testclient_ping(tenv.healthy), 0); /* those inside are still served */
    /* The squatters are cut at the handshake deadline, and the slots come back. */
    for (int i = 0; i < TIGHT_MAX_CONNS - 1; i++) {
        CHECK_EQ(testclient_wait_closed(idle[i]), 0);
        testclient_close(idle[i]);
    }
    sleep_ms(50);
    tight_check();
}

/* Floods pings on a session and never reads a reply; runs in a child process. */
static void flood_child(void)
{
    struct testclient *c = NULL;
    if (testclient_connect(&c, tight.port, tight.ca_path) != 0 ||
        testclient_hello(c, &tenv.bad_id, 0, NULL) != 0)
        _exit(2);
    static uint8_t buf[512 * 24];
    size_t o = 0;
    for (unsigned i = 0; i < 512; i++) {
        Fieldsync__Ping p = FIELDSYNC__PING__INIT;
        p.nonce = i;
        Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
        f.request_id = 1 + i;
        f.msg_case = FIELDSYNC__FRAME__MSG_PING;
        f.ping = &p;
        o += frame_encode(&f, buf + o, sizeof buf - o);
    }
    for (;;)
        if (testclient_send_raw(c, buf, o) != 0)
            _exit(0);
}

static void test_bad_input_never_reads_replies(void)
{
    long base = bi_rss_kb(tight.pid);
    CHECK(base > 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0)
        flood_child();
    long peak = base;
    for (int i = 0; i < 10; i++) {
        sleep_ms(200);
        long kb = bi_rss_kb(tight.pid);
        if (kb > peak)
            peak = kb;
        CHECK_EQ(testclient_ping(tenv.healthy), 0); /* served all along */
    }
    fprintf(stderr, "   server VmRSS %ld kB before, peak %ld kB while flooded\n", base, peak);
    CHECK_INT(peak - base, <, 48 * 1024);
    kill(child, SIGKILL);
    int st;
    CHECK_EQ(waitpid(child, &st, 0), child);
    /* It flooded (exit 0 once the server cut it, or killed while blocked), not exit 2. */
    CHECK(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 0));
    fprintf(stderr, "   flooder %s\n",
            WIFEXITED(st) ? "was cut by the server" : "was still blocked");
    tight_check();
}

/* One address may hold at most max-preauth-per-address (64 by default) connections that have
 * not said Hello: the next is closed at accept, while authenticated devices from the same
 * address are not counted and keep being served; once the squatters leave, the address may
 * connect again. (With the main server: it has the default cap.) */
static void test_bad_input_preauth_per_address(void)
{
    enum { CAP = 64 };
    struct testclient *idle[CAP];
    for (int i = 0; i < CAP; i++)
        CHECK_EQ(testclient_connect_raw(&idle[i], ts.port), 0);
    sleep_ms(100); /* let the server accept them */
    struct testclient *over = NULL;
    CHECK_EQ(testclient_connect_raw(&over, ts.port), 0);
    testclient_set_timeout(over, 500);
    uint64_t t0 = mono_ms();
    CHECK_EQ(testclient_wait_closed(over), 0); /* closed at accept, not after a timeout */
    CHECK_INT(mono_ms() - t0, <, 400);
    testclient_close(over);
    CHECK_EQ(testclient_ping(env.healthy), 0); /* the healthy device (same address) */
    for (int i = 0; i < CAP; i++)
        testclient_close(idle[i]);
    sleep_ms(100);
    struct testclient *again = NULL;
    CHECK_EQ(testclient_connect(&again, ts.port, ts.ca_path), 0); /* TLS handshake done */
    testclient_close(again);
    bi_check(&env);
}

/* Silent connections from many places: past --max-preauth connections before Hello, the
 * oldest is closed, not the newest refused, so a real device's handshake still gets through
 * while squatters hold every pre-Hello slot. (Its own server: a small cap.) */
static void test_bad_input_preauth_oldest_evicted(void)
{
    struct testserver small;
    const char *args[] = {"--max-connections", "10", "--max-preauth", "3", NULL};
    CHECK_EQ(testserver_start(&small, args), 0);
    struct testclient *squat[3];
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(testclient_connect_raw(&squat[i], small.port), 0);
        sleep_ms(30); /* accepted in this order */
    }
    struct testclient *dev = NULL;
    CHECK_EQ(testclient_connect(&dev, small.port, small.ca_path), 0); /* TLS handshake done */
    testclient_set_timeout(squat[0], 2000);
    CHECK_EQ(testclient_wait_closed(squat[0]), 0); /* the oldest squatter went */
    testclient_set_timeout(squat[1], 200);
    CHECK_EQ(testclient_wait_closed(squat[1]), FIELDSYNC_ETIMEDOUT); /* the others stay */
    testclient_close(dev);
    for (int i = 0; i < 3; i++)
        testclient_close(squat[i]);
    CHECK_EQ(testserver_stop(&small), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    CHECK_EQ(testserver_start(&ts, NULL), 0);
    bi_setup(&env, &ts);

    RUN(test_bad_input_frame_too_big_preauth);
    RUN(test_bad_input_frame_at_preauth_limit);
    RUN(test_bad_input_frame_too_big_after_auth);
    RUN(test_bad_input_frame_len_all_ones);
    RUN(test_bad_input_garbage_text_in_tls);
    RUN(test_bad_input_garbage_payload);
    RUN(test_bad_input_empty_frame);
    RUN(test_bad_input_unknown_oneof);
    RUN(test_bad_input_wrong_wire_type);
    RUN(test_bad_input_truncated_submessage);
    RUN(test_bad_input_server_message_from_client);
    RUN(test_bad_input_push_before_hello);
    RUN(test_bad_input_hello_and_enroll_after_auth);
    RUN(test_bad_input_unsupported_version);
    RUN(test_bad_input_enroll_bad_version);
    RUN(test_bad_input_hello_while_authenticating);
    RUN(test_bad_input_id_wrong_length);
    RUN(test_bad_input_wrong_credential);
    RUN(test_bad_input_bad_utf8_in_hello);
    RUN(test_bad_input_bad_utf8_in_enroll);
    RUN(test_bad_input_replayed_enrolment_code);
    RUN(test_bad_input_revoked_mid_session);
    RUN(test_bad_input_log_injection);
    RUN(test_bad_input_plaintext_http);
    RUN(test_bad_input_old_tls_versions);
    RUN(test_bad_input_too_many_in_flight);
    RUN(test_bad_input_request_rate);
    RUN(test_bad_input_preauth_per_address);
    RUN(test_bad_input_preauth_oldest_evicted);

    const char *extra[] = {"--handshake-timeout-ms",
                           "700",
                           "--idle-timeout-ms",
                           "1500",
                           "--max-connections",
                           "4",
                           "--max-output",
                           "65536",
                           "--rate-per-device",
                           "1000000",
                           "--max-preauth",
                           "4",
                           NULL};
    CHECK_EQ(testserver_start(&tight, extra), 0);
    bi_setup(&tenv, &tight);
    RUN(test_bad_input_truncated_frame_preauth);
    RUN(test_bad_input_truncated_frame_after_auth);
    RUN(test_bad_input_slowloris);
    RUN(test_bad_input_connections_over_cap);
    RUN(test_bad_input_never_reads_replies);
    bi_teardown(&tenv);
    CHECK_EQ(testserver_stop(&tight), 0);

    fprintf(stderr, "healthy device checked %u times\n", env.checks + tenv.checks);
    bi_teardown(&env);
    CHECK_EQ(testserver_stop(&ts), 0);
    return 0;
}
