/*
 * test_bad_input_gaps: bad-input cases that the server does not handle as the contract says
 * (yet). Kept apart from the other hardening tests so that they stay green while these name
 * the gaps precisely; each case asserts the behaviour of docs/protocol.md and DESIGN.md, and
 * turns green when the gap is closed. See docs/security.md, "Known gaps".
 */
#include "bad_input_util.h"
#include "check.h"
#include "error.h"
#include "uuid.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct testserver ts;
static struct bi_env env;

static int hello_with_app(struct testclient *c, const char *app_version)
{
    Fieldsync__Hello h = FIELDSYNC__HELLO__INIT;
    h.protocol_version = 1;
    h.device_id.data = env.bad_id.device_id;
    h.device_id.len = 16;
    h.credential.data = env.bad_id.credential;
    h.credential.len = 32;
    h.app_version = (char *)app_version;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_HELLO;
    f.hello = &h;
    return testclient_request(c, &f, NULL);
}

/* Invalid UTF-8 in Hello.app_version (free text for operators). */
static void test_bad_input_bad_utf8_in_hello(void)
{
    struct testclient *c = bi_connect(&env);
    int rc = hello_with_app(c, "app\xc3\x28\xff");
    CHECK_EQ(rc, FIELDSYNC_EUTF8);
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
    if (rc == 0)
        fprintf(stderr, "   BUG: a device revoked mid-session still pushes (status %d)\n",
                (int)r->push_ack->results[0]->status);
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

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    CHECK_EQ(testserver_start(&ts, NULL), 0);
    bi_setup(&env, &ts);
    int failed = 0;
    /* Each gap in its own child, so one does not hide the next. */
    void (*cases[])(void) = {test_bad_input_bad_utf8_in_hello, test_bad_input_bad_utf8_in_enroll,
                             test_bad_input_revoked_mid_session};
    const char *names[] = {"test_bad_input_bad_utf8_in_hello", "test_bad_input_bad_utf8_in_enroll",
                           "test_bad_input_revoked_mid_session"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "-- %s\n", names[i]);
        fflush(stderr);
        pid_t p = fork();
        CHECK(p >= 0);
        if (p == 0) {
            /* The parent's TLS session must not be touched: a fresh healthy connection, and
             * device_seqs the parent will not use. */
            env.healthy = bi_connect(&env);
            CHECK_EQ(testclient_hello(env.healthy, &env.healthy_id, 0, NULL), 0);
            env.healthy_seq += 1000 * (i + 1);
            cases[i]();
            _exit(0);
        }
        int st = 0;
        waitpid(p, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "   FAILED: %s\n", names[i]);
            failed++;
        }
    }
    bi_check(&env);
    bi_teardown(&env);
    CHECK_EQ(testserver_stop(&ts), 0);
    return failed ? 1 : 0;
}
