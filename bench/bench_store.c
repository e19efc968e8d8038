/*
 * bench_store: ingest rate of the server's record store, beside raw SQLite on the same disk,
 * same synchronous setting, same report bodies, measured in the same run.
 *
 *   new reports, group commit:   batches of 16 changes through the writer thread, 128 jobs
 *                                queued at once (the writer commits whatever is waiting: about
 *                                1,000 reports per transaction, as many as raw); each batch
 *                                prepared (store_prepare_batch) on the submitting thread
 *                                before it is queued, as the server's loop thread does
 *   new reports, txn per batch:  store_apply_batch of 16 changes, one transaction each
 *   raw insert:                  INSERT (UUIDv7 id, body), 1,000 rows per transaction
 *   one-field edits, group:      FieldOp on the summary of existing reports in random order
 *                                (a permutation: every report once), via the writer
 *   raw upsert:                  what a naive server would do for the same edits: INSERT .. ON
 *                                CONFLICT(id) DO UPDATE SET body=excluded.body of a full ~1 KB
 *                                body (another report's) for the same random existing ids,
 *                                1,000 per txn
 *
 * Each case also prints its CPU time per report (process CPU, all threads; through the writer
 * also that of the writer's own threads: the writer and its checkpoint thread): on a shared,
 * noisy machine the wall-clock rates move a lot between runs, CPU per report much less.
 *
 * Usage: bench_store [reports] [dir] (default 16384, a temporary directory under the current
 * one, i.e. on the build's disk; FS_BENCH_SYNC=normal|full, default full).
 */
#include "collections.h"
#include "consultation.pb-c.h"
#include "error.h"
#include "hlc.h"
#include "session.h"
#include "store.h"
#include "store_records.h"
#include "uuid.h"
#include "writer.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define BATCH     16
#define IN_FLIGHT 128

static enum store_sync sync_mode = STORE_SYNC_FULL;

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, error_name(rc));
    exit(1);
}

/* ---- realistic reports ---- */

static const char *regions[] = {"GAO", "TOMBOUCTOU", "MENAKA"};
static const char *communes[] = {"Gao",     "Soni Aly Ber", "Anchawadi",
                                 "Bourem",  "Ansongo",      "Tombouctou",
                                 "Goundam", "Ménaka",       "Anderamboukane"};
static const char *summaries[] = {
    "Les participants ont signalé une recrudescence des vols de bétail sur les axes menant aux "
    "marchés hebdomadaires. Les femmes expriment la peur de se déplacer vers les points d'eau "
    "après la tombée de la nuit et demandent des patrouilles conjointes régulières.",
    "Le comité communal a examiné la situation sécuritaire depuis la dernière session : deux "
    "incidents impliquant des engins explosifs improvisés sur la route nationale, la fermeture "
    "de trois écoles et le retour partiel des déplacés internes dans les quartiers périphériques.",
    "Les jeunes évoquent le manque d'emplois et les tentatives de recrutement par des groupes "
    "armés. Les chefs traditionnels proposent un cadre de dialogue intercommunautaire avec les "
    "éleveurs transhumants avant le début de la saison des pluies.",
};
static const char *concerns[] = {
    "Vols de bétail la nuit près des campements",
    "Barrages illégaux et taxation sur la route de Bourem",
    "Engins explosifs signalés près du pont",
    "Violences basées sur le genre non signalées par crainte de représailles",
    "Tensions entre agriculteurs et éleveurs autour des couloirs de transhumance",
};

static void fill_id(uint8_t *id, uint64_t n)
{
    uint8_t rnd[10];
    for (int i = 0; i < 10; i++)
        rnd[i] = (uint8_t)(n >> (8 * (i % 8))) ^ (uint8_t)(i * 37);
    uuid_v7_from(id, wall_ms(), rnd);
}

/* One ~1 KB report, packed into a malloc'd buffer. */
static size_t make_report(uint8_t **out, uint64_t n)
{
    Fieldsync__ConsultationReport r = FIELDSYNC__CONSULTATION_REPORT__INIT;
    Fieldsync__Date d = FIELDSYNC__DATE__INIT;
    Fieldsync__GeoPoint g = FIELDSYNC__GEO_POINT__INIT;
    Fieldsync__ParticipantCounts pc = FIELDSYNC__PARTICIPANT_COUNTS__INIT;
    Fieldsync__Concern cs[3], *csp[3];
    Fieldsync__Recommendation rec = FIELDSYNC__RECOMMENDATION__INIT, *recp = &rec;
    uint8_t ids[4][16];
    Fieldsync__StakeholderGroup st[3] = {
        FIELDSYNC__STAKEHOLDER_GROUP__STAKEHOLDER_LOCAL_AUTHORITIES,
        FIELDSYNC__STAKEHOLDER_GROUP__STAKEHOLDER_WOMENS_ASSOCIATIONS,
        FIELDSYNC__STAKEHOLDER_GROUP__STAKEHOLDER_YOUTH_ASSOCIATIONS};
    r.region = (char *)regions[n % 3];
    r.cercle = (char *)communes[(n / 3) % 9];
    r.commune = (char *)communes[n % 9];
    r.locality = "Quartier Château, fraction Kel Essouk";
    g.lat = 16.27 + (double)(n % 100) / 1000;
    g.lon = -0.04 + (double)(n % 77) / 1000;
    g.accuracy_m = 12.5f;
    r.location = &g;
    r.type = FIELDSYNC__CONSULTATION_TYPE__CONSULTATION_COMMUNAL_CCS;
    d.year = 2026;
    d.month = 1 + (uint32_t)(n % 12);
    d.day = 1 + (uint32_t)(n % 28);
    r.date = &d;
    r.start_time = "09:30";
    r.end_time = "12:45";
    r.facilitator = "Aminata Maïga";
    r.organisation = "Comité communal de sécurité";
    pc.women_18_35 = 12;
    pc.women_over_35 = 9;
    pc.men_18_35 = 14;
    pc.men_over_35 = 11;
    r.participants = &pc;
    r.n_stakeholders = 3;
    r.stakeholders = st;
    for (int i = 0; i < 3; i++) {
        fieldsync__concern__init(&cs[i]);
        fill_id(ids[i], n * 4 + (uint64_t)i);
        cs[i].id.data = ids[i];
        cs[i].id.len = 16;
        cs[i].category = (Fieldsync__ConcernCategory)(1 + (n + (uint64_t)i) % 12);
        cs[i].description = (char *)concerns[(n + (uint64_t)i) % 5];
        cs[i].severity = 1 + (uint32_t)((n + (uint64_t)i) % 5);
        cs[i].trend = FIELDSYNC__TREND__TREND_WORSENING;
        csp[i] = &cs[i];
    }
    r.n_concerns = 3;
    r.concerns = csp;
    fill_id(ids[3], n * 4 + 3);
    rec.id.data = ids[3];
    rec.id.len = 16;
    rec.text = "Organiser des patrouilles mixtes FDS et comités de vigilance les jours de marché";
    rec.addressed_to = "Gendarmerie de Gao";
    rec.pillar = FIELDSYNC__PVE_PILLAR__PVE_PROTECTION;
    r.n_recommendations = 1;
    r.recommendations = &recp;
    Fieldsync__FollowUpAction fu = FIELDSYNC__FOLLOW_UP_ACTION__INIT, *fup = &fu;
    Fieldsync__Date due = FIELDSYNC__DATE__INIT;
    uint8_t fu_id[16];
    fill_id(fu_id, n * 4 + 5);
    fu.id.data = fu_id;
    fu.id.len = 16;
    fu.description = "Réunion de suivi avec la mairie et les associations de femmes";
    fu.responsible = "Secrétaire permanent du comité";
    due.year = 2026;
    due.month = 12;
    due.day = 15;
    fu.due = &due;
    fu.status = FIELDSYNC__ACTION_STATUS__ACTION_PLANNED;
    r.n_follow_ups = 1;
    r.follow_ups = &fup;
    r.trust_in_security_forces = FIELDSYNC__TRUST_LEVEL__TRUST_MEDIUM;
    r.summary = (char *)summaries[n % 3];
    r.language = "fr";
    r.clock_offset_ms = -1200;
    size_t len = fieldsync__consultation_report__get_packed_size(&r);
    *out = malloc(len);
    if (!*out)
        die("malloc", FIELDSYNC_ENOMEM);
    fieldsync__consultation_report__pack(&r, *out);
    return len;
}

/* ---- the data set ---- */

struct dataset {
    size_t n;
    uint8_t (*ids)[16];
    uint8_t **bodies;
    size_t *lens;
    Fieldsync__Change *changes;
    Fieldsync__Change **ptrs;
    /* edits */
    Fieldsync__Change *edits;
    Fieldsync__Change **edit_ptrs;
    Fieldsync__FieldOp *ops;
    Fieldsync__FieldOp **op_ptrs;
    uint8_t (*edit_vals)[96];
    size_t *perm; /* edit order: the k-th edit goes to report perm[k] */
    size_t body_bytes;
};

/* CPU seconds of the last timed case (process CPU: all threads), and of the writer's threads
 * (the writer and its checkpoint thread) for the cases through the writer (0 otherwise). */
static double last_cpu, last_writer_cpu;

/* CPU seconds used so far by the threads of this process other than the main one (the
 * writer's: they start and stop with each case), from /proc (schedstat: ns on a CPU). */
static double other_threads_cpu_s(void)
{
    double sum = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strtol(e->d_name, NULL, 10) == (long)getpid())
            continue;
        char p[300];
        snprintf(p, sizeof p, "/proc/self/task/%.32s/schedstat", e->d_name);
        FILE *f = fopen(p, "r");
        unsigned long long ns = 0;
        if (f) {
            if (fscanf(f, "%llu", &ns) == 1)
                sum += (double)ns / 1e9;
            fclose(f);
        }
    }
    closedir(d);
    return sum;
}

static struct session sess;

static void dataset_build(struct dataset *d, size_t n, uint64_t hlc0)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->ids = calloc(n, sizeof *d->ids);
    d->bodies = calloc(n, sizeof *d->bodies);
    d->lens = calloc(n, sizeof *d->lens);
    d->changes = calloc(n, sizeof *d->changes);
    d->ptrs = calloc(n, sizeof *d->ptrs);
    d->edits = calloc(n, sizeof *d->edits);
    d->edit_ptrs = calloc(n, sizeof *d->edit_ptrs);
    d->ops = calloc(n, sizeof *d->ops);
    d->op_ptrs = calloc(n, sizeof *d->op_ptrs);
    d->edit_vals = calloc(n, sizeof *d->edit_vals);
    d->perm = calloc(n, sizeof *d->perm);
    if (!d->edit_vals || !d->perm)
        die("calloc", FIELDSYNC_ENOMEM);
    /* Random edit order (fixed seed: the same ids in the same order for store and raw). */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++)
        d->perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t j = (size_t)(x % (i + 1)), t = d->perm[i];
        d->perm[i] = d->perm[j];
        d->perm[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        fill_id(d->ids[i], i * 7919 + 1);
        d->lens[i] = make_report(&d->bodies[i], i);
        d->body_bytes += d->lens[i];
        Fieldsync__Change *c = &d->changes[i];
        fieldsync__change__init(c);
        c->device_seq = i + 1;
        c->record_id.data = d->ids[i];
        c->record_id.len = 16;
        c->collection = COLLECTION_CONSULTATION_REPORT;
        c->region = (char *)regions[i % 3];
        c->hlc = hlc0 + i;
        c->body.data = d->bodies[i];
        c->body.len = d->lens[i];
        d->ptrs[i] = c;

        /* An edit of the summary (field 18), knowing the creation's clock. */
        Fieldsync__FieldOp *op = &d->ops[i];
        fieldsync__field_op__init(op);
        op->field = 18;
        int len = snprintf((char *)d->edit_vals[i] + 3, 90,
                           "Résumé révisé n°%zu après relecture en comité.", i);
        d->edit_vals[i][0] = 0x92; /* field 18, wire type 2 */
        d->edit_vals[i][1] = 0x01;
        d->edit_vals[i][2] = (uint8_t)len;
        op->value.data = d->edit_vals[i];
        op->value.len = (size_t)len + 3;
        op->base_hlc = hlc0 + i;
        op->base_device.data = sess.device_id;
        op->base_device.len = 16;
        d->op_ptrs[i] = op;
    }
    /* The k-th edit (device_seq in sending order) edits report perm[k]. */
    for (size_t k = 0; k < n; k++) {
        size_t i = d->perm[k];
        Fieldsync__Change *e = &d->edits[k];
        fieldsync__change__init(e);
        e->device_seq = n + k + 1;
        e->record_id = d->changes[i].record_id;
        e->collection = d->changes[i].collection;
        e->region = d->changes[i].region;
        e->hlc = hlc0 + n + k;
        e->n_ops = 1;
        e->ops = &d->op_ptrs[i];
        d->edit_ptrs[k] = e;
    }
}

static void dataset_free(struct dataset *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->bodies[i]);
    free(d->ids);
    free(d->bodies);
    free(d->lens);
    free(d->changes);
    free(d->ptrs);
    free(d->edits);
    free(d->edit_ptrs);
    free(d->ops);
    free(d->op_ptrs);
    free(d->edit_vals);
    free(d->perm);
}

/* ---- through the writer (group commit) ---- */

struct wbench {
    uv_loop_t loop;
    struct writer *w;
    Fieldsync__Change **changes;
    size_t n, next, done;
    uint64_t now_ms;
};

struct wjob {
    struct writer_job wj;
    struct wbench *b;
    Fieldsync__Change **changes;
    size_t n;
    struct store_apply_ctx ctx;
    struct store_prep prep;
    struct store_change_result res[BATCH];
};

static int wjob_run(struct store *st, struct writer_job *wj)
{
    struct wjob *j = (struct wjob *)wj;
    int rc = store_apply_batch(st, &j->ctx, j->changes, j->n, j->res, NULL);
    for (size_t i = 0; rc == 0 && i < j->n; i++)
        if (j->res[i].status != FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED) {
            fprintf(stderr, "change not applied: %s %s\n", error_name(j->res[i].code),
                    j->res[i].message);
            rc = FIELDSYNC_EINTERNAL;
        }
    return rc;
}

static void wsubmit(struct wbench *b);

static void wjob_done(struct writer_job *wj)
{
    struct wjob *j = (struct wjob *)wj;
    if (wj->rc < 0)
        die("writer job", wj->rc);
    j->b->done += j->n;
    struct wbench *b = j->b;
    store_prep_close(&j->prep);
    free(j);
    wsubmit(b);
}

static void wsubmit(struct wbench *b)
{
    if (b->next >= b->n)
        return;
    struct wjob *j = calloc(1, sizeof *j);
    if (!j)
        die("calloc", FIELDSYNC_ENOMEM);
    j->wj.run = wjob_run;
    j->wj.done = wjob_done;
    j->b = b;
    j->changes = b->changes + b->next;
    j->n = b->n - b->next < BATCH ? b->n - b->next : BATCH;
    b->next += j->n;
    j->ctx = (struct store_apply_ctx){
        .sess = &sess, .now_ms = b->now_ms, .max_clock_ahead_ms = 600000, .max_ops = 512};
    store_prep_init(&j->prep);
    if (store_prepare_batch(&j->ctx, j->changes, j->n, &j->prep) == 0)
        j->ctx.prep = &j->prep;
    int rc = writer_submit(b->w, &j->wj);
    if (rc < 0)
        die("writer_submit", rc);
}

/* Apply changes[0..n) through the writer, IN_FLIGHT jobs queued; returns seconds. */
static double through_writer(const char *path, Fieldsync__Change **changes, size_t n,
                             struct writer_stats *stats)
{
    struct wbench b;
    memset(&b, 0, sizeof b);
    b.changes = changes;
    b.n = n;
    b.now_ms = wall_ms();
    struct store_opts o;
    store_opts_init(&o);
    o.synchronous = sync_mode;
    char err[256];
    uv_loop_init(&b.loop);
    int rc = writer_start(&b.w, &b.loop, path, &o, err, sizeof err);
    if (rc < 0)
        die(err, rc);
    double c0 = cpu_s(), t0 = now_s();
    for (int i = 0; i < IN_FLIGHT; i++)
        wsubmit(&b);
    while (b.done < n)
        uv_run(&b.loop, UV_RUN_ONCE);
    double t = now_s() - t0;
    last_cpu = cpu_s() - c0;
    last_writer_cpu = other_threads_cpu_s(); /* the writer's threads started with this case */
    writer_get_stats(b.w, stats);
    writer_stop(b.w);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    return t;
}

/* One transaction per batch, store driven directly. */
static double txn_per_batch(const char *path, Fieldsync__Change **changes, size_t n)
{
    struct store *st;
    struct store_opts o;
    store_opts_init(&o);
    o.synchronous = sync_mode;
    char err[256];
    int rc = store_open(&st, path, 1, &o, err, sizeof err);
    if (rc < 0)
        die(err, rc);
    struct store_change_result res[BATCH];
    struct store_apply_ctx ctx = {
        .sess = &sess, .now_ms = wall_ms(), .max_clock_ahead_ms = 600000, .max_ops = 512};
    double c0 = cpu_s(), t0 = now_s();
    for (size_t i = 0; i < n; i += BATCH) {
        size_t k = n - i < BATCH ? n - i : BATCH;
        if ((rc = store_begin(st)) < 0 ||
            (rc = store_apply_batch(st, &ctx, changes + i, k, res, NULL)) < 0 ||
            (rc = store_commit(st)) < 0)
            die(store_errmsg(st), rc);
    }
    double t = now_s() - t0;
    last_cpu = cpu_s() - c0;
    store_close(st);
    return t;
}

/* ---- raw SQLite ---- */

static double raw_sqlite(const char *path, const struct dataset *d, int upsert)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("raw open", FIELDSYNC_ESTORE);
    const char *sync_sql[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                              "PRAGMA synchronous=FULL"};
    sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    sqlite3_exec(db, sync_sql[sync_mode], NULL, NULL, NULL);
    sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS raw(id BLOB PRIMARY KEY, body BLOB NOT NULL)",
                 NULL, NULL, NULL);
    sqlite3_stmt *s;
    const char *sql = upsert ? "INSERT INTO raw(id, body) VALUES(?1, ?2) ON CONFLICT(id) DO "
                               "UPDATE SET body=excluded.body"
                             : "INSERT INTO raw(id, body) VALUES(?1, ?2)";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        die("raw prepare", FIELDSYNC_ESTORE);
    double c0 = cpu_s(), t0 = now_s();
    for (size_t i = 0; i < d->n; i += 1000) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (size_t k = i; k < d->n && k < i + 1000; k++) {
            /* insert: report k; upsert: the k-th edit's report gets another report's body */
            size_t id = upsert ? d->perm[k] : k, body = upsert ? (id + 1) % d->n : k;
            sqlite3_bind_blob(s, 1, d->ids[id], 16, SQLITE_STATIC);
            sqlite3_bind_blob(s, 2, d->bodies[body], (int)d->lens[body], SQLITE_STATIC);
            if (sqlite3_step(s) != SQLITE_DONE)
                die(sqlite3_errmsg(db), FIELDSYNC_ESTORE);
            sqlite3_reset(s);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            die("raw commit", FIELDSYNC_ESTORE);
    }
    double t = now_s() - t0;
    last_cpu = cpu_s() - c0;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return t;
}

/* ---- pull: a page from the start vs a page from a recent cursor ---- */

static int count_cb(void *user, const struct store_record_view *v)
{
    (void)v;
    (*(size_t *)user)++;
    return 0;
}

/* Seconds for one 500-record page after cursor (best of 5), read-only store. */
static double pull_page(const char *path, uint64_t cursor, size_t *got)
{
    struct store *st;
    char err[256];
    int rc = store_open(&st, path, 0, NULL, err, sizeof err);
    if (rc < 0)
        die(err, rc);
    struct session admin = sess;
    struct store_pull_req req = {.sess = &admin, .cursor = cursor, .limit = 500};
    double best = 1e9;
    for (int i = 0; i < 5; i++) {
        uint64_t next;
        int more;
        *got = 0;
        double t0 = now_s();
        if ((rc = store_begin(st)) < 0 ||
            (rc = store_pull(st, &req, count_cb, NULL, got, &next, &more)) < 0 ||
            (rc = store_commit(st)) < 0)
            die(store_errmsg(st), rc);
        double t = now_s() - t0;
        if (t < best)
            best = t;
    }
    store_close(st);
    return best;
}

static void rm_db(const char *path)
{
    char p[600];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 16384;
    if (n < BATCH)
        n = BATCH;
    const char *env = getenv("FS_BENCH_SYNC");
    if (env && strcmp(env, "normal") == 0)
        sync_mode = STORE_SYNC_NORMAL;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bench_store.XXXXXX", argc > 2 ? argv[2] : ".");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    sess.role = SESSION_ROLE_ADMIN;
    memset(sess.device_id, 0x5a, 16);
    struct dataset d;
    dataset_build(&d, n, hlc_make(wall_ms() - 3600 * 1000, 0));
    char p_group[600], p_txn[600], p_raw[600];
    snprintf(p_group, sizeof p_group, "%s/group.db", dir);
    snprintf(p_txn, sizeof p_txn, "%s/txn.db", dir);
    snprintf(p_raw, sizeof p_raw, "%s/raw.db", dir);

    size_t n_txn = n / 4 < BATCH ? BATCH : n / 4; /* fsync per 16 reports: fewer of them */
    struct writer_stats ws_new, ws_edit;
    double t_raw = raw_sqlite(p_raw, &d, 0), c_raw = last_cpu;
    double t_group = through_writer(p_group, d.ptrs, n, &ws_new), c_group = last_cpu;
    double w_group = last_writer_cpu;
    double t_txn = txn_per_batch(p_txn, d.ptrs, n_txn), c_txn = last_cpu;
    double t_raw_up = raw_sqlite(p_raw, &d, 1), c_raw_up = last_cpu;
    double t_edit = through_writer(p_group, d.edit_ptrs, n, &ws_edit), c_edit = last_cpu;
    double w_edit = last_writer_cpu;

    size_t got_start, got_recent;
    double t_pull0 = pull_page(p_group, 0, &got_start);
    double t_pull_recent = pull_page(p_group, 2 * n - 100, &got_recent);
    double r_raw = (double)n / t_raw, r_group = (double)n / t_group;
    double r_txn = (double)n_txn / t_txn;
    double r_raw_up = (double)n / t_raw_up, r_edit = (double)n / t_edit;
    double us = 1e6 / (double)n;
    printf("bench_store: %zu reports, %.0f bytes average, synchronous=%s, dir %s\n", n,
           (double)d.body_bytes / (double)n, sync_mode == STORE_SYNC_FULL ? "FULL" : "NORMAL", dir);
    printf("%-42s %10s %7s %8s %s\n", "case", "reports/s", "vs raw", "cpu us/r", "notes");
    printf("%-42s %10.0f %7s %8.1f %s\n", "raw SQLite insert (1000 rows/txn)", r_raw, "1.00",
           c_raw * us, "id BLOB PK + body");
    printf("%-42s %10.0f %7.2f %8.1f %llu txns, avg %.0f reports/txn, max %llu; writer threads "
           "%.1f cpu us/r\n",
           "store: new reports, group commit (writer)", r_group, r_group / r_raw, c_group * us,
           (unsigned long long)ws_new.groups, (double)ws_new.jobs * BATCH / (double)ws_new.groups,
           (unsigned long long)ws_new.max_group * BATCH, w_group * us);
    printf("%-42s %10.0f %7.2f %8.1f %zu reports, 16 per txn\n",
           "store: new reports, txn per batch", r_txn, r_txn / r_raw, c_txn * 1e6 / (double)n_txn,
           n_txn);
    printf("%-42s %10.0f %7s %8.1f %s\n", "raw SQLite upsert of body (1000 rows/txn)", r_raw_up,
           "1.00", c_raw_up * us, "random existing ids, ~1 KB body");
    printf("%-42s %10.0f %7.2f %8.1f %llu txns, avg %.0f reports/txn; writer threads %.1f cpu "
           "us/r\n",
           "store: one-field edits, group commit", r_edit, r_edit / r_raw_up, c_edit * us,
           (unsigned long long)ws_edit.groups,
           (double)ws_edit.jobs * BATCH / (double)ws_edit.groups, w_edit * us);
    printf("pull, one page of <= 500 from cursor 0: %zu records in %.2f ms; from a cursor 100 "
           "changes back (feed of %zu): %zu records in %.3f ms\n",
           got_start, t_pull0 * 1e3, 2 * n, got_recent, t_pull_recent * 1e3);
    printf("target: new reports with group commit >= 50%% of raw insert: %s (%.0f%%)\n",
           r_group >= 0.5 * r_raw ? "MET" : "NOT MET", 100 * r_group / r_raw);
    printf("target: one-field edits with group commit >= 50%% of raw upsert: %s (%.0f%%)\n",
           r_edit >= 0.5 * r_raw_up ? "MET" : "NOT MET", 100 * r_edit / r_raw_up);

    if (!getenv("FS_BENCH_KEEP"))
        rm_db(p_group);
    rm_db(p_txn);
    rm_db(p_raw);
    rmdir(dir);
    dataset_free(&d);
    return 0;
}
