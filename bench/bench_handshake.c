/*
 * bench_handshake: full and ticket-resumed TLS 1.2 handshakes per second against the real
 * server, beside the same handshakes done in the same run by a bare mbedtls server (a thread
 * of this program: blocking socket, the server's certificate and key, the same suites, curves
 * and ticket setup as server/tls.c). Server CPU per handshake: from /proc/<pid>/stat for the
 * real server, from the bare server thread's CPU clock. One client at a time, so the figures
 * are latency-bound, not a saturation test.
 *
 * Usage: bench_handshake [--count N] [--curve x25519|p256] (handshakes of each kind per server,
 * default 300; the ECDHE curve the client offers, default mbedtls's list, where the server's
 * preference X25519 wins)
 */
#include "bclient.h"
#include "benchlib.h"

#include <mbedtls/pk.h>
#include <mbedtls/ssl_ticket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* As server/tls.c. */
static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0,
};
static const mbedtls_ecp_group_id curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

struct bare {
    int lfd, port;
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    mbedtls_ssl_ticket_context tickets;
    double cpu_s; /* the server thread's CPU time, handshakes only */
    long done;
    volatile int stop;
};

static int fd_send(void *ctx, const unsigned char *b, size_t n)
{
    ssize_t r = send(*(int *)ctx, b, n, MSG_NOSIGNAL);
    return r < 0 ? MBEDTLS_ERR_NET_SEND_FAILED : (int)r;
}

static int fd_recv(void *ctx, unsigned char *b, size_t n)
{
    ssize_t r = recv(*(int *)ctx, b, n, 0);
    return r < 0 ? MBEDTLS_ERR_NET_RECV_FAILED : (int)r;
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *bare_main(void *arg)
{
    struct bare *s = arg;
    while (!s->stop) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (s->stop) {
            close(fd);
            break;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        double c0 = thread_cpu();
        mbedtls_ssl_context ssl;
        mbedtls_ssl_init(&ssl);
        int r = mbedtls_ssl_setup(&ssl, &s->conf);
        mbedtls_ssl_set_bio(&ssl, &fd, fd_send, fd_recv, NULL);
        while (r == 0 && (r = mbedtls_ssl_handshake(&ssl)) != 0)
            if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
                break;
        s->cpu_s += thread_cpu() - c0;
        if (r == 0)
            s->done++;
        /* wait for the client's close_notify / FIN, like the real server would */
        unsigned char buf[256];
        while (r == 0 && mbedtls_ssl_read(&ssl, buf, sizeof buf) > 0)
            ;
        mbedtls_ssl_free(&ssl);
        close(fd);
    }
    return NULL;
}

static int bare_setup(struct bare *s, const char *dir)
{
    char crt[600], key[600];
    snprintf(crt, sizeof crt, "%s/tls/server.crt", dir);
    snprintf(key, sizeof key, "%s/tls/server.key", dir);
    mbedtls_ssl_config_init(&s->conf);
    mbedtls_entropy_init(&s->entropy);
    mbedtls_ctr_drbg_init(&s->drbg);
    mbedtls_x509_crt_init(&s->cert);
    mbedtls_pk_init(&s->key);
    mbedtls_ssl_ticket_init(&s->tickets);
    if (mbedtls_ctr_drbg_seed(&s->drbg, mbedtls_entropy_func, &s->entropy, NULL, 0) ||
        mbedtls_x509_crt_parse_file(&s->cert, crt) ||
        mbedtls_pk_parse_keyfile(&s->key, key, NULL) ||
        mbedtls_ssl_config_defaults(&s->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT))
        return -1;
    mbedtls_ssl_conf_rng(&s->conf, mbedtls_ctr_drbg_random, &s->drbg);
    mbedtls_ssl_conf_min_version(&s->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&s->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&s->conf, suites);
    mbedtls_ssl_conf_curves(&s->conf, curves);
    if (mbedtls_ssl_conf_own_cert(&s->conf, &s->cert, &s->key) ||
        mbedtls_ssl_ticket_setup(&s->tickets, mbedtls_ctr_drbg_random, &s->drbg,
                                 MBEDTLS_CIPHER_AES_256_GCM, 86400))
        return -1;
    mbedtls_ssl_conf_session_tickets_cb(&s->conf, mbedtls_ssl_ticket_write,
                                        mbedtls_ssl_ticket_parse, &s->tickets);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) || listen(s->lfd, 64) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al))
        return -1;
    s->port = ntohs(a.sin_port);
    return 0;
}

static void bare_close(struct bare *s)
{
    close(s->lfd);
    mbedtls_ssl_ticket_free(&s->tickets);
    mbedtls_ssl_config_free(&s->conf);
    mbedtls_pk_free(&s->key);
    mbedtls_x509_crt_free(&s->cert);
    mbedtls_ctr_drbg_free(&s->drbg);
    mbedtls_entropy_free(&s->entropy);
}

/* count handshakes of one kind; returns handshakes/s, fills the suite name. */
static double run(struct bclient_tls *t, int port, int count, int resume, char *suite, size_t cap,
                  pid_t pid, struct bare *bare, double *cpu, long *n)
{
    struct bclient c;
    mbedtls_ssl_session sess;
    if (bclient_connect(&c, t, port, NULL) != 0)
        benchlib_die("connect");
    snprintf(suite, cap, "%s", mbedtls_ssl_get_ciphersuite(&c.ssl));
    bclient_save_session(&c, &sess);
    bclient_close(&c);
    usleep(5000); /* let the server finish with that connection */
    double c0 = pid ? benchlib_cpu_s(pid) : bare->cpu_s;
    long d0 = pid ? 0 : bare->done;
    double t0 = benchlib_now();
    for (int i = 0; i < count; i++) {
        if (bclient_connect(&c, t, port, resume ? &sess : NULL) != 0)
            benchlib_die("handshake %d failed", i);
        if (bclient_resumed(&c) != resume)
            benchlib_die("handshake %d: resumed=%d, expected %d", i, bclient_resumed(&c), resume);
        bclient_close(&c);
    }
    double el = benchlib_now() - t0;
    usleep(5000);
    *cpu += (pid ? benchlib_cpu_s(pid) : bare->cpu_s) - c0;
    *n += pid ? count : bare->done - d0;
    mbedtls_ssl_session_free(&sess);
    return count / el;
}

int main(int argc, char **argv)
{
    int count = 300;
    const char *curve = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--curve") && i + 1 < argc)
            curve = argv[++i];
        else
            benchlib_die("usage: bench_handshake [--count N] [--curve x25519|p256]");
    }
    /* P-256 stays listed after X25519: the certificate's key is on P-256, and mbedtls only
     * serves an ECDSA certificate whose curve the client lists. The client's order decides. */
    static const mbedtls_ecp_group_id only_x25519[] = {
        MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE};
    static const mbedtls_ecp_group_id only_p256[] = {MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE};
    struct testserver ts;
    struct bclient_tls t;
    struct bare bare;
    pthread_t th;
    memset(&bare, 0, sizeof bare);
    if (benchlib_server_start(&ts, "normal", NULL) != 0)
        benchlib_die("server did not start");
    if (bclient_tls_setup(&t, ts.ca_path) != 0 || bare_setup(&bare, ts.dir) != 0)
        benchlib_die("tls setup");
    /* The client offers one ECDHE curve when asked (the server takes the first it supports). */
    if (curve && !strcmp(curve, "x25519"))
        mbedtls_ssl_conf_curves(&t.conf, only_x25519);
    else if (curve && !strcmp(curve, "p256"))
        mbedtls_ssl_conf_curves(&t.conf, only_p256);
    else if (curve)
        benchlib_die("unknown curve %s", curve);
    if (pthread_create(&th, NULL, bare_main, &bare) != 0)
        benchlib_die("thread");

    static const char *const kind[2] = {"full", "resumed"};
    double rate[2][2], cpu_ms[2][2];
    char suite[2][96];
    /* Alternate the two servers in rounds so that load from other processes on the machine
     * falls on both alike. */
    for (int k = 0; k < 2; k++) {
        double el[2] = {0, 0}, cpu[2] = {0, 0};
        long n[2] = {0, 0};
        for (int done = 0; done < count; done += 50) {
            int m = count - done < 50 ? count - done : 50;
            el[0] +=
                m / run(&t, ts.port, m, k, suite[0], sizeof suite[0], ts.pid, NULL, &cpu[0], &n[0]);
            el[1] +=
                m / run(&t, bare.port, m, k, suite[1], sizeof suite[1], 0, &bare, &cpu[1], &n[1]);
        }
        for (int s2 = 0; s2 < 2; s2++) {
            rate[s2][k] = count / el[s2];
            cpu_ms[s2][k] = cpu[s2] * 1000 / (double)n[s2];
        }
    }
    bare.stop = 1;
    /* wake accept() */
    struct bclient c;
    if (bclient_connect(&c, &t, bare.port, NULL) == 0)
        bclient_close(&c);
    pthread_join(th, NULL);
    bare_close(&bare);
    bclient_tls_close(&t);
    if (testserver_stop(&ts) != 0)
        fprintf(stderr, "bench_handshake: server did not stop cleanly\n");

    printf("bench_handshake: %d sequential handshakes of each kind, one client; suite %s "
           "(bare: %s), ECDHE curve offered: %s\n",
           count, suite[0], suite[1], curve ? curve : "default list");
    for (int k = 0; k < 2; k++) {
        printf("  %-8s fieldsync-server %6.0f /s, %.2f ms server CPU each; bare mbedtls "
               "%6.0f /s, %.2f ms\n",
               kind[k], rate[0][k], cpu_ms[0][k], rate[1][k], cpu_ms[1][k]);
        char m[64], b[64];
        snprintf(m, sizeof m, "%s handshakes/s", kind[k]);
        snprintf(b, sizeof b, "bare mbedtls %.0f/s", rate[1][k]);
        benchlib_result("handshake", m, rate[0][k], "/s", b, NULL, -1);
        snprintf(m, sizeof m, "%s: server CPU", kind[k]);
        snprintf(b, sizeof b, "bare %.2f ms", cpu_ms[1][k]);
        benchlib_result("handshake", m, cpu_ms[0][k], "ms", b, NULL, -1);
    }
    return 0;
}
