/*
 * test_config: defaults, the config file, flags overriding it, and rejected input.
 */
#include "check.h"
#include "config.h"
#include "error.h"

#include <stdlib.h>
#include <unistd.h>

static void test_config_file_then_flags(void)
{
    char path[] = "/tmp/fs-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    static const char text[] = "# comment\n"
                               "data-dir = /srv/fs   \n"
                               "\n"
                               "listen = 0.0.0.0:9443\n"
                               "max-frame = 2048 # trailing comment\n"
                               "synchronous = normal\n"
                               "dev = yes\n";
    CHECK_EQ(write(fd, text, sizeof text - 1), (long long)(sizeof text - 1));
    close(fd);

    struct config c;
    char err[256];
    config_defaults(&c);
    CHECK_EQ(c.listen_port, 7443);
    CHECK_EQ(c.max_frame_preauth, 4096);
    char *argv[] = {"fieldsync-server",
                    "--max-frame=65536",
                    "--config",
                    path,
                    "--idle-timeout-ms",
                    "500",
                    NULL};
    CHECK_EQ(config_parse_args(&c, 6, argv, err, sizeof err), 0);
    CHECK_STR(c.data_dir, "/srv/fs");
    CHECK_STR(c.listen_host, "0.0.0.0");
    CHECK_EQ(c.listen_port, 9443);
    CHECK_EQ(c.max_frame, 65536); /* the flag wins over the file */
    CHECK_EQ(c.idle_timeout_ms, 500);
    CHECK_EQ(c.synchronous, STORE_SYNC_NORMAL);
    CHECK_EQ(c.dev, 1);
    config_finish(&c);
    CHECK_STR(c.port_file, "/srv/fs/port");
    CHECK_EQ(c.max_record, 65536 / 2 - 4096); /* derived from the frame limit */
    unlink(path);
}

static void test_config_rejects_bad_input(void)
{
    struct config c;
    char err[256];
    config_defaults(&c);
    CHECK_EQ(config_set(&c, "max-frame", "12x", err, sizeof err), FIELDSYNC_EINVAL);
    CHECK_EQ(config_set(&c, "max-frame", "-1", err, sizeof err), FIELDSYNC_EINVAL);
    CHECK_EQ(config_set(&c, "max-frame", "99999999999", err, sizeof err), FIELDSYNC_EINVAL);
    CHECK_EQ(config_set(&c, "listen", "nohostport", err, sizeof err), FIELDSYNC_EINVAL);
    CHECK_EQ(config_set(&c, "listen", "127.0.0.1:70000", err, sizeof err), FIELDSYNC_EINVAL);
    CHECK_EQ(config_set(&c, "synchronous", "sometimes", err, sizeof err), FIELDSYNC_EINVAL);
    CHECK_EQ(config_set(&c, "no-such-thing", "1", err, sizeof err), FIELDSYNC_EINVAL);
    CHECK(strstr(err, "no-such-thing") != NULL);
    CHECK_EQ(config_set(&c, "listen", "[::1]:0", err, sizeof err), 0);
    CHECK_STR(c.listen_host, "::1");
    CHECK_EQ(c.listen_port, 0);
    char *argv[] = {"fieldsync-server", "--max-batch", NULL};
    CHECK_EQ(config_parse_args(&c, 2, argv, err, sizeof err), FIELDSYNC_EINVAL);
    CHECK_EQ(config_load_file(&c, "/nonexistent/fs.conf", err, sizeof err), FIELDSYNC_EIO);
    /* Settings checked against each other: a record must fit a pull page. */
    config_defaults(&c);
    char *big[] = {"fieldsync-server", "--max-frame", "65536", "--max-record", "30000", NULL};
    CHECK_EQ(config_parse_args(&c, 5, big, err, sizeof err), FIELDSYNC_EINVAL);
    CHECK(strstr(err, "max-record") != NULL);
    config_defaults(&c);
    char *tiny[] = {"fieldsync-server", "--max-frame", "8192", NULL};
    CHECK_EQ(config_parse_args(&c, 3, tiny, err, sizeof err), FIELDSYNC_EINVAL);
}

int main(void)
{
    RUN(test_config_file_then_flags);
    RUN(test_config_rejects_bad_input);
    return 0;
}
