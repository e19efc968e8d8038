/*
 * config: every setting of the server, with its default, in one place. Filled from defaults,
 * then an optional config file (key = value, same names as the long flags), then flags.
 * docs/operations.md lists them all.
 */
#ifndef FS_CONFIG_H
#define FS_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "store.h"

struct config {
    char data_dir[512];          /* --data-dir; default ./data */
    char listen_host[64];        /* --listen host:port; dev default 127.0.0.1:7443 */
    int listen_port;             /* 0 = any free port (written to <data_dir>/port) */
    int dev;                     /* --dev: generate a CA + server certificate on first run */
    char cert_path[512];         /* --cert (production) */
    char key_path[512];          /* --key */
    char ca_path[512];           /* where --dev wrote the CA certificate clients must trust */
    char port_file[512];         /* --port-file; default <data_dir>/port */
    enum store_sync synchronous; /* --synchronous full|normal|off; default full */

    /* Limits (docs/protocol.md "Limits"; sent to clients in Welcome). */
    uint32_t max_frame_preauth;       /* bytes before Hello/Enroll; default 4096 */
    uint32_t max_frame;               /* bytes after authentication; default 1 MiB */
    uint32_t max_batch;               /* changes per PushBatch; default 256 */
    uint32_t max_ops;                 /* operations per Change; default 512 */
    uint32_t max_record;              /* body + clocks + open conflicts bytes per record;
                                         0 = max_frame / 2 - 4 KiB */
    uint32_t max_in_flight;           /* requests awaiting an answer per connection; default 8 */
    uint32_t max_page;                /* records per PullPage; default 500 */
    uint32_t max_output;              /* bytes queued for one connection before it is paused/cut;
                                         default 4 MiB */
    uint64_t max_clock_ahead_ms;      /* default 10 minutes */
    uint32_t handshake_timeout_ms;    /* TLS handshake + Hello; default 15 s */
    uint32_t idle_timeout_ms;         /* default 120 s */
    uint32_t max_connections;         /* default 15000 */
    uint32_t max_preauth;             /* before Hello, in all (oldest closed); 0 = max_conn / 2 */
    uint32_t max_preauth_per_address; /* before Hello, per address (IPv6 /64); default 64 */
    uint32_t rate_per_device;         /* requests per second per device, burst 4x; default 50 */
    uint32_t enroll_attempts_per_min; /* per source address; default 10 */
    uint32_t ticket_lifetime_s;       /* TLS session ticket lifetime; default 24 h */
    char log_level[8];                /* --log-level debug|info|warn|error; default info */
};

void config_defaults(struct config *c);
/* Set one setting by its long-flag name without the dashes ("max-frame", "data-dir").
 * 0 or FIELDSYNC_EINVAL (reason in err). */
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen);
/* Read `key = value` lines ('#' comments, blank lines). 0, FIELDSYNC_EIO, FIELDSYNC_EINVAL. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Parse the server's flags (argv[0] is the program): --config FILE is read first, then the
 * other flags override it. 0, 1 when --help was asked (usage printed), FIELDSYNC_EINVAL. */
int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen);
/* The largest max_record that max_frame allows (also its default). */
uint32_t config_max_record(const struct config *c);
/* Check the settings against each other: 0 or FIELDSYNC_EINVAL (reason in err). */
int config_check(const struct config *c, char *err, size_t errlen);
/* Fill derived defaults (port_file from data_dir, max_record from max_frame). */
void config_finish(struct config *c);
void config_usage(FILE *f);

#endif
