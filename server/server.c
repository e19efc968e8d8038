/*
 * server: the server's life: data directory, TLS credentials (generated with --dev), the
 * writer, the listener, signals, the loop, and the clean shutdown (stop accepting, let the
 * writer commit and ack what it holds, close connections, run the loop dry, uv_loop_close()).
 * Also the server's clock. Depends on listener, tls, devcert, writer, log.
 */
#include "server.h"

#include "devcert.h"
#include "error.h"
#include "listener.h"
#include "log.h"
#include "reader.h"
#include "tls.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct runtime {
    struct server s;
    struct listener l;
    uv_signal_t sigint, sigterm;
};

static uint64_t real_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t server_wall_ms(const struct server *s)
{
    return s && s->wall_ms ? s->wall_ms() : real_wall_ms();
}

uint64_t server_hlc_now(struct server *s)
{
    return hlc_now(&s->clock, server_wall_ms(s));
}

/* mkdir -p, the last component with mode 0700. */
static int make_dirs(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return FIELDSYNC_EIO;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return FIELDSYNC_EIO;
    return 0;
}

static int write_port_file(const char *path, int port)
{
    char tmp[600], text[16];
    snprintf(tmp, sizeof tmp, "%.590s.tmp", path);
    int n = snprintf(text, sizeof text, "%d\n", port);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return FIELDSYNC_EIO;
    int ok = write(fd, text, (size_t)n) == n;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return FIELDSYNC_EIO;
    }
    return 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct runtime *rt = h->data;
    if (rt->s.shutting_down)
        return;
    log_info("event=shutdown signal=%s conns=%u", signum == SIGINT ? "SIGINT" : "SIGTERM",
             rt->l.conns.count);
    rt->s.shutting_down = 1;
    /* Commit and ack what the writer holds while connections are still open... */
    server_close_store(&rt->s);
    /* ...then stop accepting and close every connection (their last frames flush). */
    listener_stop(&rt->l);
    uv_close((uv_handle_t *)&rt->sigint, NULL);
    uv_close((uv_handle_t *)&rt->sigterm, NULL);
}

void server_init(struct server *s, const struct config *cfg, uv_loop_t *loop)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->loop = loop;
    s->wall_ms = real_wall_ms;
    hlc_init(&s->clock, 0);
}

int server_open_store(struct server *s, char *err, size_t errlen)
{
    snprintf(s->db_path, sizeof s->db_path, "%.580s/fieldsync.db", s->cfg->data_dir);
    struct store_opts so;
    store_opts_init(&so);
    so.synchronous = s->cfg->synchronous;
    int rc = writer_start(&s->writer, s->loop, s->db_path, &so, err, errlen);
    if (rc < 0)
        return rc;
    /* The HLC starts from the greatest clock ever applied: after a restart (or a wall clock
     * set back) the server still never answers with a clock below one it accepted. */
    struct store *st = NULL;
    uint64_t last = 0;
    if ((rc = store_open(&st, s->db_path, 0, &so, err, errlen)) == 0)
        rc = store_clock_get(st, &last);
    store_close(st);
    if (rc < 0) {
        snprintf(err, errlen, "server clock: %s", error_str(rc));
        writer_stop(s->writer);
        s->writer = NULL;
        return rc;
    }
    hlc_init(&s->clock, last);
    if ((rc = reader_start(&s->reader, s->loop, s->db_path, &so)) < 0) {
        snprintf(err, errlen, "reader pool: %s", error_str(rc));
        writer_stop(s->writer);
        s->writer = NULL;
    }
    return rc;
}

void server_close_store(struct server *s)
{
    writer_stop(s->writer);
    s->writer = NULL;
    /* Pull readers take no new job; the pool frees itself once the running ones are done. */
    reader_close(s->reader);
    s->reader = NULL;
}

static void on_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    log_error("event=handle_leak type=%s", uv_handle_type_name(uv_handle_get_type(h)));
}

int server_run(struct config *cfg)
{
    int rc = FIELDSYNC_EIO;
    char err[512] = "";
    struct runtime rt;
    uv_loop_t loop;
    int loop_ok = 0;
    memset(&rt, 0, sizeof rt);
    struct server *s = &rt.s;
    server_init(s, cfg, &loop);

    if (strcmp(cfg->log_level, "debug") == 0)
        log_set_level(LOG_DEBUG);
    else if (strcmp(cfg->log_level, "warn") == 0)
        log_set_level(LOG_WARN);
    else if (strcmp(cfg->log_level, "error") == 0)
        log_set_level(LOG_ERROR);
    config_finish(cfg);

    if (make_dirs(cfg->data_dir) < 0) {
        log_error("event=start_fail what=data_dir path=%s err=\"%s\"", cfg->data_dir,
                  strerror(errno));
        goto out;
    }
    if (cfg->dev && !cfg->cert_path[0]) {
        char dir[600];
        struct devcert_paths p;
        int created;
        snprintf(dir, sizeof dir, "%.500s/tls", cfg->data_dir);
        if ((rc = devcert_ensure(dir, &p, &created, err, sizeof err)) < 0) {
            log_error("event=start_fail what=devcert err=\"%s\"", err);
            goto out;
        }
        snprintf(cfg->cert_path, sizeof cfg->cert_path, "%s", p.server_cert);
        snprintf(cfg->key_path, sizeof cfg->key_path, "%s", p.server_key);
        snprintf(cfg->ca_path, sizeof cfg->ca_path, "%s", p.ca_cert);
        log_info("event=devcert created=%d ca=%s", created, cfg->ca_path);
        printf("fieldsync-server: development CA certificate (clients trust this): %s\n",
               cfg->ca_path);
        fflush(stdout);
    }
    if (!cfg->cert_path[0] || !cfg->key_path[0]) {
        log_error("event=start_fail what=tls err=\"--cert and --key are required (or --dev)\"");
        rc = FIELDSYNC_EINVAL;
        goto out;
    }
    if ((rc = tls_server_new(&s->tls, cfg->cert_path, cfg->key_path, cfg->ticket_lifetime_s, err,
                             sizeof err)) < 0) {
        log_error("event=start_fail what=tls err=\"%s\"", err);
        goto out;
    }
    if (uv_loop_init(&loop) != 0) {
        rc = FIELDSYNC_EINTERNAL;
        goto out;
    }
    loop_ok = 1;
    if ((rc = server_open_store(s, err, sizeof err)) < 0) {
        log_error("event=start_fail what=store db=%s err=\"%s\"", s->db_path, err);
        /* A failed writer start leaves nothing on the loop; a failed reader start leaves
         * the writer's handle closing: run the loop dry either way. */
        goto run;
    }
    int port = 0;
    if ((rc = listener_start(&rt.l, s, &port, err, sizeof err)) < 0) {
        log_error("event=start_fail what=listen err=\"%s\"", err);
        server_close_store(s);
        goto run;
    }
    uv_signal_init(&loop, &rt.sigint);
    uv_signal_init(&loop, &rt.sigterm);
    rt.sigint.data = rt.sigterm.data = &rt;
    uv_signal_start(&rt.sigint, on_signal, SIGINT);
    uv_signal_start(&rt.sigterm, on_signal, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    if (write_port_file(cfg->port_file, port) < 0) {
        log_error("event=start_fail what=port_file path=%s err=\"%s\"", cfg->port_file,
                  strerror(errno));
        rc = FIELDSYNC_EIO;
        on_signal(&rt.sigterm, SIGTERM);
        goto run;
    }
    log_info("event=listen addr=%s:%d db=%s max_connections=%u", cfg->listen_host, port, s->db_path,
             cfg->max_connections);
    rc = 0;
run:
    uv_run(&loop, UV_RUN_DEFAULT);
    if (rc == 0)
        log_info("event=stopped accepted=%llu refused=%llu", (unsigned long long)rt.l.accepted,
                 (unsigned long long)rt.l.refused);
out:
    if (loop_ok) {
        if (uv_loop_close(&loop) != 0) {
            uv_walk(&loop, on_walk, NULL);
            rc = rc < 0 ? rc : FIELDSYNC_EINTERNAL;
        }
    }
    tls_server_free(s->tls);
    return rc;
}
