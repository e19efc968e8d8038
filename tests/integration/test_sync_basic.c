/*
 * test_sync_basic: libfieldsync against the real fieldsync-server (child process on
 * 127.0.0.1, port 0, dev certificates, enrolment codes from the real admin CLI), through the
 * public API only: enrol, create offline, sync, pull from a second device, TLS session
 * resumption, a cancelled sync that the next one finishes without duplicates, a conflict seen
 * by a coordinator and resolved.
 */
#include "check.h"
#include "consultation.pb-c.h"
#include "fieldsync.h"
#include "support/testserver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct testserver ts;
static int ts_running;
static char dir[256];

/* A failed CHECK exits: never leave the server behind. */
static void cleanup(void)
{
    if (ts_running) {
        ts_running = 0;
        testserver_stop(&ts);
    }
}

/* A store key for the devices whose store is encrypted. */
static const uint8_t phone_key[32] = {
    0x5e, 0x11, 0xa7, 0x03, 0x9c, 0x42, 0xd8, 0x6b, 0x21, 0xf0, 0x7e, 0x95, 0x3a, 0xc4, 0x18, 0x6d,
    0x87, 0x2b, 0xe9, 0x50, 0x0c, 0xbd, 0x64, 0x3f, 0xa1, 0x76, 0x2e, 0xd3, 0x98, 0x05, 0x4a, 0xcf};

/* A new store at dir/name.db (encrypted with key unless NULL), enrolled. */
static fieldsync_client *device_key(const char *name, const char *role, const char *regions,
                                    const uint8_t *key)
{
    char path[400], code[64];
    fieldsync_client *c = NULL;
    fieldsync_open_opts o;
    fieldsync_open_opts_init(&o);
    o.store_key = key;
    snprintf(path, sizeof path, "%s/%s.db", dir, name);
    CHECK_EQ(fieldsync_open(path, &o, &c), 0);
    CHECK_EQ(testserver_enroll(&ts, role, regions, 0, code, sizeof code), 0);
    int rc = fieldsync_enroll(c, "localhost", (uint16_t)ts.port, ts.ca_path, code, name);
    if (rc)
        fprintf(stderr, "enroll: %s: %s\n", fieldsync_err_name(rc), fieldsync_errmsg(c));
    CHECK_EQ(rc, 0);
    /* A code works once (checked once: the server rate-limits enrolment attempts). */
    static int checked;
    if (checked++)
        return c;
    fieldsync_client *again = NULL;
    snprintf(path, sizeof path, "%s/%s-again.db", dir, name);
    CHECK_EQ(fieldsync_open(path, NULL, &again), 0);
    CHECK_EQ(fieldsync_enroll(again, "localhost", (uint16_t)ts.port, ts.ca_path, code, NULL),
             FIELDSYNC_EENROLL);
    fieldsync_close(again);
    return c;
}

static fieldsync_client *device(const char *name, const char *role, const char *regions)
{
    return device_key(name, role, regions, NULL);
}

static int sync_ok(fieldsync_client *c, fieldsync_sync_stats *st)
{
    fieldsync_sync_opts o;
    fieldsync_sync_opts_init(&o);
    o.stats = st;
    int rc = fieldsync_sync(c, &o);
    if (rc)
        fprintf(stderr, "sync: %s: %s\n", fieldsync_err_name(rc), fieldsync_errmsg(c));
    return rc;
}

static Fieldsync__ConsultationReport *report(fieldsync_client *c, const uint8_t id[16])
{
    fieldsync_record *r = NULL;
    CHECK_EQ(fieldsync_get(c, id, &r), 0);
    Fieldsync__ConsultationReport *m =
        fieldsync__consultation_report__unpack(NULL, r->body_len, r->body);
    CHECK(m != NULL);
    fieldsync_free(c, r);
    return m;
}

struct cancel_after {
    int acks;
    int seen_push;
};

static int cancel_cb(const fieldsync_progress *p, void *user)
{
    struct cancel_after *k = user;
    if (p->phase == FIELDSYNC_PHASE_PUSH && p->done > 0)
        return ++k->seen_push >= k->acks;
    return 0;
}

static int first_conflict(const fieldsync_conflict *cf, void *user)
{
    fieldsync_conflict *out = user;
    if (out->id == 0 && cf->state == FIELDSYNC_CONFLICT_OPEN) {
        *out = *cf;
        out->winner_value = out->loser_value = NULL; /* views end with the callback */
        out->element_id = NULL;
    }
    return 0;
}

static uint8_t loser_copy[256];
static size_t loser_len;

static int grab_loser(const fieldsync_conflict *cf, void *user)
{
    uint64_t id = *(uint64_t *)user;
    if (cf->id == id && cf->loser_len <= sizeof loser_copy) {
        memcpy(loser_copy, cf->loser_value, cf->loser_len);
        loser_len = cf->loser_len;
    }
    return 0;
}

static int count_state(const fieldsync_conflict *cf, void *user)
{
    int *n = user;
    n[cf->state]++;
    return 0;
}

static void test_client_sync_push_pull_conflict(void)
{
    fieldsync_sync_stats st;
    fieldsync_status s;
    uint8_t id[16], e1[16];

    fieldsync_client *a = device("phone-a", "collector", "GAO");
    fieldsync_client *b = device("coord-b", "coordinator", "GAO");
    CHECK_EQ(fieldsync_status_get(a, &s), 0);
    CHECK_EQ(s.enrolled, 1);
    CHECK_EQ(s.role, FIELDSYNC_ROLE_COLLECTOR);
    CHECK_STR(s.regions, "GAO");
    CHECK_EQ(s.server_port, ts.port);

    /* Offline on A: a report with a concern. */
    CHECK_EQ(fieldsync_create(a, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", id), 0);
    CHECK_EQ(fieldsync_set_string(a, id, 3, "Ansongo"), 0);
    CHECK_EQ(fieldsync_set_string(a, id, 18, "Première version"), 0);
    CHECK_EQ(fieldsync_new_id(a, e1), 0);
    Fieldsync__Concern k = FIELDSYNC__CONCERN__INIT;
    uint8_t buf[256];
    k.description = (char *)"Engins explosifs sur l'axe Gao–Ansongo";
    k.category = FIELDSYNC__CONCERN_CATEGORY__CONCERN_IMPROVISED_EXPLOSIVES;
    size_t n = fieldsync__concern__pack(&k, buf);
    CHECK_EQ(fieldsync_element_put(a, id, 14, e1, buf, n), 0);

    CHECK_EQ(sync_ok(a, &st), 0);
    CHECK_EQ(st.pushed, 1); /* a new record: one change with its body */
    CHECK_EQ(st.rejected, 0);
    CHECK_EQ(fieldsync_status_get(a, &s), 0);
    CHECK_EQ(s.pending_changes, 0);
    CHECK(s.last_sync_ms > 0);
    CHECK_EQ(s.device_seq, 1);

    /* B pulls it: same bytes as A holds. */
    CHECK_EQ(sync_ok(b, &st), 0);
    CHECK(st.pulled >= 1);
    fieldsync_record *ra = NULL, *rb = NULL;
    CHECK_EQ(fieldsync_get(a, id, &ra), 0);
    CHECK_EQ(fieldsync_get(b, id, &rb), 0);
    CHECK_EQ(rb->body_len, ra->body_len);
    CHECK_MEM(rb->body, ra->body, ra->body_len);
    CHECK_STR(rb->commune, "Ansongo");
    fieldsync_free(a, ra);
    fieldsync_free(b, rb);
    CHECK_EQ(fieldsync_status_get(b, &s), 0);
    CHECK(s.cursor > 0);

    /* A again: the TLS session is resumed, nothing to push, nothing new applied twice. */
    CHECK_EQ(sync_ok(a, &st), 0);
    CHECK_EQ(st.pushed, 0);
    CHECK_EQ(st.resumed, 1);

    /* Both edit the summary concurrently: A first, then B (whose base is the old clock). */
    CHECK_EQ(fieldsync_set_string(a, id, 18, "Version de A"), 0);
    CHECK_EQ(fieldsync_set_string(b, id, 18, "Version de B"), 0);
    CHECK_EQ(sync_ok(a, &st), 0);
    CHECK_EQ(st.pushed, 1);
    CHECK_EQ(sync_ok(b, &st), 0);
    CHECK_EQ(st.pushed, 1);
    CHECK(st.conflicts >= 1);
    fieldsync_conflict cf;
    memset(&cf, 0, sizeof cf);
    CHECK_EQ(fieldsync_conflicts(b, first_conflict, &cf), 0);
    CHECK(cf.id != 0);
    CHECK_MEM(cf.record_id, id, 16);
    CHECK_EQ(cf.field, 18);
    CHECK(cf.winner_hlc > 0 && cf.loser_hlc > 0);

    /* The coordinator takes the losing value. */
    CHECK_EQ(fieldsync_conflicts(b, grab_loser, &cf.id), 0);
    CHECK(loser_len > 0);
    CHECK_EQ(fieldsync_resolve(b, cf.id, loser_copy, loser_len), 0);
    CHECK_EQ(fieldsync_resolve(b, cf.id, loser_copy, loser_len), FIELDSYNC_ESTATE);
    CHECK_EQ(sync_ok(b, &st), 0);
    CHECK_EQ(st.pushed, 1);
    int states[4] = {0};
    CHECK_EQ(fieldsync_conflicts(b, count_state, states), 0);
    CHECK_EQ(states[FIELDSYNC_CONFLICT_OPEN], 0);
    CHECK(states[FIELDSYNC_CONFLICT_RESOLVED] >= 1);

    /* A converges on the resolved value. */
    CHECK_EQ(sync_ok(a, &st), 0);
    Fieldsync__ConsultationReport *ma = report(a, id), *mb = report(b, id);
    CHECK_STR(ma->summary, mb->summary);
    fieldsync__consultation_report__free_unpacked(ma, NULL);
    fieldsync__consultation_report__free_unpacked(mb, NULL);

    fieldsync_close(a);
    fieldsync_close(b);
}

/* A number from the server's `devices --json` line of device `name` ("key":N). */
static long long server_device_field(const char *name, const char *key)
{
    static char out[65536];
    const char *args[] = {"devices", "--json", NULL};
    CHECK_EQ(testserver_cli(&ts, args, out, sizeof out), 0);
    char pat[128];
    snprintf(pat, sizeof pat, "\"name\":\"%s\"", name);
    char *p = strstr(out, pat);
    CHECK(p != NULL);
    char *end = strchr(p, '}');
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *v = strstr(p, pat);
    CHECK(v != NULL && v < end);
    return strtoll(v + strlen(pat), NULL, 10);
}

static void test_client_sync_cancel_then_resume(void)
{
    fieldsync_sync_stats st;
    fieldsync_sync_opts o;
    struct cancel_after k = {.acks = 1};
    fieldsync_client *a = device("phone-c", "collector", "MENAKA");
    enum { N = 300 };
    uint8_t id[16];

    for (int i = 0; i < N; i++) {
        char s[64];
        CHECK_EQ(fieldsync_create(a, 1, "MENAKA", id), 0);
        snprintf(s, sizeof s, "Consultation n°%d à Ménaka", i);
        CHECK_EQ(fieldsync_set_string(a, id, 18, s), 0);
    }
    fieldsync_sync_opts_init(&o);
    o.progress = cancel_cb;
    o.user = &k;
    o.stats = &st;
    CHECK_EQ(fieldsync_sync(a, &o), FIELDSYNC_ECANCELED);
    uint64_t first = st.pushed;
    CHECK(first >= 1);
    CHECK(first < N);
    fieldsync_status s;
    CHECK_EQ(fieldsync_status_get(a, &s), 0);
    CHECK_EQ(s.pending_records, N - first); /* numbered, in flight or not sent: still pending */
    /* The server knows how much the device holds: the batches carry the device's high-water
     * mark (its edits were numbered after Hello, so Hello's mark said 0). */
    CHECK_EQ(server_device_field("phone-c", "reported_hw"), N);
    /* The rest goes on the next sync; nothing is applied twice. */
    CHECK_EQ(sync_ok(a, &st), 0);
    CHECK_EQ(first + st.pushed + st.duplicates, N);
    CHECK_EQ(fieldsync_status_get(a, &s), 0);
    CHECK_EQ(s.pending_changes, 0);
    CHECK_EQ(s.device_seq, N);

    /* Out of scope: a MENAKA collector writing in GAO is rejected and set aside. */
    CHECK_EQ(fieldsync_create(a, 1, "GAO", id), 0);
    CHECK_EQ(sync_ok(a, &st), 0);
    CHECK_EQ(st.rejected, 1);
    CHECK_EQ(fieldsync_status_get(a, &s), 0);
    CHECK_EQ(s.rejected_changes, 1);
    CHECK_EQ(s.pending_changes, 0);
    CHECK_EQ(sync_ok(a, &st), 0); /* not resent */
    CHECK_EQ(st.pushed + st.rejected, 0);
    fieldsync_close(a);
}

static void test_client_sync_errors(void)
{
    fieldsync_client *c = NULL;
    char path[400], code[64];
    snprintf(path, sizeof path, "%s/bad.db", dir);
    CHECK_EQ(fieldsync_open(path, NULL, &c), 0);
    CHECK_EQ(fieldsync_enroll(c, "localhost", (uint16_t)ts.port, ts.ca_path, "AAAA-BBBB-CCCC-DDDD",
                              NULL),
             FIELDSYNC_EENROLL);
    CHECK(strstr(fieldsync_errmsg(c), "server") != NULL);
    CHECK_EQ(testserver_enroll(&ts, "collector", "GAO", 0, code, sizeof code), 0);
    /* Nothing listening: ECONNECT. */
    CHECK_EQ(fieldsync_enroll(c, "127.0.0.1", 1, ts.ca_path, code, NULL), FIELDSYNC_ECONNECT);
    /* By IP literal (the dev certificate names 127.0.0.1 too). */
    CHECK_EQ(fieldsync_enroll(c, "127.0.0.1", (uint16_t)ts.port, ts.ca_path, code, NULL), 0);
    fieldsync_close(c);

    /* A server reached at an address its certificate does not name (127.0.0.2; the dev
     * certificate names localhost and 127.0.0.1) is refused, though its CA is trusted. */
    struct testserver other;
    const char *listen2[] = {"--listen", "127.0.0.2:0", NULL};
    CHECK_EQ(testserver_start(&other, listen2), 0);
    CHECK_EQ(testserver_enroll(&other, "collector", "GAO", 0, code, sizeof code), 0);
    snprintf(path, sizeof path, "%s/bad2.db", dir);
    CHECK_EQ(fieldsync_open(path, NULL, &c), 0);
    CHECK_EQ(fieldsync_enroll(c, "127.0.0.2", (uint16_t)other.port, other.ca_path, code, NULL),
             FIELDSYNC_ETLS);
    CHECK(strstr(fieldsync_errmsg(c), "127.0.0.2") != NULL);
    fieldsync_close(c);
    CHECK_EQ(testserver_stop(&other), 0);
}

static uint64_t ahead_clock(void *user)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u + *(uint64_t *)user;
}

static int count_records(const fieldsync_record *r, void *user)
{
    (void)r;
    (*(uint64_t *)user)++;
    return 0;
}

/* Edits made before enrolment, by a phone whose clock is two days ahead: they are adopted at
 * enrolment, rejected once by the server as too far ahead, re-stamped at server time and
 * applied; the clock offset is learned. */
static void test_client_sync_pre_enrol_clock_ahead(void)
{
    uint64_t skew = 2ull * 24 * 3600 * 1000;
    char path[400], code[64];
    fieldsync_open_opts o;
    fieldsync_client *c = NULL;
    fieldsync_sync_stats st;
    fieldsync_status s;
    uint8_t id[16];

    fieldsync_open_opts_init(&o);
    o.now_ms = ahead_clock;
    o.clock_user = &skew;
    snprintf(path, sizeof path, "%s/skewed.db", dir);
    CHECK_EQ(fieldsync_open(path, &o, &c), 0);
    CHECK_EQ(fieldsync_create(c, 1, "TOMBOUCTOU", id), 0);
    CHECK_EQ(fieldsync_set_string(c, id, 18, "Saisi avant l'enrôlement"), 0);
    CHECK_EQ(testserver_enroll(&ts, "collector", "TOMBOUCTOU", 0, code, sizeof code), 0);
    CHECK_EQ(fieldsync_enroll(c, "localhost", (uint16_t)ts.port, ts.ca_path, code, "skewed"), 0);
    CHECK_EQ(sync_ok(c, &st), 0);
    CHECK_EQ(st.rejected, 0);
    CHECK_EQ(st.pushed, 1);
    CHECK_EQ(fieldsync_status_get(c, &s), 0);
    CHECK(s.clock_offset_ms < -(int64_t)skew + 60000);
    CHECK(s.clock_offset_ms > -(int64_t)skew - 60000);
    CHECK_EQ(s.pending_changes, 0);
    CHECK_EQ(s.rejected_changes, 0);

    /* Another device sees it, stamped at (corrected) server time. */
    fieldsync_client *d = device("coord-tbt", "coordinator", "TOMBOUCTOU");
    CHECK_EQ(sync_ok(d, &st), 0);
    fieldsync_record *r = NULL;
    CHECK_EQ(fieldsync_get(d, id, &r), 0);
    uint64_t now = ahead_clock(&(uint64_t){0});
    CHECK((r->updated_hlc >> 16) < now + 10 * 60 * 1000);
    fieldsync_free(d, r);
    Fieldsync__ConsultationReport *m = report(d, id);
    CHECK_STR(m->summary, "Saisi avant l'enrôlement");
    fieldsync__consultation_report__free_unpacked(m, NULL);
    fieldsync_close(d);
    fieldsync_close(c);
}

/* A sync process killed at arbitrary points (SIGKILL, mid-frame or between acks): the next
 * sync finishes, and the server holds each record exactly once. */
static void test_client_sync_killed(void)
{
    static const int delays_ms[] = {2, 10, 25, 60};
    enum { PER_ROUND = 150 };
    char path[400];
    fieldsync_client *a = device("phone-k", "collector", "KIDAL");
    fieldsync_close(a);
    snprintf(path, sizeof path, "%s/phone-k.db", dir);
    uint64_t created = 0;
    for (size_t round = 0; round < sizeof delays_ms / sizeof delays_ms[0]; round++) {
        uint8_t id[16];
        CHECK_EQ(fieldsync_open(path, NULL, &a), 0);
        for (int i = 0; i < PER_ROUND; i++) {
            CHECK_EQ(fieldsync_create(a, 1, "KIDAL", id), 0);
            CHECK_EQ(fieldsync_set_string(a, id, 3, "Tessalit"), 0);
            created++;
        }
        fieldsync_close(a);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            fieldsync_client *k = NULL;
            if (fieldsync_open(path, NULL, &k) == 0)
                fieldsync_sync(k, NULL);
            _exit(0);
        }
        usleep((useconds_t)delays_ms[round] * 1000);
        kill(pid, SIGKILL);
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
    }
    fieldsync_sync_stats st;
    CHECK_EQ(fieldsync_open(path, NULL, &a), 0);
    CHECK_EQ(sync_ok(a, &st), 0);
    fieldsync_status s;
    CHECK_EQ(fieldsync_status_get(a, &s), 0);
    CHECK_EQ(s.pending_changes, 0);
    CHECK_EQ(s.rejected_changes, 0);
    fieldsync_close(a);

    fieldsync_client *d = device("coord-kidal", "coordinator", "KIDAL");
    CHECK_EQ(sync_ok(d, &st), 0);
    uint64_t n = 0;
    fieldsync_filter f;
    fieldsync_filter_init(&f);
    f.region = "KIDAL";
    CHECK_EQ(fieldsync_list(d, &f, count_records, &n), 0);
    CHECK_EQ(n, created);
    fieldsync_close(d);
}

static void *interrupt_later(void *arg)
{
    usleep(200 * 1000);
    fieldsync_interrupt(arg);
    return NULL;
}

/* A peer that accepts TCP but never speaks TLS: the connect timeout fires, and another
 * thread's fieldsync_interrupt stops a hanging call. */
static void test_client_sync_timeout_and_interrupt(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(lfd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(listen(lfd, 4), 0);
    CHECK_EQ(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    uint16_t port = ntohs(sa.sin_port);

    char path[400];
    fieldsync_open_opts o;
    fieldsync_client *c = NULL;
    fieldsync_open_opts_init(&o);
    o.connect_timeout_ms = 300;
    snprintf(path, sizeof path, "%s/timeout.db", dir);
    CHECK_EQ(fieldsync_open(path, &o, &c), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ(fieldsync_enroll(c, "127.0.0.1", port, ts.ca_path, "AAAA-BBBB-CCCC-DDDD", NULL),
             FIELDSYNC_ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms >= 250 && ms < 3000);
    fieldsync_close(c);

    o.connect_timeout_ms = 20000;
    CHECK_EQ(fieldsync_open(path, &o, &c), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, interrupt_later, c), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ(fieldsync_enroll(c, "127.0.0.1", port, ts.ca_path, "AAAA-BBBB-CCCC-DDDD", NULL),
             FIELDSYNC_ECANCELED);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_EQ(pthread_join(th, NULL), 0);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms < 2000);
    fieldsync_close(c);
    close(lfd);
}

struct failing {
    long n, fail_at, live;
};

static void *f_malloc(void *user, size_t n)
{
    struct failing *k = user;
    if (k->fail_at && ++k->n >= k->fail_at)
        return NULL;
    void *p = malloc(n);
    k->live += p != NULL;
    return p;
}

static void *f_realloc(void *user, void *p, size_t n)
{
    struct failing *k = user;
    if (!p)
        return f_malloc(user, n);
    if (k->fail_at && ++k->n >= k->fail_at)
        return NULL;
    return realloc(p, n);
}

static void f_free(void *user, void *p)
{
    struct failing *k = user;
    if (p) {
        k->live--;
        free(p);
    }
}

/* Every allocation of an edit + sync fails in turn: each call works or says ENOMEM, nothing
 * leaks, and a final sync with memory delivers everything exactly once. */
static void test_client_sync_enomem(void)
{
    char path[400];
    /* An encrypted store: sealing and opening values must also fail cleanly. */
    fieldsync_client *c = device_key("phone-m", "collector", "GAO", phone_key);
    fieldsync_close(c);
    snprintf(path, sizeof path, "%s/phone-m.db", dir);
    int created = 0, saw_enomem = 0;
    for (long i = 1; i <= 400; i++) {
        struct failing k = {.fail_at = i};
        fieldsync_allocator al = {f_malloc, f_realloc, f_free, &k};
        fieldsync_open_opts o;
        uint8_t id[16];
        fieldsync_open_opts_init(&o);
        o.allocator = &al;
        o.store_key = phone_key;
        int rc = fieldsync_open(path, &o, &c);
        if (rc == 0) {
            rc = fieldsync_create(c, 1, "GAO", id);
            created += rc == 0;
            if (rc == 0)
                rc = fieldsync_sync(c, NULL);
        }
        if (rc != 0 && rc != FIELDSYNC_ENOMEM)
            fprintf(stderr, "fail_at %ld: %s: %s\n", i, fieldsync_err_name(rc),
                    fieldsync_errmsg(c));
        CHECK(rc == 0 || rc == FIELDSYNC_ENOMEM);
        saw_enomem |= rc == FIELDSYNC_ENOMEM;
        fieldsync_close(c);
        CHECK_EQ(k.live, 0);
        if (rc == 0 && k.n < k.fail_at)
            break; /* a whole run without reaching the failing allocation: done */
    }
    CHECK(saw_enomem);
    fieldsync_sync_stats st;
    CHECK_EQ(fieldsync_open(path, NULL, &c), FIELDSYNC_EAUTH); /* the key is needed */
    fieldsync_close(c);
    fieldsync_open_opts ko;
    fieldsync_open_opts_init(&ko);
    ko.store_key = phone_key;
    CHECK_EQ(fieldsync_open(path, &ko, &c), 0);
    CHECK_EQ(sync_ok(c, &st), 0);
    fieldsync_status s;
    CHECK_EQ(fieldsync_status_get(c, &s), 0);
    CHECK_EQ(s.pending_changes, 0);
    CHECK_EQ(s.rejected_changes, 0);
    fieldsync_close(c);
    fieldsync_client *d = device("coord-m", "coordinator", "GAO");
    CHECK_EQ(sync_ok(d, &st), 0);
    fieldsync_close(d);
    fprintf(stderr, "   %d records created under failing allocations, all delivered\n", created);
}

struct sync_thread {
    char path[400];
    int rc;
};

static void *sync_in_thread(void *arg)
{
    struct sync_thread *t = arg;
    fieldsync_client *w = NULL;
    t->rc = fieldsync_open(t->path, NULL, &w);
    if (t->rc == 0)
        t->rc = fieldsync_sync(w, NULL);
    fieldsync_close(w);
    return NULL;
}

/* The UI edits through one handle while a worker syncs through another on the same file. */
static void test_client_sync_two_handles(void)
{
    struct sync_thread t;
    fieldsync_client *ui = device("phone-t", "collector", "SEGOU");
    uint8_t id[16];
    int created = 0;
    for (int i = 0; i < 300; i++, created++)
        CHECK_EQ(fieldsync_create(ui, 1, "SEGOU", id), 0);
    snprintf(t.path, sizeof t.path, "%s/phone-t.db", dir);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, sync_in_thread, &t), 0);
    for (int i = 0; i < 100; i++, created++) {
        CHECK_EQ(fieldsync_create(ui, 1, "SEGOU", id), 0);
        CHECK_EQ(fieldsync_set_string(ui, id, 3, "Markala"), 0);
        CHECK_EQ(fieldsync_set_string(ui, id, 3, "San"), 0);
    }
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(t.rc, 0);
    fieldsync_sync_stats st;
    CHECK_EQ(sync_ok(ui, &st), 0);
    fieldsync_status s;
    CHECK_EQ(fieldsync_status_get(ui, &s), 0);
    CHECK_EQ(s.pending_changes, 0);
    fieldsync_close(ui);

    fieldsync_client *d = device("coord-t", "coordinator", "SEGOU");
    CHECK_EQ(sync_ok(d, &st), 0);
    uint64_t n = 0, san = 0;
    fieldsync_filter f;
    fieldsync_filter_init(&f);
    f.region = "SEGOU";
    CHECK_EQ(fieldsync_count(d, &f, &n), 0);
    CHECK_EQ(n, created);
    f.commune = "San";
    CHECK_EQ(fieldsync_count(d, &f, &san), 0);
    CHECK_EQ(san, 100);
    fieldsync_close(d);
}

static int count_conflicts(const fieldsync_conflict *cf, void *user)
{
    (void)cf;
    (*(int *)user)++;
    return 0;
}

/* A new record's fields, edited at different times offline, go as one body at one clock; an
 * edit made before any pull must still carry the server's clock as its base: no conflict. */
static void test_client_sync_no_spurious_conflict(void)
{
    fieldsync_client *c = device("phone-s", "collector", "MOPTI");
    fieldsync_sync_stats st;
    fieldsync_sync_opts o;
    uint8_t id[16];
    CHECK_EQ(fieldsync_create(c, 1, "MOPTI", id), 0);
    CHECK_EQ(fieldsync_set_string(c, id, 3, "Djenné"), 0);
    usleep(5000);
    CHECK_EQ(fieldsync_set_string(c, id, 18, "Première"), 0);
    fieldsync_sync_opts_init(&o);
    o.no_pull = 1;
    o.stats = &st;
    CHECK_EQ(fieldsync_sync(c, &o), 0);
    CHECK_EQ(st.pushed, 1);
    CHECK_EQ(fieldsync_set_string(c, id, 3, "Mopti"), 0);
    CHECK_EQ(fieldsync_set_string(c, id, 18, "Deuxième"), 0);
    CHECK_EQ(sync_ok(c, &st), 0);
    CHECK_EQ(st.pushed, 1);
    int n = 0;
    CHECK_EQ(fieldsync_conflicts(c, count_conflicts, &n), 0);
    CHECK_EQ(n, 0);
    Fieldsync__ConsultationReport *m = report(c, id);
    CHECK_STR(m->commune, "Mopti");
    CHECK_STR(m->summary, "Deuxième");
    fieldsync__consultation_report__free_unpacked(m, NULL);
    fieldsync_close(c);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/fs-client-sync-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    if (testserver_start(&ts, NULL) != 0) {
        fprintf(stderr, "cannot start the server (FS_SERVER_BIN=%s)\n",
                getenv("FS_SERVER_BIN") ? getenv("FS_SERVER_BIN") : "unset");
        return 1;
    }
    ts_running = 1;
    atexit(cleanup);
    RUN(test_client_sync_push_pull_conflict);
    RUN(test_client_sync_cancel_then_resume);
    RUN(test_client_sync_errors);
    RUN(test_client_sync_pre_enrol_clock_ahead);
    RUN(test_client_sync_killed);
    RUN(test_client_sync_timeout_and_interrupt);
    RUN(test_client_sync_enomem);
    RUN(test_client_sync_two_handles);
    RUN(test_client_sync_no_spurious_conflict);
    ts_running = 0;
    CHECK_EQ(testserver_stop(&ts), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
