/*
 * bad_input_util: shared helpers of the hardening tests (test_bad_input_*.c). A "healthy"
 * device keeps its own authenticated connection to the server under attack; after every bad
 * input case bi_check() proves the server still serves it (Ping, a new push acked, a pull)
 * and that the record it pushed first is byte-for-byte what the server acknowledged.
 */
#ifndef FS_BAD_INPUT_UTIL_H
#define FS_BAD_INPUT_UTIL_H

#include "support/testclient.h"
#include "support/testserver.h"
#include "sync.pb-c.h"

#include <stddef.h>
#include <stdint.h>

struct bi_env {
    struct testserver *ts;
    struct testclient_identity healthy_id;
    struct testclient_identity bad_id; /* a second collector in GAO: the attacker */
    struct testclient *healthy;
    uint64_t healthy_seq;
    uint64_t bad_seq;
    uint8_t rec[16]; /* the healthy device's first record */
    uint8_t snap[8192];
    size_t snap_len; /* packed RecordState as pulled right after its ack */
    unsigned checks;
};

/* Enrol both devices (collectors in GAO), open the healthy session, push and snapshot. */
void bi_setup(struct bi_env *e, struct testserver *ts);
/* The healthy device still works, and its first record is unchanged. */
void bi_check(struct bi_env *e);
void bi_teardown(struct bi_env *e);

/* A TLS connection (not authenticated), and one authenticated as the bad device. */
struct testclient *bi_connect(struct bi_env *e);
struct testclient *bi_session(struct bi_env *e);

uint64_t bi_now_ms(void);
uint64_t bi_hlc_now(void);
void bi_new_id(uint8_t id[16]);
/* An encoded ConsultationReport {region, commune}. Returns its length. */
size_t bi_report(uint8_t *out, size_t cap, const char *region, const char *commune);
/* A Change creating record id with body (not owned; valid while the arguments live). */
void bi_change(Fieldsync__Change *ch, uint64_t seq, uint8_t id[16], const char *region,
               uint64_t hlc, uint8_t *body, size_t body_len);
/* Push changes[0..n) as one batch. Returns the request's rc; *reply set as testclient. */
int bi_push(struct testclient *c, Fieldsync__Change **changes, size_t n, Fieldsync__Frame **reply);
/* Push one change; CHECKs that a PushAck came back and returns its single result's status,
 * with the rejection code (FIELDSYNC_E*) in *err when given. */
int bi_push_one(struct testclient *c, Fieldsync__Change *ch, int *err);
/* The packed RecordState of record id as pulled by c (all pages from cursor 0); 0 if absent. */
size_t bi_pull_record(struct testclient *c, const uint8_t id[16], uint8_t *out, size_t cap);

/* Header + payload as they are. */
int bi_send_payload(struct testclient *c, const uint8_t *p, size_t n);
/* The next frame must be an Error with code (FIELDSYNC_E*) and this closing flag; when
 * closing, the server must then close the connection. */
void bi_expect_error(struct testclient *c, int code, int closing);
/* VmRSS of pid in kB, or -1. */
long bi_rss_kb(int pid);
/* VmHWM (peak resident set) of pid in kB, or -1. */
long bi_hwm_kb(int pid);

#endif
