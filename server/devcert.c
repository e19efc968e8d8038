/*
 * devcert: generate a development CA and server certificate with mbedtls (no openssl
 * command needed); see devcert.h. With tls.c, the only server file including mbedtls
 * headers. Runs once at startup, before the loop: blocking file I/O is fine here.
 */
#include "devcert.h"

#include "error.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PEM_MAX 4096

struct gen {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    char *err;
    size_t errlen;
};

static int mfail(struct gen *g, int r, const char *what)
{
    char m[128];
    mbedtls_strerror(r, m, sizeof m);
    snprintf(g->err, g->errlen, "%s: %s (mbedtls -0x%04x)", what, m, (unsigned)-r);
    return FIELDSYNC_ETLS;
}

/* Write a file atomically (temp + rename) with the given mode. */
static int write_file(const char *path, const unsigned char *data, size_t len, mode_t mode,
                      char *err, size_t errlen)
{
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = FIELDSYNC_EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        goto out;
    if (fchmod(fd, mode) != 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto out;
    return 0;
out:
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

static int gen_key(struct gen *g, mbedtls_pk_context *pk)
{
    int r = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (r == 0)
        r = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk),
                                mbedtls_ctr_drbg_random, &g->drbg);
    return r ? mfail(g, r, "generate key") : 0;
}

static void validity(char nb[16], char na[16])
{
    time_t now = time(NULL);
    time_t from = now - 86400, to = now + 10 * 365 * 86400L;
    struct tm tm;
    gmtime_r(&from, &tm);
    strftime(nb, 16, "%Y%m%d%H%M%S", &tm);
    gmtime_r(&to, &tm);
    strftime(na, 16, "%Y%m%d%H%M%S", &tm);
}

/* Sign subject's key as `subject_name` with issuer (key + name); ca selects the extensions. */
static int make_cert(struct gen *g, mbedtls_pk_context *subject, const char *subject_name,
                     mbedtls_pk_context *issuer, const char *issuer_name, int ca,
                     unsigned char *pem, size_t pem_cap)
{
    int rc = FIELDSYNC_ETLS;
    int r;
    mbedtls_x509write_cert w;
    mbedtls_mpi serial;
    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi_init(&serial);
    unsigned char sn[16];
    char nb[16], na[16];
    validity(nb, na);
    if ((r = mbedtls_ctr_drbg_random(&g->drbg, sn, sizeof sn)) != 0)
        goto fail;
    sn[0] &= 0x7f; /* positive */
    if ((r = mbedtls_mpi_read_binary(&serial, sn, sizeof sn)) != 0)
        goto fail;
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, subject);
    mbedtls_x509write_crt_set_issuer_key(&w, issuer);
    if ((r = mbedtls_x509write_crt_set_serial(&w, &serial)) != 0 ||
        (r = mbedtls_x509write_crt_set_validity(&w, nb, na)) != 0 ||
        (r = mbedtls_x509write_crt_set_subject_name(&w, subject_name)) != 0 ||
        (r = mbedtls_x509write_crt_set_issuer_name(&w, issuer_name)) != 0 ||
        (r = mbedtls_x509write_crt_set_basic_constraints(&w, ca, ca ? 0 : -1)) != 0 ||
        (r = mbedtls_x509write_crt_set_subject_key_identifier(&w)) != 0 ||
        (r = mbedtls_x509write_crt_set_authority_key_identifier(&w)) != 0)
        goto fail;
    if (ca) {
        r = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                        MBEDTLS_X509_KU_CRL_SIGN);
    } else {
        /* subjectAltName: SEQUENCE { [2] "localhost", [7] 127.0.0.1 } (mbedtls 2.28 has no
         * writer for it, so the DER is spelled out). */
        static const unsigned char san[] = {0x30, 0x11, 0x82, 0x09, 'l', 'o', 'c',
                                            'a',  'l',  'h',  'o',  's', 't', 0x87,
                                            0x04, 0x7f, 0x00, 0x00, 0x01};
        r = mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                                san, sizeof san);
        if (r == 0)
            r = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE |
                                                            MBEDTLS_X509_KU_KEY_AGREEMENT);
    }
    if (r != 0)
        goto fail;
    if ((r = mbedtls_x509write_crt_pem(&w, pem, pem_cap, mbedtls_ctr_drbg_random, &g->drbg)) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    rc = mfail(g, r, subject_name);
out:
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&w);
    return rc;
}

static int exists(const char *p)
{
    return access(p, R_OK) == 0;
}

int devcert_ensure(const char *dir, struct devcert_paths *paths, int *created, char *err,
                   size_t errlen)
{
    int rc = FIELDSYNC_EIO;
    struct gen g;
    mbedtls_pk_context ca_key, srv_key;
    unsigned char pem[PEM_MAX];
    char ca_key_path[600];
    *created = 0;
    snprintf(paths->ca_cert, sizeof paths->ca_cert, "%.490s/ca.crt", dir);
    snprintf(paths->server_cert, sizeof paths->server_cert, "%.490s/server.crt", dir);
    snprintf(paths->server_key, sizeof paths->server_key, "%.490s/server.key", dir);
    snprintf(ca_key_path, sizeof ca_key_path, "%.490s/ca.key", dir);
    if (exists(paths->ca_cert) && exists(paths->server_cert) && exists(paths->server_key))
        return 0;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return FIELDSYNC_EIO;
    }
    g.err = err;
    g.errlen = errlen;
    mbedtls_entropy_init(&g.entropy);
    mbedtls_ctr_drbg_init(&g.drbg);
    mbedtls_pk_init(&ca_key);
    mbedtls_pk_init(&srv_key);
    static const char pers[] = "fieldsync-devcert";
    int r = mbedtls_ctr_drbg_seed(&g.drbg, mbedtls_entropy_func, &g.entropy,
                                  (const unsigned char *)pers, sizeof pers - 1);
    if (r != 0) {
        rc = mfail(&g, r, "seed");
        goto out;
    }
    if ((rc = gen_key(&g, &ca_key)) < 0 || (rc = gen_key(&g, &srv_key)) < 0)
        goto out;

    static const char ca_name[] = "CN=fieldsync development CA,O=fieldsync";
    /* Keys first (0600), certificates last: the server certificate's presence means done. */
    if ((r = mbedtls_pk_write_key_pem(&ca_key, pem, sizeof pem)) != 0) {
        rc = mfail(&g, r, "write CA key");
        goto out;
    }
    if ((rc = write_file(ca_key_path, pem, strlen((char *)pem), 0600, err, errlen)) < 0)
        goto out;
    if ((r = mbedtls_pk_write_key_pem(&srv_key, pem, sizeof pem)) != 0) {
        rc = mfail(&g, r, "write server key");
        goto out;
    }
    if ((rc = write_file(paths->server_key, pem, strlen((char *)pem), 0600, err, errlen)) < 0)
        goto out;
    if ((rc = make_cert(&g, &ca_key, ca_name, &ca_key, ca_name, 1, pem, sizeof pem)) < 0 ||
        (rc = write_file(paths->ca_cert, pem, strlen((char *)pem), 0644, err, errlen)) < 0)
        goto out;
    if ((rc = make_cert(&g, &srv_key, "CN=localhost,O=fieldsync", &ca_key, ca_name, 0, pem,
                        sizeof pem)) < 0 ||
        (rc = write_file(paths->server_cert, pem, strlen((char *)pem), 0644, err, errlen)) < 0)
        goto out;
    *created = 1;
    rc = 0;
out:
    mbedtls_platform_zeroize(pem, sizeof pem);
    mbedtls_pk_free(&srv_key);
    mbedtls_pk_free(&ca_key);
    mbedtls_ctr_drbg_free(&g.drbg);
    mbedtls_entropy_free(&g.entropy);
    return rc;
}
