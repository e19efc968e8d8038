/*
 * lstore_seal: the local store's column encryption (which columns: lstore.c): sealing values
 * as they are bound, opening them as they are read into per-handle scratch buffers, and the
 * store key check. The crypto itself is seal.c's; this file only knows SQLite and the scratch.
 */
#include "lstore_internal.h"

#include <stdint.h>
#include <string.h>

/* What device.key_check seals. */
static const char key_check_text[] = "fieldsync store key check v1";
#define KEY_CHECK_LEN (sizeof key_check_text - 1)

/* A scratch buffer of at least n bytes. Grown by alloc + wipe + free, never realloc, so that
 * no plaintext is left behind in freed memory. */
static uint8_t *scratch(fieldsync_client *c, struct fs_buf *b, size_t n)
{
    if (!b->p || b->cap < n) {
        size_t cap = n < 256 ? 256 : n;
        uint8_t *p = fieldsync__alloc(c, cap);
        if (!p) {
            fieldsync__fail(c, FIELDSYNC_ENOMEM, "out of memory");
            return NULL;
        }
        seal_zero(b->p, b->len);
        fieldsync__free(c, b->p);
        b->p = p;
        b->cap = cap;
        b->len = 0;
    }
    return b->p;
}

int lstore__bind_sealed(fieldsync_client *c, sqlite3_stmt *s, int i, const char *label,
                        const uint8_t *id, const void *p, size_t n, enum lstore_wr slot)
{
    struct lstore *st = c->st;
    if (!st->keyed || !p || !n) {
        lstore__bind_blob(s, i, p, n);
        return 0;
    }
    if (n > (size_t)INT32_MAX - SEAL_OVERHEAD)
        return fieldsync__fail(c, FIELDSYNC_ESTORE, "%s: value too large", label);
    uint8_t *out = scratch(c, &st->wr[slot], n + SEAL_OVERHEAD);
    if (!out)
        return FIELDSYNC_ENOMEM;
    if (seal_seal(st->key, label, id, p, n, out) < 0)
        return fieldsync__fail(c, FIELDSYNC_ESTORE, "%s: no random nonce (getrandom)", label);
    sqlite3_bind_blob(s, i, out, (int)(n + SEAL_OVERHEAD), SQLITE_STATIC);
    return 0;
}

int lstore__column_open(fieldsync_client *c, sqlite3_stmt *s, int col, const char *label,
                        const uint8_t *id, enum lstore_rd slot, const uint8_t **p, size_t *n)
{
    struct lstore *st = c->st;
    const uint8_t *v = sqlite3_column_blob(s, col);
    size_t len = (size_t)sqlite3_column_bytes(s, col);
    if (!st->keyed || !len) {
        *p = v;
        *n = len;
        return 0;
    }
    *p = NULL;
    *n = 0;
    if (!v)
        return lstore__fail(c, label);
    if (len < SEAL_OVERHEAD)
        return fieldsync__fail(c, FIELDSYNC_ESTORE, "%s: stored value fails authentication", label);
    struct fs_buf *b = &st->rd[slot];
    uint8_t *out = scratch(c, b, len - SEAL_OVERHEAD + 1);
    if (!out)
        return FIELDSYNC_ENOMEM;
    if (b->len < len - SEAL_OVERHEAD)
        b->len = len - SEAL_OVERHEAD;
    if (seal_open(st->key, label, id, v, len, out) < 0)
        return fieldsync__fail(c, FIELDSYNC_ESTORE, "%s: stored value fails authentication", label);
    *p = out;
    *n = len - SEAL_OVERHEAD;
    return 0;
}

/* Plaintext left in the read scratch goes at the next public call. */
void lstore__wipe(struct lstore *st)
{
    for (int i = 0; i < RD_COUNT; i++) {
        seal_zero(st->rd[i].p, st->rd[i].len);
        st->rd[i].len = 0;
    }
}

/* Seal the known text into a new store's device row. */
int lstore__key_check_write(fieldsync_client *c)
{
    int rc = FIELDSYNC_ESTORE;
    sqlite3_stmt *s = lstore__prep(c, "UPDATE device SET key_check = ?1");
    if (!s)
        return rc;
    if ((rc = lstore__bind_sealed(c, s, 1, "device.key_check", NULL,
                                  (const uint8_t *)key_check_text, KEY_CHECK_LEN, WR_A)) == 0)
        rc = lstore__step_done(c, s, "write key check");
    sqlite3_finalize(s);
    return rc;
}

/* The store key matches the store: both absent, or key_check opens to the known text. */
int lstore__key_check(fieldsync_client *c, const char *path)
{
    struct lstore *st = c->st;
    int rc = FIELDSYNC_ESTORE;
    uint8_t plain[KEY_CHECK_LEN + 1];
    sqlite3_stmt *s = lstore__prep(c, "SELECT key_check FROM device");
    if (!s)
        return rc;
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = lstore__fail(c, "read key check");
        goto out;
    }
    const uint8_t *v = sqlite3_column_blob(s, 0);
    size_t n = (size_t)sqlite3_column_bytes(s, 0);
    if (!n && !st->keyed) {
        rc = 0;
    } else if (!st->keyed) {
        rc = fieldsync__fail(c, FIELDSYNC_EAUTH, "%s is encrypted: open it with its store key",
                             path);
    } else if (!n) {
        rc = fieldsync__fail(c, FIELDSYNC_EAUTH, "%s is not encrypted: open it without a store key",
                             path);
    } else if (n != KEY_CHECK_LEN + SEAL_OVERHEAD ||
               seal_open(st->key, "device.key_check", NULL, v, n, plain) < 0 ||
               memcmp(plain, key_check_text, KEY_CHECK_LEN) != 0) {
        rc = fieldsync__fail(c, FIELDSYNC_EAUTH, "the store key does not open %s", path);
    } else {
        rc = 0;
    }
out:
    sqlite3_finalize(s);
    return rc;
}
