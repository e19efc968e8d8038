/*
 * cmd_records: the editing commands of `fieldsync`: new, set, add, remove, delete.
 *
 * Values come in as JSON (docs/cli.md, "JSON") and go to libfieldsync as protobuf encodings:
 * a whole message for `new` (fieldsync_create_body), one field value (tag + value) for `set`,
 * one element for `add` on keyed lists (fieldsync_element_put). Every edit is local and offline;
 * `fieldsync sync` sends it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);

    if (m)
        protobuf_c_message_init(d, m);
    return m;
}

static int oom(struct cli *x)
{
    return cli_fail(x, FIELDSYNC_ENOMEM, "%s", x->cmd);
}

static void free_message(ProtobufCMessage *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

static int is_date_type(const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *d = f->descriptor;
    return f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED &&
           d->n_fields == 3 && protobuf_c_message_descriptor_get_field_by_name(d, "year") &&
           protobuf_c_message_descriptor_get_field_by_name(d, "month") &&
           protobuf_c_message_descriptor_get_field_by_name(d, "day");
}

/* cli_json_set_field, plus the shorthand YYYY-MM-DD for a date field. Prints errors. */
static int set_text(struct cli *x, ProtobufCMessage *m, const char *name, const char *text,
                    const ProtobufCFieldDescriptor **field)
{
    char err[CLI_JSON_ERRLEN] = "", datejson[96];
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    uint32_t ymd;

    if (f && is_date_type(f) && cli_parse_date(text, &ymd) == 0) {
        snprintf(datejson, sizeof datejson, "{\"year\":%u,\"month\":%u,\"day\":%u}", ymd / 10000,
                 ymd / 100 % 100, ymd % 100);
        text = datejson;
    }
    int rc = cli_json_set_field(m, name, text, field, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "fieldsync %s: %s: %s\n", x->cmd, fieldsync_err_name(rc), err);
    return rc;
}

/* Read a JSON document from a file ("-" = standard input) or from the text itself. */
static json_t *load_json(struct cli *x, const char *file, const char *text)
{
    json_error_t jerr;
    json_t *j;
    const size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;

    if (file && strcmp(file, "-") == 0)
        j = json_loadf(stdin, flags, &jerr);
    else if (file)
        j = json_load_file(file, flags, &jerr);
    else
        j = json_loads(text, flags, &jerr);
    if (!j)
        fprintf(stderr, "fieldsync %s: ESCHEMA: invalid JSON in %s (line %d, column %d): %s\n",
                x->cmd, file ? (strcmp(file, "-") == 0 ? "standard input" : file) : "argument",
                jerr.line, jerr.column, jerr.text);
    return j;
}

static int to_message(struct cli *x, const ProtobufCMessageDescriptor *d, const json_t *j,
                      ProtobufCMessage **out)
{
    char err[CLI_JSON_ERRLEN] = "";
    int rc = cli_json_to_pb(d, j, out, err, sizeof err);

    if (rc < 0)
        fprintf(stderr, "fieldsync %s: %s: %s\n", x->cmd, fieldsync_err_name(rc), err);
    return rc;
}

/* ---- new ---------------------------------------------------------------------------------- */

static const char new_usage[] =
    "usage: fieldsync new [--json FILE|-] [--FIELD VALUE ...]\n\n"
    "Create a ConsultationReport in the local store and print its id.\n"
    "  --json FILE    the report as JSON (docs/cli.md); - reads standard input\n"
    "  --FIELD VALUE  set a top-level field, applied after --json: strings as they are,\n"
    "                 numbers and enum names as text, a date as YYYY-MM-DD, messages and\n"
    "                 lists as JSON\n"
    "Without --json and without --FIELD flags, the JSON is read from standard input.\n"
    "Elements (concerns, recommendations, follow_ups) without an id get a new one.\n\n"
    "example:\n"
    "  fieldsync new --region GAO --commune Ansongo --type CONSULTATION_FOCUS_GROUP \\\n"
    "      --date 2024-03-15 --summary \"Vols de bétail près du fleuve\"\n"
    "  fieldsync new --json report.json\n";

int cmd_records_new(struct cli *x, int argc, char **argv)
{
    const char *json_file = NULL;
    const struct cli_opt opts[] = {{"json", &json_file, NULL}, {NULL, NULL, NULL}};
    const char **extra = calloc((size_t)argc * 2 + 2, sizeof *extra);
    const ProtobufCMessageDescriptor *d = cli_collection(FIELDSYNC_COLLECTION_CONSULTATION);
    ProtobufCMessage *m = NULL;
    json_t *j = NULL;
    uint8_t *body = NULL, id[FIELDSYNC_ID_LEN];
    size_t len;
    int nextra = 0, code, rc;

    if (!extra)
        return oom(x);
    code = cli_parse(x, argc, argv, opts, new_usage, NULL, 0, 0, NULL, extra, &nextra);
    if (code != 0)
        goto out;
    if (json_file || nextra == 0) {
        if ((!json_file || strcmp(json_file, "-") == 0) && isatty(STDIN_FILENO))
            fprintf(stderr, "reading the report as JSON from standard input (Ctrl-D to end)\n");
        j = load_json(x, json_file ? json_file : "-", NULL);
        code = CLI_EXIT_DATA;
        if (!j || to_message(x, d, j, &m) < 0)
            goto out;
    } else {
        m = new_message(d);
        if (!m) {
            code = oom(x);
            goto out;
        }
    }
    for (int i = 0; i < nextra; i++) {
        rc = set_text(x, m, extra[2 * i], extra[2 * i + 1], NULL);
        if (rc < 0) {
            code = cli_exit_code(rc);
            goto out;
        }
    }
    const ProtobufCFieldDescriptor *rf =
        protobuf_c_message_descriptor_get_field_by_name(d, "region");
    const char *region = rf ? *(char **)((char *)m + rf->offset) : NULL;
    if (!region || !*region) {
        code = cli_usage(x, new_usage,
                         "a report needs a region (--region GAO, or \"region\" "
                         "in the JSON)");
        goto out;
    }
    code = cli_open(x, 1);
    if (code != 0)
        goto out;
    rc = cli_fill_element_ids(x, m);
    if (rc == 0)
        rc = cli_pack(m, &body, &len);
    if (rc == 0)
        rc = fieldsync_create_body(x->c, cli_collection_number(d), region, body, len, id);
    if (rc < 0) {
        code = cli_fail(x, rc, "cannot create the report");
        goto out;
    }
    char text[FIELDSYNC_ID_STR_LEN + 1];
    fieldsync_id_format(id, text);
    printf("%s\n", text);
    code = CLI_EXIT_OK;
out:
    free(body);
    free_message(m);
    json_decref(j);
    free(extra);
    return code;
}

/* ---- helpers for commands on one record ---------------------------------------------------- */

/* Open the store, parse idtext, read the record; *d is its message type. */
static int load(struct cli *x, const char *idtext, uint8_t id[FIELDSYNC_ID_LEN],
                fieldsync_record **rec, const ProtobufCMessageDescriptor **d)
{
    int code = cli_parse_id(x, "record", idtext, id);

    if (code != 0)
        return code;
    code = cli_open(x, 0);
    if (code != 0)
        return code;
    int rc = fieldsync_get(x->c, id, rec);
    if (rc < 0)
        return cli_fail(x, rc, "record %s", idtext);
    *d = cli_collection((*rec)->collection);
    if (!*d) {
        fieldsync_free(x->c, *rec);
        *rec = NULL;
        return cli_fail(x, FIELDSYNC_ECOLLECTION, "record %s", idtext);
    }
    return 0;
}

static int field_by_name(struct cli *x, const ProtobufCMessageDescriptor *d, const char *name,
                         const ProtobufCFieldDescriptor **f)
{
    *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
    if (*f)
        return 0;
    fprintf(stderr, "fieldsync %s: ENOTFOUND: %s has no field \"%s\"; fields:", x->cmd, d->name,
            name);
    for (unsigned i = 0; i < d->n_fields; i++)
        fprintf(stderr, " %s", d->fields[i].name);
    fputc('\n', stderr);
    return CLI_EXIT_NOTFOUND;
}

/* Pack the single field f of m (its field value: tag + value) and write it to the record. */
static int write_field(struct cli *x, const uint8_t id[FIELDSYNC_ID_LEN], ProtobufCMessage *m,
                       const ProtobufCFieldDescriptor *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = cli_pack(m, &buf, &len);

    if (rc == 0)
        rc = fieldsync_set_field(x->c, id, f->id, buf, len);
    free(buf);
    return rc < 0 ? cli_fail(x, rc, "cannot set %s", f->name) : CLI_EXIT_OK;
}

/* ---- set ---------------------------------------------------------------------------------- */

static const char set_usage[] =
    "usage: fieldsync set ID FIELD VALUE\n\n"
    "Set one top-level field of a report. A string field takes VALUE as it is (\"\" clears it);\n"
    "numbers, booleans and enum names are given as text; a date as YYYY-MM-DD; a message or a\n"
    "list as JSON (null clears). Lists of elements (concerns, recommendations, follow_ups) are\n"
    "edited with `add` and `remove`. The region cannot change.\n\n"
    "examples:\n"
    "  fieldsync set 01890a5d-ac96-774b-bcce-b302099a8057 summary \"Réunion reportée\"\n"
    "  fieldsync set 01890a5d-... participants '{\"women_18_35\":12,\"men_18_35\":9}'\n"
    "  fieldsync set 01890a5d-... type CONSULTATION_COMMUNITY_DIALOGUE\n";

int cmd_records_set(struct cli *x, int argc, char **argv)
{
    const char *pos[3];
    uint8_t id[FIELDSYNC_ID_LEN];
    fieldsync_record *rec = NULL;
    const ProtobufCMessageDescriptor *d = NULL;
    const ProtobufCFieldDescriptor *f = NULL;
    ProtobufCMessage *m = NULL;
    int code = cli_parse(x, argc, argv, NULL, set_usage, pos, 3, 3, NULL, NULL, NULL);

    if (code != 0)
        return code;
    code = load(x, pos[0], id, &rec, &d);
    if (code != 0)
        goto out;
    code = field_by_name(x, d, pos[1], &f);
    if (code != 0)
        goto out;
    if (cli_keyed(f)) {
        code = cli_usage(x, set_usage,
                         "%s is a list of elements: use `fieldsync add ID %s JSON` "
                         "or `fieldsync remove ID %s ELEMENT_ID`",
                         f->name, f->name, f->name);
        goto out;
    }
    m = new_message(d);
    if (!m) {
        code = oom(x);
        goto out;
    }
    int rc = set_text(x, m, f->name, pos[2], NULL);
    if (rc < 0) {
        code = cli_exit_code(rc);
        goto out;
    }
    code = write_field(x, id, m, f);
out:
    free_message(m);
    fieldsync_free(x->c, rec);
    return code;
}

/* ---- add / remove ------------------------------------------------------------------------- */

static const char add_usage[] =
    "usage: fieldsync add ID FIELD JSON|-\n\n"
    "Add an element to a list field of a report and print the element's id. For concerns,\n"
    "recommendations and follow_ups, JSON is the element object; without an \"id\" it gets a\n"
    "new one, with the id of an existing element it replaces that element. For a plain list\n"
    "(stakeholders) JSON is one value, e.g. STAKEHOLDER_CIVIL_SOCIETY. - reads standard input.\n\n"
    "example:\n"
    "  fieldsync add 01890a5d-... concerns '{\"category\":\"CONCERN_BANDITRY_THEFT\",\n"
    "      \"description\":\"Vols de bétail\",\"severity\":4,\"trend\":\"TREND_WORSENING\"}'\n";

static const char remove_usage[] =
    "usage: fieldsync remove ID FIELD ELEMENT\n\n"
    "Remove an element from a list field of a report: for concerns, recommendations and\n"
    "follow_ups ELEMENT is the element's id; for a plain list (stakeholders) the value.\n\n"
    "example:\n"
    "  fieldsync remove 01890a5d-... concerns 01890a5e-0c1d-7aa0-8f3e-2b9d6c1e4f50\n";

/* Plain (non-keyed) list: rewrite the whole field with value added or removed. */
static int edit_plain_list(struct cli *x, const uint8_t id[FIELDSYNC_ID_LEN],
                           const fieldsync_record *rec, const ProtobufCFieldDescriptor *f,
                           const char *text, int add)
{
    ProtobufCMessage *cur = NULL, *m = NULL;
    json_t *obj = NULL, *arr = NULL, *v = NULL, *wrap = NULL;
    char err[CLI_JSON_ERRLEN] = "";
    int code = CLI_EXIT_DATA;

    if (cli_unpack(x, rec, &cur) < 0)
        goto out;
    code = CLI_EXIT_FAIL;
    if (cli_json_from_pb(cur, 0, &obj, err, sizeof err) < 0) {
        fprintf(stderr, "fieldsync %s: %s\n", x->cmd, err);
        goto out;
    }
    arr = json_object_get(obj, f->name);
    arr = arr ? json_incref(arr) : json_array();
    v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v || (json_is_string(v) == 0 &&
               (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES))) {
        json_decref(v);
        v = json_string(text); /* a bare enum name or string */
    }
    if (!arr || !v) {
        code = oom(x);
        goto out;
    }
    if (add) {
        json_array_append(arr, v);
    } else {
        size_t removed = 0;
        for (size_t i = json_array_size(arr); i-- > 0;)
            if (json_equal(json_array_get(arr, i), v)) {
                json_array_remove(arr, i);
                removed++;
            }
        if (!removed) {
            fprintf(stderr, "fieldsync %s: ENOTFOUND: %s does not hold %s\n", x->cmd, f->name,
                    text);
            code = CLI_EXIT_NOTFOUND;
            goto out;
        }
    }
    wrap = json_object();
    if (!wrap || json_object_set(wrap, f->name, arr) < 0) {
        code = oom(x);
        goto out;
    }
    if (to_message(x, cli_collection(rec->collection), wrap, &m) < 0) {
        code = CLI_EXIT_DATA;
        goto out;
    }
    code = write_field(x, id, m, f);
out:
    free_message(m);
    free_message(cur);
    json_decref(wrap);
    json_decref(v);
    json_decref(arr);
    json_decref(obj);
    return code;
}

/* `add`/`remove` RECORD FIELD ...: the record and its list field named by pos[0], pos[1]. */
static int load_list(struct cli *x, const char *const pos[], const char *usage,
                     uint8_t id[FIELDSYNC_ID_LEN], fieldsync_record **rec,
                     const ProtobufCFieldDescriptor **f)
{
    const ProtobufCMessageDescriptor *d = NULL;
    int code = load(x, pos[0], id, rec, &d);
    if (code == 0)
        code = field_by_name(x, d, pos[1], f);
    if (code == 0 && (*f)->label != PROTOBUF_C_LABEL_REPEATED)
        code = cli_usage(x, usage, "%s is not a list: use `fieldsync set`", (*f)->name);
    return code;
}

int cmd_records_add(struct cli *x, int argc, char **argv)
{
    const char *pos[3];
    uint8_t id[FIELDSYNC_ID_LEN];
    fieldsync_record *rec = NULL;
    const ProtobufCFieldDescriptor *f = NULL;
    ProtobufCMessage *el = NULL;
    json_t *j = NULL;
    uint8_t *buf = NULL;
    size_t len;
    int code = cli_parse(x, argc, argv, NULL, add_usage, pos, 3, 3, NULL, NULL, NULL);

    if (code != 0)
        return code;
    code = load_list(x, pos, add_usage, id, &rec, &f);
    if (code != 0)
        goto out;
    if (!cli_keyed(f)) {
        code = edit_plain_list(x, id, rec, f, pos[2], 1);
        goto out;
    }
    code = CLI_EXIT_DATA;
    j = strcmp(pos[2], "-") == 0 ? load_json(x, "-", NULL) : load_json(x, NULL, pos[2]);
    if (!j || to_message(x, f->descriptor, j, &el) < 0)
        goto out;
    const ProtobufCFieldDescriptor *idf =
        protobuf_c_message_descriptor_get_field_by_name(f->descriptor, "id");
    ProtobufCBinaryData *eid = (ProtobufCBinaryData *)((char *)el + idf->offset);
    if (eid->len == 0) {
        eid->data = malloc(FIELDSYNC_ID_LEN);
        if (!eid->data) {
            code = oom(x);
            goto out;
        }
        int rc = fieldsync_new_id(x->c, eid->data);
        if (rc < 0) {
            free(eid->data);
            eid->data = NULL;
            code = cli_fail(x, rc, "cannot make an element id");
            goto out;
        }
        eid->len = FIELDSYNC_ID_LEN;
    } else if (eid->len != FIELDSYNC_ID_LEN) {
        code = cli_fail(x, FIELDSYNC_EBADID, "element id");
        goto out;
    }
    int rc = cli_pack(el, &buf, &len);
    if (rc == 0)
        rc = fieldsync_element_put(x->c, id, f->id, eid->data, buf, len);
    if (rc < 0) {
        code = cli_fail(x, rc, "cannot add to %s", f->name);
        goto out;
    }
    char text[FIELDSYNC_ID_STR_LEN + 1];
    fieldsync_id_format(eid->data, text);
    printf("%s\n", text);
    code = CLI_EXIT_OK;
out:
    free(buf);
    free_message(el);
    json_decref(j);
    fieldsync_free(x->c, rec);
    return code;
}

int cmd_records_remove(struct cli *x, int argc, char **argv)
{
    const char *pos[3];
    uint8_t id[FIELDSYNC_ID_LEN], eid[FIELDSYNC_ID_LEN];
    fieldsync_record *rec = NULL;
    const ProtobufCFieldDescriptor *f = NULL;
    int code = cli_parse(x, argc, argv, NULL, remove_usage, pos, 3, 3, NULL, NULL, NULL);

    if (code != 0)
        return code;
    code = load_list(x, pos, remove_usage, id, &rec, &f);
    if (code != 0)
        goto out;
    if (!cli_keyed(f)) {
        code = edit_plain_list(x, id, rec, f, pos[2], 0);
        goto out;
    }
    code = cli_parse_id(x, "element", pos[2], eid);
    if (code != 0)
        goto out;
    int rc = fieldsync_element_remove(x->c, id, f->id, eid);
    code = rc < 0 ? cli_fail(x, rc, "cannot remove %s %s", f->name, pos[2]) : CLI_EXIT_OK;
out:
    fieldsync_free(x->c, rec);
    return code;
}

/* ---- delete ------------------------------------------------------------------------------- */

static const char delete_usage[] = "usage: fieldsync delete ID\n\n"
                                   "Delete a report (the deletion syncs like any edit).\n\n"
                                   "example:\n"
                                   "  fieldsync delete 01890a5d-ac96-774b-bcce-b302099a8057\n";

int cmd_records_delete(struct cli *x, int argc, char **argv)
{
    const char *pos[1];
    uint8_t id[FIELDSYNC_ID_LEN];
    int code = cli_parse(x, argc, argv, NULL, delete_usage, pos, 1, 1, NULL, NULL, NULL);

    if (code == 0)
        code = cli_parse_id(x, "record", pos[0], id);
    if (code == 0)
        code = cli_open(x, 0);
    if (code != 0)
        return code;
    int rc = fieldsync_delete(x->c, id);
    return rc < 0 ? cli_fail(x, rc, "cannot delete %s", pos[0]) : CLI_EXIT_OK;
}
