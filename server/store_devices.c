/*
 * store_devices: enrolment codes and devices (see store.h). Codes and credentials are kept
 * only as SHA-256 hashes. Revocation sets revoked_ms and touches nothing else: what a revoked
 * device delivered stays. Part of the store module (includes sqlite3.h through
 * store_internal.h); runs on whichever thread owns the store.
 */
#include "store_internal.h"

#include "error.h"

#include <string.h>

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    if (!src) {
        dst[0] = '\0';
        return;
    }
    size_t n = strlen((const char *)src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int store_enroll_code_add(struct store *st, const struct store_enroll_code *c)
{
    sqlite3_stmt *s = store_stmt(st, STMT_CODE_ADD,
                                 "INSERT INTO enroll_codes(code_hash, role, regions, own_only, "
                                 "name, created_ms, expires_ms) VALUES (?,?,?,?,?,?,?)");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, c->code_hash, STORE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, c->role);
    sqlite3_bind_text(s, 3, c->regions, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, c->own_only ? 1 : 0);
    sqlite3_bind_text(s, 5, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, c->created_ms);
    sqlite3_bind_int64(s, 7, c->expires_ms);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? 0 : store_fail(st, "add enrolment code");
}

#define DEVICE_COLS                                                                                \
    "id, name, role, regions, own_only, cred_hash, enrolled_ms, last_seen_ms, revoked_ms, "        \
    "reported_hw, applied_hw, changes_received"

static void read_device(sqlite3_stmt *s, struct store_device *d)
{
    memset(d, 0, sizeof *d);
    const void *id = sqlite3_column_blob(s, 0);
    if (id && sqlite3_column_bytes(s, 0) == 16)
        memcpy(d->id, id, 16);
    copy_text(d->name, sizeof d->name, sqlite3_column_text(s, 1));
    d->role = sqlite3_column_int(s, 2);
    copy_text(d->regions, sizeof d->regions, sqlite3_column_text(s, 3));
    d->own_only = sqlite3_column_int(s, 4);
    const void *h = sqlite3_column_blob(s, 5);
    if (h && sqlite3_column_bytes(s, 5) == STORE_HASH_LEN)
        memcpy(d->cred_hash, h, STORE_HASH_LEN);
    d->enrolled_ms = sqlite3_column_int64(s, 6);
    d->last_seen_ms = sqlite3_column_int64(s, 7);
    d->revoked_ms = sqlite3_column_int64(s, 8);
    d->reported_hw = (uint64_t)sqlite3_column_int64(s, 9);
    d->applied_hw = (uint64_t)sqlite3_column_int64(s, 10);
    d->changes_received = (uint64_t)sqlite3_column_int64(s, 11);
}

int store_enroll_redeem(struct store *st, const uint8_t code_hash[STORE_HASH_LEN], int64_t now_ms,
                        const uint8_t device_id[16], const uint8_t cred_hash[STORE_HASH_LEN],
                        const char *suggested_name, struct store_device *out)
{
    sqlite3_stmt *s = store_stmt(st, STMT_CODE_GET,
                                 "SELECT role, regions, own_only, name, expires_ms, used_ms "
                                 "FROM enroll_codes WHERE code_hash = ?");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, code_hash, STORE_HASH_LEN, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_DONE) {
        sqlite3_reset(s);
        return FIELDSYNC_EENROLL;
    }
    if (r != SQLITE_ROW) {
        int rc = store_fail(st, "read enrolment code");
        sqlite3_reset(s);
        return rc;
    }
    struct store_device d;
    memset(&d, 0, sizeof d);
    memcpy(d.id, device_id, 16);
    d.role = sqlite3_column_int(s, 0);
    copy_text(d.regions, sizeof d.regions, sqlite3_column_text(s, 1));
    d.own_only = sqlite3_column_int(s, 2);
    copy_text(d.name, sizeof d.name, sqlite3_column_text(s, 3));
    int64_t expires = sqlite3_column_int64(s, 4), used = sqlite3_column_int64(s, 5);
    sqlite3_reset(s);
    if (used != 0 || (expires != 0 && now_ms >= expires))
        return FIELDSYNC_EENROLL;
    if (!d.name[0] && suggested_name)
        copy_text(d.name, sizeof d.name, (const unsigned char *)suggested_name);
    memcpy(d.cred_hash, cred_hash, STORE_HASH_LEN);
    d.enrolled_ms = now_ms;

    /* Mark used only if still unused: a concurrent redemption loses. */
    s = store_stmt(st, STMT_CODE_USE,
                   "UPDATE enroll_codes SET used_ms = ?, device_id = ? "
                   "WHERE code_hash = ? AND used_ms = 0");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_blob(s, 2, device_id, 16, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, code_hash, STORE_HASH_LEN, SQLITE_STATIC);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE)
        return store_fail(st, "use enrolment code");
    if (sqlite3_changes(st->db) != 1)
        return FIELDSYNC_EENROLL;

    s = store_stmt(st, STMT_DEVICE_ADD,
                   "INSERT INTO devices(id, name, role, regions, own_only, cred_hash, "
                   "enrolled_ms) VALUES (?,?,?,?,?,?,?)");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, d.id, 16, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, d.name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, d.role);
    sqlite3_bind_text(s, 4, d.regions, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, d.own_only);
    sqlite3_bind_blob(s, 6, d.cred_hash, STORE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, d.enrolled_ms);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE)
        return store_fail(st, "add device");
    if (out)
        *out = d;
    return 0;
}

int store_device_get(struct store *st, const uint8_t id[16], struct store_device *out)
{
    sqlite3_stmt *s =
        store_stmt(st, STMT_DEVICE_GET, "SELECT " DEVICE_COLS " FROM devices WHERE id = ?");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
    int r = sqlite3_step(s);
    int rc = 0;
    if (r == SQLITE_ROW)
        read_device(s, out);
    else if (r == SQLITE_DONE)
        rc = FIELDSYNC_ENOTFOUND;
    else
        rc = store_fail(st, "read device");
    sqlite3_reset(s);
    return rc;
}

int store_device_touch(struct store *st, const uint8_t id[16], int64_t now_ms, uint64_t reported_hw,
                       const char *app_version)
{
    sqlite3_stmt *s = store_stmt(st, STMT_DEVICE_TOUCH,
                                 "UPDATE devices SET last_seen_ms = ?, reported_hw = ?, "
                                 "app_version = ? WHERE id = ?");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)reported_hw);
    sqlite3_bind_text(s, 3, app_version ? app_version : "", -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, id, 16, SQLITE_STATIC);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE)
        return store_fail(st, "touch device");
    return sqlite3_changes(st->db) == 1 ? 0 : FIELDSYNC_ENOTFOUND;
}

int store_device_revoke(struct store *st, const uint8_t id[16], int64_t now_ms)
{
    sqlite3_stmt *s = store_stmt(st, STMT_DEVICE_REVOKE,
                                 "UPDATE devices SET revoked_ms = CASE WHEN revoked_ms = 0 "
                                 "THEN ? ELSE revoked_ms END WHERE id = ?");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_blob(s, 2, id, 16, SQLITE_STATIC);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE)
        return store_fail(st, "revoke device");
    return sqlite3_changes(st->db) == 1 ? 0 : FIELDSYNC_ENOTFOUND;
}

int store_device_list(struct store *st, store_device_cb cb, void *user)
{
    sqlite3_stmt *s = store_stmt(st, STMT_DEVICE_LIST,
                                 "SELECT " DEVICE_COLS " FROM devices ORDER BY enrolled_ms, id");
    if (!s)
        return FIELDSYNC_ESTORE;
    int rc = 0;
    for (;;) {
        int r = sqlite3_step(s);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = store_fail(st, "list devices");
            break;
        }
        struct store_device d;
        read_device(s, &d);
        if ((rc = cb(user, &d)) != 0)
            break;
    }
    sqlite3_reset(s);
    return rc;
}

int store_device_check_active(struct store *st, const uint8_t id[16])
{
    sqlite3_stmt *s =
        store_stmt(st, STMT_DEVICE_ACTIVE, "SELECT revoked_ms FROM devices WHERE id = ?");
    if (!s)
        return FIELDSYNC_ESTORE;
    sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
    int r = sqlite3_step(s);
    int rc;
    if (r == SQLITE_ROW)
        rc = sqlite3_column_int64(s, 0) != 0 ? FIELDSYNC_EREVOKED : 0;
    else if (r == SQLITE_DONE)
        rc = FIELDSYNC_EAUTH;
    else
        rc = store_fail(st, "check device");
    sqlite3_reset(s);
    return rc;
}
