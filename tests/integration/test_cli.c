/*
 * test_cli: the real `fieldsync` program (FS_CLI_BIN) against the real
 * server (tests/support/testserver, 127.0.0.1 port 0, temporary data directory): enrol two
 * devices through codes from the real `fieldsync-server enroll`, create a report on one, sync,
 * pull it on the other, list, show, export CSV and GeoJSON; then a conflict resolved through the
 * CLI, and the error paths with their documented exit codes.
 */
#include "check.h"
#include "support/testserver.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *cli_bin;
static char tmpdir[256];
static struct testserver ts;
static char server_arg[64];

struct run {
    int status; /* exit code, or -1 if killed */
    char out[65536];
    char err[16384];
};

static struct run r; /* the last command's result */

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = 0;

    if (f) {
        n = fread(buf, 1, cap - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
}

/* Start fieldsync with args (NULL-terminated), stdin from in_text (or empty). */
static pid_t spawn_cli(const char *in_text, const char *const *args)
{
    char outp[300], errp[300], inp[300];
    const char *argv[32];
    int n = 0;

    snprintf(outp, sizeof outp, "%s/out.txt", tmpdir);
    snprintf(errp, sizeof errp, "%s/err.txt", tmpdir);
    snprintf(inp, sizeof inp, "%s/in.txt", tmpdir);
    argv[n++] = cli_bin;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    FILE *in = fopen(inp, "wb");
    CHECK(in != NULL);
    if (in_text)
        fputs(in_text, in);
    fclose(in);

    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int fi = open(inp, O_RDONLY), fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fi < 0 || fo < 0 || fe < 0)
            _exit(126);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(cli_bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Wait (at most timeout_ms, then SIGKILL) and collect the output into r. */
static int finish_cli(pid_t pid, int timeout_ms)
{
    char outp[300], errp[300];
    int st = 0;

    for (int waited = 0;; waited += 10) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        CHECK(w >= 0);
        if (w == pid)
            break;
        if (waited > timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    snprintf(outp, sizeof outp, "%s/out.txt", tmpdir);
    snprintf(errp, sizeof errp, "%s/err.txt", tmpdir);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(outp, r.out, sizeof r.out);
    slurp(errp, r.err, sizeof r.err);
    if (getenv("FS_TEST_VERBOSE"))
        fprintf(stderr, "-> %d\n%s%s", r.status, r.out, r.err);
    return r.status;
}

static int run_cli(const char *in_text, const char *const *args)
{
    return finish_cli(spawn_cli(in_text, args), 60000);
}

#define CLI(...)          run_cli(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define CLI_IN(text, ...) run_cli(text, (const char *const[]){__VA_ARGS__, NULL})

#define CHECK_RUN(expr, code)                                                                      \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != (code))                                                                         \
            fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r.out, r.err);                           \
        CHECK_EQ(rc_, code);                                                                       \
    } while (0)

static char store_a[300], store_b[300], store_c[300];
static char report_id[40];

static void enroll(const char *store, const char *role, const char *name)
{
    char code[32];

    CHECK_EQ(testserver_enroll(&ts, role, "GAO", 0, code, sizeof code), 0);
    CHECK_RUN(CLI("--store", store, "enroll", "--server", server_arg, "--ca", ts.ca_path, code,
                  "--name", name),
              0);
    CHECK(strstr(r.out, "enrolled: device ") != NULL);
    CHECK(strstr(r.out, role) != NULL);
    CHECK(strstr(r.out, "GAO") != NULL);
}

static void test_cli_enroll(void)
{
    char code[32];

    enroll(store_a, "coordinator", "Coordination Gao A");
    enroll(store_b, "coordinator", "Coordination Gao B");
    CHECK_RUN(CLI("--store", store_a, "status"), 0);
    CHECK(strstr(r.out, "role:             coordinator") != NULL);
    CHECK(strstr(r.out, "(Coordination Gao A)") != NULL);

    /* A code is redeemed once: a second store cannot use it (exit 6, EENROLL). */
    CHECK_EQ(testserver_enroll(&ts, "collector", "GAO", 0, code, sizeof code), 0);
    CHECK_RUN(CLI("--store", store_c, "enroll", "--server", server_arg, "--ca", ts.ca_path, code),
              0);
    char again[300];
    snprintf(again, sizeof again, "%s/again.db", tmpdir);
    CHECK_RUN(CLI("--store", again, "enroll", "--server", server_arg, "--ca", ts.ca_path, code), 6);
    CHECK(strstr(r.err, "EENROLL") != NULL);
}

static void test_cli_new_sync_list_export(void)
{
    CHECK_RUN(CLI("--store", store_a, "new", "--region", "GAO", "--commune", "Ansongo", "--type",
                  "CONSULTATION_FOCUS_GROUP", "--date", "2024-03-15", "--summary",
                  "Réunion à Ansongo, « vols de bétail »", "--location",
                  "{\"lat\":15.6597,\"lon\":-0.5022}"),
              0);
    CHECK_EQ(strlen(r.out), 37);
    memcpy(report_id, r.out, 36);
    report_id[36] = '\0';
    CHECK_RUN(CLI("--store", store_a, "add", report_id, "concerns",
                  "{\"category\":\"CONCERN_BANDITRY_THEFT\",\"description\":\"=cmd|' /C calc'!A0\","
                  "\"severity\":4}"),
              0);
    CHECK_RUN(CLI("--store", store_a, "set", report_id, "clock_offset_ms", "-250"), 0);
    CHECK_RUN(CLI("--store", store_a, "add", report_id, "stakeholders",
                  "STAKEHOLDER_WOMENS_ASSOCIATIONS"),
              0);
    CHECK_RUN(CLI("--store", store_a, "list"), 0);
    CHECK(strstr(r.out, report_id) != NULL);
    CHECK(strstr(r.out, "* GAO") != NULL); /* pending */

    CHECK_RUN(CLI("--store", store_a, "sync"), 0);
    CHECK(strstr(r.err, "pushed ") != NULL);
    CHECK(strstr(r.err, "push: ") != NULL); /* not a terminal: one line per phase */
    CHECK_RUN(CLI("--store", store_a, "status"), 0);
    CHECK(strstr(r.out, "pending changes:  0 ") != NULL);
    CHECK(strstr(r.out, "last sync:        never") == NULL);

    /* The second device pulls it. */
    CHECK_RUN(CLI("--store", store_b, "sync"), 0);
    CHECK(strstr(r.err, "pulled 1 record") != NULL);
    CHECK_RUN(CLI("--store", store_b, "list", "--region", "GAO", "--from", "2024-03-01", "--to",
                  "2024-03-31"),
              0);
    CHECK(strstr(r.out, report_id) != NULL);
    CHECK(strstr(r.out, "Ansongo") != NULL);
    CHECK(strstr(r.out, "FOCUS_GROUP") != NULL);
    CHECK_RUN(CLI("--store", store_b, "list", "--from", "2024-04-01"), 0);
    CHECK(strstr(r.out, report_id) == NULL);
    CHECK_RUN(CLI("--store", store_b, "show", report_id), 0);
    CHECK(strstr(r.out, "\"summary\": \"Réunion à Ansongo, « vols de bétail »\"") != NULL);
    CHECK(strstr(r.out, "\"category\": \"CONCERN_BANDITRY_THEFT\"") != NULL);
    CHECK(strstr(r.out, "\"clock_offset_ms\": -250") != NULL);
    CHECK(strstr(r.out, "\"STAKEHOLDER_WOMENS_ASSOCIATIONS\"") != NULL);

    /* CSV for Excel. */
    char csv_path[300], csv[8192];
    snprintf(csv_path, sizeof csv_path, "%s/gao.csv", tmpdir);
    CHECK_RUN(CLI("--store", store_b, "export", "--format", "csv", "--output", csv_path), 0);
    CHECK(strstr(r.err, "exported 1 report") != NULL);
    slurp(csv_path, csv, sizeof csv);
    char part_path[320];
    snprintf(part_path, sizeof part_path, "%s.part", csv_path);
    CHECK(access(part_path, F_OK) != 0);
    CHECK(strncmp(csv, "\xEF\xBB\xBFid,region,", 12) == 0);
    CHECK(strstr(csv, "\r\n") != NULL);
    CHECK(strstr(csv, report_id) != NULL);
    CHECK(strstr(csv, ",\"Réunion à Ansongo, « vols de bétail »\",") != NULL);
    CHECK(strstr(csv, ",15.6597,-0.5022,") != NULL);
    CHECK(strstr(csv, ",1,") != NULL); /* concerns_count */

    /* GeoJSON: [lon, lat]. */
    CHECK_RUN(CLI("--store", store_b, "export", "--format", "geojson"), 0);
    CHECK(strstr(r.out, "\"coordinates\":[-0.5022,15.6597]") != NULL);
    CHECK_RUN(CLI("--store", store_b, "export", "--format", "jsonl"), 0);
    CHECK(strncmp(r.out, "{\"_id\":\"", 8) == 0);
}

static void test_cli_conflict_resolve(void)
{
    /* Both devices change the summary from the same base; B syncs last and its edit is based
     * on a value the server no longer holds: a conflict, kept with both values. */
    CHECK_RUN(CLI("--store", store_a, "set", report_id, "summary", "Version de A"), 0);
    CHECK_RUN(CLI("--store", store_b, "set", report_id, "summary", "Version de B"), 0);
    CHECK_RUN(CLI("--store", store_a, "sync"), 0);
    CHECK_RUN(CLI("--store", store_b, "sync"), 0);
    CHECK_RUN(CLI("--store", store_a, "sync"), 0);
    CHECK_RUN(CLI("--store", store_a, "conflicts", "--open"), 0);
    CHECK(strstr(r.out, "field summary") != NULL);
    CHECK(strstr(r.out, "\"Version de A\"") != NULL);
    CHECK(strstr(r.out, "\"Version de B\"") != NULL);
    CHECK(strstr(r.out, "(this device)") != NULL);
    unsigned long long cid = 0;
    CHECK(sscanf(r.out, "conflict %llu", &cid) == 1);
    char cids[32];
    snprintf(cids, sizeof cids, "%llu", cid);

    /* A coordinator takes their own version back. */
    CHECK_RUN(CLI("--store", store_a, "resolve", cids, "--take", "mine"), 0);
    CHECK_RUN(CLI("--store", store_a, "sync"), 0);
    CHECK_RUN(CLI("--store", store_b, "sync"), 0);
    CHECK_RUN(CLI("--store", store_b, "show", report_id), 0);
    CHECK(strstr(r.out, "\"summary\": \"Version de A\"") != NULL);
    CHECK_RUN(CLI("--store", store_a, "resolve", cids, "--take", "mine"), 6); /* ESTATE */
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Ctrl-C during a sync that hangs (a server that accepts TCP and never answers): the CLI stops
 * promptly through the progress callback / fieldsync_interrupt and exits 130. */
static void test_cli_sync_interrupt(void)
{
    struct sockaddr_in sa = {0};
    socklen_t slen = sizeof sa;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    char where[64];

    CHECK(ls >= 0);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_EQ(listen(ls, 4), 0);
    CHECK_EQ(getsockname(ls, (struct sockaddr *)&sa, &slen), 0);
    snprintf(where, sizeof where, "localhost:%u", (unsigned)ntohs(sa.sin_port));
    CHECK_RUN(CLI("--store", store_c, "set-server", where), 0);

    pid_t pid = spawn_cli(NULL, (const char *const[]){"--store", store_c, "sync", NULL});
    usleep(500 * 1000);
    uint64_t t0 = now_ms();
    CHECK_EQ(kill(pid, SIGINT), 0);
    CHECK_RUN(finish_cli(pid, 10000), 130);
    uint64_t took = now_ms() - t0;
    fprintf(stderr, "sync interrupted after %llu ms\n", (unsigned long long)took);
    CHECK(took < 3000);
    CHECK(strstr(r.err, "ECANCELED") != NULL);
    close(ls);
    CHECK_RUN(CLI("--store", store_c, "set-server", server_arg), 0);
    CHECK_RUN(CLI("--store", store_c, "sync"), 0);
}

/* A collector of GAO writing a MENAKA report: the server refuses that change (ESCOPE); the CLI
 * reports it at sync, lists it and dismisses it. */
static void test_cli_rejected(void)
{
    CHECK_RUN(CLI("--store", store_c, "new", "--region", "MENAKA", "--summary", "hors zone"), 0);
    CHECK_RUN(CLI("--store", store_c, "sync"), 0);
    CHECK(strstr(r.err, "rejected 1,") != NULL);
    CHECK(strstr(r.err, "ESCOPE") != NULL);
    CHECK_RUN(CLI("--store", store_c, "rejected"), 0);
    CHECK(strstr(r.out, "ESCOPE") != NULL);
    CHECK(strstr(r.err, "1 rejected change") != NULL);
    CHECK_RUN(CLI("--store", store_c, "rejected", "--dismiss", "all"), 0);
    CHECK_RUN(CLI("--store", store_c, "rejected"), 0);
    CHECK(strstr(r.err, "0 rejected changes") != NULL);
}

static void test_cli_errors(void)
{
    char missing[300], fresh[300];
    snprintf(missing, sizeof missing, "%s/missing.db", tmpdir);
    snprintf(fresh, sizeof fresh, "%s/fresh.db", tmpdir);

    CHECK_RUN(CLI("--store", missing, "list"), 7);
    CHECK(strstr(r.err, "ESTORE") != NULL);
    CHECK(access(missing, F_OK) != 0); /* not created by a read */
    CHECK_RUN(CLI("--store", store_a, "show", "01890a5d-ac96-774b-bcce-b302099a8057"), 4);
    CHECK(strstr(r.err, "ENOTFOUND") != NULL);
    CHECK_RUN(CLI("--store", store_a, "show", "not-an-id"), 2);
    CHECK_RUN(CLI("--store", store_a, "list", "--bogus"), 2);
    CHECK_RUN(
        CLI("--store", store_a, "export", "--format", "csv", "--output", "/nonexistent-dir/x.csv"),
        1);
    CHECK_RUN(CLI("--store", store_a, "export", "--format", "xlsx"), 2);
    CHECK_RUN(CLI("--store", store_a, "sync", "--help"), 0);
    CHECK(strstr(r.out, "usage: fieldsync sync") != NULL);
    CHECK_RUN(CLI_IN("{\"region\":\"GAO\",\"sumary\":\"typo\"}", "--store", store_a, "new"), 3);
    CHECK(strstr(r.err, "sumary") != NULL);
    CHECK_RUN(CLI("--store", store_a, "set", report_id, "region", "MENAKA"), 3);
    CHECK(strstr(r.err, "EREGION") != NULL);
    /* A store that never enrolled cannot sync (exit 6), but edits offline. */
    CHECK_RUN(CLI("--store", fresh, "new", "--region", "GAO"), 0);
    CHECK_RUN(CLI("--store", fresh, "sync"), 6);
    CHECK(strstr(r.err, "enroll") != NULL);
    /* A CA that did not sign the server's certificate: TLS refuses (exit 5, ETLS), and the
     * code is not used up. */
    char code[32];
    const char *other_ca = "/etc/ssl/certs/ca-certificates.crt";
    CHECK_EQ(testserver_enroll(&ts, "collector", "GAO", 0, code, sizeof code), 0);
    if (access(other_ca, R_OK) == 0) {
        CHECK_RUN(CLI("--store", missing, "enroll", "--server", server_arg, "--ca", other_ca, code),
                  5);
        CHECK(strstr(r.err, "ETLS") != NULL);
    }
    CHECK_RUN(CLI("--store", missing, "enroll", "--server", server_arg, "--ca", ts.ca_path, code),
              0);
}

/* --key-file: an encrypted store opens only with its key (hex or raw), and keeps the text out
 * of the file. */
static void test_cli_key_file(void)
{
    char store[300], hex[300], raw[300], wrong[300], bad[300];
    snprintf(store, sizeof store, "%s/keyed.db", tmpdir);
    snprintf(hex, sizeof hex, "%s/key.hex", tmpdir);
    snprintf(raw, sizeof raw, "%s/key.bin", tmpdir);
    snprintf(wrong, sizeof wrong, "%s/wrong.hex", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad.hex", tmpdir);
    uint8_t key[32];
    FILE *fh = fopen(hex, "w"), *fr = fopen(raw, "wb"), *fw = fopen(wrong, "w"),
         *fb = fopen(bad, "w");
    CHECK(fh && fr && fw && fb);
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(0xa5 ^ (i * 7));
        fprintf(fh, "%02x", key[i]);
        fprintf(fw, "%02x", (uint8_t)(key[i] ^ (i == 31)));
    }
    fputs("\n", fh);
    fwrite(key, 1, 32, fr);
    fputs("not a key\n", fb);
    fclose(fh);
    fclose(fr);
    fclose(fw);
    fclose(fb);

    CHECK_RUN(CLI("--store", store, "--key-file", hex, "new", "--region", "GAO", "--summary",
                  "Les bergers de Talataye demandent une escorte"),
              0);
    char id[40];
    snprintf(id, sizeof id, "%.36s", r.out);
    CHECK_RUN(CLI("--key-file=", "--store", store, "status"), 2); /* no such file */
    char opt[320];
    snprintf(opt, sizeof opt, "--key-file=%s", raw);
    CHECK_RUN(CLI("--store", store, opt, "show", id), 0);
    CHECK(strstr(r.out, "Talataye") != NULL);
    CHECK_RUN(CLI("--store", store, "show", id), 6); /* no key: EAUTH */
    CHECK(strstr(r.err, "EAUTH") != NULL);
    CHECK_RUN(CLI("--store", store, "--key-file", wrong, "show", id), 6);
    CHECK(strstr(r.err, "EAUTH") != NULL);
    CHECK_RUN(CLI("--store", store, "--key-file", bad, "show", id), 2);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "grep -q Talataye '%s' '%s-wal' 2>/dev/null", store, store);
    CHECK(system(cmd) != 0);
}

static int server_running;

/* A failed CHECK exits: stop the server child too, or ctest waits for it until the time-out. */
static void cleanup(void)
{
    if (server_running) {
        server_running = 0;
        testserver_stop(&ts);
    }
}

int main(void)
{
    cli_bin = getenv("FS_CLI_BIN");
    CHECK(cli_bin != NULL && strstr(cli_bin, ".so") == NULL);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fs-test-cli-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    snprintf(store_a, sizeof store_a, "%s/a.db", tmpdir);
    snprintf(store_b, sizeof store_b, "%s/b.db", tmpdir);
    snprintf(store_c, sizeof store_c, "%s/c.db", tmpdir);
    CHECK_EQ(testserver_start(&ts, NULL), 0);
    server_running = 1;
    atexit(cleanup);
    snprintf(server_arg, sizeof server_arg, "localhost:%d", ts.port);

    RUN(test_cli_enroll);
    RUN(test_cli_new_sync_list_export);
    RUN(test_cli_conflict_resolve);
    RUN(test_cli_sync_interrupt);
    RUN(test_cli_rejected);
    RUN(test_cli_errors);
    RUN(test_cli_key_file);

    server_running = 0;
    CHECK_EQ(testserver_stop(&ts), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
