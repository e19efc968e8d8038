/*
 * store_prepare: the checks of a pushed change that need no stored state, and the new-record
 * state built ahead of the writer (see store_records.h, "checks ahead of the writer").
 *
 * The usual change is a new record sent as one canonical body. Everything about it but the
 * insert can be decided from the change, the session and the server's time alone: scope,
 * region, clock bound, body validation (one pass, merge_record_create), its clock blob, its
 * index columns. store_prepare_batch does that on the submitting thread (the loop thread for
 * pushes), so the single writer thread, the server's ingest bottleneck, only checks delivery
 * and inserts. It decides nothing the writer would decide otherwise: a change it does not
 * mark ready (anything unusual, any rejection) goes through the writer's own checks as if
 * never prepared, so results are the same with or without it.
 *
 * Invariants: pure (no SQLite, no I/O, no shared state): safe on any thread. Depends on merge,
 * collections, session scope.
 */
#include "store_internal.h"
#include "store_records.h"

#include "collections.h"
#include "error.h"
#include "hlc.h"
#include "merge.h"
#include "pbwire.h"
#include "uuid.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_reject(struct store_change_result *res, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    res->status = FIELDSYNC__CHANGE_STATUS__CHANGE_REJECTED;
    res->code = code;
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    return 1;
}

/* Region codes are short ASCII (letters, digits, '_', '-'), as session.c parses them: they
 * are echoed in messages and compared byte for byte. */
static int region_code_ok(const char *r)
{
    for (; *r; r++)
        if (!((*r >= 'A' && *r <= 'Z') || (*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') ||
              *r == '_' || *r == '-'))
            return 0;
    return 1;
}

int store_precheck(const struct store_apply_ctx *ctx, const Fieldsync__Change *ch,
                   struct store_change_result *res, const struct collection **coll)
{
    const struct session *sess = ctx->sess;
    if (ch->record_id.len != 16 || uuid_is_nil(ch->record_id.data))
        return store_reject(res, FIELDSYNC_EBADID, "record_id must be 16 bytes and not nil");
    *coll = collections_find(ch->collection);
    if (!*coll)
        return store_reject(res, FIELDSYNC_ECOLLECTION, "unknown collection %" PRIu32,
                            ch->collection);
    size_t rlen = strlen(ch->region);
    if (rlen == 0 || rlen >= SESSION_REGION_LEN || !region_code_ok(ch->region))
        return store_reject(res, FIELDSYNC_EREGION, "change has no valid region code");
    if (!session_in_scope(sess, ch->region))
        return store_reject(res, FIELDSYNC_ESCOPE, "region %s is outside this device's scope",
                            ch->region);
    if (ch->n_resolves && sess->role != SESSION_ROLE_COORDINATOR &&
        sess->role != SESSION_ROLE_ADMIN)
        return store_reject(res, FIELDSYNC_ESCOPE,
                            "only coordinators and admins resolve conflicts");
    if (ch->n_ops > ctx->max_ops)
        return store_reject(res, FIELDSYNC_EBATCH,
                            "%zu operations in one change (limit %" PRIu32 ")", ch->n_ops,
                            ctx->max_ops);
    return 0;
}

/* More top-level occurrences in body than max (an over-count of its operations: a plain
 * repeated field is one operation), or malformed: either way the general path decides. */
static int body_over(const uint8_t *body, size_t len, uint32_t max)
{
    size_t off = 0, k = 0;
    struct pbwire_field f;
    while (off < len) {
        if (pbwire_next(body, len, &off, &f) != 0 || ++k > max)
            return 1;
    }
    return 0;
}

int store_create_shape(const Fieldsync__Change *ch)
{
    return ch->body.len && !ch->n_ops && !ch->delete_record && !ch->n_resolves;
}

int store_over_record_size(const struct store_apply_ctx *ctx, const struct merge_record *m)
{
    return ctx->max_record && m->body_len + m->clocks_len > ctx->max_record;
}

int store_create_prepare(const struct store_apply_ctx *ctx, const struct collection *coll,
                         const Fieldsync__Change *ch, const uint8_t *device, struct merge_record *m,
                         struct collection_index *ix)
{
    if (body_over(ch->body.data, ch->body.len, ctx->max_ops))
        return 1; /* the general path counts the operations exactly and applies max_ops */
    if (ch->hlc == 0 || hlc_ms(ch->hlc) > ctx->now_ms + ctx->max_clock_ahead_ms)
        return 1;
    int rc = merge_record_create(coll->desc, m, ch->body.data, ch->body.len, ch->hlc, device);
    if (rc != 0)
        return rc;
    if (store_over_record_size(ctx, m))
        return 2;
    /* The region field, if the body has one, must say the change's region. m->body is a copy
     * of the change's body: index the change's own bytes, so that ix outlives m. */
    if (collections_index(coll, ch->body.data, ch->body.len, ix) < 0)
        return 1;
    size_t rlen = strlen(ch->region);
    if (ix->region && (ix->region_len != rlen || memcmp(ix->region, ch->region, rlen) != 0))
        return 1;
    if (ix->commune_len > COLLECTIONS_TEXT_MAX)
        ix->commune_len = COLLECTIONS_TEXT_MAX;
    return 0;
}

void store_prep_init(struct store_prep *p)
{
    memset(p, 0, sizeof *p);
}

void store_prep_close(struct store_prep *p)
{
    free(p->c);
    free(p->clocks);
    memset(p, 0, sizeof *p);
}

static int clocks_append(struct store_prep *p, const uint8_t *b, size_t n)
{
    if (p->clocks_cap - p->clocks_len < n) {
        size_t cap = p->clocks_cap ? p->clocks_cap : 4096;
        while (cap - p->clocks_len < n)
            cap *= 2;
        uint8_t *q = realloc(p->clocks, cap);
        if (!q)
            return FIELDSYNC_ENOMEM;
        p->clocks = q;
        p->clocks_cap = cap;
    }
    memcpy(p->clocks + p->clocks_len, b, n);
    p->clocks_len += n;
    return 0;
}

int store_prepare_batch(const struct store_apply_ctx *ctx, Fieldsync__Change *const *changes,
                        size_t n, struct store_prep *p)
{
    int rc = FIELDSYNC_ENOMEM;
    struct merge_record m;
    merge_record_init(&m);
    p->n = 0;
    p->clocks_len = 0;
    if (n > p->cap) {
        struct store_prepared *c = realloc(p->c, n * sizeof *c);
        if (!c)
            goto out;
        p->c = c;
        p->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        const Fieldsync__Change *ch = changes[i];
        struct store_prepared *pc = &p->c[i];
        struct store_change_result res; /* a rejection is left to the writer to report */
        const struct collection *coll;
        memset(pc, 0, sizeof *pc);
        if (!store_create_shape(ch) || store_precheck(ctx, ch, &res, &coll) != 0)
            continue;
        rc = store_create_prepare(ctx, coll, ch, ctx->sess->device_id, &m, &pc->ix);
        if (rc < 0)
            goto out;
        if (rc != 0)
            continue;
        /* The body is stored as sent (canonical): the ready state needs only the blob. */
        pc->clocks_off = p->clocks_len;
        pc->clocks_len = m.clocks_len;
        if ((rc = clocks_append(p, m.clocks, m.clocks_len)) < 0)
            goto out;
        pc->ready = 1;
    }
    p->n = n;
    rc = 0;
out:
    merge_record_close(&m);
    if (rc < 0)
        p->n = 0; /* nothing prepared: the writer does it all */
    return rc;
}
