/*
 * bad_input_util: helpers shared by the hardening tests (see bad_input_util.h). Everything
 * goes through the real server and the test TLS client; assertions are check.h's, so a
 * failure names the line of the helper and the case that ran (RUN prints it).
 */
#include "bad_input_util.h"

#include "check.h"
#include "consultation.pb-c.h"
#include "error.h"
#include "frame.h"
#include "hlc.h"
#include "uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bi_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

uint64_t bi_hlc_now(void)
{
    return hlc_make(bi_now_ms(), 0);
}

void bi_new_id(uint8_t id[16])
{
    CHECK_EQ(uuid_v7(id, bi_now_ms()), 0);
}

size_t bi_report(uint8_t *out, size_t cap, const char *region, const char *commune)
{
    Fieldsync__ConsultationReport r = FIELDSYNC__CONSULTATION_REPORT__INIT;
    r.region = (char *)region;
    r.commune = (char *)commune;
    size_t n = fieldsync__consultation_report__get_packed_size(&r);
    CHECK(n <= cap);
    return fieldsync__consultation_report__pack(&r, out);
}

void bi_change(Fieldsync__Change *ch, uint64_t seq, uint8_t id[16], const char *region,
               uint64_t hlc, uint8_t *body, size_t body_len)
{
    fieldsync__change__init(ch);
    ch->device_seq = seq;
    ch->record_id.data = id;
    ch->record_id.len = 16;
    ch->collection = 1;
    ch->region = (char *)region;
    ch->hlc = hlc;
    ch->body.data = body;
    ch->body.len = body_len;
}

int bi_push(struct testclient *c, Fieldsync__Change **changes, size_t n, Fieldsync__Frame **reply)
{
    Fieldsync__PushBatch b = FIELDSYNC__PUSH_BATCH__INIT;
    b.changes = changes;
    b.n_changes = n;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_PUSH;
    f.push = &b;
    return testclient_request(c, &f, reply);
}

int bi_push_one(struct testclient *c, Fieldsync__Change *ch, int *err)
{
    Fieldsync__Frame *r = NULL;
    int rc = bi_push(c, &ch, 1, &r);
    if (rc != 0)
        fprintf(stderr, "push: %s\n", error_name(rc));
    CHECK_EQ(rc, 0);
    CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_PUSH_ACK);
    CHECK_EQ(r->push_ack->n_results, 1);
    CHECK(r->push_ack->server_hlc != 0);
    const Fieldsync__ChangeResult *res = r->push_ack->results[0];
    CHECK_U64(res->device_seq, ==, ch->device_seq);
    int status = (int)res->status;
    if (err)
        *err = status == FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED
                   ? error_from_wire((int)res->error)
                   : 0;
    if (status == FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED)
        fprintf(stderr, "   rejected: %s: %s\n", error_name(error_from_wire((int)res->error)),
                res->message ? res->message : "");
    fieldsync__frame__free_unpacked(r, NULL);
    return status;
}

size_t bi_pull_record(struct testclient *c, const uint8_t id[16], uint8_t *out, size_t cap)
{
    uint64_t cursor = 0;
    size_t found = 0;
    for (int pages = 0; pages < 1000; pages++) {
        Fieldsync__PullRequest p = FIELDSYNC__PULL_REQUEST__INIT;
        p.cursor = cursor;
        Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
        f.msg_case = FIELDSYNC__FRAME__MSG_PULL;
        f.pull = &p;
        Fieldsync__Frame *r = NULL;
        int rc = testclient_request(c, &f, &r);
        if (rc != 0)
            fprintf(stderr, "pull: %s\n", error_name(rc));
        CHECK_EQ(rc, 0);
        CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_PAGE);
        const Fieldsync__PullPage *pg = r->page;
        for (size_t i = 0; i < pg->n_records; i++) {
            const Fieldsync__RecordState *s = pg->records[i];
            if (s->record_id.len == 16 && memcmp(s->record_id.data, id, 16) == 0) {
                size_t n = fieldsync__record_state__get_packed_size(s);
                CHECK(n <= cap);
                found = fieldsync__record_state__pack(s, out);
            }
        }
        int more = pg->more;
        CHECK(!more || pg->next_cursor > cursor);
        cursor = pg->next_cursor;
        fieldsync__frame__free_unpacked(r, NULL);
        if (!more)
            return found;
    }
    CHECK(!"pull did not end");
    return 0;
}

struct testclient *bi_connect(struct bi_env *e)
{
    struct testclient *c = NULL;
    CHECK_EQ(testclient_connect(&c, e->ts->port, e->ts->ca_path), 0);
    return c;
}

struct testclient *bi_session(struct bi_env *e)
{
    struct testclient *c = bi_connect(e);
    CHECK_EQ(testclient_hello(c, &e->bad_id, e->bad_seq, NULL), 0);
    return c;
}

static void enrol(struct bi_env *e, const char *name, struct testclient_identity *id)
{
    char code[64];
    CHECK_EQ(testserver_enroll(e->ts, "collector", "GAO", 0, code, sizeof code), 0);
    struct testclient *c = bi_connect(e);
    CHECK_EQ(testclient_enroll(c, code, name, id, NULL), 0);
    testclient_close(c);
}

void bi_setup(struct bi_env *e, struct testserver *ts)
{
    memset(e, 0, sizeof *e);
    e->ts = ts;
    enrol(e, "healthy", &e->healthy_id);
    enrol(e, "attacker", &e->bad_id);
    e->healthy = bi_connect(e);
    CHECK_EQ(testclient_hello(e->healthy, &e->healthy_id, 0, NULL), 0);

    uint8_t body[256];
    size_t n = bi_report(body, sizeof body, "GAO", "Ansongo");
    bi_new_id(e->rec);
    Fieldsync__Change ch;
    bi_change(&ch, ++e->healthy_seq, e->rec, "GAO", bi_hlc_now(), body, n);
    CHECK_EQ(bi_push_one(e->healthy, &ch, NULL), FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    e->snap_len = bi_pull_record(e->healthy, e->rec, e->snap, sizeof e->snap);
    CHECK(e->snap_len > 0);
}

void bi_check(struct bi_env *e)
{
    CHECK_EQ(testclient_ping(e->healthy), 0);
    /* A new record still goes through and is acknowledged as applied. */
    uint8_t body[256], id[16];
    size_t n = bi_report(body, sizeof body, "GAO", "Bourem");
    bi_new_id(id);
    Fieldsync__Change ch;
    bi_change(&ch, ++e->healthy_seq, id, "GAO", bi_hlc_now(), body, n);
    CHECK_EQ(bi_push_one(e->healthy, &ch, NULL), FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
    /* What was acknowledged before is exactly what the server still serves. */
    uint8_t now[sizeof e->snap];
    size_t len = bi_pull_record(e->healthy, e->rec, now, sizeof now);
    CHECK_EQ(len, e->snap_len);
    CHECK_MEM(now, e->snap, len);
    e->checks++;
}

void bi_teardown(struct bi_env *e)
{
    testclient_close(e->healthy);
    e->healthy = NULL;
}

int bi_send_payload(struct testclient *c, const uint8_t *p, size_t n)
{
    /* One write: header and payload in one TLS record when they fit. */
    uint8_t *buf = malloc(FRAME_HEADER_LEN + n);
    CHECK(buf != NULL);
    frame_put_len(buf, (uint32_t)n);
    if (n)
        memcpy(buf + FRAME_HEADER_LEN, p, n);
    int rc = testclient_send_raw(c, buf, FRAME_HEADER_LEN + n);
    free(buf);
    return rc;
}

void bi_expect_error(struct testclient *c, int code, int closing)
{
    Fieldsync__Frame *r = NULL;
    int rc = testclient_recv(c, &r);
    if (rc != 0)
        fprintf(stderr, "recv: %s (expected Error %s)\n", error_name(rc), error_name(code));
    CHECK_EQ(rc, 0);
    CHECK_EQ(r->msg_case, FIELDSYNC__FRAME__MSG_ERROR);
    if (error_from_wire((int)r->error->code) != code)
        fprintf(stderr, "got %s: %s\n", error_name(error_from_wire((int)r->error->code)),
                r->error->message);
    CHECK_EQ(error_from_wire((int)r->error->code), code);
    CHECK(r->error->message && r->error->message[0]);
    CHECK_EQ(!!r->error->closing, !!closing);
    fieldsync__frame__free_unpacked(r, NULL);
    if (closing)
        CHECK_EQ(testclient_wait_closed(c), 0);
}

static long status_kb(int pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && sscanf(line + klen, " %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

long bi_rss_kb(int pid)
{
    return status_kb(pid, "VmRSS:");
}

long bi_hwm_kb(int pid)
{
    return status_kb(pid, "VmHWM:");
}
