/*
 * fieldsync: the command-line tool for coordinators and testers (docs/cli.md).
 *
 *   fieldsync [--store FILE] [--key-file F] <command> [options]
 *
 * Thin: global options, the command table, dispatch. Each command lives in cmd_*.c and uses
 * libfieldsync only through fieldsync.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct command {
    const char *name;
    int (*run)(struct cli *x, int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"enroll", cmd_sync_enroll, "redeem an enrolment code: this store becomes a device"},
    {"new", cmd_records_new, "create a report from JSON or --FIELD VALUE flags"},
    {"set", cmd_records_set, "set one field of a report"},
    {"add", cmd_records_add, "add (or replace) an element: concern, recommendation, ..."},
    {"remove", cmd_records_remove, "remove an element"},
    {"delete", cmd_records_delete, "delete a report"},
    {"show", cmd_query_show, "print a report as JSON"},
    {"list", cmd_query_list, "list reports (table)"},
    {"export", cmd_query_export, "export reports as CSV, JSON Lines or GeoJSON"},
    {"sync", cmd_sync_run, "send local changes, receive the server's"},
    {"conflicts", cmd_sync_conflicts, "list conflicts with both values"},
    {"resolve", cmd_sync_resolve, "resolve a conflict"},
    {"rejected", cmd_sync_rejected, "list (and dismiss) changes the server refused"},
    {"set-server", cmd_sync_set_server, "change the server address (and CA) of this device"},
    {"status", cmd_sync_status, "device, server, pending changes, last sync"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fputs("usage: fieldsync [--store FILE] [--key-file F] <command> [options]\n"
          "       fieldsync <command> --help\n\n"
          "The store is FILE, else $FIELDSYNC_STORE, else ./fieldsync.db. An encrypted store\n"
          "needs --key-file: its key as 32 raw bytes or 64 hex digits.\n\ncommands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nexit codes: 0 ok, 1 failure, 2 usage, 3 invalid data, 4 not found, 5 network,\n"
          "            6 refused (credential, scope, state), 7 local store, 130 interrupted\n",
          out);
}

int main(int argc, char **argv)
{
    struct cli x = {0};
    int i = 1;

    x.store = getenv("FIELDSYNC_STORE");
    if (!x.store || !*x.store)
        x.store = "fieldsync.db";
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            x.store = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--store=", 8) == 0) {
            x.store = argv[i] + 8;
            i++;
        } else if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc) {
            x.key_file = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--key-file=", 11) == 0) {
            x.key_file = argv[i] + 11;
            i++;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("fieldsync %s\n", fieldsync_version());
            return CLI_EXIT_OK;
        } else {
            fprintf(stderr, "fieldsync: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t k = 0; k < NCOMMANDS; k++) {
        if (strcmp(argv[i], commands[k].name) == 0) {
            x.cmd = commands[k].name;
            int code = commands[k].run(&x, argc - i, argv + i);
            cli_close(&x);
            if (fflush(stdout) != 0 && code == 0) {
                perror("fieldsync: stdout");
                code = CLI_EXIT_FAIL;
            }
            return code == CLI_HELP ? CLI_EXIT_OK : code;
        }
    }
    fprintf(stderr, "fieldsync: unknown command \"%s\"\n", argv[i]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
