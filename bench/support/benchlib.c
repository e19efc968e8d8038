/*
 * benchlib: shared benchmark helpers (see benchlib.h). Benchmarks only: prints and exits on
 * fatal errors, reads /proc, forks the server through testserver.
 */
#include "benchlib.h"

#include "consultation.pb-c.h"
#include "uuid.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double benchlib_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t benchlib_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void benchlib_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

long benchlib_status_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    size_t kl = strlen(key);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0) {
            kb = strtol(line + kl, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

static double stat_cpu(const char *path)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields after the parenthesised command name: state is field 3, utime 14, stime 15. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Nanosecond CPU time of one task from its schedstat (sum_exec_runtime), or -1. */
static double schedstat_cpu(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long long ns = 0;
    int ok = f && fscanf(f, "%llu", &ns) == 1;
    if (f)
        fclose(f);
    return ok ? (double)ns / 1e9 : -1;
}

/* Summed over the process's threads from schedstat (ns resolution, where /proc/<pid>/stat has
 * clock ticks: too coarse for 0.1 ms handshakes); stat when schedstat is missing. Threads that
 * already exited are not counted by schedstat, so the fallback uses stat. */
double benchlib_cpu_s(pid_t pid)
{
    int tids[256];
    double cpu[256];
    int n = benchlib_threads_cpu(pid, tids, cpu, 256);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (cpu[i] < 0)
            goto fallback;
        sum += cpu[i];
    }
    if (n > 0)
        return sum;
fallback:;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return stat_cpu(path);
}

int benchlib_threads_cpu(pid_t pid, int *tids, double *cpu_s, int cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    if (!d)
        return 0;
    while (n < cap && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char p2[320];
        snprintf(p2, sizeof p2, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
        tids[n] = atoi(e->d_name);
        cpu_s[n] = schedstat_cpu(p2);
        if (cpu_s[n] < 0) {
            snprintf(p2, sizeof p2, "/proc/%d/task/%s/stat", (int)pid, e->d_name);
            cpu_s[n] = stat_cpu(p2);
        }
        n++;
    }
    closedir(d);
    return n;
}

long long benchlib_io_written(pid_t pid)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    FILE *f = fopen(path, "r");
    long long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "write_bytes:", 12) == 0)
            v = strtoll(line + 12, NULL, 10);
    fclose(f);
    return v;
}

long benchlib_raise_nofile(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)n) {
        struct rlimit up = {(rlim_t)n, (rlim_t)n};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    if (rl.rlim_cur < (rlim_t)n) {
        rl.rlim_cur =
            rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (rlim_t)n ? (rlim_t)n : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

void benchlib_result(const char *bench, const char *metric, double value, const char *unit,
                     const char *baseline, const char *target, int verdict)
{
    printf("RESULT|%s|%s|%.6g|%s|%s|%s|%s\n", bench, metric, value, unit, baseline ? baseline : "-",
           target ? target : "-",
           verdict < 0 ? "-"
           : verdict   ? "ok"
                       : "MISSED");
    fflush(stdout);
}

int benchlib_server_start(struct testserver *ts, const char *sync_mode, const char *const *extra)
{
#ifdef FS_BENCH_SERVER_BIN
    if (!getenv("FS_SERVER_BIN"))
        setenv("FS_SERVER_BIN", FS_BENCH_SERVER_BIN, 0);
#endif
    const char *args[48];
    int n = 0;
    args[n++] = "--synchronous";
    args[n++] = sync_mode;
    args[n++] = "--rate-per-device";
    args[n++] = "1000000";
    args[n++] = "--enroll-attempts-per-min";
    args[n++] = "1000000";
    args[n++] = "--log-level";
    args[n++] = "warn";
    /* Every bench device connects from 127.0.0.1, many at once. */
    args[n++] = "--max-preauth-per-address";
    args[n++] = "0";
    args[n++] = "--max-preauth";
    args[n++] = "1000000";
    for (int i = 0; extra && extra[i] && n < 46; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return testserver_start(ts, args);
}

int benchlib_enroll(struct testserver *ts, const char *role, const char *regions,
                    struct testclient_identity *id)
{
    char code[64];
    struct testclient *c = NULL;
    int rc = -1;
    if (testserver_enroll(ts, role, regions, 0, code, sizeof code) != 0)
        goto out;
    if (testclient_connect(&c, ts->port, ts->ca_path) != 0)
        goto out;
    if (testclient_enroll(c, code, "bench", id, NULL) != 0)
        goto out;
    rc = 0;
out:
    testclient_close(c);
    return rc;
}

/* ---- realistic reports ---- */

static const char *const regions[] = {"GAO", "TOMBOUCTOU", "MENAKA"};
static const char *const communes[] = {"Gao",        "Soni Aly Ber", "Bourem",
                                       "Tombouctou", "Goundam",      "Ménaka"};
static const char *const localities[] = {"Quartier Château", "Fraction Kel Essouk",
                                         "Village de Tacharane", "Quartier Aljanabandja"};
static const char *const summaries[] = {
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
static const char *const concern_texts[] = {
    "Vols de bétail la nuit près des campements, les bergers n'osent plus partir seuls",
    "Barrages illégaux et taxation des commerçants sur la route de Bourem",
    "Engins explosifs signalés près du pont, la circulation est réduite depuis un mois",
    "Violences basées sur le genre non signalées par crainte de représailles",
    "Fermeture du centre de santé communautaire faute de personnel",
    "Tensions entre agriculteurs et éleveurs autour des couloirs de transhumance",
};
static const char *const reco_texts[] = {
    "Organiser des patrouilles mixtes FDS et comités de vigilance les jours de marché",
    "Mettre en place une ligne d'alerte gratuite pour signaler les incidents",
};

const char *benchlib_region(uint64_t seed)
{
    return regions[seed % 3];
}

size_t benchlib_report(uint64_t seed, const char *region, uint8_t *buf, size_t cap)
{
    Fieldsync__ConsultationReport r = FIELDSYNC__CONSULTATION_REPORT__INIT;
    Fieldsync__GeoPoint geo = FIELDSYNC__GEO_POINT__INIT;
    Fieldsync__Date date = FIELDSYNC__DATE__INIT;
    Fieldsync__ParticipantCounts pc = FIELDSYNC__PARTICIPANT_COUNTS__INIT;
    Fieldsync__Concern cs[4], *csp[4];
    Fieldsync__Recommendation rec = FIELDSYNC__RECOMMENDATION__INIT, *recp[1] = {&rec};
    uint8_t ids[5][16];
    Fieldsync__StakeholderGroup st[3] = {
        FIELDSYNC__STAKEHOLDER_GROUP__STAKEHOLDER_LOCAL_AUTHORITIES,
        FIELDSYNC__STAKEHOLDER_GROUP__STAKEHOLDER_WOMENS_ASSOCIATIONS,
        FIELDSYNC__STAKEHOLDER_GROUP__STAKEHOLDER_YOUTH_ASSOCIATIONS};
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < 5; i++) {
        uint8_t rnd[10];
        for (int j = 0; j < 10; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            rnd[j] = (uint8_t)x;
        }
        uuid_v7_from(ids[i], 1700000000000ull + seed, rnd);
    }
    r.region = (char *)region;
    r.cercle = (char *)communes[seed % 6];
    r.commune = (char *)communes[(seed / 3) % 6];
    r.locality = (char *)localities[seed % 4];
    geo.lat = 16.27 + (double)(seed % 1000) / 10000.0;
    geo.lon = -0.04 + (double)(seed % 777) / 10000.0;
    geo.accuracy_m = 8.5f;
    r.location = &geo;
    r.type = FIELDSYNC__CONSULTATION_TYPE__CONSULTATION_COMMUNAL_CCS;
    date.year = 2026;
    date.month = 1 + (uint32_t)(seed % 12);
    date.day = 1 + (uint32_t)(seed % 28);
    r.date = &date;
    r.start_time = "09:30";
    r.end_time = "12:15";
    r.facilitator = "Aminata Maïga";
    r.organisation = "Comité communal de sécurité";
    pc.women_18_35 = 12 + (uint32_t)(seed % 9);
    pc.women_over_35 = 7;
    pc.men_18_35 = 15;
    pc.men_over_35 = 11 + (uint32_t)(seed % 5);
    r.participants = &pc;
    r.n_stakeholders = 3;
    r.stakeholders = st;
    size_t nc = 3 + seed % 2;
    for (size_t i = 0; i < nc; i++) {
        fieldsync__concern__init(&cs[i]);
        cs[i].id.data = ids[i];
        cs[i].id.len = 16;
        cs[i].category = (Fieldsync__ConcernCategory)(1 + (seed + i) % 11);
        cs[i].description = (char *)concern_texts[(seed + i) % 6];
        cs[i].severity = 1 + (uint32_t)((seed + i) % 5);
        cs[i].trend = FIELDSYNC__TREND__TREND_WORSENING;
        csp[i] = &cs[i];
    }
    r.n_concerns = nc;
    r.concerns = csp;
    rec.id.data = ids[4];
    rec.id.len = 16;
    rec.text = (char *)reco_texts[seed % 2];
    rec.addressed_to = "Gendarmerie de Gao";
    rec.pillar = FIELDSYNC__PVE_PILLAR__PVE_PREVENTION;
    r.n_recommendations = 1;
    r.recommendations = recp;
    r.trust_in_security_forces = FIELDSYNC__TRUST_LEVEL__TRUST_LOW;
    r.summary = (char *)summaries[seed % 3];
    r.language = "fr";
    r.clock_offset_ms = -1200;
    size_t n = fieldsync__consultation_report__get_packed_size(&r);
    if (n > cap)
        return 0;
    return fieldsync__consultation_report__pack(&r, buf);
}

/* ---- push batches ---- */

uint64_t benchlib_hlc(struct benchlib_device *d)
{
    uint64_t h = benchlib_wall_ms() << 16;
    if (h <= d->last_hlc)
        h = d->last_hlc + 1;
    d->last_hlc = h;
    return h;
}

static void batch_reset(struct benchlib_batch *b, size_t n)
{
    fieldsync__frame__init(&b->frame);
    fieldsync__push_batch__init(&b->push);
    b->frame.msg_case = FIELDSYNC__FRAME__MSG_PUSH;
    b->frame.push = &b->push;
    b->push.n_changes = n;
    b->push.changes = b->chp;
}

size_t benchlib_batch_new(struct benchlib_batch *b, struct benchlib_device *d, size_t n,
                          uint64_t seed0, struct benchlib_record *records)
{
    size_t total = 0;
    batch_reset(b, n);
    for (size_t i = 0; i < n; i++) {
        Fieldsync__Change *ch = &b->ch[i];
        fieldsync__change__init(ch);
        uint64_t seed = seed0 + i;
        const char *region = benchlib_region(seed);
        ch->device_seq = d->next_seq++;
        ch->collection = 1;
        ch->region = (char *)region;
        ch->hlc = benchlib_hlc(d);
        ch->body.data = b->body[i];
        ch->body.len = benchlib_report(seed, region, b->body[i], BENCHLIB_BODY_CAP);
        /* record ids: UUIDv7 from the change's clock, random tail */
        uint8_t rnd[10];
        uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ ch->hlc;
        for (int j = 0; j < 10; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            rnd[j] = (uint8_t)x;
        }
        uint8_t *id = records ? records[i].id : b->value[i];
        uuid_v7_from(id, ch->hlc >> 16, rnd);
        ch->record_id.data = id;
        ch->record_id.len = 16;
        if (records) {
            records[i].hlc = ch->hlc;
            records[i].seed = seed;
        }
        total += ch->body.len;
        b->chp[i] = ch;
    }
    return total;
}

void benchlib_batch_edit(struct benchlib_batch *b, struct benchlib_device *d, size_t n,
                         struct benchlib_record *records)
{
    batch_reset(b, n);
    for (size_t i = 0; i < n; i++) {
        Fieldsync__Change *ch = &b->ch[i];
        Fieldsync__FieldOp *op = &b->op[i];
        fieldsync__change__init(ch);
        fieldsync__field_op__init(op);
        ch->device_seq = d->next_seq++;
        ch->collection = 1;
        ch->region = (char *)benchlib_region(records[i].seed);
        ch->hlc = benchlib_hlc(d);
        ch->record_id.data = (uint8_t *)records[i].id;
        ch->record_id.len = 16;
        /* end_time = "HH:MM": tag 9, wire type 2, length 5 */
        uint8_t *v = b->value[i];
        unsigned mm = (unsigned)(ch->hlc >> 16) % 60;
        v[0] = (9 << 3) | 2;
        v[1] = 5;
        memcpy(v + 2, "17:", 3);
        v[5] = (uint8_t)('0' + mm / 10);
        v[6] = (uint8_t)('0' + mm % 10);
        op->field = 9;
        op->value.data = v;
        op->value.len = 7;
        op->base_hlc = records[i].hlc;
        records[i].hlc = ch->hlc;
        op->base_device.data = d->id.device_id;
        op->base_device.len = 16;
        b->opp[i] = op;
        ch->n_ops = 1;
        ch->ops = &b->opp[i];
        b->chp[i] = ch;
    }
}

int benchlib_ack_applied(const Fieldsync__Frame *f)
{
    if (f->msg_case != FIELDSYNC__FRAME__MSG_PUSH_ACK)
        return -1;
    int n = 0;
    for (size_t i = 0; i < f->push_ack->n_results; i++)
        n += f->push_ack->results[i]->status == FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED;
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double benchlib_quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}
