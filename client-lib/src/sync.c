/*
 * sync: fieldsync_sync — push every unacknowledged change, then pull the change feed.
 *
 * Push: pending outbox entries are first numbered into changes (device_seq assigned and
 * committed locally BEFORE anything is sent, so every resend carries the same number and the
 * server applies each change exactly once). Changes go out in PushBatch frames of at most
 * limits.max_batch changes, with up to limits.max_in_flight batches unanswered. A change is
 * forgotten only when its PushAck arrives (APPLIED or DUPLICATE); REJECTED ones are set aside
 * with the server's code and message; CLOCK_AHEAD ones are re-stamped once at server time
 * under a new device_seq and resent.
 * Pull: PullRequest from the stored cursor; each page (records merged with the same merge code
 * as the server, conflicts, next cursor) is applied in ONE local transaction (apply.c).
 * Cancel (progress callback, fieldsync_interrupt) or a cut at any byte leaves the store
 * consistent: the next sync carries on.
 */
#include "apply.h"
#include "session.h"

#include "error.h"
#include "hlc.h"

#include <string.h>

#define WIRE_ERROR_CLOCK_AHEAD 13

struct inflight {
    uint32_t request_id;
    size_t first, count; /* window of ctx->seqs */
};

struct sync_ctx {
    fieldsync_client *c;
    struct session s;
    fieldsync_sync_opts o;
    fieldsync_sync_stats st;
    fieldsync_progress p;
    struct fs_buf seqs;    /* uint64_t[]: changes to send in this round */
    struct fs_buf restamp; /* uint64_t[]: rejected for CLOCK_AHEAD, to re-stamp */
    struct fs_buf chg;     /* one packed change */
    struct fs_buf batch;   /* the PushBatch being built */
    uint64_t high_water;   /* greatest device_seq numbered: sent in every PushBatch */
    struct fs_buf frame;   /* the Frame payload */
    uint32_t next_request;
    uint64_t server_hlc; /* latest server clock seen */
};

static int progress(struct sync_ctx *x, int phase)
{
    x->p.phase = phase;
    if (x->s.w.t) {
        x->p.bytes_sent = tls_client_bytes_sent(x->s.w.t);
        x->p.bytes_received = tls_client_bytes_received(x->s.w.t);
    }
    if (atomic_load(&x->c->interrupted))
        return fieldsync__fail(x->c, FIELDSYNC_ECANCELED, "sync interrupted");
    if (x->o.progress && x->o.progress(&x->p, x->o.user) != 0)
        return fieldsync__fail(x->c, FIELDSYNC_ECANCELED, "sync canceled by the progress callback");
    return 0;
}

static void see_server_clock(struct sync_ctx *x, uint64_t server_hlc)
{
    if (!server_hlc || server_hlc >= HLC_LIMIT)
        return; /* 0: not sent; past the limit: ignored, as a page carrying it is refused */
    if (server_hlc > x->server_hlc)
        x->server_hlc = server_hlc;
    uint64_t wall = (uint64_t)((int64_t)fieldsync__wall_ms(x->c) + x->s.dev.clock_offset_ms);
    hlc_update(&x->s.hlc, server_hlc, wall);
}

static size_t n_u64(const struct fs_buf *b)
{
    return b->len / sizeof(uint64_t);
}

static uint64_t u64_at(const struct fs_buf *b, size_t i)
{
    uint64_t v;
    memcpy(&v, b->p + i * sizeof v, sizeof v);
    return v;
}

static int push_u64(fieldsync_client *c, struct fs_buf *b, uint64_t v)
{
    return fieldsync__buf_put(c, b, &v, sizeof v);
}

/* ---- packing a change ---- */

static int put_tag_len(fieldsync_client *c, struct fs_buf *b, uint32_t field, size_t len)
{
    int rc = fieldsync__buf_varint(c, b, ((uint64_t)field << 3) | 2);
    return rc < 0 ? rc : fieldsync__buf_varint(c, b, len);
}

static int pack_op_cb(fieldsync_client *c, const struct lstore_op *op, void *user)
{
    struct fs_buf *b = user;
    Fieldsync__FieldOp fo = FIELDSYNC__FIELD_OP__INIT;
    int rc;
    if (op->resolves) {
        /* Change.resolves (9), unpacked: accepted by every protobuf parser. */
        if ((rc = fieldsync__buf_varint(c, b, (9u << 3) | 0)) < 0 ||
            (rc = fieldsync__buf_varint(c, b, op->resolves)) < 0)
            return rc;
    }
    if (op->field == 0)
        return 0; /* the record tombstone travels as Change.delete_record */
    fo.field = op->field;
    fo.element_id.data = (uint8_t *)op->element_id;
    fo.element_id.len = op->element_id_len;
    fo.value.data = (uint8_t *)op->value;
    fo.value.len = op->value_len;
    fo.tombstone = op->tombstone;
    fo.hlc = op->hlc;
    fo.base_hlc = op->base_hlc;
    if (op->base_hlc) {
        fo.base_device.data = (uint8_t *)op->base_device;
        fo.base_device.len = 16;
    }
    size_t n = fieldsync__field_op__get_packed_size(&fo);
    if ((rc = put_tag_len(c, b, 7, n)) < 0 || (rc = fieldsync__buf_reserve(c, b, n)) < 0)
        return rc;
    b->len += fieldsync__field_op__pack(&fo, b->p + b->len);
    return 0;
}

/* Pack change `seq` (header, then its ops) into x->chg. */
static int pack_change(struct sync_ctx *x, uint64_t seq)
{
    fieldsync_client *c = x->c;
    struct lstore_change ch;
    Fieldsync__Change m = FIELDSYNC__CHANGE__INIT;
    int rc;
    x->chg.len = 0;
    if ((rc = lstore_change_get(c, seq, &ch)) < 0)
        return rc;
    m.device_seq = seq;
    m.record_id.data = ch.record_id;
    m.record_id.len = 16;
    m.collection = ch.collection;
    m.region = ch.region;
    m.hlc = ch.hlc;
    if (ch.body) {
        m.body.data = (uint8_t *)ch.body;
        m.body.len = ch.body_len;
    }
    m.delete_record = ch.delete_record;
    size_t n = fieldsync__change__get_packed_size(&m);
    if ((rc = fieldsync__buf_reserve(c, &x->chg, n)) < 0)
        return rc;
    x->chg.len = fieldsync__change__pack(&m, x->chg.p);
    return lstore_outbox_by_seq(c, seq, pack_op_cb, &x->chg);
}

/* ---- push ---- */

/* Build and send one batch from seqs[*next...]. */
static int send_batch(struct sync_ctx *x, size_t *next, struct inflight *fl)
{
    fieldsync_client *c = x->c;
    size_t first = *next, count = 0;
    int rc;
    x->batch.len = 0;
    while (*next < n_u64(&x->seqs) && count < x->s.max_batch) {
        uint64_t seq = u64_at(&x->seqs, *next);
        if ((rc = pack_change(x, seq)) < 0)
            return rc;
        size_t add = x->chg.len + 16;
        if (x->batch.len + add + 32 > x->s.max_frame) {
            if (count > 0)
                break;
            /* One change larger than a frame can never go: set it aside. */
            if ((rc = lstore_change_rejected(c, seq, FIELDSYNC_EFRAMESIZE,
                                             "change larger than the server's frame limit")) < 0)
                return rc;
            x->st.rejected++;
            (*next)++;
            first = *next;
            continue;
        }
        if ((rc = put_tag_len(c, &x->batch, 1, x->chg.len)) < 0 ||
            (rc = fieldsync__buf_put(c, &x->batch, x->chg.p, x->chg.len)) < 0)
            return rc;
        count++;
        (*next)++;
    }
    fl->first = first;
    fl->count = count;
    if (count == 0)
        return 0;
    fl->request_id = ++x->next_request;
    x->frame.len = 0;
    if ((rc = fieldsync__buf_varint(c, &x->frame, (1u << 3) | 0)) < 0 ||
        (rc = fieldsync__buf_varint(c, &x->frame, fl->request_id)) < 0 ||
        (rc = fieldsync__buf_varint(c, &x->batch, (2u << 3) | 0)) < 0 ||
        (rc = fieldsync__buf_varint(c, &x->batch, x->high_water)) < 0 ||
        (rc = put_tag_len(c, &x->frame, 9, x->batch.len)) < 0 ||
        (rc = fieldsync__buf_put(c, &x->frame, x->batch.p, x->batch.len)) < 0)
        return rc;
    return wire_send_raw(&x->s.w, x->frame.p, x->frame.len);
}

static int handle_ack(struct sync_ctx *x, const struct inflight *fl, const Fieldsync__PushAck *ack)
{
    fieldsync_client *c = x->c;
    int rc;
    if (ack->n_results != fl->count)
        return fieldsync__fail(c, FIELDSYNC_EPROTO, "PushAck has %zu results for %zu changes",
                               ack->n_results, fl->count);
    see_server_clock(x, ack->server_hlc);
    if ((rc = lstore_begin(c)) < 0)
        return rc;
    for (size_t k = 0; k < fl->count && rc == 0; k++) {
        const Fieldsync__ChangeResult *r = ack->results[k];
        uint64_t seq = u64_at(&x->seqs, fl->first + k);
        if (r->device_seq && r->device_seq != seq) {
            rc = fieldsync__fail(c, FIELDSYNC_EPROTO, "PushAck result for seq %llu, expected %llu",
                                 (unsigned long long)r->device_seq, (unsigned long long)seq);
            break;
        }
        switch (r->status) {
        case FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED:
            x->st.pushed++;
            rc = lstore_change_delivered(c, seq);
            break;
        case FIELDSYNC__CHANGE_STATUS__CHANGE_DUPLICATE:
            x->st.duplicates++;
            rc = lstore_change_delivered(c, seq);
            break;
        case FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED: {
            struct lstore_change ch;
            if ((int)r->error == WIRE_ERROR_CLOCK_AHEAD &&
                (rc = lstore_change_get(c, seq, &ch)) == 0 && !ch.restamped) {
                rc = push_u64(c, &x->restamp, seq);
                break;
            }
            if (rc == 0) {
                x->st.rejected++;
                rc = lstore_change_rejected(c, seq, error_from_wire((int)r->error),
                                            r->message ? r->message : "");
            }
            break;
        }
        default:
            rc = fieldsync__fail(c, FIELDSYNC_EPROTO, "PushAck with an unknown status %d",
                                 (int)r->status);
            break;
        }
    }
    if (rc == 0)
        rc = lstore_set_hlc(c, x->s.hlc.last);
    if (rc == 0)
        rc = lstore_commit(c);
    if (rc < 0) {
        lstore_rollback(c);
        return rc;
    }
    x->p.done += fl->count;
    return progress(x, FIELDSYNC_PHASE_PUSH);
}

/* Send every change listed in x->seqs, pipelined, and process the acks. */
static int push_round(struct sync_ctx *x)
{
    struct inflight fl[64];
    size_t nfl = 0, next = 0;
    uint32_t max_fl = x->s.max_in_flight;
    int rc;
    if (max_fl > 64)
        max_fl = 64;
    if (max_fl < 1)
        max_fl = 1;
    while (next < n_u64(&x->seqs) || nfl > 0) {
        while (nfl < max_fl && next < n_u64(&x->seqs)) {
            if ((rc = send_batch(x, &next, &fl[nfl])) < 0)
                return rc;
            if (fl[nfl].count)
                nfl++;
        }
        if (nfl == 0)
            break;
        Fieldsync__Frame *f;
        if ((rc = wire_recv(&x->s.w, &f)) < 0)
            return rc;
        if (f->msg_case == FIELDSYNC__FRAME__MSG_PONG)
            continue;
        size_t i;
        for (i = 0; i < nfl && fl[i].request_id != f->request_id; i++)
            ;
        if (f->msg_case == FIELDSYNC__FRAME__MSG_ERROR)
            return wire_error(&x->s.w, f->error);
        if (i == nfl || f->msg_case != FIELDSYNC__FRAME__MSG_PUSH_ACK)
            return fieldsync__fail(x->c, FIELDSYNC_EPROTO,
                                   "unexpected frame during push (request %u, message %d)",
                                   f->request_id, (int)f->msg_case);
        struct inflight done = fl[i];
        memmove(&fl[i], &fl[i + 1], (nfl - i - 1) * sizeof fl[0]);
        nfl--;
        if ((rc = handle_ack(x, &done, f->push_ack)) < 0)
            return rc;
    }
    return 0;
}

static int collect_seq(fieldsync_client *c, const struct lstore_change *ch, void *user)
{
    return push_u64(c, user, ch->seq);
}

/* Adopt the server's time and re-stamp the changes it found too far ahead, under new device
 * sequence numbers (the rejected numbers had no effect). */
static int restamp(struct sync_ctx *x)
{
    fieldsync_client *c = x->c;
    int rc;
    uint64_t wall = fieldsync__wall_ms(c);
    int64_t offset = (int64_t)hlc_ms(x->server_hlc) - (int64_t)wall;
    uint64_t ahead = x->s.max_clock_ahead_ms ? x->s.max_clock_ahead_ms : 600000;
    uint64_t bound = hlc_make(hlc_ms(x->server_hlc) + ahead, 0);
    hlc_init(&x->s.hlc, x->server_hlc);
    uint64_t h = hlc_now(&x->s.hlc, (uint64_t)((int64_t)wall + offset));
    x->s.dev.clock_offset_ms = offset;
    x->seqs.len = 0;
    if ((rc = lstore_durable(c, 1)) < 0) /* new device_seqs: see push() */
        return rc;
    if ((rc = lstore_begin(c)) < 0) {
        lstore_durable(c, 0);
        return rc;
    }
    rc = lstore_force_clock(c, h, offset);
    for (size_t i = 0; rc == 0 && i < n_u64(&x->restamp); i++) {
        uint64_t seq = u64_at(&x->restamp, i), nseq;
        struct lstore_change ch;
        if ((rc = lstore_change_get(c, seq, &ch)) < 0 || (rc = lstore_take_seq(c, &nseq)) < 0)
            break;
        uint8_t rid[16];
        memcpy(rid, ch.record_id, 16);
        if ((rc = lstore_change_renumber(c, seq, nseq, h)) < 0 ||
            (rc = fieldsync__restamp_record(c, rid, bound, h)) < 0)
            break;
        rc = push_u64(c, &x->seqs, nseq);
        if (nseq > x->high_water)
            x->high_water = nseq;
    }
    if (rc == 0)
        rc = lstore_outbox_restamp(c, bound, h);
    if (rc == 0)
        rc = lstore_commit(c);
    if (rc < 0)
        lstore_rollback(c);
    int rc2 = lstore_durable(c, 0);
    if (rc == 0)
        rc = rc2;
    x->restamp.len = 0;
    return rc;
}

/* The server stamps every field of a new record's body with the change's clock: give the
 * local copy the same clocks now, so that an edit before the next pull carries the right base
 * (no spurious conflict) — the pull would converge to the same state anyway. */
static int body_clocks(fieldsync_client *c, const uint8_t id[16], uint64_t hlc, void *user)
{
    (void)user;
    return fieldsync__restamp_record(c, id, 1, hlc);
}

static int push(struct sync_ctx *x)
{
    fieldsync_client *c = x->c;
    uint64_t numbered;
    int rc;
    /* Number pending edits durably (fsync, even against a power cut) before anything is
     * sent: a device_seq must never come back with other content. */
    if ((rc = lstore_durable(c, 1)) < 0)
        return rc;
    if ((rc = lstore_begin(c)) == 0) {
        rc = lstore_number_pending(c, x->s.max_ops, &numbered, body_clocks, NULL);
        if (rc == 0)
            rc = lstore_commit(c);
        if (rc < 0)
            lstore_rollback(c);
    }
    int rc2 = lstore_durable(c, 0);
    if (rc == 0)
        rc = rc2;
    if (rc < 0)
        return rc;
    x->seqs.len = 0;
    if ((rc = lstore_changes_unacked(c, collect_seq, &x->seqs)) < 0)
        return rc;
    x->high_water = x->s.dev.next_seq ? x->s.dev.next_seq - 1 : 0;
    for (size_t i = 0; i < n_u64(&x->seqs); i++)
        if (u64_at(&x->seqs, i) > x->high_water)
            x->high_water = u64_at(&x->seqs, i);
    x->p.done = 0;
    x->p.total = n_u64(&x->seqs);
    if ((rc = progress(x, FIELDSYNC_PHASE_PUSH)) < 0)
        return rc;
    if ((rc = push_round(x)) < 0)
        return rc;
    if (n_u64(&x->restamp) > 0) {
        if ((rc = restamp(x)) < 0)
            return rc;
        x->p.total += n_u64(&x->seqs);
        rc = push_round(x);
    }
    return rc;
}

/* ---- pull ---- */

static int pull(struct sync_ctx *x)
{
    fieldsync_client *c = x->c;
    struct lstore_device d;
    int rc;
    if ((rc = lstore_device_get(c, &d)) < 0)
        return rc;
    uint64_t cursor = d.cursor;
    x->p.done = 0;
    x->p.total = 0;
    if ((rc = progress(x, FIELDSYNC_PHASE_PULL)) < 0)
        return rc;
    for (;;) {
        Fieldsync__Frame f = FIELDSYNC__FRAME__INIT, *reply;
        Fieldsync__PullRequest pr = FIELDSYNC__PULL_REQUEST__INIT;
        pr.cursor = cursor;
        pr.page_size = x->o.page_size;
        f.request_id = ++x->next_request;
        f.msg_case = FIELDSYNC__FRAME__MSG_PULL;
        f.pull = &pr;
        if ((rc = wire_send(&x->s.w, &f)) < 0)
            return rc;
        if ((rc = wire_expect(&x->s.w, f.request_id, FIELDSYNC__FRAME__MSG_PAGE, &reply)) < 0)
            return rc;
        const Fieldsync__PullPage *pg = reply->page;
        struct apply_clock ck = {
            .hlc = &x->s.hlc, .clock_offset_ms = x->s.dev.clock_offset_ms, .seen = x->server_hlc};
        rc = apply_page(c, pg, cursor, &ck);
        x->server_hlc = ck.seen;
        x->st.conflicts += ck.conflicts;
        if (rc < 0)
            return rc;
        x->st.pulled += pg->n_records;
        x->p.done += pg->n_records;
        if ((rc = progress(x, FIELDSYNC_PHASE_PULL)) < 0)
            return rc;
        if (!pg->more)
            break;
        if (pg->next_cursor <= cursor)
            return fieldsync__fail(c, FIELDSYNC_EPROTO, "pull cursor did not advance (%llu)",
                                   (unsigned long long)cursor);
        cursor = pg->next_cursor;
    }
    return 0;
}

/* ---- the public call ---- */

void fieldsync_sync_opts_init(fieldsync_sync_opts *o)
{
    if (o)
        memset(o, 0, sizeof *o);
}

int fieldsync_sync(fieldsync_client *c, const fieldsync_sync_opts *opts)
{
    struct sync_ctx x;
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    memset(&x, 0, sizeof x);
    x.c = c;
    if (opts)
        x.o = *opts;
    if (x.o.stats)
        memset(x.o.stats, 0, sizeof *x.o.stats);
    atomic_store(&c->interrupted, 0);
    uint64_t t0 = fieldsync__wall_ms(c);
    uint32_t cms = x.o.connect_timeout_ms ? x.o.connect_timeout_ms : c->connect_timeout_ms;
    uint32_t ims = x.o.io_timeout_ms ? x.o.io_timeout_ms : c->io_timeout_ms;

    if ((rc = progress(&x, FIELDSYNC_PHASE_CONNECT)) < 0)
        goto out;
    if ((rc = session_open(&x.s, c, cms, ims)) < 0)
        goto out;
    x.st.resumed = x.s.resumed;
    x.next_request = 1; /* 1 was Hello */
    if (!x.o.no_push && (rc = push(&x)) < 0)
        goto out;
    if (!x.o.no_pull && (rc = pull(&x)) < 0)
        goto out;
    if ((rc = lstore_set_last_sync(c, fieldsync__wall_ms(c))) < 0)
        goto out;
    x.p.done = x.p.total = 0;
    (void)progress(&x, FIELDSYNC_PHASE_DONE); /* all done: too late to cancel */
    rc = 0;
out:
    session_close(&x.s);
    fieldsync__buf_free(c, &x.seqs);
    fieldsync__buf_free(c, &x.restamp);
    fieldsync__buf_free(c, &x.chg);
    fieldsync__buf_free(c, &x.batch);
    fieldsync__buf_free(c, &x.frame);
    x.st.elapsed_ms = fieldsync__wall_ms(c) - t0;
    if (x.o.stats)
        *x.o.stats = x.st;
    return rc;
}
