/*
 * test_crash_durability: the crash-durability harness. Several device processes edit and sync
 * continuously through libfieldsync while the server is SIGKILLed and restarted at random
 * moments. At the end every change a device saw acknowledged is on the server exactly once,
 * the devices converge with the server, and SQLite's integrity_check is ok. Prints the counts.
 *
 *   test_crash_durability [--kills N] [--devices D] [--seed S]
 * Defaults (20 kills, 3 devices) keep it short for CI; `make crash` runs a longer one.
 */
#include "check.h"
#include "fieldsync.h"
#include "support/testserver.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVICES 8
#define MAX_RECORDS 200

static struct testserver ts;
static char tmpdir[256];
static unsigned seed;

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* The current server port, published for the device processes. */
static void publish_port(int port)
{
    char p[512], tmp[520];
    path_of(p, sizeof p, "port");
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    FILE *f = fopen(tmp, "w");
    CHECK(f != NULL);
    fprintf(f, "%d\n", port);
    fclose(f);
    CHECK_EQ(rename(tmp, p), 0);
}

static int read_port(void)
{
    char p[512];
    path_of(p, sizeof p, "port");
    FILE *f = fopen(p, "r");
    int port = 0;
    if (f) {
        if (fscanf(f, "%d", &port) != 1)
            port = 0;
        fclose(f);
    }
    return port;
}

static int stop_requested(void)
{
    char p[512];
    path_of(p, sizeof p, "stop");
    return access(p, F_OK) == 0;
}

/* SIGKILL the server and start it again on the same data directory (new port). */
static void server_kill_restart(void)
{
    CHECK_EQ(testserver_restart(&ts, SIGKILL), 0);
    publish_port(ts.port);
}

static fieldsync_client *open_store(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.db", tmpdir, name);
    fieldsync_open_opts o;
    fieldsync_open_opts_init(&o);
    o.connect_timeout_ms = 2000;
    o.io_timeout_ms = 2000;
    fieldsync_client *c = NULL;
    CHECK_EQ(fieldsync_open(path, &o, &c), 0);
    return c;
}

/* A device process: edit, sync, repeat, following the server's port; after the stop file
 * appears, sync until one succeeds with nothing pending, then exit 0. */
static int device_main(int d)
{
    char name[32];
    snprintf(name, sizeof name, "device%d", d);
    unsigned s = seed + (unsigned)d * 7919u;
    fieldsync_client *c = open_store(name);
    static uint8_t ids[MAX_RECORDS][16];
    int n = 0, port = 0;
    uint64_t syncs = 0, failed = 0;
    for (;;) {
        int stopping = stop_requested();
        if (!stopping) {
            char text[96];
            if (n < MAX_RECORDS && (n == 0 || rand_r(&s) % 3 == 0)) {
                CHECK_EQ(fieldsync_create(c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", ids[n]), 0);
                n++;
            }
            int i = (int)(rand_r(&s) % (unsigned)n);
            snprintf(text, sizeof text, "appareil %d, modification %u", d, rand_r(&s) % 100000);
            CHECK_EQ(fieldsync_set_string(c, ids[i], 18, text), 0);
        }
        int p = read_port();
        if (p != port && p > 0) {
            CHECK_EQ(fieldsync_set_server(c, "localhost", (uint16_t)p, NULL), 0);
            port = p;
        }
        fieldsync_sync_opts o;
        fieldsync_sync_opts_init(&o);
        int rc = fieldsync_sync(c, &o);
        syncs++;
        if (rc != 0) {
            failed++;
            sleep_ms(20);
            continue;
        }
        if (stopping) {
            fieldsync_status st;
            CHECK_EQ(fieldsync_status_get(c, &st), 0);
            if (st.pending_changes == 0)
                break;
        }
        sleep_ms((int)(rand_r(&s) % 30));
    }
    fprintf(stderr, "   device%d: %d records, %llu syncs (%llu cut by a crash)\n", d, n,
            (unsigned long long)syncs, (unsigned long long)failed);
    fieldsync_close(c);
    return 0;
}

static long long server_changes_received(const char *name)
{
    static char out[65536];
    const char *args[] = {"devices", "--json", NULL};
    CHECK_EQ(testserver_cli(&ts, args, out, sizeof out), 0);
    char key[128];
    snprintf(key, sizeof key, "\"name\":\"%s\"", name);
    char *p = strstr(out, key);
    if (!p) {
        snprintf(key, sizeof key, "\"name\": \"%s\"", name);
        p = strstr(out, key);
    }
    CHECK(p != NULL);
    char *q = strstr(p, "\"changes_received\"");
    CHECK(q != NULL);
    return strtoll(strchr(q, ':') + 1, NULL, 10);
}

struct compare {
    fieldsync_client *server_view;
    int records;
};

static int compare_record(const fieldsync_record *rec, void *user)
{
    struct compare *cmp = user;
    fieldsync_record *other = NULL;
    CHECK_EQ(fieldsync_get(cmp->server_view, rec->id, &other), 0);
    CHECK_EQ(rec->body_len, other->body_len);
    CHECK_MEM(rec->body, other->body, rec->body_len);
    fieldsync_free(cmp->server_view, other);
    cmp->records++;
    return 0;
}

static void check_integrity(void)
{
    char db[400];
    snprintf(db, sizeof db, "%s/fieldsync.db", ts.dir);
    sqlite3 *h = NULL;
    CHECK_EQ(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK_EQ(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(h);
    fprintf(stderr, "   integrity_check: ok\n");
}

int main(int argc, char **argv)
{
    int kills = 20, devices = 3;
    seed = (unsigned)time(NULL);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--kills") == 0)
            kills = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--devices") == 0)
            devices = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = (unsigned)strtoul(argv[i + 1], NULL, 10);
    }
    if (devices < 1 || devices > MAX_DEVICES)
        devices = 3;
    fprintf(stderr, "test_crash_durability seed %u, %d kills, %d devices\n", seed, kills, devices);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fs-crash-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    const char *args[] = {"--synchronous", "full", "--log-level", "warn", NULL};
    CHECK_EQ(testserver_start(&ts, args), 0);
    publish_port(ts.port);

    for (int d = 0; d < devices; d++) {
        char name[32], code[64];
        snprintf(name, sizeof name, "device%d", d);
        CHECK_EQ(testserver_enroll(&ts, "collector", "GAO", 0, code, sizeof code), 0);
        fieldsync_client *c = open_store(name);
        CHECK_EQ(fieldsync_enroll(c, "localhost", (uint16_t)ts.port, ts.ca_path, code, name), 0);
        fieldsync_close(c);
    }
    pid_t pids[MAX_DEVICES];
    for (int d = 0; d < devices; d++) {
        fflush(NULL);
        pids[d] = fork();
        CHECK(pids[d] >= 0);
        if (pids[d] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            _exit(device_main(d));
        }
    }
    for (int k = 0; k < kills; k++) {
        sleep_ms(100 + (int)(rand_r(&seed) % 300));
        server_kill_restart();
    }
    char stop[512];
    path_of(stop, sizeof stop, "stop");
    FILE *f = fopen(stop, "w");
    CHECK(f != NULL);
    fclose(f);
    for (int d = 0; d < devices; d++) {
        int status;
        CHECK_EQ(waitpid(pids[d], &status, 0), pids[d]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    /* Every acknowledged change exactly once; devices converge with the server. */
    char code[64];
    CHECK_EQ(testserver_enroll(&ts, "coordinator", "GAO", 0, code, sizeof code), 0);
    fieldsync_client *coord = open_store("coordinator");
    CHECK_EQ(fieldsync_enroll(coord, "localhost", (uint16_t)ts.port, ts.ca_path, code, "coord"), 0);
    CHECK_EQ(fieldsync_sync(coord, NULL), 0);
    long long total = 0;
    int records = 0;
    for (int d = 0; d < devices; d++) {
        char name[32];
        snprintf(name, sizeof name, "device%d", d);
        fieldsync_client *c = open_store(name);
        CHECK_EQ(fieldsync_sync(c, NULL), 0); /* pull what the others wrote */
        fieldsync_status st;
        CHECK_EQ(fieldsync_status_get(c, &st), 0);
        CHECK_U64(st.pending_changes, ==, 0);
        long long got = server_changes_received(name);
        CHECK_INT(got, ==, (long long)st.device_seq);
        total += got;
        struct compare cmp = {coord, 0};
        CHECK_EQ(fieldsync_list(c, NULL, compare_record, &cmp), 0);
        records = cmp.records;
        fieldsync_close(c);
    }
    fieldsync_close(coord);
    check_integrity(); /* a read snapshot of the live WAL database */
    CHECK_EQ(testserver_stop(&ts), 0);
    fprintf(stderr,
            "   %d server kills; %lld changes acknowledged, each applied exactly once; "
            "%d records identical on every device and the server\n",
            kills, total, records);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
