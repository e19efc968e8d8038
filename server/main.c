/*
 * main: fieldsync-server's entry point, kept thin: pick the subcommand (enroll, devices,
 * revoke) or read the settings and run the server. Exit 0 after a clean shutdown.
 */
#include "admin.h"
#include "config.h"
#include "server.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && admin_is_command(argv[1]))
        return admin_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "help") == 0) {
        config_usage(stdout);
        return 0;
    }
    struct config cfg;
    char err[512];
    config_defaults(&cfg);
    int rc = config_parse_args(&cfg, argc, argv, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "fieldsync-server: %s (--help lists the settings)\n", err);
        return 2;
    }
    return server_run(&cfg) == 0 ? 0 : 1;
}
