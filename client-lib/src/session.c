/*
 * session: the authenticated session fieldsync_sync runs on (connect with the stored server and
 * CA, Hello, Welcome: limits, clock offset, HLC), and enrolment (Enroll/EnrollResult, stored
 * durably with the CA). The credential is zeroed when a session closes.
 */
#include "session.h"

#include "frame.h"

#include <stdio.h>
#include <string.h>

/* ---- session ---- */

static int64_t offset_from(fieldsync_client *c, uint64_t server_hlc)
{
    return (int64_t)hlc_ms(server_hlc) - (int64_t)fieldsync__wall_ms(c);
}

int session_open(struct session *s, fieldsync_client *c, uint32_t connect_ms, uint32_t io_ms)
{
    struct tls_client *t = NULL;
    uint8_t *ca = NULL;
    size_t ca_len = 0;
    int rc;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT, *reply;
    Fieldsync__Hello hello = FIELDSYNC__HELLO__INIT;

    memset(s, 0, sizeof *s);
    wire_init(&s->w, c, NULL);
    if ((rc = lstore_device_get(c, &s->dev)) < 0)
        goto out;
    if (!s->dev.enrolled) {
        rc = fieldsync__fail(c, FIELDSYNC_ESTATE,
                             "this store is not enrolled: fieldsync_enroll "
                             "first");
        goto out;
    }
    if ((rc = lstore_ca_get(c, &ca, &ca_len)) < 0)
        goto out;
    if ((rc = tls_client_connect(c, s->dev.host, s->dev.port, ca, ca_len, connect_ms, io_ms, &t)) <
        0)
        goto out;
    s->w.t = t;
    s->resumed = tls_client_resumed(t);

    hello.protocol_version = 1;
    hello.device_id.data = s->dev.id;
    hello.device_id.len = 16;
    hello.credential.data = s->dev.credential;
    hello.credential.len = FS_CRED_LEN;
    hello.device_high_water = s->dev.next_seq ? s->dev.next_seq - 1 : 0;
    hello.device_hlc = s->dev.hlc_last;
    hello.app_version = (char *)"libfieldsync/0.1.0";
    f.request_id = 1;
    f.msg_case = FIELDSYNC__FRAME__MSG_HELLO;
    f.hello = &hello;
    if ((rc = wire_send(&s->w, &f)) < 0)
        goto out;
    if ((rc = wire_expect(&s->w, 1, FIELDSYNC__FRAME__MSG_WELCOME, &reply)) < 0)
        goto out;
    const Fieldsync__Welcome *wl = reply->welcome;
    if (wl->protocol_version != 1) {
        rc = fieldsync__fail(c, FIELDSYNC_EVERSION, "server speaks protocol %u",
                             wl->protocol_version);
        goto out;
    }
    if (wl->server_hlc >= HLC_LIMIT) {
        rc = fieldsync__fail(c, FIELDSYNC_EPROTO, "the server's clock is out of range");
        goto out;
    }
    if (wl->limits) {
        s->max_frame = wl->limits->max_frame;
        s->max_batch = wl->limits->max_batch;
        s->max_ops = wl->limits->max_ops;
        s->max_in_flight = wl->limits->max_in_flight;
        s->max_page = wl->limits->max_page;
        s->max_clock_ahead_ms = wl->limits->max_clock_ahead_ms;
    }
    if (!s->max_frame)
        s->max_frame = FRAME_MAX_DEFAULT;
    if (!s->max_batch)
        s->max_batch = 64;
    if (!s->max_ops)
        s->max_ops = 256;
    if (!s->max_in_flight)
        s->max_in_flight = 4;
    s->w.max_frame = s->max_frame;
    s->server_high_water = wl->server_high_water;
    /* Clock: offset = server time - local wall time at receipt; the HLC jumps to the
     * server's clock if it is ahead. */
    s->dev.clock_offset_ms = wl->server_time_ms
                                 ? (int64_t)wl->server_time_ms - (int64_t)fieldsync__wall_ms(c)
                                 : offset_from(c, wl->server_hlc);
    hlc_init(&s->hlc, s->dev.hlc_last);
    hlc_update(&s->hlc, wl->server_hlc,
               (uint64_t)((int64_t)fieldsync__wall_ms(c) + s->dev.clock_offset_ms));
    if ((rc = lstore_set_clock(c, s->hlc.last, s->dev.clock_offset_ms)) < 0)
        goto out;
    /* An operator may have changed the device's role or regions since enrolment. */
    char regions[FS_REGIONS_MAX + 1] = "";
    for (size_t i = 0; i < wl->n_regions; i++) {
        size_t have = strlen(regions);
        snprintf(regions + have, sizeof regions - have, "%s%s", i ? "," : "", wl->regions[i]);
    }
    if ((rc = lstore_set_scope(c, (int)wl->role, regions, wl->own_only)) < 0)
        goto out;
    rc = 0;
out:
    fieldsync__free(c, ca);
    if (rc < 0)
        session_close(s);
    return rc;
}

void session_close(struct session *s)
{
    wire_close(&s->w);
    memset(s->dev.credential, 0, sizeof s->dev.credential);
}

/* ---- enrolment ---- */

int fieldsync_enroll(fieldsync_client *c, const char *host, uint16_t port, const char *ca_pem_path,
                     const char *code, const char *device_name)
{
    struct wire w;
    struct tls_client *t = NULL;
    struct lstore_device d;
    uint8_t *ca = NULL;
    size_t ca_len = 0;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT, *reply;
    Fieldsync__Enroll en = FIELDSYNC__ENROLL__INIT;
    int rc = fieldsync__enter(c);

    if (rc < 0)
        return rc;
    wire_init(&w, c, NULL);
    atomic_store(&c->interrupted, 0);
    if (!host || !*host || strlen(host) > FS_HOST_MAX || !port || !ca_pem_path || !code ||
        (device_name && strlen(device_name) > FS_NAME_MAX)) {
        rc = fieldsync__fail(c, FIELDSYNC_EINVAL, "enroll: bad host, port, CA, code or name");
        goto out;
    }
    if ((rc = lstore_device_get(c, &d)) < 0)
        goto out;
    if (d.enrolled) {
        rc = fieldsync__fail(c, FIELDSYNC_ESTATE, "this store is already enrolled as %s",
                             d.name[0] ? d.name : "a device");
        goto out;
    }
    if ((rc = fieldsync__read_file(c, ca_pem_path, &ca, &ca_len)) < 0)
        goto out;
    if ((rc = tls_client_connect(c, host, port, ca, ca_len, c->connect_timeout_ms, c->io_timeout_ms,
                                 &t)) < 0)
        goto out;
    w.t = t;
    en.protocol_version = 1;
    en.code = (char *)code;
    en.device_name = (char *)(device_name ? device_name : "");
    f.request_id = 1;
    f.msg_case = FIELDSYNC__FRAME__MSG_ENROLL;
    f.enroll = &en;
    if ((rc = wire_send(&w, &f)) < 0)
        goto out;
    if ((rc = wire_expect(&w, 1, FIELDSYNC__FRAME__MSG_ENROLL_RESULT, &reply)) < 0)
        goto out;
    const Fieldsync__EnrollResult *er = reply->enroll_result;
    if (er->device_id.len != 16 || er->credential.len != FS_CRED_LEN ||
        er->server_hlc >= HLC_LIMIT) {
        rc = fieldsync__fail(c, FIELDSYNC_EPROTO, "malformed EnrollResult");
        goto out;
    }
    memcpy(d.id, er->device_id.data, 16);
    memcpy(d.credential, er->credential.data, FS_CRED_LEN);
    snprintf(d.name, sizeof d.name, "%s", er->device_name ? er->device_name : "");
    d.role = (int)er->role;
    d.regions[0] = 0;
    for (size_t i = 0; i < er->n_regions; i++) {
        size_t have = strlen(d.regions);
        snprintf(d.regions + have, sizeof d.regions - have, "%s%s", i ? "," : "", er->regions[i]);
    }
    d.own_only = er->own_only;
    snprintf(d.host, sizeof d.host, "%s", host);
    d.port = port;
    struct hlc h;
    hlc_init(&h, d.hlc_last);
    d.hlc_last = hlc_update(&h, er->server_hlc, fieldsync__wall_ms(c));
    if ((rc = lstore_begin(c)) < 0)
        goto out;
    rc = lstore_device_enrolled(c, &d, ca, ca_len);
    if (rc == 0)
        rc = fieldsync__adopt_device(c, d.id);
    if (rc == 0)
        rc = lstore_commit(c);
    if (rc < 0)
        lstore_rollback(c);
out:
    memset(d.credential, 0, sizeof d.credential);
    fieldsync__free(c, ca);
    wire_close(&w);
    return rc;
}
