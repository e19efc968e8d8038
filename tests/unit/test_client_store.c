/*
 * test_client_store: libfieldsync's offline side through its public API only, on a real SQLite
 * file in a temporary directory: create/edit/read/list/filter/delete, the outbox keeping one
 * pending entry per field, body diffs, keyed elements, persistence across reopen, the
 * allocator hook (counted, then failing allocation by allocation without crash or leak),
 * encryption at rest with a store key (no report text in the file's bytes; wrong, missing or
 * unexpected keys refused; a value moved to another row fails authentication).
 */
#include "check.h"
#include "consultation.pb-c.h"
#include "fieldsync.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static char path[300];
static int store_no;

static void new_path(void)
{
    snprintf(path, sizeof path, "%s/store%d.db", dir, ++store_no);
}

static fieldsync_client *open_store(void)
{
    fieldsync_client *c = NULL;
    int rc = fieldsync_open(path, NULL, &c);
    if (rc != 0)
        fprintf(stderr, "open: %s: %s\n", fieldsync_err_name(rc), fieldsync_errmsg(c));
    CHECK_EQ(rc, 0);
    CHECK(c != NULL);
    return c;
}

static Fieldsync__ConsultationReport *get_report(fieldsync_client *c, const uint8_t id[16])
{
    fieldsync_record *r = NULL;
    CHECK_EQ(fieldsync_get(c, id, &r), 0);
    Fieldsync__ConsultationReport *m =
        fieldsync__consultation_report__unpack(NULL, r->body_len, r->body);
    CHECK(m != NULL);
    fieldsync_free(c, r);
    return m;
}

/* Encoded Date field 7 (as inside a ConsultationReport). */
static size_t date_value(uint8_t *out, uint32_t y, uint32_t m, uint32_t d)
{
    Fieldsync__Date date = FIELDSYNC__DATE__INIT;
    uint8_t inner[32];
    date.year = y;
    date.month = m;
    date.day = d;
    size_t n = fieldsync__date__pack(&date, inner);
    out[0] = (7 << 3) | 2;
    out[1] = (uint8_t)n;
    memcpy(out + 2, inner, n);
    return n + 2;
}

static uint64_t pending(fieldsync_client *c)
{
    fieldsync_status st;
    CHECK_EQ(fieldsync_status_get(c, &st), 0);
    return st.pending_changes;
}

static void test_client_store_ids(void)
{
    uint8_t id[16], back[16];
    char text[FIELDSYNC_ID_STR_LEN + 1];
    fieldsync_client *c;
    new_path();
    c = open_store();
    CHECK_EQ(fieldsync_new_id(c, id), 0);
    CHECK_EQ((id[6] >> 4), 7); /* UUIDv7 */
    fieldsync_id_format(id, text);
    CHECK_EQ(strlen(text), 36);
    CHECK_EQ(fieldsync_id_parse(text, back), 0);
    CHECK_MEM(id, back, 16);
    CHECK_EQ(fieldsync_id_parse("not-an-id", back), FIELDSYNC_EBADID);
    CHECK_STR(fieldsync_err_name(FIELDSYNC_ENOTFOUND), "ENOTFOUND");
    CHECK_STR(fieldsync_strerror(FIELDSYNC_ECANCELED), "canceled");
    fieldsync_close(c);
}

static void test_client_store_create_edit_read(void)
{
    uint8_t id[16], date[32];
    fieldsync_client *c;
    new_path();
    c = open_store();
    CHECK_EQ(fieldsync_create(c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", id), 0);
    CHECK_EQ(fieldsync_set_string(c, id, 3, "Ansongo"), 0);
    CHECK_EQ(fieldsync_set_string(c, id, 18, "Réunion du CCCS: tensions autour du marché"), 0);
    CHECK_EQ(fieldsync_set_int(c, id, 6, FIELDSYNC__CONSULTATION_TYPE__CONSULTATION_COMMUNAL_CCS),
             0);
    CHECK_EQ(fieldsync_set_int(c, id, 20, -1500), 0); /* sint64 */
    size_t dn = date_value(date, 2026, 3, 14);
    CHECK_EQ(fieldsync_set_field(c, id, 7, date, dn), 0);

    Fieldsync__ConsultationReport *m = get_report(c, id);
    CHECK_STR(m->region, "GAO");
    CHECK_STR(m->commune, "Ansongo");
    CHECK_STR(m->summary, "Réunion du CCCS: tensions autour du marché");
    CHECK_EQ(m->type, FIELDSYNC__CONSULTATION_TYPE__CONSULTATION_COMMUNAL_CCS);
    CHECK_EQ(m->clock_offset_ms, -1500);
    CHECK(m->date != NULL);
    CHECK_EQ(m->date->year, 2026);
    CHECK_EQ(m->date->day, 14);
    fieldsync__consultation_report__free_unpacked(m, NULL);

    fieldsync_record *r = NULL;
    CHECK_EQ(fieldsync_get(c, id, &r), 0);
    CHECK_STR(r->region, "GAO");
    CHECK_STR(r->commune, "Ansongo");
    CHECK_EQ(r->date, 20260314);
    CHECK_EQ(r->deleted, 0);
    CHECK(r->updated_hlc > 0);
    fieldsync_free(c, r);

    /* Errors: wrong type, region immutable, unknown record, bad encoding. */
    CHECK_EQ(fieldsync_set_int(c, id, 3, 5), FIELDSYNC_ESCHEMA);
    CHECK_EQ(fieldsync_set_string(c, id, 1, "MENAKA"), FIELDSYNC_EREGION);
    CHECK(strlen(fieldsync_errmsg(c)) > 0);
    uint8_t other[16] = {1};
    CHECK_EQ(fieldsync_set_string(c, other, 3, "x"), FIELDSYNC_ENOTFOUND);
    static const uint8_t bad[] = {(10 << 3) | 2, 5, 'a'}; /* length past the end */
    CHECK(fieldsync_set_field(c, id, 10, bad, sizeof bad) < 0);
    static const uint8_t badutf8[] = {(10 << 3) | 2, 2, 0xc3, 0x28};
    CHECK_EQ(fieldsync_set_field(c, id, 10, badutf8, sizeof badutf8), FIELDSYNC_EUTF8);
    static const uint8_t wrongfield[] = {(11 << 3) | 2, 1, 'a'};
    CHECK_EQ(fieldsync_set_field(c, id, 10, wrongfield, sizeof wrongfield), FIELDSYNC_ESCHEMA);
    CHECK_EQ(fieldsync_create(c, 99, "GAO", other), FIELDSYNC_ECOLLECTION);

    /* Clearing a field. */
    CHECK_EQ(fieldsync_clear_field(c, id, 3), 0);
    m = get_report(c, id);
    CHECK_STR(m->commune, "");
    fieldsync__consultation_report__free_unpacked(m, NULL);
    fieldsync_close(c);
}

static void test_client_store_outbox_one_entry_per_field(void)
{
    uint8_t id[16];
    fieldsync_client *c;
    fieldsync_status st;
    new_path();
    c = open_store();
    CHECK_EQ(pending(c), 0);
    CHECK_EQ(fieldsync_create(c, FIELDSYNC_COLLECTION_CONSULTATION, "TOMBOUCTOU", id), 0);
    uint64_t after_create = pending(c);
    CHECK_EQ(after_create, 1); /* the region field */
    for (int i = 0; i < 5; i++) {
        char s[32];
        snprintf(s, sizeof s, "version %d", i);
        CHECK_EQ(fieldsync_set_string(c, id, 18, s), 0);
    }
    CHECK_EQ(pending(c), after_create + 1);
    CHECK_EQ(fieldsync_set_string(c, id, 10, "Aminata"), 0);
    CHECK_EQ(pending(c), after_create + 2);
    CHECK_EQ(fieldsync_status_get(c, &st), 0);
    CHECK_EQ(st.pending_records, 1);
    CHECK_EQ(st.records, 1);
    CHECK_EQ(st.enrolled, 0);
    CHECK_STR(st.server_host, "");
    Fieldsync__ConsultationReport *m = get_report(c, id);
    CHECK_STR(m->summary, "version 4");
    fieldsync__consultation_report__free_unpacked(m, NULL);

    fieldsync_record *r;
    CHECK_EQ(fieldsync_get(c, id, &r), 0);
    CHECK_EQ(r->pending, 3);
    fieldsync_free(c, r);
    fieldsync_close(c);
}

static void test_client_store_elements_and_body_diff(void)
{
    uint8_t id[16], e1[16], e2[16];
    fieldsync_client *c;
    new_path();
    c = open_store();
    CHECK_EQ(fieldsync_create(c, FIELDSYNC_COLLECTION_CONSULTATION, "MENAKA", id), 0);
    CHECK_EQ(fieldsync_new_id(c, e1), 0);
    CHECK_EQ(fieldsync_new_id(c, e2), 0);

    Fieldsync__Concern k = FIELDSYNC__CONCERN__INIT;
    uint8_t buf[256];
    k.category = FIELDSYNC__CONCERN_CATEGORY__CONCERN_BANDITRY_THEFT;
    k.description = (char *)"Vol de bétail sur la route de Tidermène";
    k.severity = 4;
    size_t n = fieldsync__concern__pack(&k, buf); /* no id: the library adds it */
    CHECK_EQ(fieldsync_element_put(c, id, 14, e1, buf, n), 0);
    k.id.data = e2;
    k.id.len = 16;
    k.description = (char *)"Marché fermé";
    n = fieldsync__concern__pack(&k, buf);
    CHECK_EQ(fieldsync_element_put(c, id, 14, NULL, buf, n), 0);
    CHECK_EQ(fieldsync_element_put(c, id, 14, e1, buf, n), FIELDSYNC_EINVAL); /* ids differ */
    CHECK_EQ(fieldsync_element_put(c, id, 3, e1, buf, n), FIELDSYNC_EINVAL);  /* not keyed */

    Fieldsync__ConsultationReport *m = get_report(c, id);
    CHECK_EQ(m->n_concerns, 2);
    fieldsync__consultation_report__free_unpacked(m, NULL);

    CHECK_EQ(fieldsync_element_remove(c, id, 14, e1), 0);
    CHECK_EQ(fieldsync_element_remove(c, id, 14, e1), FIELDSYNC_ENOTFOUND);
    m = get_report(c, id);
    CHECK_EQ(m->n_concerns, 1);
    CHECK_MEM(m->concerns[0]->id.data, e2, 16);
    CHECK_STR(m->concerns[0]->description, "Marché fermé");

    /* Whole body: change the summary and locality only; the diff records just those. */
    uint64_t before = pending(c);
    m->summary = (char *)"Synthèse";
    m->locality = (char *)"Inékar";
    size_t bl = fieldsync__consultation_report__get_packed_size(m);
    uint8_t *body = malloc(bl);
    fieldsync__consultation_report__pack(m, body);
    m->summary = NULL;
    m->locality = NULL;
    fieldsync__consultation_report__free_unpacked(m, NULL);
    CHECK_EQ(fieldsync_set_body(c, id, body, bl), 0);
    CHECK_EQ(pending(c), before + 2);
    /* Setting the same body again records nothing. */
    CHECK_EQ(fieldsync_set_body(c, id, body, bl), 0);
    CHECK_EQ(pending(c), before + 2);
    free(body);
    m = get_report(c, id);
    CHECK_STR(m->summary, "Synthèse");
    CHECK_STR(m->locality, "Inékar");
    CHECK_EQ(m->n_concerns, 1);
    fieldsync__consultation_report__free_unpacked(m, NULL);

    /* A body that moves the region is refused. */
    Fieldsync__ConsultationReport other = FIELDSYNC__CONSULTATION_REPORT__INIT;
    other.region = (char *)"GAO";
    bl = fieldsync__consultation_report__pack(&other, buf);
    CHECK_EQ(fieldsync_set_body(c, id, buf, bl), FIELDSYNC_EREGION);

    /* create_body */
    uint8_t id2[16];
    other.region = (char *)"MENAKA";
    other.commune = (char *)"Anderamboukane";
    bl = fieldsync__consultation_report__pack(&other, buf);
    CHECK_EQ(fieldsync_create_body(c, 1, "MENAKA", buf, bl, id2), 0);
    CHECK_EQ(fieldsync_create_body(c, 1, "GAO", buf, bl, id2), FIELDSYNC_EREGION);
    m = get_report(c, id2);
    CHECK_STR(m->commune, "Anderamboukane");
    fieldsync__consultation_report__free_unpacked(m, NULL);
    fieldsync_close(c);
}

struct collect {
    int n;
    char communes[16][32];
    int deleted;
    int stop_after;
};

static int collect_cb(const fieldsync_record *r, void *user)
{
    struct collect *k = user;
    if (k->n < 16)
        snprintf(k->communes[k->n], sizeof k->communes[0], "%s", r->commune);
    k->n++;
    k->deleted += r->deleted;
    return k->stop_after && k->n >= k->stop_after;
}

static void test_client_store_list_filter_delete(void)
{
    static const struct {
        const char *region, *commune;
        uint32_t y, m, d;
    } rows[] = {
        {"GAO", "Ansongo", 2026, 1, 10},    {"GAO", "Bourem", 2026, 2, 5},
        {"GAO", "Ansongo", 2026, 3, 1},     {"MENAKA", "Inékar", 2026, 2, 20},
        {"TOMBOUCTOU", "Goundam", 0, 0, 0},
    };
    uint8_t ids[5][16], date[32];
    fieldsync_client *c;
    fieldsync_filter f;
    struct collect k;
    uint64_t count;
    new_path();
    c = open_store();
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(fieldsync_create(c, 1, rows[i].region, ids[i]), 0);
        CHECK_EQ(fieldsync_set_string(c, ids[i], 3, rows[i].commune), 0);
        if (rows[i].y) {
            size_t n = date_value(date, rows[i].y, rows[i].m, rows[i].d);
            CHECK_EQ(fieldsync_set_field(c, ids[i], 7, date, n), 0);
        }
    }
    memset(&k, 0, sizeof k);
    CHECK_EQ(fieldsync_list(c, NULL, collect_cb, &k), 0);
    CHECK_EQ(k.n, 5);
    int ansongo = 0, goundam = 0;
    for (int i = 0; i < 5; i++) {
        ansongo += strcmp(k.communes[i], "Ansongo") == 0;
        goundam += strcmp(k.communes[i], "Goundam") == 0;
    }
    CHECK_EQ(ansongo, 2);
    CHECK_EQ(goundam, 1);

    fieldsync_filter_init(&f);
    f.region = "GAO";
    CHECK_EQ(fieldsync_count(c, &f, &count), 0);
    CHECK_EQ(count, 3);
    f.commune = "Ansongo";
    CHECK_EQ(fieldsync_count(c, &f, &count), 0);
    CHECK_EQ(count, 2);

    fieldsync_filter_init(&f);
    f.date_from = 20260201;
    f.date_to = 20260228;
    memset(&k, 0, sizeof k);
    CHECK_EQ(fieldsync_list(c, &f, collect_cb, &k), 0);
    CHECK_EQ(k.n, 2);
    CHECK(strcmp(k.communes[0], "Bourem") == 0 || strcmp(k.communes[1], "Bourem") == 0);
    CHECK(strcmp(k.communes[0], "Inékar") == 0 || strcmp(k.communes[1], "Inékar") == 0);
    f.date_from = 20260301;
    f.date_to = 20260101;
    CHECK_EQ(fieldsync_count(c, &f, &count), FIELDSYNC_EINVAL);

    /* Stopping from the callback. */
    memset(&k, 0, sizeof k);
    k.stop_after = 2;
    CHECK_EQ(fieldsync_list(c, NULL, collect_cb, &k), FIELDSYNC_ECANCELED);
    CHECK_EQ(k.n, 2);

    /* Delete: gone from lists unless asked, still readable, no more edits. */
    CHECK_EQ(fieldsync_delete(c, ids[1]), 0);
    CHECK_EQ(fieldsync_delete(c, ids[1]), FIELDSYNC_ENOTFOUND);
    CHECK_EQ(fieldsync_set_string(c, ids[1], 18, "x"), FIELDSYNC_ENOTFOUND);
    fieldsync_filter_init(&f);
    f.region = "GAO";
    CHECK_EQ(fieldsync_count(c, &f, &count), 0);
    CHECK_EQ(count, 2);
    f.include_deleted = 1;
    memset(&k, 0, sizeof k);
    CHECK_EQ(fieldsync_list(c, &f, collect_cb, &k), 0);
    CHECK_EQ(k.n, 3);
    CHECK_EQ(k.deleted, 1);
    fieldsync_record *r;
    CHECK_EQ(fieldsync_get(c, ids[1], &r), 0);
    CHECK_EQ(r->deleted, 1);
    fieldsync_free(c, r);
    fieldsync_close(c);

    /* Everything survives a reopen. */
    c = open_store();
    fieldsync_filter_init(&f);
    CHECK_EQ(fieldsync_count(c, &f, &count), 0);
    CHECK_EQ(count, 4);
    fieldsync_status st;
    CHECK_EQ(fieldsync_status_get(c, &st), 0);
    CHECK_EQ(st.records, 4);
    CHECK(st.hlc > 0);
    CHECK(st.pending_changes >= 5);
    fieldsync_close(c);
}

static void test_client_store_open_errors(void)
{
    fieldsync_client *c = NULL;
    fieldsync_open_opts o;
    char missing[320];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.db", dir);
    CHECK_EQ(fieldsync_open(NULL, NULL, &c), FIELDSYNC_EINVAL);
    CHECK(c == NULL);
    CHECK_EQ(fieldsync_open(missing, NULL, &c), FIELDSYNC_ESTORE);
    CHECK(c != NULL);
    CHECK(strlen(fieldsync_errmsg(c)) > 0);
    uint64_t n;
    CHECK_EQ(fieldsync_count(c, NULL, &n), FIELDSYNC_ESTATE);
    fieldsync_close(c);
    fieldsync_open_opts_init(&o);
    o.create = 0;
    new_path();
    CHECK_EQ(fieldsync_open(path, &o, &c), FIELDSYNC_ESTORE);
    fieldsync_close(c);
    /* Not enrolled: sync refuses with ESTATE, enroll validates its arguments. */
    c = open_store();
    CHECK_EQ(fieldsync_sync(c, NULL), FIELDSYNC_ESTATE);
    CHECK_EQ(fieldsync_enroll(c, "localhost", 0, "/x", "CODE", NULL), FIELDSYNC_EINVAL);
    fieldsync_close(c);
}

/* ---- encryption at rest ---- */

static const uint8_t key_a[32] = {0x3c, 0x91, 0x0e, 0x57, 0xb2, 0x6a, 0xf4, 0x18, 0xd5, 0x2f, 0x83,
                                  0x4b, 0xe0, 0x79, 0x16, 0xcd, 0x62, 0xa8, 0x05, 0x9e, 0x3b, 0xf7,
                                  0x54, 0x21, 0xc6, 0x8d, 0x70, 0x1a, 0xbe, 0x43, 0x9f, 0x06};
static const uint8_t key_b[32] = {0x3c, 0x91, 0x0e, 0x57, 0xb2, 0x6a, 0xf4, 0x18, 0xd5, 0x2f, 0x83,
                                  0x4b, 0xe0, 0x79, 0x16, 0xcd, 0x62, 0xa8, 0x05, 0x9e, 0x3b, 0xf7,
                                  0x54, 0x21, 0xc6, 0x8d, 0x70, 0x1a, 0xbe, 0x43, 0x9f, 0x07};
static const char secret_summary[] = "Les femmes du marché de Tessit craignent les barrages";
static const char secret_facilitator[] = "Mariam Touré, animatrice";

static fieldsync_client *open_keyed(const uint8_t *key, int expect)
{
    fieldsync_client *c = NULL;
    fieldsync_open_opts o;
    fieldsync_open_opts_init(&o);
    o.store_key = key;
    int rc = fieldsync_open(path, &o, &c);
    if (rc != expect)
        fprintf(stderr, "open: %s: %s\n", fieldsync_err_name(rc), fieldsync_errmsg(c));
    CHECK_EQ(rc, expect);
    if (rc < 0) {
        CHECK(strlen(fieldsync_errmsg(c)) > 0);
        fieldsync_close(c);
        return NULL;
    }
    return c;
}

/* Whether the file suffix (or the main file for "") holds needle, as raw bytes. */
static int file_holds(const char *suffix, const char *needle)
{
    char p[320];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    size_t n = strlen(needle), cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            CHECK(buf != NULL);
        }
    }
    fclose(f);
    int found = 0;
    for (size_t i = 0; !found && i + n <= len; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

static int store_holds(const char *needle)
{
    return file_holds("", needle) || file_holds("-wal", needle);
}

/* A report with text in its body and in pending outbox entries; reads it back. */
static void write_secret_report(fieldsync_client *c, uint8_t id[16])
{
    CHECK_EQ(fieldsync_create(c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", id), 0);
    CHECK_EQ(fieldsync_set_string(c, id, 3, "Ansongo"), 0);
    CHECK_EQ(fieldsync_set_string(c, id, 18, secret_summary), 0);
    CHECK_EQ(fieldsync_set_string(c, id, 10, secret_facilitator), 0);
    Fieldsync__ConsultationReport *m = get_report(c, id);
    CHECK_EQ(strcmp(m->summary, secret_summary), 0);
    CHECK_EQ(strcmp(m->facilitator, secret_facilitator), 0);
    fieldsync__consultation_report__free_unpacked(m, NULL);
}

static int body_holds_cb(const fieldsync_record *r, void *user)
{
    int *n = user;
    size_t k = strlen(secret_summary);
    for (size_t i = 0; i + k <= r->body_len; i++)
        if (memcmp(r->body + i, secret_summary, k) == 0) {
            (*n)++;
            break;
        }
    return 0;
}

static void test_client_store_encrypted_at_rest(void)
{
    uint8_t id[16];
    for (int keyed = 0; keyed <= 1; keyed++) {
        new_path();
        fieldsync_client *c = open_keyed(keyed ? key_a : NULL, 0);
        write_secret_report(c, id);
        /* The same test without a key finds the text: the search can fail. */
        CHECK_EQ(store_holds(secret_summary), !keyed);
        CHECK_EQ(store_holds(secret_facilitator), !keyed);
        CHECK(store_holds("Ansongo")); /* commune: a clear index column, by design */
        fieldsync_close(c);
        CHECK_EQ(file_holds("", secret_summary), !keyed);

        /* Reopened: create/set/get/list round-trip. */
        c = open_keyed(keyed ? key_a : NULL, 0);
        CHECK_EQ(fieldsync_set_string(c, id, 19, "fr"), 0);
        Fieldsync__ConsultationReport *m = get_report(c, id);
        CHECK_EQ(strcmp(m->summary, secret_summary), 0);
        CHECK_EQ(strcmp(m->language, "fr"), 0);
        CHECK_EQ(strcmp(m->commune, "Ansongo"), 0);
        fieldsync__consultation_report__free_unpacked(m, NULL);
        int listed = 0;
        CHECK_EQ(fieldsync_list(c, NULL, body_holds_cb, &listed), 0);
        CHECK_EQ(listed, 1);
        fieldsync_close(c);
    }
}

static void test_client_store_key_errors(void)
{
    uint8_t id[16], id2[16];
    new_path();
    fieldsync_client *c = open_keyed(key_a, 0);
    write_secret_report(c, id);
    CHECK_EQ(fieldsync_create(c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", id2), 0);
    CHECK_EQ(fieldsync_set_string(c, id2, 18, "Autre compte rendu"), 0);
    fieldsync_close(c);
    open_keyed(key_b, FIELDSYNC_EAUTH); /* one bit off */
    open_keyed(NULL, FIELDSYNC_EAUTH);  /* encrypted store, no key */
    c = open_keyed(key_a, 0);
    Fieldsync__ConsultationReport *m = get_report(c, id);
    CHECK_EQ(strcmp(m->summary, secret_summary), 0);
    fieldsync__consultation_report__free_unpacked(m, NULL);
    fieldsync_close(c);

    /* Swap the two records' sealed bodies in the file: each fails to open in the other's row
     * (the AAD binds a value to its record id). */
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db,
                          "CREATE TEMP TABLE b AS SELECT id, body FROM records;"
                          "UPDATE records SET body = (SELECT b.body FROM b WHERE b.id <> "
                          "records.id);",
                          NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(db);
    c = open_keyed(key_a, 0);
    fieldsync_record *r = NULL;
    CHECK_EQ(fieldsync_get(c, id, &r), FIELDSYNC_ESTORE);
    CHECK(r == NULL);
    CHECK(strstr(fieldsync_errmsg(c), "fails authentication") != NULL);
    fieldsync_close(c);

    /* A store created without a key refuses one. */
    new_path();
    c = open_keyed(NULL, 0);
    fieldsync_close(c);
    open_keyed(key_a, FIELDSYNC_EAUTH);
}

/* ---- allocator ---- */

struct counting {
    long allocs, frees, live;
    long fail_at; /* fail the Nth allocation (1-based), 0 = never */
};

static void *cnt_malloc(void *user, size_t n)
{
    struct counting *k = user;
    if (k->fail_at && k->allocs + 1 >= k->fail_at) {
        k->allocs++;
        return NULL;
    }
    void *p = malloc(n);
    if (p) {
        k->allocs++;
        k->live++;
    }
    return p;
}

static void *cnt_realloc(void *user, void *p, size_t n)
{
    struct counting *k = user;
    if (!p)
        return cnt_malloc(user, n);
    if (k->fail_at && k->allocs + 1 >= k->fail_at) {
        k->allocs++;
        return NULL;
    }
    k->allocs++;
    return realloc(p, n);
}

static void cnt_free(void *user, void *p)
{
    struct counting *k = user;
    if (p) {
        k->frees++;
        k->live--;
        free(p);
    }
}

/* A short workload; returns the first error (or 0). */
static int workload(struct counting *k)
{
    fieldsync_allocator al = {cnt_malloc, cnt_realloc, cnt_free, k};
    fieldsync_open_opts o;
    fieldsync_client *c = NULL;
    uint8_t id[16];
    fieldsync_record *r = NULL;
    struct collect col;
    int rc;
    fieldsync_open_opts_init(&o);
    o.allocator = &al;
    o.store_key = key_a; /* sealing and opening values allocate too */
    rc = fieldsync_open(path, &o, &c);
    if (rc < 0)
        goto out;
    if ((rc = fieldsync_create(c, 1, "GAO", id)) < 0)
        goto out;
    if ((rc = fieldsync_set_string(c, id, 18, "Résumé de la réunion")) < 0)
        goto out;
    if ((rc = fieldsync_get(c, id, &r)) < 0)
        goto out;
    fieldsync_free(c, r);
    memset(&col, 0, sizeof col);
    rc = fieldsync_list(c, NULL, collect_cb, &col);
out:
    fieldsync_close(c);
    return rc;
}

static void test_client_store_allocator(void)
{
    struct counting k;
    memset(&k, 0, sizeof k);
    new_path();
    CHECK_EQ(workload(&k), 0);
    CHECK(k.allocs >= 5); /* the hook is really used */
    CHECK_EQ(k.live, 0);  /* and everything is given back */

    /* Fail each allocation in turn: every call either works or says ENOMEM, and nothing
     * leaks (the sanitizer build checks the rest). */
    long total = k.allocs;
    fprintf(stderr, "   workload: %ld allocations through the hook\n", total);
    int saw_enomem = 0;
    for (long i = 1; i <= total; i++) {
        memset(&k, 0, sizeof k);
        k.fail_at = i;
        new_path();
        int rc = workload(&k);
        if (rc != 0 && rc != FIELDSYNC_ENOMEM)
            fprintf(stderr, "fail_at %ld: %s\n", i, fieldsync_err_name(rc));
        CHECK(rc == 0 || rc == FIELDSYNC_ENOMEM);
        saw_enomem |= rc == FIELDSYNC_ENOMEM;
        CHECK_EQ(k.live, 0);
    }
    CHECK(saw_enomem);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/fs-client-store-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    RUN(test_client_store_ids);
    RUN(test_client_store_create_edit_read);
    RUN(test_client_store_outbox_one_entry_per_field);
    RUN(test_client_store_elements_and_body_diff);
    RUN(test_client_store_list_filter_delete);
    RUN(test_client_store_open_errors);
    RUN(test_client_store_encrypted_at_rest);
    RUN(test_client_store_key_errors);
    RUN(test_client_store_allocator);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
