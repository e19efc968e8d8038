/*
 * benchlib: what every fieldsync benchmark shares: clocks, server RSS and CPU from /proc,
 * a real server child process with bench-friendly limits, device enrolment, realistic
 * ConsultationReports (French text, a few concerns), and the one result-line format that
 * scripts/bench.sh gathers into a table.
 */
#ifndef FS_BENCHLIB_H
#define FS_BENCHLIB_H

#include "testclient.h"
#include "testserver.h"

#include "sync.pb-c.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Monotonic seconds. */
double benchlib_now(void);
/* Wall-clock milliseconds since the Unix epoch. */
uint64_t benchlib_wall_ms(void);
/* Print "bench: message" on stderr and exit(1). */
void benchlib_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A "Key:" line of /proc/<pid>/status in kB (VmRSS:, VmHWM:), or -1. */
long benchlib_status_kb(pid_t pid, const char *key);
/* utime + stime of a process, in seconds, or -1. */
double benchlib_cpu_s(pid_t pid);
/* CPU seconds of each thread of a process: up to cap (tid, seconds) pairs; returns the count.
 * The main thread (tid == pid) is the server's event loop. */
int benchlib_threads_cpu(pid_t pid, int *tids, double *cpu_s, int cap);
/* Bytes the process caused to be written to storage (write_bytes of /proc/<pid>/io), or -1. */
long long benchlib_io_written(pid_t pid);
/* Raise RLIMIT_NOFILE (soft, and hard when allowed) to n; returns the soft limit in force. */
long benchlib_raise_nofile(long n);

/* One result row: scripts/bench.sh collects lines starting with "RESULT|" into the table.
 * verdict: 1 target met, 0 missed, -1 no target. */
void benchlib_result(const char *bench, const char *metric, double value, const char *unit,
                     const char *baseline, const char *target, int verdict);

/* Start the real server (FS_SERVER_BIN, else the path this build was configured with) with
 * the bench defaults: synchronous as given (full|normal), rate limits lifted so the server and
 * not its limiter is measured, plus extra (NULL-terminated, may be NULL). */
int benchlib_server_start(struct testserver *ts, const char *sync_mode, const char *const *extra);
/* Enrol one device (admin CLI code, then Enroll over TLS). 0 or -1. */
int benchlib_enroll(struct testserver *ts, const char *role, const char *regions,
                    struct testclient_identity *id);

/* A realistic encoded ConsultationReport (~1 KB, 3-4 concerns) for region, varied by seed.
 * Returns its length (0 if cap is too small). */
size_t benchlib_report(uint64_t seed, const char *region, uint8_t *buf, size_t cap);
/* The region of a seed (GAO, TOMBOUCTOU, MENAKA in turn). */
const char *benchlib_region(uint64_t seed);

/* ---- push batches ---- */

#define BENCHLIB_MAX_BATCH 256
#define BENCHLIB_BODY_CAP  2048

/* A device as the bench drives it: identity, next device_seq, last HLC issued. */
struct benchlib_device {
    struct testclient_identity id;
    uint64_t next_seq;
    uint64_t last_hlc;
};

/* A record the bench created: what a later one-field edit needs. */
struct benchlib_record {
    uint8_t id[16];
    uint64_t hlc; /* clock of the creating change (the edit's base) */
    uint64_t seed;
};

/* A PushBatch frame with its storage (large: allocate it, don't put it on the stack). */
struct benchlib_batch {
    Fieldsync__Frame frame;
    Fieldsync__PushBatch push;
    Fieldsync__Change ch[BENCHLIB_MAX_BATCH];
    Fieldsync__Change *chp[BENCHLIB_MAX_BATCH];
    Fieldsync__FieldOp op[BENCHLIB_MAX_BATCH];
    Fieldsync__FieldOp *opp[BENCHLIB_MAX_BATCH];
    uint8_t body[BENCHLIB_MAX_BATCH][BENCHLIB_BODY_CAP];
    uint8_t value[BENCHLIB_MAX_BATCH][16];
};

/* A new HLC for the device: wall ms << 16 | counter, never going backwards. */
uint64_t benchlib_hlc(struct benchlib_device *d);
/* Fill b with n new reports (seeds seed0 .. seed0+n-1); records (if given) gets their ids
 * and clocks. Returns the total encoded size of the report bodies. */
size_t benchlib_batch_new(struct benchlib_batch *b, struct benchlib_device *d, size_t n,
                          uint64_t seed0, struct benchlib_record *records);
/* Fill b with one-field edits (end_time, field 9) of the n records, based on their clocks
 * (which then become the edits' clocks, the base of the next edit). */
void benchlib_batch_edit(struct benchlib_batch *b, struct benchlib_device *d, size_t n,
                         struct benchlib_record *records);
/* Count the CHANGE_APPLIED results of a PushAck frame; -1 if it is not a PushAck. */
int benchlib_ack_applied(const Fieldsync__Frame *f);

/* Sort doubles ascending and return the q-quantile (0..1) of the n values (0 if n == 0). */
double benchlib_quantile(double *v, size_t n, double q);

#endif
