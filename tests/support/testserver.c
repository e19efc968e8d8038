/*
 * testserver: the real server as a child process (see testserver.h). POSIX only; the
 * server's stdout/stderr go to the test's, so ctest shows its log on failure.
 */
#define _XOPEN_SOURCE 700
#include "testserver.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Fork and exec the server on ts->dir with ts->extra, then wait for its port file. */
static int spawn(struct testserver *ts)
{
    char port_file[400];
    snprintf(port_file, sizeof port_file, "%s/port", ts->dir);
    unlink(port_file);
    const char *argv[64];
    int n = 0;
    argv[n++] = ts->bin;
    argv[n++] = "--dev";
    argv[n++] = "--data-dir";
    argv[n++] = ts->dir;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--synchronous";
    argv[n++] = "normal";
    /* Tests enrol many devices from 127.0.0.1; the rate-limit test passes its own value
     * (later flags override earlier ones). */
    argv[n++] = "--enroll-attempts-per-min";
    argv[n++] = "10000";
    for (int i = 0; ts->extra[i] && n < 62; i++)
        argv[n++] = ts->extra[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* If the test dies, the server goes with it instead of lingering. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execv(ts->bin, (char *const *)argv);
        perror("testserver: exec");
        _exit(127);
    }
    ts->pid = pid;
    ts->port = 0;
    for (int waited = 0; waited < 20000; waited += 10) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int port = 0;
            int ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok && port > 0) {
                ts->port = port;
                return 0;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "testserver: server exited early (status %d)\n", status);
            ts->pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    fprintf(stderr, "testserver: no port file after 20 s\n");
    return -1;
}

int testserver_start(struct testserver *ts, const char *const *extra_args)
{
    memset(ts, 0, sizeof *ts);
    const char *bin = getenv("FS_SERVER_BIN");
    if (!bin) {
        fprintf(stderr, "testserver: FS_SERVER_BIN not set\n");
        return -1;
    }
    snprintf(ts->bin, sizeof ts->bin, "%s", bin);
    const char *tmp = getenv("TMPDIR");
    snprintf(ts->dir, sizeof ts->dir, "%s/fs-test-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(ts->dir)) {
        perror("testserver: mkdtemp");
        return -1;
    }
    snprintf(ts->ca_path, sizeof ts->ca_path, "%s/tls/ca.crt", ts->dir);
    for (int i = 0; extra_args && extra_args[i] && i < 47; i++)
        ts->extra[i] = extra_args[i];
    return spawn(ts);
}

int testserver_restart(struct testserver *ts, int sig)
{
    int status;
    if (ts->pid <= 0 || kill(ts->pid, sig) != 0 || waitpid(ts->pid, &status, 0) != ts->pid)
        return -1;
    ts->pid = 0;
    return spawn(ts);
}

int testserver_cli(struct testserver *ts, const char *const *args, char *out, size_t cap)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    const char *argv[64];
    int n = 0;
    argv[n++] = ts->bin;
    for (int i = 0; args[i] && n < 60; i++)
        argv[n++] = args[i];
    argv[n++] = "--data-dir";
    argv[n++] = ts->dir;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(ts->bin, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t len = 0;
    char sink[256];
    for (;;) {
        char *dst = out && len + 1 < cap ? out + len : sink;
        size_t room = out && len + 1 < cap ? cap - 1 - len : sizeof sink;
        ssize_t r = read(pipefd[0], dst, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (dst != sink)
            len += (size_t)r;
    }
    close(pipefd[0]);
    if (out && cap)
        out[len] = '\0';
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int testserver_enroll(struct testserver *ts, const char *role, const char *regions, int own_only,
                      char *code, size_t cap)
{
    const char *args[12];
    int n = 0;
    args[n++] = "enroll";
    args[n++] = "--role";
    args[n++] = role;
    if (regions) {
        args[n++] = "--region";
        args[n++] = regions;
    }
    if (own_only)
        args[n++] = "--own-only";
    args[n++] = "--qr=no";
    args[n] = NULL;
    char out[4096];
    if (testserver_cli(ts, args, out, sizeof out) != 0)
        return -1;
    /* The code is on its own line: "code XXXX-XXXX-XXXX-XXXX". */
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "code ", 5) == 0 && strlen(line + 5) < cap) {
            snprintf(code, cap, "%s", line + 5);
            return 0;
        }
    }
    return -1;
}

int testserver_revoke(struct testserver *ts, const char *device)
{
    const char *args[] = {"revoke", device, NULL};
    return testserver_cli(ts, args, NULL, 0) == 0 ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int testserver_stop(struct testserver *ts)
{
    int result = -1;
    if (ts->pid > 0) {
        kill(ts->pid, SIGTERM);
        int status = 0;
        int done = 0;
        for (int waited = 0; waited < 20000; waited += 10) {
            if (waitpid(ts->pid, &status, WNOHANG) == ts->pid) {
                done = 1;
                break;
            }
            sleep_ms(10);
        }
        if (!done) {
            kill(ts->pid, SIGKILL);
            waitpid(ts->pid, &status, 0);
            fprintf(stderr, "testserver: server ignored SIGTERM for 20 s\n");
        } else if (WIFEXITED(status)) {
            result = WEXITSTATUS(status);
        } else {
            fprintf(stderr, "testserver: server died by signal %d\n", WTERMSIG(status));
        }
        ts->pid = 0;
    }
    if (ts->dir[0])
        nftw(ts->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    ts->dir[0] = '\0';
    return result;
}
