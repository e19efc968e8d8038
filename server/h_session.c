/*
 * h_session: the session requests: Hello (authenticate a device), Enroll (redeem a one-time
 * code) and Ping. Hello and Enroll read and write the devices tables, so they run as writer
 * jobs: the loop thread never waits on disk. The connection is held by conn_ref while a job
 * is in flight; if it closed meanwhile the answer is dropped.
 * Secrets: the Enroll code and the Hello credential are hashed at once and the copies wiped;
 * the new credential lives in the job only until the EnrollResult is encrypted.
 */
#include "auth.h"
#include "rate.h"
#include "conn_internal.h"
#include "error.h"
#include "handlers.h"
#include "log.h"
#include "pbwire.h"
#include "server.h"
#include "store.h"
#include "tls.h"
#include "uuid.h"
#include "writer.h"

#include <stdlib.h>
#include <string.h>

#define APP_VERSION_MAX 64

struct hello_job {
    struct writer_job job;
    struct conn *c;
    uint32_t request_id;
    uint8_t device_id[16];
    uint8_t cred_hash[STORE_HASH_LEN];
    uint64_t reported_hw;
    int64_t now_ms;
    char app_version[APP_VERSION_MAX + 1];
    struct store_device dev; /* filled by run */
};

struct enroll_job {
    struct writer_job job;
    struct conn *c;
    uint32_t request_id;
    uint8_t code_hash[STORE_HASH_LEN];
    uint8_t device_id[16];
    uint8_t credential[AUTH_CRED_LEN];
    uint8_t cred_hash[STORE_HASH_LEN];
    int64_t now_ms;
    char suggested_name[STORE_NAME_MAX + 1];
    struct store_device dev;
};

static int utf8_ok(const char *s)
{
    return !s || pbwire_utf8_ok((const uint8_t *)s, strlen(s));
}

/* Copy at most cap - 1 bytes of valid UTF-8 src, never cutting a character in two. */
static void copy_bounded(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static int submit(struct conn *c, struct writer_job *job)
{
    struct server *s = conn_server(c);
    if (!s->writer)
        return FIELDSYNC_ESHUTDOWN;
    conn_ref(c);
    conn_set_auth_pending(c, 1);
    int rc = writer_submit(s->writer, job);
    if (rc < 0) {
        conn_set_auth_pending(c, 0);
        conn_unref(c);
    }
    return rc;
}

/* ---- Hello ---- */

static int hello_run(struct store *st, struct writer_job *job)
{
    struct hello_job *j = (struct hello_job *)job;
    int rc = store_device_get(st, j->device_id, &j->dev);
    if (rc == FIELDSYNC_ENOTFOUND)
        return FIELDSYNC_EAUTH;
    if (rc < 0)
        return rc;
    if ((rc = auth_check(&j->dev, j->cred_hash)) < 0)
        return rc;
    j->dev.last_seen_ms = j->now_ms;
    j->dev.reported_hw = j->reported_hw;
    return store_device_touch(st, j->device_id, j->now_ms, j->reported_hw, j->app_version);
}

static void hello_done(struct writer_job *job)
{
    struct hello_job *j = (struct hello_job *)job;
    struct conn *c = j->c;
    struct server *s = conn_server(c);
    char idstr[UUID_STR_LEN + 1];
    uuid_format(j->device_id, idstr);
    conn_set_auth_pending(c, 0);
    if (conn_is_closing(c))
        goto out;
    if (job->rc < 0) {
        if (job->rc == FIELDSYNC_EREVOKED)
            conn_reply_error(c, j->request_id, FIELDSYNC_EREVOKED, 1, "device %s was revoked",
                             idstr);
        else if (job->rc == FIELDSYNC_EAUTH)
            conn_reply_error(c, j->request_id, FIELDSYNC_EAUTH, 1,
                             "unknown device or wrong credential");
        else
            conn_reply_error(c, j->request_id, job->rc, 1, "authentication failed: %s",
                             error_str(job->rc));
        goto out;
    }
    struct session sess;
    memset(&sess, 0, sizeof sess);
    sess.role = (enum session_role)j->dev.role;
    memcpy(sess.device_id, j->device_id, 16);
    sess.own_only = j->dev.own_only;
    if (session_set_regions(&sess, j->dev.regions) < 0) {
        conn_reply_error(c, j->request_id, FIELDSYNC_EINTERNAL, 1, "stored regions invalid");
        goto out;
    }
    conn_set_session(c, &sess);

    const struct config *cfg = s->cfg;
    Fieldsync__Limits lim = FIELDSYNC__LIMITS__INIT;
    lim.max_frame = cfg->max_frame;
    lim.max_batch = cfg->max_batch;
    lim.max_ops = cfg->max_ops;
    lim.max_record = cfg->max_record;
    lim.max_in_flight = cfg->max_in_flight;
    lim.max_page = cfg->max_page;
    lim.max_clock_ahead_ms = cfg->max_clock_ahead_ms;
    lim.idle_timeout_ms = cfg->idle_timeout_ms;
    char *regions[SESSION_MAX_REGIONS];
    for (int i = 0; i < sess.n_regions; i++)
        regions[i] = sess.regions[i];
    Fieldsync__Welcome w = FIELDSYNC__WELCOME__INIT;
    w.protocol_version = 1;
    w.server_hlc = server_hlc_now(s);
    w.server_time_ms = server_wall_ms(s);
    w.limits = &lim;
    w.role = (Fieldsync__Role)sess.role;
    w.n_regions = (size_t)sess.n_regions;
    w.regions = regions;
    w.own_only = sess.own_only;
    w.server_high_water = j->dev.applied_hw;
    w.device_name = j->dev.name;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_WELCOME;
    f.welcome = &w;
    log_info("event=hello peer=%s device=%s name=\"%s\" role=%s regions=%s reported_hw=%llu "
             "applied_hw=%llu",
             conn_peer(c), idstr, j->dev.name, auth_role_name(j->dev.role), j->dev.regions,
             (unsigned long long)j->reported_hw, (unsigned long long)j->dev.applied_hw);
    conn_reply(c, j->request_id, &f);
out:
    conn_unref(c);
    free(j);
}

void h_hello(struct conn *c, const Fieldsync__Frame *f)
{
    const Fieldsync__Hello *h = f->hello;
    uint32_t rid = f->request_id;
    if (h->protocol_version != 1) {
        conn_reply_error(c, rid, FIELDSYNC_EVERSION, 1,
                         "protocol version %u not supported; this server speaks 1",
                         h->protocol_version);
        return;
    }
    if (!utf8_ok(h->app_version)) {
        conn_reply_error(c, rid, FIELDSYNC_EUTF8, 0, "app_version is not valid UTF-8");
        return;
    }
    if (h->device_id.len != 16 || h->credential.len != AUTH_CRED_LEN) {
        conn_reply_error(c, rid, FIELDSYNC_EAUTH, 1, "device id or credential malformed");
        return;
    }
    struct hello_job *j = calloc(1, sizeof *j);
    if (!j) {
        conn_reply_error(c, rid, FIELDSYNC_ENOMEM, 1, "out of memory");
        return;
    }
    j->job.run = hello_run;
    j->job.done = hello_done;
    j->c = c;
    j->request_id = rid;
    memcpy(j->device_id, h->device_id.data, 16);
    auth_credential_hash(h->credential.data, h->credential.len, j->cred_hash);
    tls_zeroize(h->credential.data, h->credential.len);
    j->reported_hw = h->device_high_water;
    j->now_ms = (int64_t)server_wall_ms(conn_server(c));
    copy_bounded(j->app_version, sizeof j->app_version, h->app_version);
    int rc = submit(c, &j->job);
    if (rc < 0) {
        free(j);
        conn_reply_error(c, rid, rc, 1, "server shutting down");
    }
}

/* ---- Enroll ---- */

static int enroll_run(struct store *st, struct writer_job *job)
{
    struct enroll_job *j = (struct enroll_job *)job;
    return store_enroll_redeem(st, j->code_hash, j->now_ms, j->device_id, j->cred_hash,
                               j->suggested_name, &j->dev);
}

static void enroll_done(struct writer_job *job)
{
    struct enroll_job *j = (struct enroll_job *)job;
    struct conn *c = j->c;
    struct server *s = conn_server(c);
    conn_set_auth_pending(c, 0);
    if (conn_is_closing(c))
        goto out;
    if (job->rc < 0) {
        if (job->rc == FIELDSYNC_EENROLL)
            conn_reply_error(c, j->request_id, FIELDSYNC_EENROLL, 0,
                             "enrolment code unknown, already used or expired");
        else
            conn_reply_error(c, j->request_id, job->rc, 0, "enrolment failed: %s",
                             error_str(job->rc));
        goto out;
    }
    struct session sess;
    memset(&sess, 0, sizeof sess);
    char *regions[SESSION_MAX_REGIONS];
    if (session_set_regions(&sess, j->dev.regions) < 0)
        sess.n_regions = 0;
    for (int i = 0; i < sess.n_regions; i++)
        regions[i] = sess.regions[i];
    Fieldsync__EnrollResult r = FIELDSYNC__ENROLL_RESULT__INIT;
    r.device_id.data = j->device_id;
    r.device_id.len = 16;
    r.credential.data = j->credential;
    r.credential.len = AUTH_CRED_LEN;
    r.role = (Fieldsync__Role)j->dev.role;
    r.n_regions = (size_t)sess.n_regions;
    r.regions = regions;
    r.own_only = j->dev.own_only;
    r.device_name = j->dev.name;
    r.server_hlc = server_hlc_now(s);
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.msg_case = FIELDSYNC__FRAME__MSG_ENROLL_RESULT;
    f.enroll_result = &r;
    char idstr[UUID_STR_LEN + 1];
    uuid_format(j->device_id, idstr);
    log_info("event=enroll peer=%s device=%s name=\"%s\" role=%s regions=%s own_only=%d",
             conn_peer(c), idstr, j->dev.name, auth_role_name(j->dev.role), j->dev.regions,
             j->dev.own_only);
    conn_reply(c, j->request_id, &f);
    conn_restart_handshake_timer(c);
out:
    tls_zeroize(j->credential, sizeof j->credential);
    conn_unref(c);
    free(j);
}

void h_enroll(struct conn *c, const Fieldsync__Frame *f)
{
    const Fieldsync__Enroll *e = f->enroll;
    uint32_t rid = f->request_id;
    struct server *s = conn_server(c);
    if (e->protocol_version != 1) {
        conn_reply_error(c, rid, FIELDSYNC_EVERSION, 1,
                         "protocol version %u not supported; this server speaks 1",
                         e->protocol_version);
        return;
    }
    uint8_t ip[16];
    size_t ip_len = conn_peer_ip(c, ip);
    if (rate_enroll_admit(ip, ip_len, server_wall_ms(s), s->cfg->enroll_attempts_per_min) < 0) {
        conn_reply_error(c, rid, FIELDSYNC_ERATE, 0,
                         "too many enrolment attempts from this address; retry in a minute");
        return;
    }
    if (!utf8_ok(e->device_name)) {
        conn_reply_error(c, rid, FIELDSYNC_EUTF8, 0, "device_name is not valid UTF-8");
        return;
    }
    char norm[AUTH_CODE_CHARS + 1];
    if (auth_code_normalize(e->code ? e->code : "", norm) < 0) {
        conn_reply_error(c, rid, FIELDSYNC_EENROLL, 0,
                         "enrolment code unknown, already used or expired");
        return;
    }
    struct enroll_job *j = calloc(1, sizeof *j);
    if (!j) {
        tls_zeroize(norm, sizeof norm);
        conn_reply_error(c, rid, FIELDSYNC_ENOMEM, 1, "out of memory");
        return;
    }
    j->job.run = enroll_run;
    j->job.done = enroll_done;
    j->c = c;
    j->request_id = rid;
    auth_code_hash(norm, j->code_hash);
    tls_zeroize(norm, sizeof norm);
    if (e->code)
        tls_zeroize(e->code, strlen(e->code));
    j->now_ms = (int64_t)server_wall_ms(s);
    copy_bounded(j->suggested_name, sizeof j->suggested_name, e->device_name);
    if (uuid_v7(j->device_id, (uint64_t)j->now_ms) < 0 ||
        auth_credential_new(j->credential, j->cred_hash) < 0) {
        free(j);
        conn_reply_error(c, rid, FIELDSYNC_EIO, 1, "no randomness");
        return;
    }
    int rc = submit(c, &j->job);
    if (rc < 0) {
        tls_zeroize(j->credential, sizeof j->credential);
        free(j);
        conn_reply_error(c, rid, rc, 1, "server shutting down");
    }
}

/* ---- Ping: answered from memory, never touches the store ---- */

void h_ping(struct conn *c, const Fieldsync__Frame *f)
{
    Fieldsync__Pong p = FIELDSYNC__PONG__INIT;
    p.nonce = f->ping->nonce;
    p.server_hlc = server_hlc_now(conn_server(c));
    Fieldsync__Frame out = FIELDSYNC__FRAME__INIT;
    out.msg_case = FIELDSYNC__FRAME__MSG_PONG;
    out.pong = &p;
    conn_reply(c, f->request_id, &out);
}
