/*
 * merge_state: a record's state (canonical body + clock blob) to and from the parsed index
 * (struct merge_index: one entry per address, in address order). The clock blob format is
 * specified byte by byte in docs/merge.md. Invariants: the writer emits exactly one canonical
 * encoding per index (devices sorted, entries sorted, fields in number order); the parser
 * accepts only that canonical form, so equal states are equal bytes. Bounded: every count
 * read from a blob is checked against the bytes left before anything is reserved.
 */
#include "merge_internal.h"

#include "error.h"
#include "hlc.h"
#include "pbwire.h"

#include <stdlib.h>
#include <string.h>

/* Smallest encoded entry: field and flags (MERGE_F_SAME: the previous entry's clock). */
#define ENTRY_MIN 2

int merge_state_addr_cmp(uint32_t fa, const uint8_t *ida, size_t la, uint32_t fb,
                         const uint8_t *idb, size_t lb)
{
    if (fa != fb)
        return fa < fb ? -1 : 1;
    size_t m = la < lb ? la : lb;
    int c = m ? memcmp(ida, idb, m) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return (la > lb) - (la < lb); /* no element (0) first, then shorter ids */
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

int merge_state_reader_open(struct merge_blob_reader *br, const uint8_t *p, size_t n)
{
    memset(br, 0, sizeof *br);
    br->p = p;
    br->n = n;
    if (n == 0)
        return 0; /* the empty state */
    if (p[0] != MERGE_BLOB_VERSION)
        return FIELDSYNC_ESCHEMA;
    br->off = 1;
    if (pbwire_varint(p, n, &br->off, &br->ndev) != 0 || br->ndev > (n - br->off) / 16)
        return FIELDSYNC_ESCHEMA;
    br->devs = p + br->off;
    for (uint64_t i = 1; i < br->ndev; i++)
        if (memcmp(br->devs + (i - 1) * 16, br->devs + i * 16, 16) >= 0)
            return FIELDSYNC_ESCHEMA; /* sorted, unique */
    br->off += (size_t)br->ndev * 16;
    if (pbwire_varint(p, n, &br->off, &br->count) != 0 || br->count == 0 ||
        br->count > (n - br->off) / ENTRY_MIN)
        return FIELDSYNC_ESCHEMA;
    return 0;
}

static int read_clock_at(struct merge_blob_reader *br, uint64_t *hlc, uint8_t dev[16],
                         uint64_t *index)
{
    uint64_t idx;
    if (br->n - br->off < 8)
        return -1;
    *hlc = get_be64(br->p + br->off);
    br->off += 8;
    if (*hlc == 0 || pbwire_varint(br->p, br->n, &br->off, &idx) != 0 || idx >= br->ndev)
        return -1;
    memcpy(dev, br->devs + idx * 16, 16);
    *index = idx;
    return 0;
}

static int read_clock(struct merge_blob_reader *br, uint64_t *hlc, uint8_t dev[16])
{
    uint64_t idx;
    return read_clock_at(br, hlc, dev, &idx);
}

/* The entry's own clock: explicit, or the previous entry's (MERGE_F_SAME). Canonical: the
 * flag is never on the first entry, and an explicit clock never equals the previous one. */
static int read_entry_clock(struct merge_blob_reader *br, uint8_t flags, struct merge_entry *e)
{
    uint64_t idx;
    if (flags & MERGE_F_SAME) {
        if (br->i == 0)
            return -1;
        e->hlc = br->last_hlc;
        memcpy(e->dev, br->devs + br->last_dev * 16, 16);
        return 0;
    }
    if (read_clock_at(br, &e->hlc, e->dev, &idx) != 0 ||
        (br->i > 0 && e->hlc == br->last_hlc && idx == br->last_dev))
        return -1;
    br->last_hlc = e->hlc;
    br->last_dev = idx;
    return 0;
}

/* The losing heads of one entry: count, then per head its clock, flags (bit 0: base), base,
 * value hash; clocks strictly ascending and below the winner's. */
static int read_heads(struct merge_blob_reader *br, struct merge_entry *e, struct merge_index *ix)
{
    uint64_t n;
    struct merge_head h, prev = {0};
    if (pbwire_varint(br->p, br->n, &br->off, &n) != 0 || n == 0 || n > MERGE_HEADS_MAX)
        return FIELDSYNC_ESCHEMA;
    if (ix) {
        int rc = merge_state_heads_reserve(ix, ix->nh + (size_t)n);
        if (rc != 0)
            return rc;
        e->heads_off = (uint32_t)ix->nh;
    }
    for (uint64_t i = 0; i < n; i++) {
        memset(&h, 0, sizeof h);
        if (read_clock(br, &h.hlc, h.dev) != 0 || br->off >= br->n)
            return FIELDSYNC_ESCHEMA;
        uint8_t flags = br->p[br->off++];
        if (flags & ~1u)
            return FIELDSYNC_ESCHEMA;
        if ((flags & 1) && read_clock(br, &h.base_hlc, h.base_dev) != 0)
            return FIELDSYNC_ESCHEMA;
        if (br->n - br->off < 8)
            return FIELDSYNC_ESCHEMA;
        h.hash = get_be64(br->p + br->off);
        br->off += 8;
        if ((i > 0 && hlc_cmp(prev.hlc, prev.dev, h.hlc, h.dev) >= 0) ||
            hlc_cmp(h.hlc, h.dev, e->hlc, e->dev) >= 0)
            return FIELDSYNC_ESCHEMA;
        prev = h;
        if (ix)
            ix->h[ix->nh++] = h;
    }
    e->nheads = (uint32_t)n;
    return 0;
}

int merge_state_reader_next(struct merge_blob_reader *br, struct merge_entry *e,
                            struct merge_index *ix)
{
    uint64_t field;
    uint32_t prev_field = e->field;
    uint8_t prev_id[MERGE_ID_MAX];
    size_t prev_len = e->idlen;
    if (br->i == br->count) {
        return br->off == br->n ? 0 : FIELDSYNC_ESCHEMA; /* no trailing bytes */
    }
    memcpy(prev_id, e->id, sizeof prev_id);
    if (pbwire_varint(br->p, br->n, &br->off, &field) != 0 || field > PBWIRE_FIELD_MAX ||
        br->off >= br->n)
        return FIELDSYNC_ESCHEMA;
    uint8_t flags = br->p[br->off++];
    if (flags & ~(MERGE_F_TOMB | MERGE_F_ELEM | MERGE_F_BASE | MERGE_F_HEADS | MERGE_F_SAME))
        return FIELDSYNC_ESCHEMA;
    e->field = (uint32_t)field;
    e->idlen = 0;
    if (flags & MERGE_F_ELEM) {
        if (field == 0 || br->off >= br->n)
            return FIELDSYNC_ESCHEMA;
        size_t l = br->p[br->off++];
        if (l == 0 || l > MERGE_ID_MAX || br->n - br->off < l)
            return FIELDSYNC_ESCHEMA;
        memcpy(e->id, br->p + br->off, l);
        e->idlen = (uint8_t)l;
        br->off += l;
    }
    e->flags = flags & (MERGE_F_TOMB | MERGE_F_BASE);
    if (read_entry_clock(br, flags, e) != 0)
        return FIELDSYNC_ESCHEMA;
    e->base_hlc = 0;
    memset(e->base_dev, 0, 16);
    if ((flags & MERGE_F_BASE) && read_clock(br, &e->base_hlc, e->base_dev) != 0)
        return FIELDSYNC_ESCHEMA;
    e->val = NULL;
    e->vlen = 0;
    e->heads_off = e->nheads = 0;
    if (flags & MERGE_F_HEADS) {
        int rc = read_heads(br, e, ix);
        if (rc != 0)
            return rc;
    }
    if (br->i > 0 &&
        merge_state_addr_cmp(prev_field, prev_id, prev_len, e->field, e->id, e->idlen) >= 0)
        return FIELDSYNC_ESCHEMA; /* strictly ascending addresses */
    br->i++;
    return 1;
}

int merge_state_index_reserve(struct merge_index *ix, size_t n)
{
    if (n <= ix->cap)
        return 0;
    size_t cap = ix->cap ? ix->cap : 32;
    while (cap < n)
        cap *= 2;
    void *p = realloc(ix->e, cap * sizeof *ix->e);
    if (!p)
        return FIELDSYNC_ENOMEM;
    ix->e = p;
    ix->cap = cap;
    return 0;
}

int merge_state_heads_reserve(struct merge_index *ix, size_t n)
{
    if (n <= ix->hcap)
        return 0;
    size_t cap = ix->hcap ? ix->hcap : 16;
    while (cap < n)
        cap *= 2;
    void *p = realloc(ix->h, cap * sizeof *ix->h);
    if (!p)
        return FIELDSYNC_ENOMEM;
    ix->h = p;
    ix->hcap = cap;
    return 0;
}

uint64_t merge_state_value_hash(int tombstone, const uint8_t *val, size_t vlen)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = (h ^ (uint8_t)(tombstone ? 1 : 0)) * 0x100000001b3ull;
    for (size_t i = 0; i < vlen; i++)
        h = (h ^ val[i]) * 0x100000001b3ull;
    return h;
}

/* Attach the body's values to the parsed entries: both are in address order, so one pass.
 * Every occurrence must belong to an entry; a plain field's occurrences must be adjacent. */
static int attach_body(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t n,
                       struct merge_index *ix)
{
    size_t off = 0, j = 0;
    struct pbwire_field f;
    while (off < n) {
        const uint8_t *id = NULL;
        size_t idlen = 0;
        if (pbwire_next(body, n, &off, &f) != 0)
            return FIELDSYNC_ESCHEMA;
        const ProtobufCFieldDescriptor *idfd = merge_schema_keyed(desc, f.num);
        if (idfd) {
            if (f.wt != PBWIRE_LEN ||
                merge_schema_element_id(idfd, f.val, f.val_len, &id, &idlen) != 0)
                return FIELDSYNC_ESCHEMA;
        } else if (j > 0 && ix->e[j - 1].field == f.num && ix->e[j - 1].idlen == 0) {
            struct merge_entry *p = &ix->e[j - 1];
            if (p->val + p->vlen != f.start)
                return FIELDSYNC_ESCHEMA;
            p->vlen += f.len;
            continue;
        }
        while (j < ix->n && merge_state_addr_cmp(ix->e[j].field, ix->e[j].id, ix->e[j].idlen, f.num,
                                                 id, idlen) < 0)
            j++;
        if (j == ix->n || ix->e[j].field != f.num || ix->e[j].idlen != idlen ||
            (idlen && memcmp(ix->e[j].id, id, idlen) != 0) || (ix->e[j].flags & MERGE_F_TOMB))
            return FIELDSYNC_ESCHEMA;
        ix->e[j].val = f.start;
        ix->e[j].vlen = f.len;
        j++;
    }
    return 0;
}

int merge_state_parse(const ProtobufCMessageDescriptor *desc, const uint8_t *body, size_t body_len,
                      const uint8_t *clocks, size_t clocks_len, struct merge_index *ix)
{
    struct merge_blob_reader br;
    int rc = merge_state_reader_open(&br, clocks, clocks_len);
    ix->n = 0;
    ix->nh = 0;
    if (rc != 0)
        goto out;
    for (;;) {
        /* grown with the entries read (+ the end probe), not by the count the blob claims:
         * an entry can be 2 bytes, so a claimed count alone would cost ~48x the blob's size */
        rc = merge_state_index_reserve(ix, ix->n + 1);
        if (rc != 0)
            goto out;
        struct merge_entry *e = &ix->e[ix->n];
        if (ix->n > 0)
            *e = ix->e[ix->n - 1]; /* the reader checks order against the previous entry */
        rc = merge_state_reader_next(&br, e, ix);
        if (rc < 0)
            goto out;
        if (rc == 0)
            break;
        ix->n++;
    }
    rc = attach_body(desc, body, body_len, ix);
out:
    if (rc != 0)
        ix->n = 0;
    return rc;
}

static int reserve(uint8_t **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < n)
        c *= 2;
    uint8_t *p = realloc(*buf, c);
    if (!p)
        return FIELDSYNC_ENOMEM;
    *buf = p;
    *cap = c;
    return 0;
}

int merge_state_write_body(const struct merge_index *ix, uint8_t **buf, size_t *len, size_t *cap)
{
    size_t total = 0;
    for (size_t i = 0; i < ix->n; i++)
        total += ix->e[i].vlen;
    int rc = reserve(buf, cap, total ? total : 1);
    if (rc != 0)
        return rc;
    size_t off = 0;
    for (size_t i = 0; i < ix->n; i++) {
        if (ix->e[i].vlen) {
            memcpy(*buf + off, ix->e[i].val, ix->e[i].vlen);
            off += ix->e[i].vlen;
        }
    }
    *len = off;
    return 0;
}

static int dev_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* Add dev to the unique list devs[0..*nd) (linear: records have few devices). */
static void dev_add(uint8_t (*devs)[16], size_t *nd, const uint8_t *dev)
{
    for (size_t i = *nd; i > 0; i--)
        if (memcmp(devs[i - 1], dev, 16) == 0)
            return;
    memcpy(devs[(*nd)++], dev, 16);
}

static size_t dev_index(uint8_t (*devs)[16], size_t nd, const uint8_t *dev)
{
    size_t lo = 0, hi = nd;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(devs[mid], dev, 16);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0; /* unreachable: every device was added */
}

int merge_state_write_clocks(const struct merge_index *ix, uint8_t **buf, size_t *len, size_t *cap)
{
    uint8_t stack[16][16];
    uint8_t(*devs)[16] = stack;
    size_t nd = 0;
    int rc = 0;
    if (ix->n == 0) {
        *len = 0;
        return 0;
    }
    size_t nheads = 0;
    for (size_t i = 0; i < ix->n; i++)
        nheads += ix->e[i].nheads;
    if (2 * (ix->n + nheads) > 16) {
        devs = malloc(2 * (ix->n + nheads) * 16);
        if (!devs)
            return FIELDSYNC_ENOMEM;
    }
    for (size_t i = 0; i < ix->n; i++) {
        const struct merge_entry *e = &ix->e[i];
        dev_add(devs, &nd, e->dev);
        if (e->flags & MERGE_F_BASE)
            dev_add(devs, &nd, e->base_dev);
        for (uint32_t k = 0; k < e->nheads; k++) {
            dev_add(devs, &nd, ix->h[e->heads_off + k].dev);
            if (ix->h[e->heads_off + k].base_hlc)
                dev_add(devs, &nd, ix->h[e->heads_off + k].base_dev);
        }
    }
    qsort(devs, nd, 16, dev_cmp);
    /* version, 2 varints, devices, entries of at most 5+1+1+16+8+5+8+5+5 bytes, heads of at
     * most 8+5+1+8+5+8 */
    rc = reserve(buf, cap, 1 + 20 + nd * 16 + ix->n * 54 + nheads * 40);
    if (rc != 0)
        goto out;
    uint8_t *p = *buf;
    size_t off = 0;
    p[off++] = MERGE_BLOB_VERSION;
    off += pbwire_put_varint(p + off, nd);
    memcpy(p + off, devs, nd * 16);
    off += nd * 16;
    off += pbwire_put_varint(p + off, ix->n);
    for (size_t i = 0; i < ix->n; i++) {
        const struct merge_entry *e = &ix->e[i];
        /* canonical: a clock equal to the previous entry's is always written as MERGE_F_SAME */
        int same = i > 0 && e->hlc == e[-1].hlc && memcmp(e->dev, e[-1].dev, 16) == 0;
        off += pbwire_put_varint(p + off, e->field);
        p[off++] = (uint8_t)(e->flags | (e->idlen ? MERGE_F_ELEM : 0) |
                             (e->nheads ? MERGE_F_HEADS : 0) | (same ? MERGE_F_SAME : 0));
        if (e->idlen) {
            p[off++] = e->idlen;
            memcpy(p + off, e->id, e->idlen);
            off += e->idlen;
        }
        if (!same) {
            put_be64(p + off, e->hlc);
            off += 8;
            off += pbwire_put_varint(p + off, dev_index(devs, nd, e->dev));
        }
        if (e->flags & MERGE_F_BASE) {
            put_be64(p + off, e->base_hlc);
            off += 8;
            off += pbwire_put_varint(p + off, dev_index(devs, nd, e->base_dev));
        }
        if (e->nheads)
            off += pbwire_put_varint(p + off, e->nheads);
        for (uint32_t k = 0; k < e->nheads; k++) {
            const struct merge_head *h = &ix->h[e->heads_off + k];
            put_be64(p + off, h->hlc);
            off += 8;
            off += pbwire_put_varint(p + off, dev_index(devs, nd, h->dev));
            p[off++] = h->base_hlc ? 1 : 0;
            if (h->base_hlc) {
                put_be64(p + off, h->base_hlc);
                off += 8;
                off += pbwire_put_varint(p + off, dev_index(devs, nd, h->base_dev));
            }
            put_be64(p + off, h->hash);
            off += 8;
        }
    }
    *len = off;
out:
    if (devs != stack)
        free(devs);
    return rc;
}
