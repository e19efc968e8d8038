/*
 * merge: the field-level LWW-map CRDT (see merge.h and docs/merge.md). A call parses the
 * record's state once into an index of addresses (merge_state.c), applies the ops to the
 * index, and serializes once into the record's spare buffers, which are then swapped in: a
 * failed call leaves the record unchanged, and the previous body stays readable (results
 * point into it) until the next call. Winner per address: greater (hlc, device), then
 * tombstone flag, then value bytes (so even two ops stamped with the same clock resolve the
 * same way everywhere). Pure: no I/O; applying allocates only to grow the record's buffers.
 * merge_record_create is the shortcut for a new record sent as one canonical body: one
 * validating pass, the body kept as is, the clock blob written directly (same bytes as the
 * split + apply path, which it leaves every other body to).
 */
#include "merge.h"

#include "error.h"
#include "hlc.h"
#include "merge_internal.h"
#include "pbwire.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t deleted_value[1] = {1};
static const uint8_t zero_dev[16];

void merge_record_init(struct merge_record *r)
{
    memset(r, 0, sizeof *r);
}

void merge_record_close(struct merge_record *r)
{
    free(r->body);
    free(r->clocks);
    free(r->spare_body);
    free(r->spare_clocks);
    free(r->index);
    free(r->heads);
    memset(r, 0, sizeof *r);
}

static int copy_into(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *p, size_t n)
{
    if (n > *cap) {
        uint8_t *q = realloc(*buf, n);
        if (!q)
            return FIELDSYNC_ENOMEM;
        *buf = q;
        *cap = n;
    }
    if (n)
        memcpy(*buf, p, n);
    *len = n;
    return 0;
}

int merge_record_load(struct merge_record *r, const uint8_t *body, size_t body_len,
                      const uint8_t *clocks, size_t clocks_len)
{
    struct merge_blob_reader br;
    struct merge_entry e;
    int rc = merge_state_reader_open(&br, clocks, clocks_len);
    memset(&e, 0, sizeof e);
    while (rc == 0 && (rc = merge_state_reader_next(&br, &e, NULL)) == 1)
        rc = 0;
    if (rc != 0)
        goto out;
    if (clocks_len == 0 && body_len != 0) {
        rc = FIELDSYNC_ESCHEMA; /* a body without clocks */
        goto out;
    }
    rc = copy_into(&r->body, &r->body_len, &r->body_cap, body, body_len);
    if (rc == 0)
        rc = copy_into(&r->clocks, &r->clocks_len, &r->clocks_cap, clocks, clocks_len);
out:
    return rc;
}

int merge_record_load_stored(struct merge_record *r, const uint8_t *body, size_t body_len,
                             const uint8_t *clocks, size_t clocks_len)
{
    int rc = copy_into(&r->body, &r->body_len, &r->body_cap, body, body_len);
    if (rc == 0)
        rc = copy_into(&r->clocks, &r->clocks_len, &r->clocks_cap, clocks, clocks_len);
    return rc;
}

/* Every tagged occurrence in value has field number num (structure only). */
static int value_is_field(const uint8_t *v, size_t n, uint32_t num)
{
    size_t off = 0;
    struct pbwire_field f;
    while (off < n)
        if (pbwire_next(v, n, &off, &f) != 0 || f.num != num)
            return 0;
    return 1;
}

/* The checks apply itself needs so that the state stays parseable whatever it is given:
 * addressing, clocks, and a value made of occurrences of the addressed field (for a keyed
 * element: exactly one, carrying the same id). */
static int op_shape(const ProtobufCMessageDescriptor *desc, const struct merge_op *op)
{
    if (!op->device || op->hlc == 0 || op->field > PBWIRE_FIELD_MAX)
        return FIELDSYNC_EINVAL;
    if (op->value_len && !op->value)
        return FIELDSYNC_EINVAL;
    if (op->field == 0)
        return op->element_id ? FIELDSYNC_ESCHEMA : 0;
    const ProtobufCFieldDescriptor *idfd = merge_schema_keyed(desc, op->field);
    if (!idfd) {
        if (op->element_id || op->tombstone)
            return FIELDSYNC_ESCHEMA;
        return value_is_field(op->value, op->value_len, op->field) ? 0 : FIELDSYNC_ESCHEMA;
    }
    if (!op->element_id || op->element_id_len == 0 || op->element_id_len > MERGE_ID_MAX)
        return FIELDSYNC_EBADID;
    if (op->tombstone)
        return op->value_len ? FIELDSYNC_ESCHEMA : 0;
    if (op->value_len == 0)
        return 0;
    size_t off = 0;
    struct pbwire_field f;
    const uint8_t *id;
    size_t idlen;
    if (pbwire_next(op->value, op->value_len, &off, &f) != 0 || off != op->value_len ||
        f.num != op->field || f.wt != PBWIRE_LEN)
        return FIELDSYNC_ESCHEMA;
    int rc = merge_schema_element_id(idfd, f.val, f.val_len, &id, &idlen);
    if (rc != 0)
        return rc;
    if (idlen != op->element_id_len || memcmp(id, op->element_id, idlen) != 0)
        return FIELDSYNC_EBADID;
    return 0;
}

int merge_op_check(const ProtobufCMessageDescriptor *desc, const struct merge_op *op)
{
    if (!desc)
        return FIELDSYNC_EINVAL;
    int rc = op_shape(desc, op);
    if (rc != 0 || op->field == 0)
        return rc;
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, op->field);
    if (!fd)
        return 0; /* unknown field: opaque, shape checked */
    size_t off = 0;
    struct pbwire_field f;
    while (off < op->value_len) {
        if (pbwire_next(op->value, op->value_len, &off, &f) != 0)
            return FIELDSYNC_ESCHEMA;
        rc = merge_schema_check_occurrence(fd, f.wt, f.val, f.val_len, 0);
        if (rc != 0)
            return rc;
        /* A singular field is one occurrence. */
        if (fd->label != PROTOBUF_C_LABEL_REPEATED && off != op->value_len)
            return FIELDSYNC_ESCHEMA;
    }
    return 0;
}

/* The entry an op would install at its address. */
static void entry_from_op(struct merge_entry *e, const struct merge_op *op)
{
    e->field = op->field;
    e->idlen = (uint8_t)(op->element_id ? op->element_id_len : 0);
    if (e->idlen)
        memcpy(e->id, op->element_id, e->idlen);
    e->flags = 0;
    e->hlc = op->hlc;
    memcpy(e->dev, op->device, 16);
    e->base_hlc = op->base_hlc;
    memcpy(e->base_dev, op->base_device ? op->base_device : zero_dev, 16);
    if (op->base_hlc)
        e->flags |= MERGE_F_BASE;
    else
        memset(e->base_dev, 0, 16);
    e->val = NULL;
    e->vlen = 0;
    e->heads_off = e->nheads = 0;
    if (op->field == 0) {
        if (op->tombstone || op->value_len)
            e->flags |= MERGE_F_TOMB;
    } else if (op->tombstone) {
        e->flags |= MERGE_F_TOMB;
    } else if (op->value_len) {
        e->val = op->value;
        e->vlen = op->value_len;
    }
}

static int same_value(const struct merge_entry *a, const struct merge_entry *b)
{
    return (a->flags & MERGE_F_TOMB) == (b->flags & MERGE_F_TOMB) && a->vlen == b->vlen &&
           (a->vlen == 0 || memcmp(a->val, b->val, a->vlen) == 0);
}

/* Total order on what an address can hold: (hlc, device), then tombstone, then value. */
static int entry_cmp(const struct merge_entry *a, const struct merge_entry *b)
{
    int c = hlc_cmp(a->hlc, a->dev, b->hlc, b->dev);
    if (c != 0)
        return c;
    int ta = !!(a->flags & MERGE_F_TOMB), tb = !!(b->flags & MERGE_F_TOMB);
    if (ta != tb)
        return ta - tb;
    size_t m = a->vlen < b->vlen ? a->vlen : b->vlen;
    c = m ? memcmp(a->val, b->val, m) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return (a->vlen > b->vlen) - (a->vlen < b->vlen);
}

/* Op b's writer held a value at least as new as op a when writing b: b's base is not older
 * than a (and a is older than b). If b's device had seen a, its value at the address was the
 * max of what it had seen, so base(b) >= clock(a): "sees" never misses real knowledge,
 * whatever the delivery order. It is a strict partial order (transitive, irreflexive). */
static int sees(uint64_t b_hlc, const uint8_t *b_dev, uint64_t b_base, const uint8_t *b_base_dev,
                uint64_t a_hlc, const uint8_t *a_dev)
{
    return b_base && hlc_cmp(a_hlc, a_dev, b_hlc, b_dev) < 0 &&
           hlc_cmp(b_base, b_base_dev, a_hlc, a_dev) >= 0;
}

static int saw(const struct merge_entry *b, const struct merge_entry *a)
{
    uint64_t base = (b->flags & MERGE_F_BASE) ? b->base_hlc : 0;
    return sees(b->hlc, b->dev, base, b->base_dev, a->hlc, a->dev);
}

/* The head an entry becomes, without its value hash (set only if the head is kept). */
static void head_from_entry(struct merge_head *h, const struct merge_entry *e)
{
    h->hlc = e->hlc;
    memcpy(h->dev, e->dev, 16);
    h->base_hlc = (e->flags & MERGE_F_BASE) ? e->base_hlc : 0;
    memcpy(h->base_dev, e->base_dev, 16);
    h->hash = 0;
}

/* Keep the address's heads (ops no other received op has seen: docs/merge.md, "Open
 * conflicts") up to date for a non-duplicate op cand meeting winner cur (c: entry_cmp). The new
 * list is appended to ix->h. Returns 1 if the heads changed, 0 if not, or FIELDSYNC_ENOMEM. */
static int update_heads(struct merge_index *ix, struct merge_entry *cur,
                        const struct merge_entry *cand, int c)
{
    int rc = merge_state_heads_reserve(ix, ix->nh + cur->nheads + 2);
    if (rc != 0)
        return rc;
    const struct merge_head *old = &ix->h[cur->heads_off];
    if (c < 0) {
        if (saw(cur, cand))
            return 0;
        for (uint32_t k = 0; k < cur->nheads; k++)
            if ((old[k].hlc == cand->hlc && memcmp(old[k].dev, cand->dev, 16) == 0) ||
                sees(old[k].hlc, old[k].dev, old[k].base_hlc, old[k].base_dev, cand->hlc,
                     cand->dev))
                return 0; /* a duplicate head, or seen by one: not a head */
    }
    /* Candidates in ascending clock order: the old heads, plus the losing one of cand/cur. */
    struct merge_head extra;
    const struct merge_entry *loser = c > 0 ? cur : cand;
    head_from_entry(&extra, loser);
    uint64_t base = (cand->flags & MERGE_F_BASE) ? cand->base_hlc : 0;
    size_t start = ix->nh, n = 0, k = 0;
    int placed = 0;
    while (k < cur->nheads || !placed) {
        const struct merge_head *h;
        if (!placed &&
            (k == cur->nheads || hlc_cmp(extra.hlc, extra.dev, old[k].hlc, old[k].dev) < 0)) {
            h = &extra;
            placed = 1;
        } else {
            h = &old[k++];
        }
        if (sees(cand->hlc, cand->dev, base, cand->base_dev, h->hlc, h->dev))
            continue; /* cand was written over it: no longer a head */
        ix->h[start + n] = *h;
        if (h == &extra) /* hashed only when kept: the usual edit drops it at once */
            ix->h[start + n].hash =
                merge_state_value_hash(!!(loser->flags & MERGE_F_TOMB), loser->val, loser->vlen);
        n++;
    }
    if (n > MERGE_HEADS_MAX) { /* bound the state: drop the oldest */
        start += n - MERGE_HEADS_MAX;
        n = MERGE_HEADS_MAX;
    }
    ix->nh = start + n;
    cur->heads_off = (uint32_t)start;
    cur->nheads = (uint32_t)n;
    return 1;
}

/* Position of the address in the index: 1 found at *pos, 0 not found (*pos = insertion). */
static int find(const struct merge_index *ix, uint32_t field, const uint8_t *id, size_t idlen,
                size_t *pos)
{
    size_t lo = 0, hi = ix->n;
    /* Ops from a canonical body come in address order: try the end first. */
    if (ix->n > 0) {
        const struct merge_entry *l = &ix->e[ix->n - 1];
        int c = merge_state_addr_cmp(l->field, l->id, l->idlen, field, id, idlen);
        if (c < 0) {
            *pos = ix->n;
            return 0;
        }
        if (c == 0) {
            *pos = ix->n - 1;
            return 1;
        }
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct merge_entry *m = &ix->e[mid];
        int c = merge_state_addr_cmp(m->field, m->id, m->idlen, field, id, idlen);
        if (c == 0) {
            *pos = mid;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return 0;
}

static void fill_old(struct merge_result *res, const struct merge_entry *e)
{
    res->old_tombstone = !!(e->flags & MERGE_F_TOMB);
    if (e->field == 0 && res->old_tombstone) {
        res->old_value = deleted_value;
        res->old_len = 1;
    } else {
        res->old_value = e->val;
        res->old_len = e->vlen;
    }
    res->old_hlc = e->hlc;
    memcpy(res->old_device, e->dev, 16);
}

/* Apply one op to the index; *changed is set when the state changed (winner or heads). */
static int apply_one(const ProtobufCMessageDescriptor *desc, struct merge_index *ix,
                     const struct merge_op *op, struct merge_result *res, int *changed)
{
    struct merge_entry cand;
    size_t pos;
    int rc = op_shape(desc, op);
    memset(res, 0, sizeof *res);
    if (rc != 0)
        return rc;
    entry_from_op(&cand, op);
    if (!find(ix, cand.field, cand.id, cand.idlen, &pos)) {
        rc = merge_state_index_reserve(ix, ix->n + 1);
        if (rc != 0)
            return rc;
        memmove(&ix->e[pos + 1], &ix->e[pos], (ix->n - pos) * sizeof *ix->e);
        ix->e[pos] = cand;
        ix->n++;
        res->applied = 1;
        *changed = 1;
        return 0;
    }
    struct merge_entry *cur = &ix->e[pos];
    fill_old(res, cur);
    int c = entry_cmp(&cand, cur);
    if (c == 0)
        return 0; /* already applied */
    if (hlc_cmp(cand.hlc, cand.dev, cur->hlc, cur->dev) == 0) {
        /* Same clock, other value (a misbehaving writer): the order of section 3 decides;
         * no conflict, heads untouched. */
        if (c > 0) {
            cand.heads_off = cur->heads_off;
            cand.nheads = cur->nheads;
            *cur = cand;
            res->applied = 1;
            *changed = 1;
        }
        return 0;
    }
    res->conflict = !same_value(&cand, cur) && !saw(&cand, cur) && !saw(cur, &cand);
    rc = update_heads(ix, cur, &cand, c);
    if (rc < 0)
        return rc;
    *changed |= rc;
    if (c > 0) {
        cand.heads_off = cur->heads_off;
        cand.nheads = cur->nheads;
        *cur = cand;
        res->applied = 1;
        *changed = 1;
    }
    return 0;
}

/* Does [p, p+n) overlap the buffer? */
static int overlaps(const uint8_t *p, size_t n, const uint8_t *buf, size_t cap)
{
    return n && buf && p < buf + cap && buf < p + n;
}

int merge_apply_many(const ProtobufCMessageDescriptor *desc, struct merge_record *r,
                     const struct merge_op *ops, size_t n, struct merge_result *res)
{
    struct merge_index ix = {r->index, 0, r->index_cap, r->heads, 0, r->heads_cap};
    struct merge_result scratch;
    uint8_t *orphan = NULL;
    int rc = merge_state_parse(desc, r->body, r->body_len, r->clocks, r->clocks_len, &ix);
    if (rc != 0)
        goto out;
    int changed = 0;
    for (size_t i = 0; i < n; i++) {
        struct merge_result *ri = res ? &res[i] : &scratch;
        rc = apply_one(desc, &ix, &ops[i], ri, &changed);
        if (rc != 0)
            goto out;
        /* Values must not live in the buffer about to be overwritten (views from an earlier
         * result fed back as op values): then write into fresh buffers instead. */
        if (overlaps(ops[i].value, ops[i].value_len, r->spare_body, r->spare_body_cap)) {
            orphan = r->spare_body;
            r->spare_body = NULL;
            r->spare_body_cap = 0;
        }
    }
    if (!changed)
        goto out;
    rc = merge_state_write_body(&ix, &r->spare_body, &r->spare_body_len, &r->spare_body_cap);
    if (rc == 0)
        rc = merge_state_write_clocks(&ix, &r->spare_clocks, &r->spare_clocks_len,
                                      &r->spare_clocks_cap);
    if (rc != 0)
        goto out;
    /* Swap: the old state stays readable through the results until the next call. */
    uint8_t *tb = r->body, *tc = r->clocks;
    size_t tbl = r->body_len, tbc = r->body_cap, tcl = r->clocks_len, tcc = r->clocks_cap;
    r->body = r->spare_body, r->body_len = r->spare_body_len, r->body_cap = r->spare_body_cap;
    r->clocks = r->spare_clocks, r->clocks_len = r->spare_clocks_len;
    r->clocks_cap = r->spare_clocks_cap;
    r->spare_body = tb, r->spare_body_len = tbl, r->spare_body_cap = tbc;
    r->spare_clocks = tc, r->spare_clocks_len = tcl, r->spare_clocks_cap = tcc;
out:
    free(orphan);
    r->index = ix.e;
    r->index_cap = ix.cap;
    r->heads = ix.h;
    r->heads_cap = ix.hcap;
    return rc;
}

int merge_apply(const ProtobufCMessageDescriptor *desc, struct merge_record *r,
                const struct merge_op *op, struct merge_result *res)
{
    return merge_apply_many(desc, r, op, 1, res);
}

int merge_is_deleted(const struct merge_record *r)
{
    struct merge_blob_reader br;
    struct merge_entry e;
    memset(&e, 0, sizeof e);
    if (merge_state_reader_open(&br, r->clocks, r->clocks_len) != 0)
        return 0;
    if (merge_state_reader_next(&br, &e, NULL) != 1)
        return 0;
    return e.field == 0 && (e.flags & MERGE_F_TOMB);
}

/* The value at an address in a canonical body (NULL, 0 if absent). */
static void body_value(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t n,
                       uint32_t field, const uint8_t *eid, size_t eidlen, const uint8_t **value,
                       size_t *value_len)
{
    const ProtobufCFieldDescriptor *idfd = merge_schema_keyed(desc, field);
    size_t off = 0;
    struct pbwire_field f;
    *value = NULL;
    *value_len = 0;
    while (off < n && pbwire_next(body, n, &off, &f) == 0) {
        if (f.num < field)
            continue;
        if (f.num > field)
            break;
        if (!idfd || !eid) {
            if (!*value)
                *value = f.start;
            *value_len = (size_t)(f.start + f.len - *value);
            continue;
        }
        const uint8_t *id;
        size_t idlen;
        if (merge_schema_element_id(idfd, f.val, f.val_len, &id, &idlen) == 0 && idlen == eidlen &&
            memcmp(id, eid, idlen) == 0) {
            *value = f.start;
            *value_len = f.len;
            return;
        }
    }
}

int merge_get(const ProtobufCMessageDescriptor *desc, const struct merge_record *r, uint32_t field,
              const uint8_t *element_id, size_t element_id_len, const uint8_t **value,
              size_t *value_len, uint64_t *hlc, uint8_t device[16], int *tombstone)
{
    struct merge_blob_reader br;
    struct merge_entry e;
    const uint8_t *v = NULL;
    size_t vl = 0;
    int found = 0;
    if (!element_id)
        element_id_len = 0;
    memset(&e, 0, sizeof e);
    if (element_id_len <= MERGE_ID_MAX &&
        merge_state_reader_open(&br, r->clocks, r->clocks_len) == 0) {
        while (merge_state_reader_next(&br, &e, NULL) == 1) {
            int c = merge_state_addr_cmp(e.field, e.id, e.idlen, field, element_id, element_id_len);
            if (c > 0)
                break;
            if (c == 0) {
                found = 1;
                break;
            }
        }
    }
    if (found && field == 0 && (e.flags & MERGE_F_TOMB)) {
        v = deleted_value;
        vl = 1;
    } else if (found && field != 0 && !(e.flags & MERGE_F_TOMB)) {
        body_value(desc, r->body, r->body_len, field, element_id, element_id_len, &v, &vl);
    }
    if (value)
        *value = v;
    if (value_len)
        *value_len = vl;
    if (hlc)
        *hlc = found ? e.hlc : 0;
    if (device)
        memcpy(device, found ? e.dev : zero_dev, 16);
    if (tombstone)
        *tombstone = found && (e.flags & MERGE_F_TOMB);
    return found;
}

/* One top-level occurrence of a body being split. */
struct occ {
    uint32_t num;
    uint8_t keyed;
    const uint8_t *id;
    size_t idlen;
    const uint8_t *start;
    size_t len;
    size_t pos; /* order in the body: keeps a plain repeated field's order */
};

static int occ_cmp(const void *pa, const void *pb)
{
    const struct occ *a = pa, *b = pb;
    int c = merge_state_addr_cmp(a->num, a->id, a->idlen, b->num, b->id, b->idlen);
    if (c != 0)
        return c;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* Parse a body into occurrences (occ may be NULL to count only). */
static int split_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t len,
                      struct occ *occ, size_t *count, int *sorted)
{
    size_t off = 0, k = 0;
    struct pbwire_field f;
    struct occ prev = {0};
    *sorted = 1;
    while (off < len) {
        struct occ o = {0};
        if (pbwire_next(body, len, &off, &f) != 0)
            return FIELDSYNC_ESCHEMA;
        const ProtobufCFieldDescriptor *idfd = merge_schema_keyed(desc, f.num);
        o.num = f.num;
        o.start = f.start;
        o.len = f.len;
        o.pos = k;
        if (idfd) {
            if (f.wt != PBWIRE_LEN)
                return FIELDSYNC_ESCHEMA;
            int rc = merge_schema_element_id(idfd, f.val, f.val_len, &o.id, &o.idlen);
            if (rc != 0)
                return rc;
            o.keyed = 1;
        }
        if (k > 0 && occ_cmp(&prev, &o) > 0)
            *sorted = 0;
        if (occ)
            occ[k] = o;
        prev = o;
        k++;
    }
    *count = k;
    return 0;
}

int merge_split_body(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t len,
                     uint64_t hlc, const uint8_t *device, merge_op_cb cb, void *user)
{
    struct occ stack[64], *occ = stack;
    size_t n = 0;
    int sorted;
    int rc = split_scan(desc, body, len, NULL, &n, &sorted);
    if (rc != 0)
        goto out;
    if (n > sizeof stack / sizeof stack[0]) {
        occ = malloc(n * sizeof *occ);
        if (!occ) {
            rc = FIELDSYNC_ENOMEM;
            goto out;
        }
    }
    rc = split_scan(desc, body, len, occ, &n, &sorted);
    if (rc != 0)
        goto out;
    if (!sorted)
        qsort(occ, n, sizeof *occ, occ_cmp);
    for (size_t i = 0; i < n;) {
        struct merge_op op = {0};
        size_t j = i + 1, total = occ[i].len;
        if (!occ[i].keyed) {
            for (; j < n && occ[j].num == occ[i].num; j++) {
                /* Views must stay in the body (callers keep the ops past the callback): a
                 * plain field scattered through the body is refused, not gathered. Every
                 * protobuf encoder writes a field's occurrences together. */
                if (occ[j].start != occ[j - 1].start + occ[j - 1].len) {
                    rc = FIELDSYNC_ESCHEMA;
                    goto out;
                }
                total += occ[j].len;
            }
        }
        op.field = occ[i].num;
        op.element_id = occ[i].id;
        op.element_id_len = occ[i].idlen;
        op.value = occ[i].start;
        op.value_len = total;
        op.hlc = hlc;
        op.device = device;
        rc = cb(user, &op);
        if (rc != 0)
            goto out;
        i = j;
    }
out:
    if (occ != stack)
        free(occ);
    return rc;
}

/* Validate one top-level occurrence of a new body and find its address (as merge_split_body
 * then merge_op_check would): 0, or non-zero when the body is not for the fast path. */
static int create_occurrence(const ProtobufCMessageDescriptor *desc, const struct pbwire_field *f,
                             struct merge_entry *e, const ProtobufCFieldDescriptor **fdp)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, f->num);
    const ProtobufCFieldDescriptor *idfd = fd ? merge_schema_id_field(fd) : NULL;
    const uint8_t *id = NULL;
    size_t idlen = 0;
    *fdp = fd;
    e->field = f->num;
    e->idlen = 0;
    if (idfd) {
        if (f->wt != PBWIRE_LEN || merge_schema_element_id(idfd, f->val, f->val_len, &id, &idlen))
            return 1;
        e->idlen = (uint8_t)idlen;
        memcpy(e->id, id, idlen);
    }
    return fd ? merge_schema_check_occurrence(fd, f->wt, f->val, f->val_len, 0) : 0;
}

int merge_record_create(const ProtobufCMessageDescriptor *desc, struct merge_record *r,
                        const uint8_t *body, size_t len, uint64_t hlc, const uint8_t *device)
{
    struct merge_index ix = {r->index, 0, r->index_cap, r->heads, 0, r->heads_cap};
    size_t off = 0, size = 0;
    uint32_t prev_plain = 0; /* field of the previous entry if plain, to gather its repeats */
    const ProtobufCFieldDescriptor *prev_fd = NULL;
    int rc = 1;
    if (!desc || !device || hlc == 0 || len == 0)
        goto out;
    /* One pass: validate every occurrence and check that the body is canonical (addresses
     * strictly ascending; a plain field's occurrences adjacent), keeping the addresses. */
    while (off < len) {
        struct pbwire_field f;
        const ProtobufCFieldDescriptor *fd;
        if (pbwire_next(body, len, &off, &f) != 0) {
            rc = 1;
            goto out;
        }
        if (prev_plain && f.num == prev_plain) {
            /* Another occurrence of the previous plain field: one value (repeated or unknown
             * fields only; a singular field occurring twice is refused by the general path). */
            if ((prev_fd && prev_fd->label != PROTOBUF_C_LABEL_REPEATED) ||
                (prev_fd && merge_schema_check_occurrence(prev_fd, f.wt, f.val, f.val_len, 0)))
                goto out;
            continue;
        }
        if ((rc = merge_state_index_reserve(&ix, ix.n + 1)) != 0)
            goto out;
        struct merge_entry *e = &ix.e[ix.n];
        if ((rc = create_occurrence(desc, &f, e, &fd)) != 0) {
            rc = rc == FIELDSYNC_ENOMEM ? rc : 1;
            goto out;
        }
        rc = 1;
        if (ix.n > 0) {
            const struct merge_entry *p = &ix.e[ix.n - 1];
            if (merge_state_addr_cmp(p->field, p->id, p->idlen, e->field, e->id, e->idlen) >= 0)
                goto out;
        }
        prev_plain = e->idlen ? 0 : e->field;
        prev_fd = fd;
        size += 5 + 1 + 1 + e->idlen + 8 + 1;
        ix.n++;
    }
    /* The state merge_apply_many would build from the split ops: the same body bytes, and
     * one entry per address, all stamped (hlc, device), no base, no heads. */
    size += 1 + 1 + 16 + 10;
    if ((rc = copy_into(&r->body, &r->body_len, &r->body_cap, body, len)) != 0)
        goto out;
    if (size > r->clocks_cap) {
        uint8_t *q = realloc(r->clocks, size);
        if (!q) {
            rc = FIELDSYNC_ENOMEM;
            goto out;
        }
        r->clocks = q;
        r->clocks_cap = size;
    }
    uint8_t *p = r->clocks, be[8];
    size_t o = 0;
    for (int k = 0; k < 8; k++)
        be[k] = (uint8_t)(hlc >> (56 - 8 * k));
    p[o++] = MERGE_BLOB_VERSION;
    p[o++] = 1; /* one device */
    memcpy(p + o, device, 16);
    o += 16;
    o += pbwire_put_varint(p + o, ix.n);
    for (size_t i = 0; i < ix.n; i++) {
        const struct merge_entry *e = &ix.e[i];
        o += pbwire_put_varint(p + o, e->field);
        /* every entry after the first has the first one's clock */
        p[o++] = (uint8_t)((e->idlen ? MERGE_F_ELEM : 0) | (i > 0 ? MERGE_F_SAME : 0));
        if (e->idlen) {
            p[o++] = e->idlen;
            memcpy(p + o, e->id, e->idlen);
            o += e->idlen;
        }
        if (i == 0) {
            memcpy(p + o, be, 8);
            o += 8;
            p[o++] = 0; /* device index */
        }
    }
    r->clocks_len = o;
    rc = 0;
out:
    r->index = ix.e;
    r->index_cap = ix.cap;
    return rc;
}

int merge_state_ops(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t body_len,
                    const uint8_t *clocks, size_t clocks_len, merge_op_cb cb, void *user)
{
    struct merge_index ix = {0};
    int rc = merge_state_parse(desc, body, body_len, clocks, clocks_len, &ix);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < ix.n; i++) {
        const struct merge_entry *e = &ix.e[i];
        struct merge_op op = {0};
        op.field = e->field;
        op.element_id = e->idlen ? e->id : NULL;
        op.element_id_len = e->idlen;
        op.tombstone = e->field != 0 && (e->flags & MERGE_F_TOMB);
        op.value = e->val;
        op.value_len = e->vlen;
        if (e->field == 0 && (e->flags & MERGE_F_TOMB)) {
            op.value = deleted_value;
            op.value_len = 1;
        }
        op.hlc = e->hlc;
        op.device = e->dev;
        if (e->flags & MERGE_F_BASE) {
            op.base_hlc = e->base_hlc;
            op.base_device = e->base_dev;
        }
        rc = cb(user, &op);
        if (rc != 0)
            goto out;
    }
out:
    free(ix.e);
    free(ix.h);
    return rc;
}

int merge_open_conflicts(const ProtobufCMessageDescriptor *desc, const struct merge_record *r,
                         merge_open_cb cb, void *user)
{
    struct merge_index ix = {0};
    int rc = merge_state_parse(desc, r->body, r->body_len, r->clocks, r->clocks_len, &ix);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < ix.n; i++) {
        const struct merge_entry *e = &ix.e[i];
        if (!e->nheads)
            continue;
        uint64_t wh = merge_state_value_hash(!!(e->flags & MERGE_F_TOMB), e->val, e->vlen);
        for (uint32_t k = 0; k < e->nheads; k++) {
            const struct merge_head *h = &ix.h[e->heads_off + k];
            if (h->hash == wh)
                continue; /* concurrent, but wrote the same value */
            struct merge_open o = {0};
            o.field = e->field;
            o.element_id = e->idlen ? e->id : NULL;
            o.element_id_len = e->idlen;
            o.winner_value = e->val;
            o.winner_len = e->vlen;
            if (e->field == 0 && (e->flags & MERGE_F_TOMB)) {
                o.winner_value = deleted_value;
                o.winner_len = 1;
            }
            o.winner_tombstone = !!(e->flags & MERGE_F_TOMB);
            o.winner_hlc = e->hlc;
            o.winner_device = e->dev;
            o.loser_hlc = h->hlc;
            o.loser_device = h->dev;
            o.loser_base_hlc = h->base_hlc;
            o.loser_base_device = h->base_hlc ? h->base_dev : NULL;
            rc = cb(user, &o);
            if (rc != 0)
                goto out;
        }
    }
out:
    free(ix.e);
    free(ix.h);
    return rc;
}
