/*
 * fuzz_client_page: libFuzzer target for the client's page apply (client-lib/src/apply.c): what
 * libfieldsync does with the answer to a pull, on a real local SQLite store.
 * Input: a stream of frames exactly as read from the connection (4-byte big-endian length +
 * Frame payload, decoded by wire_decode like wire_recv does) when the first byte is 0; each
 * Page frame is applied from the stored cursor, as pull() does; other frames are skipped.
 * Otherwise the whole input is one PullPage message.
 * The store: one handle per process on a temporary file, with a fixed clock (inputs replay
 * exactly), emptied before each input through the handle's own database connection. Not
 * enrolled: page apply does not need it (local edits then carry the zero placeholder device).
 * Invariants (abort on violation), per page:
 *  - a page that fails leaves the store as it was: same cursor, clock, records, conflicts;
 *  - one that applies moves the cursor to max(old, next_cursor); every record of a known
 *    collection reads back through the public API and its stored state reloads, every op of it
 *    passes the schema check (what a local edit must pass) and the body decodes as its message;
 *  - the same page applied again succeeds and changes no record (merge is idempotent);
 *  - a local edit of a live pulled record succeeds, and survives the page applied once more:
 *    still pending, still the value (its clock is newer than any the store has seen).
 */
#include "apply.h"
#include "collections.h"
#include "consultation.pb-c.h"
#include "frame.h"
#include "lstore_internal.h"
#include "merge.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIXED_NOW_MS 1750000000000ull /* 2025-06-15 */
#define MAX_FRAMES   16
#define LOCAL_VALUE  "fuzz-local-edit"
#define F_COMMUNE    3

static fieldsync_client *C;
static char dir[64];
static int verbose; /* FS_FUZZ_VERBOSE=1: say what each page did (for triaging seeds) */

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s (errmsg: %s)\n", __FILE__, __LINE__,      \
                    #cond, fieldsync_errmsg(C));                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint64_t fixed_now(void *user)
{
    (void)user;
    return FIXED_NOW_MS;
}

static void cleanup(void)
{
    char p[128];
    fieldsync_close(C);
    C = NULL;
    static const char *const files[] = {"store.db", "store.db-wal", "store.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void open_once(void)
{
    if (C)
        return;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fs-cfuzz-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir))
        abort();
    char path[128];
    snprintf(path, sizeof path, "%s/store.db", dir);
    fieldsync_open_opts o;
    fieldsync_open_opts_init(&o);
    o.now_ms = fixed_now;
    if (fieldsync_open(path, &o, &C) != 0)
        abort();
    verbose = getenv("FS_FUZZ_VERBOSE") != NULL;
    atexit(cleanup);
}

/* Empty the store between inputs (same schema, same handle, same prepared statements). */
static void reset_store(void)
{
    lstore_idle(C);
    REQUIRE(sqlite3_exec(C->st->db,
                         "DELETE FROM records; DELETE FROM outbox; DELETE FROM changes;"
                         "DELETE FROM conflicts; UPDATE device SET cursor = 0, hlc_last = 0,"
                         " next_seq = 1",
                         NULL, NULL, NULL) == SQLITE_OK);
}

/* What must not change when a page is refused. */
struct snapshot {
    uint64_t cursor, hlc, records, conflicts, pending, digest;
};

static int digest_cb(const fieldsync_record *r, void *user)
{
    uint64_t *h = user;
    *h = *h * 1099511628211ull + r->body_len + (uint64_t)r->deleted * 7 + r->updated_hlc;
    for (size_t i = 0; i < r->body_len; i++)
        *h = (*h ^ r->body[i]) * 1099511628211ull;
    return 0;
}

static int count_cb(const fieldsync_conflict *cf, void *user)
{
    (void)cf;
    ++*(uint64_t *)user;
    return 0;
}

static void snap(struct snapshot *s)
{
    fieldsync_status st;
    fieldsync_filter f;
    memset(s, 0, sizeof *s);
    REQUIRE(fieldsync_status_get(C, &st) == 0);
    s->cursor = st.cursor;
    s->hlc = st.hlc;
    s->records = st.records;
    s->pending = st.pending_changes;
    fieldsync_filter_init(&f);
    f.include_deleted = 1;
    s->digest = 14695981039346656037ull;
    REQUIRE(fieldsync_list(C, &f, digest_cb, &s->digest) == 0);
    REQUIRE(fieldsync_conflicts(C, count_cb, &s->conflicts) == 0);
}

static int op_check_cb(void *user, const struct merge_op *op)
{
    if (op->field != 0)
        REQUIRE(merge_op_check(user, op) == 0);
    return 0;
}

struct find_conflict {
    const Fieldsync__Conflict *k;
    int found;
};

static int find_conflict_cb(const fieldsync_conflict *cf, void *user)
{
    struct find_conflict *f = user;
    if (cf->id == f->k->id && memcmp(cf->record_id, f->k->record_id.data, 16) == 0 &&
        cf->field == f->k->field)
        f->found = 1;
    return 0;
}

/* Every record of the page reads back, reloads, checks and decodes, below the local clock
 * (so that a local edit wins over it); every conflict of the page is listed. */
static void check_records(const Fieldsync__PullPage *pg)
{
    fieldsync_status st;
    REQUIRE(fieldsync_status_get(C, &st) == 0);
    for (size_t i = 0; i < pg->n_conflicts; i++) {
        struct find_conflict f = {pg->conflicts[i], 0};
        /* A later conflict of the page with the same id replaces this one. */
        for (size_t j = i + 1; j < pg->n_conflicts; j++)
            if (pg->conflicts[j]->id == f.k->id)
                f.k = pg->conflicts[j];
        REQUIRE(fieldsync_conflicts(C, find_conflict_cb, &f) == 0);
        REQUIRE(f.found);
    }
    for (size_t i = 0; i < pg->n_records; i++) {
        const Fieldsync__RecordState *rs = pg->records[i];
        const struct collection *col = collections_find(rs->collection);
        if (!col)
            continue;
        fieldsync_record *r = NULL;
        REQUIRE(fieldsync_get(C, rs->record_id.data, &r) == 0);
        REQUIRE(r->collection == col->number);
        REQUIRE(r->updated_hlc <= st.hlc); /* equal: a local edit, the last clock issued */
        ProtobufCMessage *m = protobuf_c_message_unpack(col->desc, NULL, r->body_len, r->body);
        REQUIRE(m != NULL);
        protobuf_c_message_free_unpacked(m, NULL);
        fieldsync_free(C, r);

        struct lstore_rec meta;
        const uint8_t *body, *clocks;
        size_t body_len, clocks_len;
        struct merge_record rec;
        REQUIRE(lstore_record_get(C, rs->record_id.data, &meta, &body, &body_len, &clocks,
                                  &clocks_len) == 1);
        merge_record_init(&rec);
        REQUIRE(merge_record_load(&rec, body, body_len, clocks, clocks_len) == 0);
        REQUIRE(merge_is_deleted(&rec) == meta.deleted);
        REQUIRE(merge_state_ops(col->desc, rec.body, rec.body_len, rec.clocks, rec.clocks_len,
                                op_check_cb, (void *)col->desc) == 0);
        merge_record_close(&rec);
        lstore_idle(C);
    }
}

static int apply(const Fieldsync__PullPage *pg)
{
    struct lstore_device d;
    struct hlc h;
    REQUIRE(lstore_device_get(C, &d) == 0);
    hlc_init(&h, d.hlc_last);
    struct apply_clock ck = {.hlc = &h, .clock_offset_ms = d.clock_offset_ms, .seen = 0};
    return apply_page(C, pg, d.cursor, &ck);
}

/* Local edits of the page's live records; how many were made. */
static size_t edit_live(const Fieldsync__PullPage *pg)
{
    size_t n = 0;
    for (size_t i = 0; i < pg->n_records; i++) {
        const Fieldsync__RecordState *rs = pg->records[i];
        fieldsync_record *r = NULL;
        if (!collections_find(rs->collection))
            continue;
        REQUIRE(fieldsync_get(C, rs->record_id.data, &r) == 0);
        int live = !r->deleted;
        fieldsync_free(C, r);
        if (!live)
            continue;
        REQUIRE(fieldsync_set_string(C, rs->record_id.data, F_COMMUNE, LOCAL_VALUE) == 0);
        n++;
    }
    return n;
}

static void check_edits_kept(const Fieldsync__PullPage *pg)
{
    for (size_t i = 0; i < pg->n_records; i++) {
        const Fieldsync__RecordState *rs = pg->records[i];
        fieldsync_record *r = NULL;
        if (!collections_find(rs->collection))
            continue;
        REQUIRE(fieldsync_get(C, rs->record_id.data, &r) == 0);
        if (!r->deleted) {
            REQUIRE(strcmp(r->commune, LOCAL_VALUE) == 0);
            REQUIRE(r->pending > 0);
        }
        fieldsync_free(C, r);
    }
}

static void run_page(const Fieldsync__PullPage *pg)
{
    struct snapshot before, after, again;
    snap(&before);
    int rc = apply(pg);
    if (verbose)
        fprintf(stderr, "page: %zu records, %zu conflicts: %s %s\n", pg->n_records, pg->n_conflicts,
                fieldsync_err_name(rc), rc ? fieldsync_errmsg(C) : "");
    snap(&after);
    if (rc < 0) {
        REQUIRE(rc != FIELDSYNC_EINTERNAL);
        REQUIRE(memcmp(&before, &after, sizeof before) == 0);
        return;
    }
    REQUIRE(rc == 0);
    REQUIRE(after.cursor == (pg->next_cursor > before.cursor ? pg->next_cursor : before.cursor));
    REQUIRE(after.pending == before.pending);
    check_records(pg);

    REQUIRE(apply(pg) == 0);
    snap(&again);
    REQUIRE(again.digest == after.digest && again.records == after.records &&
            again.conflicts == after.conflicts);

    if (edit_live(pg) == 0)
        return;
    snap(&after);
    REQUIRE(apply(pg) == 0);
    snap(&again);
    REQUIRE(again.pending == after.pending && again.records == after.records);
    check_edits_kept(pg);
    check_records(pg);
}

/* Frames as read from the connection: 4-byte big-endian length, then a Frame payload. */
static void run_frames(const uint8_t *data, size_t size)
{
    struct wire w;
    wire_init(&w, C, NULL);
    w.max_frame = FRAME_MAX_DEFAULT;
    for (int n = 0; n < MAX_FRAMES && size >= FRAME_HEADER_LEN; n++) {
        uint32_t len = frame_get_len(data);
        data += FRAME_HEADER_LEN;
        size -= FRAME_HEADER_LEN;
        if (len > size)
            break;
        Fieldsync__Frame *f;
        if (wire_decode(&w, data, len, &f) == 0 && f->msg_case == FIELDSYNC__FRAME__MSG_PAGE)
            run_page(f->page);
        data += len;
        size -= len;
    }
    wire_close(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    open_once();
    reset_store();
    if (size > 0 && data[0] == 0) {
        run_frames(data, size);
        return 0;
    }
    Fieldsync__PullPage *pg = fieldsync__pull_page__unpack(NULL, size, data);
    if (pg) {
        run_page(pg);
        fieldsync__pull_page__free_unpacked(pg, NULL);
    }
    return 0;
}
