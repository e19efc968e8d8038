/*
 * handler_harness: see handler_harness.h. Loop thread = the fuzzer's thread; the writer and
 * the reader pool run on their own threads as in the server.
 */
#include "handler_harness.h"

#include "arena.h"
#include "auth.h"
#include "collections.h"
#include "config.h"
#include "conn_internal.h"
#include "consultation.pb-c.h"
#include "error.h"
#include "frame.h"
#include "log.h"
#include "merge.h"
#include "reader.h"
#include "server.h"
#include "session.h"
#include "store.h"
#include "writer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes, growing. */
struct buf {
    uint8_t *p;
    size_t len, cap;
};

struct req {
    uint32_t rid;
    Fieldsync__Frame *f; /* NULL when it does not decode */
};

static struct {
    int up, verbose;
    unsigned flags;
    unsigned inputs;
    uint64_t now_ms;
    char dir[256];
    struct config cfg;
    uv_loop_t loop;
    struct server s;
    struct conn_list conns;
    /* the connection of the current input */
    struct conn *c;
    struct buf sent, out;
    size_t out_done; /* bytes of out already decoded */
    struct arena arena;
    Fieldsync__Frame **replies;
    size_t n_replies, cap_replies;
    int closing_seen;
    struct session sess;  /* from the Welcome; role NONE before */
    uint64_t feed_cursor; /* where hh_pull_feed stopped */
} H;

static void buf_add(struct buf *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        CHECKF(b->p != NULL);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* Empty, and give the memory back when an input made it big. */
static void buf_clear(struct buf *b)
{
    b->len = 0;
    if (b->cap > (1u << 22)) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

void hh_device_id(int i, uint8_t out[16])
{
    static const uint8_t base[16] = {0x01, 0x9a, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0};
    memcpy(out, base, 16);
    out[15] = (uint8_t)(0x01 + i);
}

void hh_credential(int i, uint8_t out[32])
{
    memset(out, 0x40 + i, 32);
}

static uint64_t harness_wall_ms(void)
{
    return H.now_ms++;
}

static void on_output(void *user, const uint8_t *frame, size_t len)
{
    (void)user;
    buf_add(&H.out, frame, len);
}

/* Run the loop until no writer or reader job is pending (their done callbacks have run). */
static void run_until_idle(void)
{
    while ((H.s.writer && writer_pending(H.s.writer)) || (H.s.reader && reader_pending(H.s.reader)))
        uv_run(&H.loop, UV_RUN_ONCE);
}

/* ---- server life ---- */

static void enroll_devices(void)
{
    static const struct {
        int role;
        const char *regions;
        int own_only;
    } dev[HH_DEVICES] = {
        {SESSION_ROLE_COLLECTOR, "GAO,MENAKA", 0},
        {SESSION_ROLE_COLLECTOR, "GAO", 1},
        {SESSION_ROLE_COORDINATOR, "GAO,TOMBOUCTOU", 0},
        {SESSION_ROLE_ADMIN, "", 0},
        {SESSION_ROLE_COLLECTOR, "GAO", 0},
    };
    struct store *st = NULL;
    char err[256];
    CHECKF(store_open(&st, H.s.db_path, 1, NULL, err, sizeof err) == 0);
    CHECKF(store_begin(st) == 0);
    for (int i = 0; i < HH_DEVICES + 2; i++) {
        struct store_enroll_code code;
        memset(&code, 0, sizeof code);
        char shown[AUTH_CODE_SHOWN + 1], norm[AUTH_CODE_CHARS + 1];
        if (i < HH_DEVICES)
            CHECKF(auth_code_new(shown) == 0);
        else
            snprintf(shown, sizeof shown, "%s", i == HH_DEVICES ? HH_CODE : HH_CODE_EXPIRED);
        CHECKF(auth_code_normalize(shown, norm) == 0);
        auth_code_hash(norm, code.code_hash);
        code.role = i < HH_DEVICES ? dev[i].role : SESSION_ROLE_COLLECTOR;
        snprintf(code.regions, sizeof code.regions, "%s", i < HH_DEVICES ? dev[i].regions : "GAO");
        code.own_only = i < HH_DEVICES && dev[i].own_only;
        snprintf(code.name, sizeof code.name, "harness-%d", i);
        code.created_ms = (int64_t)HH_T0_MS - 1000;
        code.expires_ms = i == HH_DEVICES + 1 ? (int64_t)HH_T0_MS - 1 : 0;
        CHECKF(store_enroll_code_add(st, &code) == 0);
        if (i >= HH_DEVICES)
            continue;
        uint8_t id[16], cred[32], hash[STORE_HASH_LEN];
        struct store_device d;
        hh_device_id(i, id);
        hh_credential(i, cred);
        auth_credential_hash(cred, sizeof cred, hash);
        CHECKF(store_enroll_redeem(st, code.code_hash, (int64_t)HH_T0_MS - 500, id, hash, "", &d) ==
               0);
    }
    uint8_t revoked[16];
    hh_device_id(4, revoked);
    CHECKF(store_device_revoke(st, revoked, (int64_t)HH_T0_MS - 100) == 0);
    CHECKF(store_commit(st) == 0);
    store_close(st);
}

static void close_connection(void);

static void push_frame(uint32_t rid, Fieldsync__Change **ch, size_t n)
{
    Fieldsync__PushBatch b = FIELDSYNC__PUSH_BATCH__INIT;
    b.changes = ch;
    b.n_changes = n;
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.request_id = rid;
    f.msg_case = FIELDSYNC__FRAME__MSG_PUSH;
    f.push = &b;
    size_t len = frame_encoded_size(&f);
    uint8_t *p = malloc(len);
    CHECKF(p && frame_encode(&f, p, len) == len);
    hh_send(p, len, 0);
    free(p);
}

/* Records from every active device through the real push path: new records in and out of
 * one another's regions, edits on a stale base (conflicts), a delete. */
static void seed_records(void)
{
    static const char *regions[HH_ACTIVE][2] = {
        {"GAO", "MENAKA"}, {"GAO", "GAO"}, {"TOMBOUCTOU", "GAO"}, {"KIDAL", "MENAKA"}};
    static const char *communes[] = {"Ansongo", "Bourem", "Gabero", "Ménaka", "Tessit"};
    uint8_t first[16]; /* device 0's first record: everyone in GAO edits it */
    for (int d = 0; d < HH_ACTIVE; d++) {
        Fieldsync__Change ch[8], *chp[8];
        Fieldsync__FieldOp op, *opp = &op;
        uint8_t ids[8][16], bodies[8][128], val[32], base_dev[16];
        size_t n = 0;
        for (; n < 6; n++) {
            Fieldsync__ConsultationReport r = FIELDSYNC__CONSULTATION_REPORT__INIT;
            r.region = (char *)regions[d][n % 2];
            r.commune = (char *)communes[(d + n) % 5];
            r.summary = "Réunion du comité consultatif de sécurité";
            hh_device_id(d, ids[n]);
            ids[n][0] = 0x01;
            ids[n][1] = 0x9b;
            ids[n][14] = (uint8_t)n;
            fieldsync__change__init(&ch[n]);
            ch[n].device_seq = n + 1;
            ch[n].record_id.data = ids[n];
            ch[n].record_id.len = 16;
            ch[n].collection = COLLECTION_CONSULTATION_REPORT;
            ch[n].region = r.region;
            ch[n].hlc = (HH_T0_MS - 60000 + (uint64_t)(d * 10 + (int)n)) << 16;
            ch[n].body.len = fieldsync__consultation_report__pack(&r, bodies[n]);
            ch[n].body.data = bodies[n];
            chp[n] = &ch[n];
        }
        if (d == 0)
            memcpy(first, ids[0], 16);
        if (d == 1 || d == 3) {
            /* An edit of device 0's first record whose base is not the stored clock. */
            fieldsync__field_op__init(&op);
            op.field = 3;
            val[0] = 0x1a;
            val[1] = (uint8_t)snprintf((char *)val + 2, sizeof val - 2, "Edit %d", d);
            op.value.data = val;
            op.value.len = 2u + val[1];
            op.base_hlc = (HH_T0_MS - 120000) << 16;
            hh_device_id(2, base_dev);
            op.base_device.data = base_dev;
            op.base_device.len = 16;
            fieldsync__change__init(&ch[n]);
            ch[n].device_seq = n + 1;
            ch[n].record_id.data = first;
            ch[n].record_id.len = 16;
            ch[n].collection = COLLECTION_CONSULTATION_REPORT;
            ch[n].region = "GAO";
            ch[n].hlc = (HH_T0_MS - 30000 + (uint64_t)d) << 16;
            ch[n].n_ops = 1;
            ch[n].ops = &opp;
            chp[n] = &ch[n];
            n++;
        }
        if (d == 3) {
            fieldsync__change__init(&ch[n]);
            ch[n].device_seq = n + 1;
            ch[n].record_id.data = ids[1];
            ch[n].record_id.len = 16;
            ch[n].collection = COLLECTION_CONSULTATION_REPORT;
            ch[n].region = (char *)regions[d][1];
            ch[n].hlc = (HH_T0_MS - 20000) << 16;
            ch[n].delete_record = 1;
            chp[n] = &ch[n];
            n++;
        }
        hh_open();
        hh_hello(d, 1);
        push_frame(2, chp, n);
        CHECKF(H.n_replies == 2 && H.replies[1]->msg_case == FIELDSYNC__FRAME__MSG_PUSH_ACK);
        for (size_t i = 0; i < n; i++)
            CHECKF(H.replies[1]->push_ack->results[i]->status ==
                   FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED);
        close_connection();
    }
}

static void remove_dir(void)
{
    static const char *files[] = {"fieldsync.db", "fieldsync.db-wal", "fieldsync.db-shm"};
    char path[300];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%.200s/%s", H.dir, files[i]);
        unlink(path);
    }
    rmdir(H.dir);
}

static void server_start(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(H.dir, sizeof H.dir, "%.200s/fs-hfuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECKF(mkdtemp(H.dir) != NULL);
    char err[512];
    config_defaults(&H.cfg);
    CHECKF(config_set(&H.cfg, "data-dir", H.dir, err, sizeof err) == 0);
    CHECKF(config_set(&H.cfg, "synchronous", "off", err, sizeof err) == 0);
    /* Small frames (a satellite operator's choice) put the size limits within reach of
     * inputs of a few KiB: records and pages at their bounds, replies near the frame limit. */
    CHECKF(config_set(&H.cfg, "max-frame", "16384", err, sizeof err) == 0);
    CHECKF(config_set(&H.cfg, "rate-per-device", "0", err, sizeof err) == 0);
    CHECKF(config_set(&H.cfg, "enroll-attempts-per-min", "0", err, sizeof err) == 0);
    CHECKF(config_check(&H.cfg, err, sizeof err) == 0);
    config_finish(&H.cfg);
    CHECKF(uv_loop_init(&H.loop) == 0);
    server_init(&H.s, &H.cfg, &H.loop);
    H.s.wall_ms = harness_wall_ms;
    H.now_ms = HH_T0_MS;
    H.feed_cursor = 0;
    memset(&H.conns, 0, sizeof H.conns);
    snprintf(H.s.db_path, sizeof H.s.db_path, "%.580s/fieldsync.db", H.cfg.data_dir);
    /* The writer creates the schema; enrol before it starts, as the admin CLI would. */
    struct store *st = NULL;
    CHECKF(store_open(&st, H.s.db_path, 1, NULL, err, sizeof err) == 0);
    store_close(st);
    enroll_devices();
    if (server_open_store(&H.s, err, sizeof err) != 0) {
        fprintf(stderr, "handler_harness: %s\n", err);
        abort();
    }
    H.up = 1;
    if (H.flags & HH_SEED_RECORDS)
        seed_records();
}

static void server_stop(void)
{
    conn_close_all(&H.conns, "harness");
    server_close_store(&H.s);
    uv_run(&H.loop, UV_RUN_DEFAULT);
    CHECKF(H.conns.count == 0);
    CHECKF(uv_loop_close(&H.loop) == 0); /* nothing left open */
    remove_dir();
    H.up = 0;
}

static void at_exit(void)
{
    if (H.up)
        server_stop();
    arena_close(&H.arena);
    free(H.sent.p);
    free(H.out.p);
    free(H.replies);
}

void hh_init(unsigned flags)
{
    if (H.up)
        return;
    H.verbose = getenv("FS_FUZZ_LOG") != NULL;
    log_set_level(H.verbose ? LOG_DEBUG : LOG_ERROR);
    H.flags = flags;
    arena_init(&H.arena, 64 * 1024, 0);
    atexit(at_exit);
    server_start();
}

/* ---- one connection ---- */

void hh_open(void)
{
    CHECKF(H.up && !H.c);
    buf_clear(&H.sent);
    buf_clear(&H.out);
    H.out_done = 0;
    H.n_replies = 0;
    H.closing_seen = 0;
    memset(&H.sess, 0, sizeof H.sess);
    CHECKF(conn_open_local(&H.s, &H.conns, on_output, NULL, &H.c) == 0);
    conn_ref(H.c); /* the server may close it; the struct stays ours until hh_close */
}

static int server_to_client(Fieldsync__Frame__MsgCase m)
{
    return m == FIELDSYNC__FRAME__MSG_WELCOME || m == FIELDSYNC__FRAME__MSG_ERROR ||
           m == FIELDSYNC__FRAME__MSG_PONG || m == FIELDSYNC__FRAME__MSG_ENROLL_RESULT ||
           m == FIELDSYNC__FRAME__MSG_PUSH_ACK || m == FIELDSYNC__FRAME__MSG_PAGE;
}

static void on_welcome(const Fieldsync__Welcome *w)
{
    CHECKF(H.sess.role == SESSION_ROLE_NONE); /* one per connection */
    CHECKF(w->role >= 1 && w->role <= 3 && w->n_regions <= SESSION_MAX_REGIONS);
    CHECKF(w->limits && w->limits->max_frame == H.cfg.max_frame);
    H.sess.role = (enum session_role)w->role;
    H.sess.own_only = w->own_only;
    H.sess.n_regions = (int)w->n_regions;
    for (size_t i = 0; i < w->n_regions; i++) {
        CHECKF(strlen(w->regions[i]) < SESSION_REGION_LEN);
        snprintf(H.sess.regions[i], SESSION_REGION_LEN, "%s", w->regions[i]);
    }
}

/* FS_FUZZ_LOG set: one line per reply, to see what an input does. */
static void trace(const Fieldsync__Frame *f)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(&fieldsync__frame__descriptor, f->msg_case);
    fprintf(stderr, "hh: reply request_id=%u %s", f->request_id, fd ? fd->name : "?");
    if (f->msg_case == FIELDSYNC__FRAME__MSG_ERROR)
        fprintf(stderr, " %s closing=%d \"%s\"", error_name(error_from_wire((int)f->error->code)),
                f->error->closing, f->error->message);
    for (size_t i = 0; f->msg_case == FIELDSYNC__FRAME__MSG_PUSH_ACK && i < f->push_ack->n_results;
         i++) {
        const Fieldsync__ChangeResult *r = f->push_ack->results[i];
        fprintf(stderr, " seq%llu=%d%s%s", (unsigned long long)r->device_seq, r->status,
                r->error ? "/" : "", r->error ? error_name(error_from_wire((int)r->error)) : "");
    }
    if (f->msg_case == FIELDSYNC__FRAME__MSG_PAGE)
        fprintf(stderr, " records=%zu conflicts=%zu next=%llu more=%d", f->page->n_records,
                f->page->n_conflicts, (unsigned long long)f->page->next_cursor, f->page->more);
    fprintf(stderr, "\n");
}

/* Decode and check the frames the server sent since the last call. */
static void take_output(void)
{
    while (H.out.len - H.out_done >= FRAME_HEADER_LEN) {
        const uint8_t *p = H.out.p + H.out_done;
        uint32_t len = frame_get_len(p);
        CHECKF(H.out.len - H.out_done >= FRAME_HEADER_LEN + (size_t)len); /* whole frames */
        CHECKF(len <= H.cfg.max_frame);
        Fieldsync__Frame *f = NULL;
        CHECKF(frame_decode(p + FRAME_HEADER_LEN, len, &H.arena.pb, &f) == 0);
        CHECKF(server_to_client(f->msg_case));
        CHECKF(!H.closing_seen); /* nothing after an Error that closes */
        if (f->msg_case == FIELDSYNC__FRAME__MSG_ERROR) {
            int code = error_from_wire((int)f->error->code);
            if (code == FIELDSYNC_EINTERNAL || code == FIELDSYNC_ESTORE)
                fprintf(stderr, "handler_harness: server error reply: %s\n", f->error->message);
            CHECKF(code != FIELDSYNC_EINTERNAL && code != FIELDSYNC_ESTORE);
            H.closing_seen = f->error->closing;
        }
        if (H.verbose)
            trace(f);
        if (f->msg_case == FIELDSYNC__FRAME__MSG_WELCOME)
            on_welcome(f->welcome);
        if (H.n_replies == H.cap_replies) {
            H.cap_replies = H.cap_replies ? 2 * H.cap_replies : 64;
            H.replies = realloc(H.replies, H.cap_replies * sizeof *H.replies);
            CHECKF(H.replies != NULL);
        }
        H.replies[H.n_replies++] = f;
        H.out_done += FRAME_HEADER_LEN + len;
    }
    CHECKF(H.out_done == H.out.len);
}

void hh_send(const uint8_t *p, size_t n, int stepwise)
{
    CHECKF(H.c != NULL);
    buf_add(&H.sent, p, n);
    size_t off = 0;
    while (stepwise && n - off >= FRAME_HEADER_LEN) {
        size_t len = FRAME_HEADER_LEN + (size_t)frame_get_len(p + off);
        if (len > n - off)
            break;
        conn_local_input(H.c, p + off, len);
        run_until_idle();
        off += len;
    }
    if (off < n)
        conn_local_input(H.c, p + off, n - off);
    run_until_idle();
    take_output();
}

void hh_send_msg(uint32_t rid, unsigned field, const uint8_t *msg, size_t n)
{
    /* Frame{1: request_id (varint), field: bytes}, by hand so that msg goes as it is. */
    uint8_t head[32];
    size_t h = FRAME_HEADER_LEN;
    uint64_t vals[4] = {1u << 3, rid, (uint64_t)field << 3 | 2, n};
    for (int i = 0; i < 4; i++) {
        uint64_t v = vals[i];
        do {
            head[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v);
    }
    size_t total = h + n;
    frame_put_len(head, (uint32_t)(total - FRAME_HEADER_LEN));
    uint8_t *p = malloc(total);
    CHECKF(p != NULL);
    memcpy(p, head, h);
    if (n)
        memcpy(p + h, msg, n);
    hh_send(p, total, 0);
    free(p);
}

void hh_hello(int i, uint32_t rid)
{
    uint8_t id[16], cred[32];
    hh_device_id(i, id);
    hh_credential(i, cred);
    Fieldsync__Hello h = FIELDSYNC__HELLO__INIT;
    h.protocol_version = 1;
    h.device_id.data = id;
    h.device_id.len = 16;
    h.credential.data = cred;
    h.credential.len = 32;
    h.app_version = "hfuzz";
    Fieldsync__Frame f = FIELDSYNC__FRAME__INIT;
    f.request_id = rid;
    f.msg_case = FIELDSYNC__FRAME__MSG_HELLO;
    f.hello = &h;
    uint8_t p[256];
    size_t n = frame_encoded_size(&f);
    CHECKF(n <= sizeof p && frame_encode(&f, p, n) == n);
    size_t before = H.n_replies;
    hh_send(p, n, 0);
    CHECKF(H.n_replies == before + 1);
    CHECKF(H.replies[before]->msg_case == FIELDSYNC__FRAME__MSG_WELCOME);
    CHECKF(H.replies[before]->request_id == rid);
}

int hh_closed(void)
{
    return conn_is_closing(H.c);
}

const Fieldsync__PullPage *hh_page(uint32_t rid)
{
    for (size_t i = H.n_replies; i-- > 0;)
        if (H.replies[i]->request_id == rid && H.replies[i]->msg_case == FIELDSYNC__FRAME__MSG_PAGE)
            return H.replies[i]->page;
    return NULL;
}

void hh_pull_feed(uint32_t rid)
{
    for (int i = 0; i < 8 && !hh_closed(); i++) {
        Fieldsync__PullRequest q = FIELDSYNC__PULL_REQUEST__INIT;
        q.cursor = H.feed_cursor;
        uint8_t msg[32];
        size_t n = fieldsync__pull_request__pack(&q, msg);
        hh_send_msg(rid + (uint32_t)i, FIELDSYNC__FRAME__MSG_PULL, msg, n);
        const Fieldsync__PullPage *pg = hh_page(rid + (uint32_t)i);
        if (!pg)
            return; /* an Error (checked as every reply) */
        H.feed_cursor = pg->next_cursor;
        if (!pg->more)
            return;
    }
}

/* ---- the checks over a whole connection ---- */

static Fieldsync__Frame__MsgCase answer_to(Fieldsync__Frame__MsgCase m)
{
    switch (m) {
    case FIELDSYNC__FRAME__MSG_HELLO:
        return FIELDSYNC__FRAME__MSG_WELCOME;
    case FIELDSYNC__FRAME__MSG_ENROLL:
        return FIELDSYNC__FRAME__MSG_ENROLL_RESULT;
    case FIELDSYNC__FRAME__MSG_PING:
        return FIELDSYNC__FRAME__MSG_PONG;
    case FIELDSYNC__FRAME__MSG_PUSH:
        return FIELDSYNC__FRAME__MSG_PUSH_ACK;
    case FIELDSYNC__FRAME__MSG_PULL:
        return FIELDSYNC__FRAME__MSG_PAGE;
    default:
        return FIELDSYNC__FRAME__MSG_ERROR; /* anything else the client sends is refused */
    }
}

static void check_ack(const Fieldsync__PushBatch *b, const Fieldsync__PushAck *a)
{
    CHECKF(a->n_results == b->n_changes);
    for (size_t i = 0; i < a->n_results; i++) {
        const Fieldsync__ChangeResult *r = a->results[i];
        CHECKF(r->device_seq == b->changes[i]->device_seq);
        CHECKF(r->status >= FIELDSYNC__CHANGE_STATUS__CHANGE_APPLIED &&
               r->status <= FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED);
        int rejected = r->status == FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED;
        CHECKF(rejected == (r->error != 0));
        if (rejected) {
            int code = error_from_wire((int)r->error);
            CHECKF(code != FIELDSYNC_EINTERNAL && code != FIELDSYNC_ESTORE);
        }
    }
}

static void check_record(const Fieldsync__RecordState *r)
{
    CHECKF(r->record_id.len == 16);
    const struct collection *col = collections_find(r->collection);
    CHECKF(col != NULL);
    ProtobufCMessage *m = protobuf_c_message_unpack(col->desc, NULL, r->body.len, r->body.data);
    CHECKF(m != NULL); /* a client's protobuf library must accept what it is served */
    protobuf_c_message_free_unpacked(m, NULL);
    struct merge_record mr;
    merge_record_init(&mr);
    CHECKF(merge_record_load(&mr, r->body.data, r->body.len, r->clocks.data, r->clocks.len) == 0);
    merge_record_close(&mr);
}

static void check_page(const Fieldsync__PullRequest *q, const Fieldsync__PullPage *pg)
{
    CHECKF(H.sess.role != SESSION_ROLE_NONE);
    uint32_t max = H.cfg.max_page;
    uint32_t limit = q->page_size && q->page_size < max ? q->page_size : max;
    CHECKF(pg->n_records <= limit);
    CHECKF(pg->next_cursor >= q->cursor);
    uint64_t prev = q->cursor;
    for (size_t i = 0; i < pg->n_records; i++) {
        const Fieldsync__RecordState *r = pg->records[i];
        CHECKF(r->server_seq > prev && r->server_seq <= pg->next_cursor);
        prev = r->server_seq;
        CHECKF(r->region && session_in_scope(&H.sess, r->region));
        int wanted = q->n_collections == 0;
        for (size_t k = 0; k < q->n_collections; k++)
            wanted |= q->collections[k] == r->collection;
        CHECKF(wanted);
        check_record(r);
    }
    for (size_t i = 0; i < pg->n_conflicts; i++) {
        int found = 0;
        for (size_t k = 0; k < pg->n_records && !found; k++)
            found =
                pg->conflicts[i]->record_id.len == 16 &&
                memcmp(pg->conflicts[i]->record_id.data, pg->records[k]->record_id.data, 16) == 0;
        CHECKF(found); /* conflicts come with their record */
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void check_connection(void)
{
    /* The requests, as the server's frame reader would cut them. */
    size_t n_req = 0, off = 0;
    for (size_t o = 0; H.sent.len - o >= FRAME_HEADER_LEN;) {
        size_t len = FRAME_HEADER_LEN + (size_t)frame_get_len(H.sent.p + o);
        if (len > H.sent.len - o)
            break;
        n_req++;
        o += len;
    }
    struct req *reqs = calloc(n_req ? n_req : 1, sizeof *reqs);
    uint32_t *rids_req = calloc(n_req ? n_req : 1, sizeof *rids_req);
    uint32_t *rids_rep = calloc(H.n_replies ? H.n_replies : 1, sizeof *rids_rep);
    CHECKF(reqs && rids_req && rids_rep);
    for (size_t i = 0; i < n_req; i++) {
        uint32_t len = frame_get_len(H.sent.p + off);
        if (frame_decode(H.sent.p + off + FRAME_HEADER_LEN, len, &H.arena.pb, &reqs[i].f) == 0)
            reqs[i].rid = reqs[i].f->request_id;
        else
            reqs[i].f = NULL;
        rids_req[i] = reqs[i].rid;
        off += FRAME_HEADER_LEN + len;
    }
    if (H.closing_seen) {
        /* Frames after the closing one were dropped, replies in flight too; an over-limit
         * header is refused before its frame is whole. */
        CHECKF(H.n_replies <= n_req + 1);
    } else {
        CHECKF(H.n_replies == n_req);
        for (size_t i = 0; i < H.n_replies; i++)
            rids_rep[i] = H.replies[i]->request_id;
        qsort(rids_req, n_req, sizeof *rids_req, cmp_u32);
        qsort(rids_rep, n_req, sizeof *rids_rep, cmp_u32);
        CHECKF(n_req == 0 || memcmp(rids_req, rids_rep, n_req * sizeof *rids_req) == 0);
    }
    /* Type by type, where the request id tells which request a reply answers. */
    for (size_t i = 0; i < H.n_replies; i++) {
        const Fieldsync__Frame *rep = H.replies[i];
        const struct req *q = NULL;
        int count = 0;
        for (size_t k = 0; k < n_req; k++)
            if (reqs[k].f && reqs[k].rid == rep->request_id && rep->request_id != 0) {
                q = &reqs[k];
                count++;
            }
        if (count != 1)
            continue;
        CHECKF(rep->msg_case == FIELDSYNC__FRAME__MSG_ERROR ||
               rep->msg_case == answer_to(q->f->msg_case));
        if (rep->msg_case == FIELDSYNC__FRAME__MSG_PUSH_ACK)
            check_ack(q->f->push, rep->push_ack);
        if (rep->msg_case == FIELDSYNC__FRAME__MSG_PAGE)
            check_page(q->f->pull, rep->page);
    }
    free(reqs);
    free(rids_req);
    free(rids_rep);
}

/* Check, close, and wait until the connection is freed. */
static void close_connection(void)
{
    CHECKF(H.c != NULL);
    check_connection();
    conn_close(H.c, "harness");
    conn_unref(H.c);
    H.c = NULL;
    for (int i = 0; i < 100 && H.conns.count; i++)
        uv_run(&H.loop, UV_RUN_NOWAIT);
    CHECKF(H.conns.count == 0); /* freed: no job kept a reference */
    arena_reset(&H.arena);
}

void hh_close(void)
{
    close_connection();
    if (++H.inputs % HH_RESET_EVERY == 0) {
        server_stop();
        server_start();
    }
}

int hh_device_sends(const uint8_t *data, size_t size, unsigned field)
{
    if (size < 1)
        return 0;
    hh_init(HH_SEED_RECORDS);
    hh_open();
    hh_hello(data[0] % HH_ACTIVE, 1);
    hh_send_msg(2, field, data + 1, size - 1);
    return 1;
}
