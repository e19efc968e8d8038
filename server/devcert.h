/*
 * devcert: development certificates for `fieldsync-server --dev`. On first run, creates under
 * dir (mode 0700): ca.crt + ca.key (EC P-256, self-signed, CA:true) and server.crt +
 * server.key (EC P-256, signed by the CA, subjectAltName DNS:localhost, IP:127.0.0.1).
 * Later runs reuse them. Keys are written with mode 0600, every file atomically.
 */
#ifndef FS_DEVCERT_H
#define FS_DEVCERT_H

#include <stddef.h>

struct devcert_paths {
    char ca_cert[512];
    char server_cert[512];
    char server_key[512];
};

/* 0 with paths filled (created is 1 when this call generated them), or FIELDSYNC_EIO /
 * FIELDSYNC_ETLS with detail in err. */
int devcert_ensure(const char *dir, struct devcert_paths *paths, int *created, char *err,
                   size_t errlen);

#endif
