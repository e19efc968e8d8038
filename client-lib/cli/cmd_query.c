/*
 * cmd_query: the reading commands of `fieldsync`: show (one report as JSON), list (a table)
 * and export (CSV, JSON Lines, GeoJSON through cli_export). All read the local store only;
 * run `fieldsync sync` first to see what the server holds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_export.h"

/* ---- filters shared by list and export ---------------------------------------------------- */

struct filter_opts {
    const char *region, *commune, *from, *to, *limit;
    int deleted, pending;
};

#define FILTER_OPTS(fo)                                                                            \
    {"region", &(fo).region, NULL}, {"commune", &(fo).commune, NULL}, {"from", &(fo).from, NULL},  \
        {"to", &(fo).to, NULL}, {"limit", &(fo).limit, NULL},                                      \
    {                                                                                              \
        "pending", NULL, &(fo).pending                                                             \
    }

static int make_filter(struct cli *x, const char *usage, const struct filter_opts *fo,
                       fieldsync_filter *f)
{
    uint64_t limit;

    fieldsync_filter_init(f);
    f->region = fo->region;
    f->commune = fo->commune;
    f->include_deleted = fo->deleted;
    f->pending_only = fo->pending;
    if (fo->from && cli_parse_date(fo->from, &f->date_from) < 0)
        return cli_usage(x, usage, "--from %s: expected a date YYYY-MM-DD", fo->from);
    if (fo->to && cli_parse_date(fo->to, &f->date_to) < 0)
        return cli_usage(x, usage, "--to %s: expected a date YYYY-MM-DD", fo->to);
    if (fo->limit) {
        if (cli_parse_u64(fo->limit, &limit) < 0 || limit > UINT32_MAX)
            return cli_usage(x, usage, "--limit %s: expected a number", fo->limit);
        f->limit = (uint32_t)limit;
    }
    return 0;
}

/* ---- show --------------------------------------------------------------------------------- */

static const char show_usage[] =
    "usage: fieldsync show ID [--all] [--meta]\n\n"
    "Print a report as JSON (the mapping of docs/cli.md; its output is valid input for\n"
    "`fieldsync new --json`).\n"
    "  --all   also print fields at their default value\n"
    "  --meta  add _id, _deleted, _pending, _rejected and _updated (not valid input)\n\n"
    "example:\n"
    "  fieldsync show 01890a5d-ac96-774b-bcce-b302099a8057\n";

int cmd_query_show(struct cli *x, int argc, char **argv)
{
    const char *pos[1];
    int all = 0, meta = 0;
    const struct cli_opt opts[] = {{"all", NULL, &all}, {"meta", NULL, &meta}, {NULL, NULL, NULL}};
    uint8_t id[FIELDSYNC_ID_LEN];
    fieldsync_record *rec = NULL;
    ProtobufCMessage *m = NULL;
    json_t *body = NULL, *out = NULL;
    char err[CLI_JSON_ERRLEN] = "";
    int rc, code = cli_parse(x, argc, argv, opts, show_usage, pos, 1, 1, NULL, NULL, NULL);

    if (code == 0)
        code = cli_parse_id(x, "record", pos[0], id);
    if (code == 0)
        code = cli_open(x, 0);
    if (code != 0)
        return code;
    rc = fieldsync_get(x->c, id, &rec);
    if (rc < 0)
        return cli_fail(x, rc, "record %s", pos[0]);
    rc = cli_unpack(x, rec, &m);
    if (rc < 0) {
        code = cli_exit_code(rc);
        goto out;
    }
    rc = cli_json_from_pb(m, all ? CLI_JSON_DEFAULTS : 0, &body, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "fieldsync show: %s: %s\n", fieldsync_err_name(rc), err);
        code = cli_exit_code(rc);
        goto out;
    }
    out = json_incref(body);
    if (meta) {
        char idtext[FIELDSYNC_ID_STR_LEN + 1], when[40];
        fieldsync_id_format(rec->id, idtext);
        cli_format_ms(rec->updated_hlc >> 16, when); /* HLC: ms << 16 | counter */
        json_decref(out);
        out = json_pack("{s:s, s:b, s:I, s:I, s:s}", "_id", idtext, "_deleted", rec->deleted,
                        "_pending", (json_int_t)rec->pending, "_rejected",
                        (json_int_t)rec->rejected, "_updated", when);
        if (!out || json_object_update(out, body) < 0) {
            code = cli_fail(x, FIELDSYNC_ENOMEM, "show");
            goto out;
        }
    }
    if (cli_text_json(out, CLI_TEXT_PRETTY, stdout) < 0 || fputc('\n', stdout) == EOF) {
        code = cli_fail(x, FIELDSYNC_EIO, "standard output");
        goto out;
    }
    code = CLI_EXIT_OK;
out:
    json_decref(out);
    json_decref(body);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    fieldsync_free(x->c, rec);
    return code;
}

/* ---- list --------------------------------------------------------------------------------- */

static const char list_usage[] =
    "usage: fieldsync list [--region R] [--commune C] [--from DATE] [--to DATE]\n"
    "                      [--pending] [--deleted] [--limit N]\n"
    "                        [--delimiter ;] [--decimal-comma]\n\n"
    "List reports in the local store as a table: id, state, region, commune, date, type and\n"
    "the start of the summary. State: * local edits not yet synced, ! rejected by the server,\n"
    "x deleted. Dates are YYYY-MM-DD, inclusive; reports without a date are left out when a\n"
    "date bound is given.\n\n"
    "example:\n"
    "  fieldsync list --region GAO --from 2024-01-01 --to 2024-03-31\n";

/* Print s in exactly width columns (UTF-8 code points), cutting with an ellipsis. */
static void cell(const char *s, int width, int last)
{
    int cols = 0;
    size_t n = 0, cut = 0;

    for (size_t i = 0; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (cols == width - 1)
                cut = i;
            cols++;
        }
        n = i + 1;
    }
    if (cols > width) {
        for (size_t i = 0; i < cut; i++)
            putchar(s[i] == '\n' || s[i] == '\t' || s[i] == '\r' ? ' ' : s[i]);
        fputs("…", stdout);
        cols = width;
    } else {
        for (size_t i = 0; i < n; i++)
            putchar(s[i] == '\n' || s[i] == '\t' || s[i] == '\r' ? ' ' : s[i]);
    }
    if (!last)
        for (; cols <= width; cols++)
            putchar(' ');
}

struct list_ctx {
    struct cli *x;
    uint64_t rows;
};

static const char *json_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static int on_list_record(const fieldsync_record *rec, void *user)
{
    struct list_ctx *l = user;
    ProtobufCMessage *m = NULL;
    json_t *obj = NULL;
    char id[FIELDSYNC_ID_STR_LEN + 1], date[16] = "", err[CLI_JSON_ERRLEN];
    const char *type = "", *summary = "";

    fieldsync_id_format(rec->id, id);
    if (cli_unpack(l->x, rec, &m) == 0 && cli_json_from_pb(m, 0, &obj, err, sizeof err) == 0) {
        type = json_str(obj, "type");
        if (strncmp(type, "CONSULTATION_", 13) == 0)
            type += 13;
        summary = json_str(obj, "summary");
    }
    if (rec->date)
        snprintf(date, sizeof date, "%04u-%02u-%02u", rec->date / 10000, rec->date / 100 % 100,
                 rec->date % 100);
    cell(id, 36, 0);
    cell(rec->deleted ? "x" : rec->rejected ? "!" : rec->pending ? "*" : "", 1, 0);
    cell(rec->region, 10, 0);
    cell(rec->commune, 14, 0);
    cell(date, 10, 0);
    cell(type, 22, 0);
    cell(summary, 40, 1);
    putchar('\n');
    l->rows++;
    json_decref(obj);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    return ferror(stdout) ? 1 : 0;
}

int cmd_query_list(struct cli *x, int argc, char **argv)
{
    struct filter_opts fo = {0};
    const struct cli_opt opts[] = {
        FILTER_OPTS(fo), {"deleted", NULL, &fo.deleted}, {NULL, NULL, NULL}};
    fieldsync_filter f;
    struct list_ctx l = {x, 0};
    int code = cli_parse(x, argc, argv, opts, list_usage, NULL, 0, 0, NULL, NULL, NULL);

    if (code == 0)
        code = make_filter(x, list_usage, &fo, &f);
    if (code == 0)
        code = cli_open(x, 0);
    if (code != 0)
        return code;
    cell("ID", 36, 0);
    cell("", 1, 0);
    cell("REGION", 10, 0);
    cell("COMMUNE", 14, 0);
    cell("DATE", 10, 0);
    cell("TYPE", 22, 0);
    cell("SUMMARY", 40, 1);
    putchar('\n');
    int rc = fieldsync_list(x->c, &f, on_list_record, &l);
    if (rc < 0)
        return cli_fail(x, rc == FIELDSYNC_ECANCELED ? FIELDSYNC_EIO : rc, "list");
    fprintf(stderr, "%" PRIu64 " report%s\n", l.rows, l.rows == 1 ? "" : "s");
    return CLI_EXIT_OK;
}

/* ---- export ------------------------------------------------------------------------------- */

static const char export_usage[] =
    "usage: fieldsync export --format csv|jsonl|geojson [--output FILE]\n"
    "                        [--region R] [--commune C] [--from DATE] [--to DATE] [--limit N]\n"
    "                        [--delimiter ;] [--decimal-comma]\n\n"
    "Export the reports of the local store (standard output without --output).\n"
    "  csv      one row per report for Excel: UTF-8 with BOM, CRLF, flattened columns\n"
    "           (participants.*, location.*, concerns_count, stakeholders joined with ;);\n"
    "           --delimiter ; --decimal-comma for Excel set to French\n"
    "  jsonl    one report per line, the JSON of `show` with \"_id\" first\n"
    "  geojson  a FeatureCollection of points for QGIS; reports without a location are left\n"
    "           out (their number is printed)\n\n"
    "example:\n"
    "  fieldsync export --format csv --region GAO --output gao.csv\n";

struct export_ctx {
    struct cli *x;
    struct cli_export ex;
    int rc;
};

static int on_export_record(const fieldsync_record *rec, void *user)
{
    struct export_ctx *e = user;
    ProtobufCMessage *m = NULL;
    char id[FIELDSYNC_ID_STR_LEN + 1];

    if (cli_collection(rec->collection) != e->ex.desc)
        return 0; /* another collection: not in this export */
    fieldsync_id_format(rec->id, id);
    e->rc = cli_unpack(e->x, rec, &m);
    if (e->rc < 0)
        return 1;
    e->rc = cli_export_record(&e->ex, id, m);
    protobuf_c_message_free_unpacked(m, NULL);
    return e->rc < 0;
}

int cmd_query_export(struct cli *x, int argc, char **argv)
{
    struct filter_opts fo = {0};
    const char *format = NULL, *output = NULL, *delim = NULL;
    int decimal_comma = 0;
    const struct cli_opt opts[] = {FILTER_OPTS(fo),
                                   {"format", &format, NULL},
                                   {"output", &output, NULL},
                                   {"delimiter", &delim, NULL},
                                   {"decimal-comma", NULL, &decimal_comma},
                                   {NULL, NULL, NULL}};
    enum cli_export_format fmt;
    fieldsync_filter f;
    struct export_ctx e = {x, {0}, 0};
    FILE *out = stdout;
    int code = cli_parse(x, argc, argv, opts, export_usage, NULL, 0, 0, NULL, NULL, NULL);

    if (code != 0)
        return code;
    if (!format)
        return cli_usage(x, export_usage, "--format is required");
    if (cli_export_format_parse(format, &fmt) < 0)
        return cli_usage(x, export_usage, "unknown format \"%s\"", format);
    char sep = ',';
    if (delim) {
        if (strcmp(delim, "tab") == 0)
            sep = '\t';
        else if (strlen(delim) == 1 && strchr(",;|", delim[0]))
            sep = delim[0];
        else
            return cli_usage(x, export_usage, "--delimiter %s: use , ; | or tab", delim);
    }
    if (decimal_comma && sep == ',')
        return cli_usage(x, export_usage, "--decimal-comma needs another --delimiter (;)");
    code = make_filter(x, export_usage, &fo, &f);
    if (code == 0)
        code = cli_open(x, 0);
    if (code != 0)
        return code;
    f.collection = FIELDSYNC_COLLECTION_CONSULTATION;
    /* Write FILE.part and rename it at the end, so that a failed or interrupted export never
     * leaves a truncated FILE that looks complete. */
    char part[4096] = "";
    if (output && strcmp(output, "-") != 0) {
        if (snprintf(part, sizeof part, "%s.part", output) >= (int)sizeof part)
            return cli_usage(x, export_usage, "--output: file name too long");
        out = fopen(part, "wb");
        if (!out) {
            perror(part);
            cli_fail(x, FIELDSYNC_EIO, "cannot write %s", part);
            return CLI_EXIT_FAIL;
        }
    }
    cli_export_init(&e.ex, fmt, out, cli_collection(FIELDSYNC_COLLECTION_CONSULTATION));
    e.ex.sep = sep;
    e.ex.decimal_comma = decimal_comma;
    int rc = cli_export_begin(&e.ex);
    if (rc == 0) {
        rc = fieldsync_list(x->c, &f, on_export_record, &e);
        if (rc == FIELDSYNC_ECANCELED && e.rc < 0)
            rc = e.rc;
    }
    if (rc == 0)
        rc = cli_export_end(&e.ex);
    if (out != stdout) {
        if (fclose(out) != 0 && rc == 0)
            rc = FIELDSYNC_EIO;
        if (rc == 0 && rename(part, output) != 0) {
            perror(output);
            rc = FIELDSYNC_EIO;
        }
        if (rc < 0)
            unlink(part);
    }
    if (rc < 0) {
        if (e.ex.err[0])
            fprintf(stderr, "fieldsync export: %s\n", e.ex.err);
        code = cli_fail(x, rc, "export to %s", output ? output : "standard output");
        if (rc == FIELDSYNC_EIO)
            code = CLI_EXIT_FAIL; /* a file error here, not the network */
    } else {
        if (fmt == CLI_EXPORT_GEOJSON && e.ex.omitted)
            fprintf(stderr, "%zu report%s without a location left out\n", e.ex.omitted,
                    e.ex.omitted == 1 ? "" : "s");
        fprintf(stderr, "exported %zu report%s\n", e.ex.records, e.ex.records == 1 ? "" : "s");
        code = CLI_EXIT_OK;
    }
    cli_export_close(&e.ex);
    return code;
}
