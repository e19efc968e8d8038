/*
 * example: the smallest complete libfieldsync program.
 *
 *   example STORE                         create a report offline, list the store
 *   example STORE HOST PORT CA.pem CODE   enrol with a one-time code first
 *   example STORE sync                    synchronise with the server (store enrolled)
 *
 * Build against an installed library:
 *   cc example.c $(pkg-config --cflags --libs fieldsync) -o example
 */
#include <fieldsync.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ConsultationReport field numbers (proto/consultation.proto). */
enum { F_COMMUNE = 3, F_LOCALITY = 4, F_TYPE = 6, F_FACILITATOR = 10, F_SUMMARY = 18 };
enum { CONSULTATION_COMMUNAL_CCS = 2 };

static int fail(fieldsync_client *c, const char *what, int rc)
{
    fprintf(stderr, "%s: %s (%s): %s\n", what, fieldsync_strerror(rc), fieldsync_err_name(rc),
            fieldsync_errmsg(c));
    return 1;
}

static int print_record(const fieldsync_record *r, void *user)
{
    char id[FIELDSYNC_ID_STR_LEN + 1];
    (void)user;
    fieldsync_id_format(r->id, id);
    printf("%s  %-10s %-14s %8u  %zu bytes%s\n", id, r->region, r->commune, r->date, r->body_len,
           r->pending ? "  (not yet synced)" : "");
    return 0; /* non-zero would stop the listing */
}

static int on_progress(const fieldsync_progress *p, void *user)
{
    static const char *const names[] = {"", "connect", "push", "pull", "done"};
    (void)user;
    fprintf(stderr, "\r%-8s %llu/%llu", names[p->phase], (unsigned long long)p->done,
            (unsigned long long)p->total);
    if (p->phase == FIELDSYNC_PHASE_DONE)
        fputc('\n', stderr);
    return 0; /* return non-zero to cancel the sync */
}

int main(int argc, char **argv)
{
    fieldsync_client *c = NULL;
    fieldsync_status st;
    int rc, ret = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: %s STORE [sync | HOST PORT CA.pem CODE]\n", argv[0]);
        return 2;
    }
    /* Open (or create) the local store. On failure the handle still explains why. */
    if ((rc = fieldsync_open(argv[1], NULL, &c)) != 0) {
        fail(c, "open", rc);
        fieldsync_close(c);
        return 1;
    }

    if (argc == 6) {
        rc = fieldsync_enroll(c, argv[2], (uint16_t)atoi(argv[3]), argv[4], argv[5], "example");
        if (rc != 0) {
            fail(c, "enroll", rc);
            goto out;
        }
    }

    if (argc == 3 && strcmp(argv[2], "sync") == 0) {
        fieldsync_sync_opts o;
        fieldsync_sync_stats stats;
        fieldsync_sync_opts_init(&o);
        o.progress = on_progress;
        o.stats = &stats;
        if ((rc = fieldsync_sync(c, &o)) != 0) {
            fail(c, "sync", rc);
            goto out;
        }
        printf("pushed %llu, pulled %llu, conflicts %llu%s\n", (unsigned long long)stats.pushed,
               (unsigned long long)stats.pulled, (unsigned long long)stats.conflicts,
               stats.resumed ? ", TLS session resumed" : "");
    } else {
        /* Offline: record a consultation. Each call is one local transaction. */
        uint8_t id[FIELDSYNC_ID_LEN];
        char text[FIELDSYNC_ID_STR_LEN + 1];
        if ((rc = fieldsync_create(c, FIELDSYNC_COLLECTION_CONSULTATION, "GAO", id)) != 0 ||
            (rc = fieldsync_set_string(c, id, F_COMMUNE, "Ansongo")) != 0 ||
            (rc = fieldsync_set_string(c, id, F_LOCALITY, "Bara")) != 0 ||
            (rc = fieldsync_set_int(c, id, F_TYPE, CONSULTATION_COMMUNAL_CCS)) != 0 ||
            (rc = fieldsync_set_string(c, id, F_FACILITATOR, "Aïssata Maïga")) != 0 ||
            (rc = fieldsync_set_string(c, id, F_SUMMARY,
                                       "Tensions autour du marché hebdomadaire;"
                                       " demande de patrouilles mixtes.")) != 0) {
            fail(c, "edit", rc);
            goto out;
        }
        fieldsync_id_format(id, text);
        printf("created %s\n", text);
    }

    /* List the live records of region GAO. */
    fieldsync_filter f;
    fieldsync_filter_init(&f);
    f.region = "GAO";
    if ((rc = fieldsync_list(c, &f, print_record, NULL)) != 0) {
        fail(c, "list", rc);
        goto out;
    }

    if ((rc = fieldsync_status_get(c, &st)) != 0) {
        fail(c, "status", rc);
        goto out;
    }
    printf("records %llu, pending changes %llu, enrolled %s, clock offset %lld ms\n",
           (unsigned long long)st.records, (unsigned long long)st.pending_changes,
           st.enrolled ? "yes" : "no", (long long)st.clock_offset_ms);
    ret = 0;
out:
    fieldsync_close(c);
    return ret;
}
