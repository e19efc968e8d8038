/* store_fixture: see store_fixture.h. */
#include "store_fixture.h"

#include "check.h"
#include "consultation.pb-c.h"
#include "error.h"
#include "store_records.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char fixture_dir[64];
char fixture_db_path[128];

void fixture_make_dir(const char *name)
{
    snprintf(fixture_dir, sizeof fixture_dir, "/tmp/%.40s.XXXXXX", name);
    CHECK(mkdtemp(fixture_dir) != NULL);
    snprintf(fixture_db_path, sizeof fixture_db_path, "%s/fieldsync.db", fixture_dir);
}

struct store *fixture_open_fresh(const char *name)
{
    fixture_make_dir(name);
    struct store *st = NULL;
    char err[256];
    int rc = store_open(&st, fixture_db_path, 1, NULL, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "store_open: %s\n", err);
    CHECK_EQ(rc, 0);
    return st;
}

void fixture_remove(void)
{
    char p[200];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", fixture_db_path, sfx[i]);
        unlink(p);
    }
    rmdir(fixture_dir);
}

void fixture_close_and_remove(struct store *st)
{
    store_close(st);
    fixture_remove();
}

void fixture_dev_id(uint8_t id[16], uint8_t tag)
{
    memset(id, 0, 16);
    id[0] = 0x01;
    id[15] = tag;
}

void fixture_rec_id(uint8_t id[16], unsigned n)
{
    memset(id, 0, 16);
    id[0] = 0x18;
    id[6] = 0x70; /* version 7 */
    id[14] = (uint8_t)(n >> 8);
    id[15] = (uint8_t)n;
}

void fixture_session(struct session *s, enum session_role role, uint8_t tag, const char *regions,
                     int own_only)
{
    memset(s, 0, sizeof *s);
    s->role = role;
    fixture_dev_id(s->device_id, tag);
    s->own_only = own_only;
    CHECK_EQ(session_set_regions(s, regions), 0);
}

size_t fixture_report(uint8_t *out, size_t cap, const char *region, const char *commune,
                      const char *locality, const char *summary)
{
    Fieldsync__ConsultationReport r = FIELDSYNC__CONSULTATION_REPORT__INIT;
    Fieldsync__Date d = FIELDSYNC__DATE__INIT;
    d.year = 2026;
    d.month = 11;
    d.day = 21;
    r.region = (char *)region;
    r.commune = (char *)commune;
    r.locality = (char *)locality;
    r.date = &d;
    r.summary = (char *)summary;
    r.language = "fr";
    size_t n = fieldsync__consultation_report__get_packed_size(&r);
    CHECK(n <= cap);
    fieldsync__consultation_report__pack(&r, out);
    return n;
}

/* ---- changes, batches, pulls ---- */

/* A packed report in a new heap buffer (caller frees *out). */
size_t fixture_report_alloc(uint8_t **out, const char *region, const char *commune,
                            const char *summary)
{
    *out = malloc(2048);
    CHECK(*out != NULL);
    return fixture_report(*out, 2048, region, commune, "Quartier Aljanabandia", summary);
}

/* Tag + length + bytes of a string field, as in FieldOp.value. */
size_t fixture_enc_string(uint8_t *buf, uint32_t field, const char *s)
{
    size_t n = strlen(s), o = 0;
    CHECK(n < 128);
    uint32_t tag = field << 3 | 2;
    while (tag >= 0x80) {
        buf[o++] = (uint8_t)(tag | 0x80);
        tag >>= 7;
    }
    buf[o++] = (uint8_t)tag;
    buf[o++] = (uint8_t)n;
    memcpy(buf + o, s, n);
    return o + n;
}

void tc_new(struct tchange *t, uint64_t seq, unsigned rec, const char *region, const char *summary,
            uint64_t hlc)
{
    memset(t, 0, sizeof *t);
    fieldsync__change__init(&t->ch);
    fixture_rec_id(t->id, rec);
    t->ch.device_seq = seq;
    t->ch.record_id.data = t->id;
    t->ch.record_id.len = 16;
    t->ch.collection = COLLECTION_CONSULTATION_REPORT;
    t->ch.region = (char *)region;
    t->ch.hlc = hlc;
    if (summary) {
        t->ch.body.len = fixture_report_alloc(&t->body, region, "Gao", summary);
        t->ch.body.data = t->body;
    }
    t->ch.ops = t->opp;
}

/* Add an op setting string field `field` (18 = summary). */
void tc_set(struct tchange *t, uint32_t field, const char *value, uint64_t hlc, uint64_t base_hlc,
            const uint8_t *base_dev)
{
    size_t i = t->ch.n_ops++;
    CHECK(i < 4);
    Fieldsync__FieldOp *op = &t->op[i];
    fieldsync__field_op__init(op);
    op->field = field;
    op->value.len = fixture_enc_string(t->val[i], field, value);
    op->value.data = t->val[i];
    op->hlc = hlc;
    op->base_hlc = base_hlc;
    if (base_dev) {
        memcpy(t->base_dev[i], base_dev, 16);
        op->base_device.data = t->base_dev[i];
        op->base_device.len = 16;
    }
    t->opp[i] = op;
}

void tc_free(struct tchange *t)
{
    free(t->body);
    t->body = NULL;
}

void fixture_apply(struct store *st, const struct session *s, struct tchange *tcs, size_t n,
                   struct store_change_result *res)
{
    Fieldsync__Change *chs[16];
    CHECK(n <= 16);
    for (size_t i = 0; i < n; i++)
        chs[i] = &tcs[i].ch;
    struct store_apply_ctx ctx = {
        .sess = s, .now_ms = FIXTURE_NOW_MS, .max_clock_ahead_ms = 600000, .max_ops = 512};
    CHECK_EQ(store_begin(st), 0);
    int rc = store_apply_batch(st, &ctx, chs, n, res, NULL);
    if (rc != 0)
        fprintf(stderr, "apply: %s / %s\n", error_name(rc), store_errmsg(st));
    CHECK_EQ(rc, 0);
    CHECK_EQ(store_commit(st), 0);
    for (size_t i = 0; i < n; i++)
        if (res[i].status == FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED && getenv("FS_VERBOSE"))
            fprintf(stderr, "  change %zu rejected: %s %s\n", i, error_name(res[i].code),
                    res[i].message);
}

void fixture_apply_one(struct store *st, const struct session *s, struct tchange *t,
                       struct store_change_result *res)
{
    fixture_apply(st, s, t, 1, res);
}

/* ---- reading back ---- */

int fixture_page_record(void *user, const struct store_record_view *v)
{
    struct page *p = user;
    CHECK(p->n < 64);
    CHECK(v->body_len <= 512);
    p->seq[p->n] = v->server_seq;
    memcpy(p->id[p->n], v->id, 16);
    memcpy(p->body[p->n], v->body, v->body_len);
    p->body_len[p->n] = v->body_len;
    p->n++;
    return 0;
}

int fixture_page_conflict(void *user, const struct store_conflict_view *c)
{
    struct page *p = user;
    CHECK(p->n_conflicts < 16);
    p->conflict_id[p->n_conflicts] = c->id;
    p->conflict_state[p->n_conflicts] = c->state;
    p->n_conflicts++;
    return 0;
}

void fixture_pull(struct store *st, const struct session *s, uint64_t cursor, uint32_t limit,
                  struct page *p, uint64_t *next, int *more)
{
    memset(p, 0, sizeof *p);
    struct store_pull_req req = {.sess = s, .cursor = cursor, .limit = limit};
    CHECK_EQ(store_begin(st), 0);
    CHECK_EQ(store_pull(st, &req, fixture_page_record, fixture_page_conflict, p, next, more), 0);
    CHECK_EQ(store_commit(st), 0);
}

/* Every record visible to s, following cursors page by page. */
void fixture_pull_all(struct store *st, const struct session *s, uint32_t limit, struct page *all)
{
    memset(all, 0, sizeof *all);
    uint64_t cursor = 0;
    for (int guard = 0; guard < 100; guard++) {
        struct page p;
        uint64_t next;
        int more;
        fixture_pull(st, s, cursor, limit, &p, &next, &more);
        CHECK(p.n <= (int)limit);
        for (int i = 0; i < p.n; i++) {
            CHECK(all->n < 64);
            all->seq[all->n] = p.seq[i];
            memcpy(all->id[all->n], p.id[i], 16);
            memcpy(all->body[all->n], p.body[i], p.body_len[i]);
            all->body_len[all->n] = p.body_len[i];
            all->n++;
        }
        CHECK_U64(next, >=, cursor);
        cursor = next;
        if (!more)
            return;
    }
    CHECK(!"pagination did not end");
}

long long fixture_query_int(const char *sql)
{
    sqlite3 *db;
    CHECK_EQ(sqlite3_open_v2(fixture_db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    CHECK_EQ(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_step(s), SQLITE_ROW);
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}
