/*
 * store_fixture: what the store's unit tests share: a real SQLite database in a fresh
 * temporary directory, ids, sessions and packed reports.
 */
#ifndef FS_STORE_FIXTURE_H
#define FS_STORE_FIXTURE_H

#include "session.h"
#include "store.h"
#include "store_records.h"
#include "sync.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define FIXTURE_NOW_MS 1700000000000ull

/* The database file of the current fixture directory. */
extern char fixture_dir[64];
extern char fixture_db_path[128];

/* A fresh directory /tmp/<name>.XXXXXX (fixture_dir, fixture_db_path). */
void fixture_make_dir(const char *name);
/* A fresh directory and a store opened (created, migrated) in it. */
struct store *fixture_open_fresh(const char *name);
/* Remove the database files and the directory. */
void fixture_remove(void);
/* store_close, then fixture_remove. */
void fixture_close_and_remove(struct store *st);

/* A device id ending in tag; a UUIDv7-shaped record id numbered n. */
void fixture_dev_id(uint8_t id[16], uint8_t tag);
void fixture_rec_id(uint8_t id[16], unsigned n);
/* A session of role for device fixture_dev_id(tag), with a region list ("GAO,MENAKA"). */
void fixture_session(struct session *s, enum session_role role, uint8_t tag, const char *regions,
                     int own_only);
/* A packed ConsultationReport dated 2026-11-21 in French, fields in number order (as
 * protobuf-c writes them); locality NULL = absent. Returns its length (<= cap). */
size_t fixture_report(uint8_t *out, size_t cap, const char *region, const char *commune,
                      const char *locality, const char *summary);

/* ---- changes, batches, pulls (store_records.h) ---- */

/* One change with storage for its ops (up to 4). */
struct tchange {
    Fieldsync__Change ch;
    uint8_t id[16];
    uint8_t *body;
    Fieldsync__FieldOp op[4];
    Fieldsync__FieldOp *opp[4];
    uint8_t val[4][160];
    uint8_t base_dev[4][16];
};

/* A new change of record fixture_rec_id(rec) in region; with summary, a body holding it. */
void tc_new(struct tchange *t, uint64_t seq, unsigned rec, const char *region, const char *summary,
            uint64_t hlc);
/* Add an op setting string field `field` (18 = summary) on top of (base_hlc, base_dev). */
void tc_set(struct tchange *t, uint32_t field, const char *value, uint64_t hlc, uint64_t base_hlc,
            const uint8_t *base_dev);
void tc_free(struct tchange *t);
/* A packed report in a new heap buffer (caller frees *out), with a locality. */
size_t fixture_report_alloc(uint8_t **out, const char *region, const char *commune,
                            const char *summary);
/* Tag + length + bytes of a short string field, as in FieldOp.value. */
size_t fixture_enc_string(uint8_t *buf, uint32_t field, const char *s);
/* Apply n changes as session s in one transaction (clock bound 10 min, 512 ops). */
void fixture_apply(struct store *st, const struct session *s, struct tchange *tcs, size_t n,
                   struct store_change_result *res);
void fixture_apply_one(struct store *st, const struct session *s, struct tchange *t,
                       struct store_change_result *res);

/* One pull page as the test sees it. */
struct page {
    int n;
    uint64_t seq[64];
    uint8_t id[64][16];
    uint8_t body[64][512];
    size_t body_len[64];
    int n_conflicts;
    uint64_t conflict_id[16];
    int conflict_state[16];
};

/* store_pull callbacks filling a struct page (user). */
int fixture_page_record(void *user, const struct store_record_view *v);
int fixture_page_conflict(void *user, const struct store_conflict_view *c);
/* One page from cursor for session s. */
void fixture_pull(struct store *st, const struct session *s, uint64_t cursor, uint32_t limit,
                  struct page *p, uint64_t *next, int *more);
/* Every record visible to s, following cursors page by page. */
void fixture_pull_all(struct store *st, const struct session *s, uint32_t limit, struct page *all);
/* The one integer a query on the fixture database returns. */
long long fixture_query_int(const char *sql);

#endif
