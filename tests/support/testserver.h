/*
 * testserver: run the real fieldsync-server (path from $FS_SERVER_BIN) as a child process
 * for integration tests: a fresh mkdtemp data directory, --dev certificates, 127.0.0.1 port
 * 0; the port is read from the port file the server writes once it listens. The admin CLI
 * (enroll, revoke, devices) runs as the real subcommands against the same data directory.
 */
#ifndef FS_TESTSERVER_H
#define FS_TESTSERVER_H

#include <stddef.h>
#include <sys/types.h>

struct testserver {
    pid_t pid;
    int port;
    char dir[256];     /* data directory (removed by testserver_stop) */
    char ca_path[512]; /* the dev CA certificate to trust */
    char bin[512];
    const char *extra[48]; /* the extra flags given to testserver_start (the strings must
                              outlive the server: a restart passes them again) */
};

/* Start the server; extra_args is NULL or a NULL-terminated list of further flags
 * (e.g. "--handshake-timeout-ms", "300"). Waits (≤ 20 s) for the port file. 0 or -1. */
int testserver_start(struct testserver *ts, const char *const *extra_args);
/* Stop the server with signal sig (SIGKILL: a crash; SIGTERM: a clean stop), wait for it, and
 * start it again on the same data directory with the same flags (a new port). 0 or -1. */
int testserver_restart(struct testserver *ts, int sig);
/* Run `fieldsync-server <args...> --data-dir DIR`, capturing stdout into out (NUL-terminated).
 * Returns the exit status, or -1 when it could not run. */
int testserver_cli(struct testserver *ts, const char *const *args, char *out, size_t cap);
/* `enroll --role role --region regions [--own-only] --qr=no`: the code (XXXX-XXXX-XXXX-XXXX)
 * into code (≥ 20 bytes). 0 or -1. */
int testserver_enroll(struct testserver *ts, const char *role, const char *regions, int own_only,
                      char *code, size_t cap);
/* `revoke DEVICE`. 0 or -1. */
int testserver_revoke(struct testserver *ts, const char *device);
/* SIGTERM, wait (≤ 20 s, then SIGKILL), remove the data directory. Returns the server's exit
 * status (0 after a clean shutdown), or -1 if it did not exit by itself. */
int testserver_stop(struct testserver *ts);

#endif
