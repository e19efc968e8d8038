/*
 * cli: what every `fieldsync` command shares: the open store, option parsing, error reporting
 * and exit codes, id/date parsing, and moving records between libfieldsync and protobuf-c.
 */
#ifndef CLI_H
#define CLI_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "fieldsync.h"
#include "cli_json.h"

/* Exit codes (docs/cli.md, "Exit codes"). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,      /* any other failure */
    CLI_EXIT_USAGE = 2,     /* bad command line */
    CLI_EXIT_DATA = 3,      /* invalid input: JSON, field value, id, region change */
    CLI_EXIT_NOTFOUND = 4,  /* no such record, field, element or conflict */
    CLI_EXIT_NETWORK = 5,   /* could not reach the server or the link failed */
    CLI_EXIT_DENIED = 6,    /* refused: credential, revoked, enrolment code, scope, state */
    CLI_EXIT_STORE = 7,     /* local store missing or failing */
    CLI_EXIT_CANCELED = 130 /* interrupted (Ctrl-C) */
};

/* Returned by cli_parse when --help was printed: the command exits 0. */
#define CLI_HELP (-1)

struct cli {
    const char *store;    /* store file path */
    const char *key_file; /* --key-file: the store key (32 raw bytes or 64 hex), or NULL */
    const char *cmd;      /* command name, for messages */
    fieldsync_client *c;
};

/* One option of a command: "--name VALUE" (and "--name=VALUE") when val is set, a flag
 * "--name" when flag is set. */
struct cli_opt {
    const char *name;
    const char **val;
    int *flag;
};

/* Map a FIELDSYNC_E* code to an exit code. */
int cli_exit_code(int rc);

/* Print "fieldsync CMD: ENAME: what: detail" (detail = fieldsync_errmsg when a handle is open
 * and has one, else the code's message) to stderr and return the exit code for rc. */
int cli_fail(struct cli *x, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Print an error on the command line and the usage, return CLI_EXIT_USAGE. */
int cli_usage(struct cli *x, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Parse argv[1..] (argv[0] is the command). Options from opts; positional arguments into pos
 * (between minpos and maxpos of them). With extra non-NULL, unknown "--name VALUE" pairs are
 * collected there (name without the dashes, then value; *nextra counts pairs) instead of being
 * an error. Returns 0, CLI_HELP (usage printed on stdout) or CLI_EXIT_USAGE (message printed).
 */
int cli_parse(struct cli *x, int argc, char **argv, const struct cli_opt *opts, const char *usage,
              const char **pos, int minpos, int maxpos, int *npos, const char **extra, int *nextra);

/* Open x->store (creating it if create). Returns 0 or an exit code (message printed). */
int cli_open(struct cli *x, int create);
void cli_close(struct cli *x);

/* Parse a record/element id (36-char form). 0 or CLI_EXIT_USAGE (message printed). */
int cli_parse_id(struct cli *x, const char *what, const char *text, uint8_t id[16]);
/* "2024-03-15" or "20240315" into 20240315. 0 or -1. */
int cli_parse_date(const char *s, uint32_t *out);
/* Non-negative decimal. 0 or -1. */
int cli_parse_u64(const char *s, uint64_t *out);
/* UTC "2024-03-15T09:30:00.123Z" for ms since the epoch. */
void cli_format_ms(uint64_t ms, char out[40]);

/* The message type of a collection number, NULL if this build does not know it. */
const ProtobufCMessageDescriptor *cli_collection(uint32_t collection);
/* Find a collection number by message type. */
uint32_t cli_collection_number(const ProtobufCMessageDescriptor *d);

/* Is f a repeated message field whose element has a bytes `id` (merged per element)? */
int cli_keyed(const ProtobufCFieldDescriptor *f);

/* Encode m into a new buffer (*out freed with free; an empty message gives a 1-byte buffer and
 * *len 0). 0 or FIELDSYNC_ENOMEM. */
int cli_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len);

/* Decode a stored record's body. 0, FIELDSYNC_ECOLLECTION (unknown collection) or
 * FIELDSYNC_ESCHEMA (undecodable body); message printed. Free with
 * protobuf_c_message_free_unpacked(m, NULL). */
int cli_unpack(struct cli *x, const fieldsync_record *r, ProtobufCMessage **out);

/* JSON of a field value (tag + value, as in conflicts) of field f of type d: for a keyed element
 * the element object, for an empty value JSON null. 0, FIELDSYNC_ESCHEMA, FIELDSYNC_ENOMEM. */
int cli_field_value_json(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                         const uint8_t *value, size_t len, json_t **out);

/* Give every element of keyed repeated fields of m that lacks an id a new one. 0 or code. */
int cli_fill_element_ids(struct cli *x, ProtobufCMessage *m);

/* Commands (cmd_records.c, cmd_query.c, cmd_sync.c). argv[0] is the command name. */
int cmd_records_new(struct cli *x, int argc, char **argv);
int cmd_records_set(struct cli *x, int argc, char **argv);
int cmd_records_add(struct cli *x, int argc, char **argv);
int cmd_records_remove(struct cli *x, int argc, char **argv);
int cmd_records_delete(struct cli *x, int argc, char **argv);
int cmd_query_show(struct cli *x, int argc, char **argv);
int cmd_query_list(struct cli *x, int argc, char **argv);
int cmd_query_export(struct cli *x, int argc, char **argv);
int cmd_sync_enroll(struct cli *x, int argc, char **argv);
int cmd_sync_set_server(struct cli *x, int argc, char **argv);
int cmd_sync_run(struct cli *x, int argc, char **argv);
int cmd_sync_rejected(struct cli *x, int argc, char **argv);
int cmd_sync_status(struct cli *x, int argc, char **argv);
int cmd_sync_conflicts(struct cli *x, int argc, char **argv);
int cmd_sync_resolve(struct cli *x, int argc, char **argv);

#endif
