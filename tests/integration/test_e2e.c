/*
 * test_e2e: end-to-end sync over the real parts: the real fieldsync-server (child process,
 * 127.0.0.1 port 0, real TLS, real SQLite file), devices enrolled through the real admin CLI,
 * each device a real libfieldsync store, encrypted with its own key. Covers the concurrent-edit
 * scenario (one conflict kept, the added concern merged, the resolution reaching everyone), scopes,
 * and wrong clocks.
 */
#include "check.h"
#include "consultation.pb-c.h"
#include "fieldsync.h"
#include "support/testserver.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define F_SUMMARY  18
#define F_CONCERNS 14
#define YEAR_MS    (365ll * 24 * 3600 * 1000)

static struct testserver ts;
static char tmpdir[256];

struct dev {
    fieldsync_client *c;
    int64_t skew_ms; /* added to the real clock: a phone with a wrong date */
    uint8_t key[32]; /* its store key */
};

static uint64_t skewed_now(void *user)
{
    struct dev *d = user;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)((int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000 + d->skew_ms);
}

static void dev_open(struct dev *d, const char *name, int64_t skew_ms)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.db", tmpdir, name);
    fieldsync_open_opts o;
    fieldsync_open_opts_init(&o);
    d->skew_ms = skew_ms;
    o.now_ms = skewed_now;
    o.clock_user = d;
    o.io_timeout_ms = 10000;
    /* Every device's store is encrypted, each with its own key (as from a phone's keystore). */
    for (size_t i = 0; i < sizeof d->key; i++)
        d->key[i] = (uint8_t)(name[i % strlen(name)] * 31u + i);
    o.store_key = d->key;
    int rc = fieldsync_open(path, &o, &d->c);
    if (rc != 0)
        fprintf(stderr, "open %s: %s\n", path, fieldsync_errmsg(d->c));
    CHECK_EQ(rc, 0);
}

static void dev_enroll(struct dev *d, const char *name, const char *role, const char *regions,
                       int own_only)
{
    char code[64];
    CHECK_EQ(testserver_enroll(&ts, role, regions, own_only, code, sizeof code), 0);
    int rc = fieldsync_enroll(d->c, "localhost", (uint16_t)ts.port, ts.ca_path, code, name);
    if (rc != 0)
        fprintf(stderr, "enroll %s: %s: %s\n", name, fieldsync_err_name(rc),
                fieldsync_errmsg(d->c));
    CHECK_EQ(rc, 0);
}

static fieldsync_sync_stats dev_sync(struct dev *d)
{
    fieldsync_sync_stats st;
    fieldsync_sync_opts o;
    fieldsync_sync_opts_init(&o);
    o.stats = &st;
    int rc = fieldsync_sync(d->c, &o);
    if (rc != 0)
        fprintf(stderr, "sync: %s: %s\n", fieldsync_err_name(rc), fieldsync_errmsg(d->c));
    CHECK_EQ(rc, 0);
    return st;
}

/* The record's body, decoded (caller frees with fieldsync__consultation_report__free_unpacked),
 * and its raw bytes copied into raw (if not NULL). NULL if the device doesn't have it. */
static Fieldsync__ConsultationReport *dev_report(struct dev *d, const uint8_t id[16], uint8_t *raw,
                                                 size_t *raw_len)
{
    fieldsync_record *rec = NULL;
    int rc = fieldsync_get(d->c, id, &rec);
    if (rc == FIELDSYNC_ENOTFOUND)
        return NULL;
    CHECK_EQ(rc, 0);
    Fieldsync__ConsultationReport *r =
        fieldsync__consultation_report__unpack(NULL, rec->body_len, rec->body);
    CHECK(r != NULL);
    if (raw) {
        CHECK(rec->body_len <= *raw_len);
        memcpy(raw, rec->body, rec->body_len);
        *raw_len = rec->body_len;
    }
    fieldsync_free(d->c, rec);
    return r;
}

static int contains(const uint8_t *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return 1;
    return 0;
}

static void add_concern(struct dev *d, const uint8_t id[16], const char *text)
{
    uint8_t eid[16];
    CHECK_EQ(fieldsync_new_id(d->c, eid), 0);
    Fieldsync__Concern c = FIELDSYNC__CONCERN__INIT;
    c.id.data = eid;
    c.id.len = 16;
    c.category = FIELDSYNC__CONCERN_CATEGORY__CONCERN_BANDITRY_THEFT;
    c.description = (char *)text;
    c.severity = 4;
    c.trend = FIELDSYNC__TREND__TREND_WORSENING;
    uint8_t buf[512];
    size_t n = fieldsync__concern__pack(&c, buf);
    CHECK_EQ(fieldsync_element_put(d->c, id, F_CONCERNS, eid, buf, n), 0);
}

struct conflicts {
    int n;
    fieldsync_conflict first;
    uint8_t winner[256], loser[256];
};

static int collect_conflict(const fieldsync_conflict *cf, void *user)
{
    struct conflicts *cs = user;
    if (cs->n++ == 0) {
        cs->first = *cf;
        CHECK(cf->winner_len <= sizeof cs->winner && cf->loser_len <= sizeof cs->loser);
        memcpy(cs->winner, cf->winner_value, cf->winner_len);
        memcpy(cs->loser, cf->loser_value, cf->loser_len);
        cs->first.winner_value = cs->winner;
        cs->first.loser_value = cs->loser;
        cs->first.element_id = NULL;
    }
    return 0;
}

static int count_records(const fieldsync_record *rec, void *user)
{
    (void)rec;
    (*(int *)user)++;
    return 0;
}

static int dev_count(struct dev *d)
{
    int n = 0;
    CHECK_EQ(fieldsync_list(d->c, NULL, count_records, &n), 0);
    return n;
}

struct rejections {
    int n;
    int code;
};

static int collect_rejection(const fieldsync_rejection *r, void *user)
{
    struct rejections *rs = user;
    rs->n++;
    rs->code = r->code;
    return 0;
}

/* Two GAO collectors edit the same report offline: both change the summary, the second also
 * adds a concern. After syncing, both and a coordinator hold byte-identical records with the
 * concern; exactly one conflict (the summary) keeps both values; the coordinator's resolution
 * reaches both collectors. */
static void test_e2e_concurrent_edits_converge_with_one_conflict(void)
{
    struct dev a, b, coord;
    dev_open(&a, "amina", 0);
    dev_open(&b, "ibrahim", 0);
    dev_open(&coord, "coord", 0);
    dev_enroll(&a, "amina", "collector", "GAO", 0);
    dev_enroll(&b, "ibrahim", "collector", "GAO", 0);
    dev_enroll(&coord, "coord-gao", "coordinator", "GAO", 0);

    uint8_t id[16];
    CHECK_EQ(fieldsync_create(a.c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", id), 0);
    CHECK_EQ(fieldsync_set_string(a.c, id, 3, "Ansongo"), 0);
    CHECK_EQ(fieldsync_set_string(a.c, id, F_SUMMARY, "Dialogue communautaire à Ansongo"), 0);
    fieldsync_sync_stats st = dev_sync(&a);
    CHECK_U64(st.pushed, >=, 1);
    dev_sync(&b);
    Fieldsync__ConsultationReport *r = dev_report(&b, id, NULL, NULL);
    CHECK(r != NULL);
    CHECK_STR(r->summary, "Dialogue communautaire à Ansongo");
    fieldsync__consultation_report__free_unpacked(r, NULL);

    /* Offline, both edit the summary; B adds a concern too. */
    CHECK_EQ(fieldsync_set_string(a.c, id, F_SUMMARY, "Résumé d'Amina : vols de bétail"), 0);
    /* Edits within one millisecond on two devices have no order (their HLCs differ only by
     * counters); B's edit must be the later one in time for "the later edit wins". */
    usleep(5000);
    CHECK_EQ(fieldsync_set_string(b.c, id, F_SUMMARY, "Résumé d'Ibrahim : axe Gao-Ansongo"), 0);
    add_concern(&b, id, "Vols de bétail sur l'axe Gao-Ansongo");
    dev_sync(&a);
    dev_sync(&b);
    dev_sync(&a);
    dev_sync(&coord);

    uint8_t ra[8192], rb[8192], rc[8192];
    size_t la = sizeof ra, lb = sizeof rb, lc = sizeof rc;
    Fieldsync__ConsultationReport *pa = dev_report(&a, id, ra, &la);
    Fieldsync__ConsultationReport *pb = dev_report(&b, id, rb, &lb);
    Fieldsync__ConsultationReport *pc = dev_report(&coord, id, rc, &lc);
    CHECK(pa && pb && pc);
    CHECK_EQ(la, lb);
    CHECK_EQ(la, lc);
    CHECK_MEM(ra, rb, la);
    CHECK_MEM(ra, rc, la);
    CHECK_EQ(pc->n_concerns, 1);
    CHECK_STR(pc->concerns[0]->description, "Vols de bétail sur l'axe Gao-Ansongo");
    CHECK_STR(pc->commune, "Ansongo");
    /* The later edit (B's) wins; A's value is kept in the conflict. */
    CHECK_STR(pc->summary, "Résumé d'Ibrahim : axe Gao-Ansongo");
    fieldsync__consultation_report__free_unpacked(pa, NULL);
    fieldsync__consultation_report__free_unpacked(pb, NULL);
    fieldsync__consultation_report__free_unpacked(pc, NULL);

    struct conflicts cs = {0};
    CHECK_EQ(fieldsync_conflicts(coord.c, collect_conflict, &cs), 0);
    CHECK_EQ(cs.n, 1);
    CHECK_EQ(cs.first.field, F_SUMMARY);
    CHECK_EQ(cs.first.state, FIELDSYNC_CONFLICT_OPEN);
    CHECK_MEM(cs.first.record_id, id, 16);
    /* Both values are there: each is tag(2 bytes) + len(1) + text. */
    const char *va = "Résumé d'Amina : vols de bétail", *vb = "Résumé d'Ibrahim : axe Gao-Ansongo";
    CHECK(contains(cs.winner, cs.first.winner_len, vb));
    CHECK(contains(cs.loser, cs.first.loser_len, va));

    /* The operator sees it too, with both texts (fieldsync-server conflicts). */
    static char out[16384];
    const char *list_open[] = {"conflicts", "--open", "--json", NULL};
    CHECK_EQ(testserver_cli(&ts, list_open, out, sizeof out), 0);
    CHECK(strstr(out, "\"state\":\"open\"") != NULL);
    CHECK(strstr(out, "\"field\":18") != NULL);
    CHECK(strstr(out, va) != NULL);
    CHECK(strstr(out, vb) != NULL);

    /* The coordinator keeps Amina's value; the resolution reaches both collectors. */
    CHECK_EQ(fieldsync_resolve(coord.c, cs.first.id, cs.loser, cs.first.loser_len), 0);
    dev_sync(&coord);
    dev_sync(&a);
    dev_sync(&b);
    la = sizeof ra, lb = sizeof rb, lc = sizeof rc;
    pa = dev_report(&a, id, ra, &la);
    pb = dev_report(&b, id, rb, &lb);
    pc = dev_report(&coord, id, rc, &lc);
    CHECK_STR(pa->summary, va);
    CHECK_STR(pb->summary, va);
    CHECK_STR(pc->summary, va);
    CHECK_EQ(la, lb);
    CHECK_MEM(ra, rb, la);
    CHECK_MEM(ra, rc, la);
    fieldsync__consultation_report__free_unpacked(pa, NULL);
    fieldsync__consultation_report__free_unpacked(pb, NULL);
    fieldsync__consultation_report__free_unpacked(pc, NULL);
    struct conflicts ca = {0}, cb = {0};
    CHECK_EQ(fieldsync_conflicts(a.c, collect_conflict, &ca), 0);
    CHECK_EQ(fieldsync_conflicts(b.c, collect_conflict, &cb), 0);
    CHECK_EQ(ca.n, 1);
    CHECK_EQ(cb.n, 1);
    CHECK_EQ(ca.first.state, FIELDSYNC_CONFLICT_RESOLVED);
    CHECK_EQ(cb.first.state, FIELDSYNC_CONFLICT_RESOLVED);
    /* No open conflict left; the resolved one stays in the operator's audit list. */
    CHECK_EQ(testserver_cli(&ts, list_open, out, sizeof out), 0);
    CHECK_STR(out, "[]\n");
    const char *list_all[] = {"conflicts", "--json", NULL};
    CHECK_EQ(testserver_cli(&ts, list_all, out, sizeof out), 0);
    CHECK(strstr(out, "\"state\":\"resolved\"") != NULL);
    CHECK(strstr(out, "\"resolved_by\":\"") != NULL);

    fieldsync_close(a.c);
    fieldsync_close(b.c);
    fieldsync_close(coord.c);
}

/* A GAO collector pushing a MENAKA record gets a scope error; an own-only collector cannot
 * pull another collector's records; a TOMBOUCTOU coordinator sees nothing of GAO. */
static void test_e2e_scopes(void)
{
    struct dev gao, own, other, tomb;
    dev_open(&gao, "gao", 0);
    dev_open(&own, "own", 0);
    dev_open(&other, "other", 0);
    dev_open(&tomb, "tomb", 0);
    dev_enroll(&gao, "gao", "collector", "GAO", 0);
    dev_enroll(&own, "own", "collector", "GAO", 1);
    dev_enroll(&other, "other", "collector", "GAO", 0);
    dev_enroll(&tomb, "tomb", "coordinator", "TOMBOUCTOU", 0);

    uint8_t menaka[16], mine[16], theirs[16];
    CHECK_EQ(fieldsync_create(gao.c, FIELDSYNC_COLLECTION_CONSULTATION, "MENAKA", menaka), 0);
    fieldsync_sync_stats st = dev_sync(&gao);
    CHECK_U64(st.rejected, ==, 1);
    struct rejections rs = {0};
    CHECK_EQ(fieldsync_rejected(gao.c, collect_rejection, &rs), 0);
    CHECK_EQ(rs.n, 1);
    CHECK_EQ(rs.code, FIELDSYNC_ESCOPE);

    CHECK_EQ(fieldsync_create(own.c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", mine), 0);
    CHECK_EQ(fieldsync_create(other.c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", theirs), 0);
    CHECK_EQ(fieldsync_set_string(other.c, theirs, F_SUMMARY, "Rapport d'un autre"), 0);
    dev_sync(&other);
    dev_sync(&own);
    CHECK(dev_report(&own, theirs, NULL, NULL) == NULL);
    Fieldsync__ConsultationReport *r = dev_report(&own, mine, NULL, NULL);
    CHECK(r != NULL);
    fieldsync__consultation_report__free_unpacked(r, NULL);
    /* The plain GAO collector sees both. */
    dev_sync(&gao);
    r = dev_report(&gao, mine, NULL, NULL);
    CHECK(r != NULL);
    fieldsync__consultation_report__free_unpacked(r, NULL);

    fieldsync_sync_stats ts_stats = dev_sync(&tomb);
    CHECK_U64(ts_stats.pulled, ==, 0);
    CHECK_EQ(dev_count(&tomb), 0);

    fieldsync_close(gao.c);
    fieldsync_close(own.c);
    fieldsync_close(other.c);
    fieldsync_close(tomb.c);
}

/* One phone a year ahead, one a year behind. Edits still end up ordered as they were made;
 * the one ahead is told by the server and corrects itself. */
static void test_e2e_wrong_clocks(void)
{
    struct dev ahead, behind, coord;
    dev_open(&ahead, "ahead", YEAR_MS);
    dev_open(&behind, "behind", -YEAR_MS);
    dev_open(&coord, "coord2", 0);
    dev_enroll(&ahead, "ahead", "collector", "GAO", 0);
    dev_enroll(&behind, "behind", "collector", "GAO", 0);
    dev_enroll(&coord, "coord2", "coordinator", "GAO", 0);

    /* Made offline before any sync: stamped a year ahead. */
    uint8_t id[16];
    CHECK_EQ(fieldsync_create(ahead.c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", id), 0);
    CHECK_EQ(fieldsync_set_string(ahead.c, id, F_SUMMARY, "première version (avance)"), 0);
    fieldsync_sync_stats st = dev_sync(&ahead);
    CHECK_U64(st.pushed, >=, 1); /* re-stamped and accepted after the server said so */
    CHECK_U64(st.rejected, ==, 0);
    fieldsync_status s;
    CHECK_EQ(fieldsync_status_get(ahead.c, &s), 0);
    CHECK_INT(s.clock_offset_ms, <, -YEAR_MS + 60000);
    CHECK_INT(s.clock_offset_ms, >, -YEAR_MS - 60000);
    /* A report entered from now on records how far the phone's clock is off (its dates are
     * stored as entered); the one made before the phone knew does not. */
    uint8_t later[16];
    CHECK_EQ(fieldsync_create(ahead.c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", later), 0);
    Fieldsync__ConsultationReport *lr = dev_report(&ahead, later, NULL, NULL);
    CHECK(lr != NULL);
    CHECK_INT(lr->clock_offset_ms, >, YEAR_MS - 60000);
    CHECK_INT(lr->clock_offset_ms, <, YEAR_MS + 60000);
    fieldsync__consultation_report__free_unpacked(lr, NULL);
    lr = dev_report(&ahead, id, NULL, NULL);
    CHECK_EQ(lr->clock_offset_ms, 0);
    fieldsync__consultation_report__free_unpacked(lr, NULL);

    /* Then the phone a year behind edits the same field, later in real time. */
    dev_sync(&behind);
    usleep(20000);
    CHECK_EQ(fieldsync_set_string(behind.c, id, F_SUMMARY, "deuxième version (retard)"), 0);
    dev_sync(&behind);
    /* Then the one ahead again. */
    dev_sync(&ahead);
    usleep(20000);
    CHECK_EQ(fieldsync_set_string(ahead.c, id, 3, "Bourem"), 0);
    CHECK_EQ(fieldsync_set_string(ahead.c, id, F_SUMMARY, "troisième version (avance)"), 0);
    dev_sync(&ahead);
    dev_sync(&behind);
    dev_sync(&coord);
    Fieldsync__ConsultationReport *r = dev_report(&coord, id, NULL, NULL);
    CHECK(r != NULL);
    CHECK_STR(r->summary, "troisième version (avance)");
    CHECK_STR(r->commune, "Bourem");
    fieldsync__consultation_report__free_unpacked(r, NULL);
    r = dev_report(&behind, id, NULL, NULL);
    CHECK_STR(r->summary, "troisième version (avance)");
    fieldsync__consultation_report__free_unpacked(r, NULL);
    /* No clock from the phone ahead reached the server from its future. */
    fieldsync_status cs;
    CHECK_EQ(fieldsync_status_get(coord.c, &cs), 0);
    CHECK_U64(cs.hlc >> 16, <, skewed_now(&coord) + 600000);

    fieldsync_close(ahead.c);
    fieldsync_close(behind.c);
    fieldsync_close(coord.c);
}

/* A phone 8 minutes ahead (inside the 10-minute bound) delivers edits; the server is killed
 * and restarted. Its clock starts again from the greatest clock it accepted, so a device
 * enrolled after the restart starts above those edits; yet a device's clock offset comes
 * from the server's wall clock, not from that HLC running ahead. Runs last: it moves the
 * server to a new port. */
static void test_e2e_server_clock_survives_restart(void)
{
    struct dev early, fresh;
    dev_open(&early, "early", 8 * 60000);
    dev_enroll(&early, "early", "collector", "GAO", 0);
    uint8_t id[16];
    CHECK_EQ(fieldsync_create(early.c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", id), 0);
    CHECK_EQ(fieldsync_set_string(early.c, id, F_SUMMARY, "saisi par un téléphone en avance"), 0);
    fieldsync_sync_stats st = dev_sync(&early);
    CHECK_U64(st.pushed, ==, 1);
    CHECK_U64(st.rejected, ==, 0);
    fieldsync_status es;
    CHECK_EQ(fieldsync_status_get(early.c, &es), 0);

    CHECK_EQ(testserver_restart(&ts, SIGKILL), 0);
    dev_open(&fresh, "fresh", 0);
    dev_enroll(&fresh, "fresh", "collector", "GAO", 0); /* nothing pulled yet */
    fieldsync_status fs;
    CHECK_EQ(fieldsync_status_get(fresh.c, &fs), 0);
    CHECK_U64(fs.hlc, >, es.hlc - (es.hlc & 0xffff)); /* at or past the early phone's minute */
    dev_sync(&fresh);
    CHECK_EQ(fieldsync_status_get(fresh.c, &fs), 0);
    CHECK_INT(fs.clock_offset_ms, <, 60000);
    CHECK_INT(fs.clock_offset_ms, >, -60000);
    fieldsync_close(early.c);
    fieldsync_close(fresh.c);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fs-e2e-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    CHECK_EQ(testserver_start(&ts, NULL), 0);
    RUN(test_e2e_concurrent_edits_converge_with_one_conflict);
    RUN(test_e2e_scopes);
    RUN(test_e2e_wrong_clocks);
    RUN(test_e2e_server_clock_survives_restart);
    CHECK_EQ(testserver_stop(&ts), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
