/*
 * query: the read side of the public API — records, lists and counts, rejected changes,
 * conflicts — plus server settings. Thin: argument checks and the entry protocol, then lstore.
 * Read-only calls take no write lock.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

int fieldsync_get(fieldsync_client *c, const uint8_t id[FIELDSYNC_ID_LEN], fieldsync_record **out)
{
    int rc = fieldsync__enter(c);
    if (out)
        *out = NULL;
    if (rc < 0)
        return rc;
    if (!id || !out)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "get: NULL argument");
    return lstore_get_public(c, id, out);
}

void fieldsync_filter_init(fieldsync_filter *f)
{
    if (f)
        memset(f, 0, sizeof *f);
}

static int check_filter(fieldsync_client *c, const fieldsync_filter *f)
{
    if (f && f->date_from && f->date_to && f->date_from > f->date_to)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "date_from %u is after date_to %u",
                               f->date_from, f->date_to);
    return 0;
}

int fieldsync_list(fieldsync_client *c, const fieldsync_filter *f, fieldsync_record_cb cb,
                   void *user)
{
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!cb)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "list: NULL callback");
    if ((rc = check_filter(c, f)) < 0)
        return rc;
    rc = lstore_list(c, f, cb, user, NULL);
    if (rc == FIELDSYNC_ECANCELED)
        fieldsync__fail(c, rc, "list stopped by the callback");
    return rc;
}

int fieldsync_count(fieldsync_client *c, const fieldsync_filter *f, uint64_t *count)
{
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!count)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "count: NULL output");
    if ((rc = check_filter(c, f)) < 0)
        return rc;
    return lstore_list(c, f, NULL, NULL, count);
}

int fieldsync_rejected(fieldsync_client *c, fieldsync_rejection_cb cb, void *user)
{
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!cb)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "rejected: NULL callback");
    return lstore_rejected_list(c, cb, user);
}

int fieldsync_rejected_dismiss(fieldsync_client *c, uint64_t device_seq)
{
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    return lstore_rejected_dismiss(c, device_seq);
}

int fieldsync_conflicts(fieldsync_client *c, fieldsync_conflict_cb cb, void *user)
{
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!cb)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "conflicts: NULL callback");
    return lstore_conflicts_list(c, cb, user);
}

/* Read a whole PEM file into a handle-allocated, NUL-terminated buffer. */
int fieldsync__read_file(fieldsync_client *c, const char *path, uint8_t **out, size_t *len);
int fieldsync__read_file(fieldsync_client *c, const char *path, uint8_t **out, size_t *len)
{
    int rc = FIELDSYNC_EIO;
    struct fs_buf b = {0};
    FILE *f = fopen(path, "rb");
    *out = NULL;
    *len = 0;
    if (!f)
        return fieldsync__fail(c, FIELDSYNC_EIO, "cannot open %s", path);
    for (;;) {
        if ((rc = fieldsync__buf_reserve(c, &b, 4096)) < 0)
            goto out;
        size_t n = fread(b.p + b.len, 1, 4096, f);
        b.len += n;
        if (n < 4096)
            break;
        if (b.len > (1u << 20)) {
            rc = fieldsync__fail(c, FIELDSYNC_EIO, "%s: too large for a CA file", path);
            goto out;
        }
    }
    if (ferror(f)) {
        rc = fieldsync__fail(c, FIELDSYNC_EIO, "cannot read %s", path);
        goto out;
    }
    if ((rc = fieldsync__buf_put(c, &b, "", 1)) < 0)
        goto out;
    if (!strstr((const char *)b.p, "-----BEGIN CERTIFICATE-----")) {
        rc = fieldsync__fail(c, FIELDSYNC_EIO, "%s: no PEM certificate in it", path);
        goto out;
    }
    *out = b.p;
    *len = b.len - 1;
    b.p = NULL;
    rc = 0;
out:
    fclose(f);
    fieldsync__buf_free(c, &b);
    return rc;
}

int fieldsync_set_server(fieldsync_client *c, const char *host, uint16_t port,
                         const char *ca_pem_path)
{
    uint8_t *pem = NULL;
    size_t len = 0;
    int rc = fieldsync__enter(c);
    if (rc < 0)
        return rc;
    if (!host || !*host || strlen(host) > FS_HOST_MAX || port == 0)
        return fieldsync__fail(c, FIELDSYNC_EINVAL, "set_server: bad host or port");
    if (ca_pem_path && (rc = fieldsync__read_file(c, ca_pem_path, &pem, &len)) < 0)
        return rc;
    rc = lstore_set_server(c, host, port, pem, len);
    fieldsync__free(c, pem);
    if (rc == 0 && c->tls_cache) {
        tls_session_free(c, c->tls_cache);
        c->tls_cache = NULL;
    }
    return rc;
}
