/*
 * server: the server-wide context handed to connections and handlers (what they need, not
 * everything there is): the loop, the settings, the writer, the pull reader pool and the
 * server's clock. Owned by main; lives as long as the loop runs.
 */
#ifndef FS_SERVER_H
#define FS_SERVER_H

#include "config.h"
#include "hlc.h"

#include <uv.h>

struct writer;
struct reader;
struct tls_server;

struct server {
    uv_loop_t *loop;
    const struct config *cfg;
    struct writer *writer;
    struct reader *reader;
    struct tls_server *tls;
    char db_path[600];
    struct hlc clock;          /* loop thread only */
    uint64_t (*wall_ms)(void); /* injectable wall clock (tests) */
    int shutting_down;
};

/* Zero s and set its settings, loop, real wall clock and HLC (cannot fail). */
void server_init(struct server *s, const struct config *cfg, uv_loop_t *loop);
/* Open the store side: the writer (on <data_dir>/fieldsync.db, schema migrated; the data
 * directory must exist) and the pull reader pool. 0, or FIELDSYNC_ESTORE / FIELDSYNC_ENOMEM /
 * FIELDSYNC_EINTERNAL with the reason in err (nothing left open but closing handles: keep
 * running the loop). Loop thread. */
int server_open_store(struct server *s, char *err, size_t errlen);
/* Let the writer commit and ack what it holds (done callbacks fire now), then stop it and the
 * readers (those in flight finish on the loop). Keep running the loop. Idempotent. */
void server_close_store(struct server *s);
/* A fresh HLC from the server's clock (loop thread only). */
uint64_t server_hlc_now(struct server *s);
/* Wall-clock milliseconds since the epoch. */
uint64_t server_wall_ms(const struct server *s);
/* Run the server with these settings until SIGINT/SIGTERM (server.c). 0 after a clean
 * shutdown, else a FIELDSYNC_E* code (reason logged). */
int server_run(struct config *cfg);

#endif
