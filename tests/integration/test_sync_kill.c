/*
 * test_sync_kill: a sync interrupted at random points — the syncing process SIGKILLed, or the
 * connection cut mid-frame by a relay — and restarted, many times. At the end the server holds
 * each change exactly once (changes received = device_seq assigned, no gaps, no repeats), every
 * record on the server equals the device's, and the resends after the cuts stay within the
 * batches in flight. Real server, real TLS, real libfieldsync. Seeded; prints its seed.
 */
#include "check.h"
#include "fieldsync.h"
#include "support/testserver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define F_SUMMARY 18
#define N_RECORDS 40

static struct testserver ts;
static char tmpdir[256];
static unsigned seed;

static fieldsync_client *open_store(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.db", tmpdir, name);
    fieldsync_open_opts o;
    fieldsync_open_opts_init(&o);
    o.io_timeout_ms = 5000;
    o.connect_timeout_ms = 5000;
    fieldsync_client *c = NULL;
    CHECK_EQ(fieldsync_open(path, &o, &c), 0);
    return c;
}

static void enroll(fieldsync_client *c, const char *name, const char *role, int port)
{
    char code[64];
    CHECK_EQ(testserver_enroll(&ts, role, "GAO", 0, code, sizeof code), 0);
    int rc = fieldsync_enroll(c, "localhost", (uint16_t)port, ts.ca_path, code, name);
    if (rc)
        fprintf(stderr, "enroll: %s %s\n", fieldsync_err_name(rc), fieldsync_errmsg(c));
    CHECK_EQ(rc, 0);
}

/* Edits that make many changes: new records with a few fields, and edits of older ones. */
static void make_edits(fieldsync_client *c, uint8_t ids[][16], int *n, int new_records)
{
    char text[128];
    for (int i = 0; i < new_records && *n < N_RECORDS; i++) {
        CHECK_EQ(fieldsync_create(c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", ids[*n]), 0);
        snprintf(text, sizeof text, "Commune %d", *n);
        CHECK_EQ(fieldsync_set_string(c, ids[*n], 3, text), 0);
        (*n)++;
    }
    for (int i = 0; i < *n; i++) {
        snprintf(text, sizeof text, "Résumé %d, version %d", i, rand_r(&seed) % 1000);
        CHECK_EQ(fieldsync_set_string(c, ids[i], F_SUMMARY, text), 0);
    }
}

/* changes_received for device `name`, from the real admin CLI's JSON. */
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
    q = strchr(q, ':');
    return strtoll(q + 1, NULL, 10);
}

static void check_server_matches(fieldsync_client *dev, const char *name, uint8_t ids[][16], int n)
{
    fieldsync_status st;
    CHECK_EQ(fieldsync_status_get(dev, &st), 0);
    CHECK_U64(st.pending_changes, ==, 0);
    CHECK_U64(st.rejected_changes, ==, 0);
    /* Exactly once: every assigned device_seq applied, none twice. */
    CHECK_INT(server_changes_received(name), ==, (long long)st.device_seq);

    /* Every record as the device has it. */
    fieldsync_client *coord = open_store("coordinator");
    fieldsync_sync_opts o;
    fieldsync_sync_opts_init(&o);
    CHECK_EQ(fieldsync_sync(coord, &o), 0);
    for (int i = 0; i < n; i++) {
        fieldsync_record *a = NULL, *b = NULL;
        CHECK_EQ(fieldsync_get(dev, ids[i], &a), 0);
        CHECK_EQ(fieldsync_get(coord, ids[i], &b), 0);
        CHECK_EQ(a->body_len, b->body_len);
        CHECK_MEM(a->body, b->body, a->body_len);
        fieldsync_free(dev, a);
        fieldsync_free(coord, b);
    }
    fieldsync_close(coord);
}

/* The syncing process is SIGKILLed at random moments, then restarted. */
static void test_sync_kill_process(void)
{
    static uint8_t ids[N_RECORDS][16];
    int n = 0;
    fieldsync_client *c = open_store("killed");
    enroll(c, "killed", "collector", ts.port);
    make_edits(c, ids, &n, 10);
    fieldsync_close(c);

    int kills = 0;
    for (int round = 0; round < 25; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            fieldsync_client *cc = open_store("killed");
            fieldsync_sync_opts o;
            fieldsync_sync_opts_init(&o);
            int rc = fieldsync_sync(cc, &o);
            fieldsync_close(cc);
            _exit(rc == 0 ? 0 : 2);
        }
        usleep((useconds_t)(rand_r(&seed) % 40000));
        if (kill(pid, SIGKILL) == 0)
            kills++;
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK(WIFSIGNALED(status) || WEXITSTATUS(status) == 0);
        c = open_store("killed");
        if (round % 3 == 0)
            make_edits(c, ids, &n, 2);
        fieldsync_close(c);
    }
    fprintf(stderr, "   %d kills, %d records\n", kills, n);

    c = open_store("killed");
    fieldsync_sync_stats stats;
    fieldsync_sync_opts o;
    fieldsync_sync_opts_init(&o);
    o.stats = &stats;
    CHECK_EQ(fieldsync_sync(c, &o), 0);
    check_server_matches(c, "killed", ids, n);
    fieldsync_close(c);
}

/* A relay between the device and the server that cuts both directions after `budget` bytes. */
struct relay {
    int listen_fd;
    int port;
    size_t budget;
    pthread_t thread;
};

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    int cfd = accept(r->listen_fd, NULL, NULL);
    if (cfd < 0)
        return NULL;
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ts.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(sfd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(cfd);
        close(sfd);
        return NULL;
    }
    size_t moved = 0;
    char buf[4096];
    struct pollfd p[2] = {{.fd = cfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    while (moved < r->budget && poll(p, 2, 10000) > 0) {
        int from = (p[0].revents & (POLLIN | POLLHUP)) ? 0 : 1;
        if (!(p[from].revents & (POLLIN | POLLHUP)))
            break;
        size_t want = sizeof buf;
        if (want > r->budget - moved)
            want = r->budget - moved;
        ssize_t k = read(p[from].fd, buf, want);
        if (k <= 0)
            break;
        if (write(p[1 - from].fd, buf, (size_t)k) != k)
            break;
        moved += (size_t)k;
    }
    close(cfd); /* the cut: mid-frame whenever the budget ends inside one */
    close(sfd);
    return NULL;
}

static void relay_start(struct relay *r, size_t budget)
{
    r->budget = budget;
    r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(r->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(listen(r->listen_fd, 1), 0);
    socklen_t len = sizeof sa;
    CHECK_EQ(getsockname(r->listen_fd, (struct sockaddr *)&sa, &len), 0);
    r->port = ntohs(sa.sin_port);
    CHECK_EQ(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_stop(struct relay *r)
{
    shutdown(r->listen_fd, SHUT_RDWR);
    close(r->listen_fd);
    pthread_join(r->thread, NULL);
}

static void test_sync_kill_connection_cut(void)
{
    static uint8_t ids[N_RECORDS][16];
    int n = 0;
    fieldsync_client *c = open_store("cut");
    enroll(c, "cut", "collector", ts.port);
    make_edits(c, ids, &n, 20);

    int cuts = 0, ok = 0;
    uint64_t duplicates = 0;
    for (int round = 0; round < 30; round++) {
        struct relay r;
        /* Budgets from inside the TLS handshake to several frames in. */
        relay_start(&r, 100 + (size_t)(rand_r(&seed) % 6000) * (size_t)(1 + round / 10));
        CHECK_EQ(fieldsync_set_server(c, "localhost", (uint16_t)r.port, NULL), 0);
        fieldsync_sync_stats stats;
        memset(&stats, 0, sizeof stats);
        fieldsync_sync_opts o;
        fieldsync_sync_opts_init(&o);
        o.stats = &stats;
        int rc = fieldsync_sync(c, &o);
        relay_stop(&r);
        duplicates += stats.duplicates;
        if (rc == 0) {
            ok++;
        } else {
            cuts++;
            CHECK(rc == FIELDSYNC_EIO || rc == FIELDSYNC_ETLS || rc == FIELDSYNC_ETIMEDOUT ||
                  rc == FIELDSYNC_ECONNECT || rc == FIELDSYNC_EPROTO);
        }
        if (round % 4 == 0)
            make_edits(c, ids, &n, 1);
    }
    CHECK_INT(cuts, >=, 10);
    fprintf(stderr, "   %d cuts, %d clean syncs, %llu duplicates resent\n", cuts, ok,
            (unsigned long long)duplicates);
    CHECK_EQ(fieldsync_set_server(c, "localhost", (uint16_t)ts.port, NULL), 0);
    fieldsync_sync_opts o;
    fieldsync_sync_opts_init(&o);
    CHECK_EQ(fieldsync_sync(c, &o), 0);
    check_server_matches(c, "cut", ids, n);
    /* Resent-but-already-applied changes come only from batches in flight at a cut:
     * at most max_in_flight (8) × max_batch (256) per cut, in practice far fewer. */
    CHECK_U64(duplicates, <=, (uint64_t)cuts * 8 * 256);
    fieldsync_close(c);
}

int main(int argc, char **argv)
{
    seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : (unsigned)time(NULL);
    fprintf(stderr, "test_sync_kill seed %u (rerun: test_sync_kill %u)\n", seed, seed);
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fs-kill-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    CHECK_EQ(testserver_start(&ts, NULL), 0);
    fieldsync_client *coord = open_store("coordinator");
    enroll(coord, "coordinator", "coordinator", ts.port);
    fieldsync_close(coord);
    RUN(test_sync_kill_process);
    RUN(test_sync_kill_connection_cut);
    CHECK_EQ(testserver_stop(&ts), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
