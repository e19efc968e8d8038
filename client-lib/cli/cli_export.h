/*
 * cli_export: stream records of one collection to CSV (Excel), JSON Lines or GeoJSON (QGIS).
 *
 * Use: cli_export_init, cli_export_begin, cli_export_record per record, cli_export_end,
 * cli_export_close. Columns come from the message descriptor (docs/cli.md, "export"), so every
 * row has the same columns whatever the record holds.
 */
#ifndef CLI_EXPORT_H
#define CLI_EXPORT_H

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

#include "cli_json.h"

enum cli_export_format {
    CLI_EXPORT_CSV,
    CLI_EXPORT_JSONL,
    CLI_EXPORT_GEOJSON,
};

struct cli_export {
    enum cli_export_format format;
    FILE *out;
    const ProtobufCMessageDescriptor *desc;
    const ProtobufCFieldDescriptor *geo; /* GeoJSON: the point field (has lat and lon) */
    char sep;                            /* CSV: delimiter (default ',') */
    int decimal_comma;                   /* CSV: write numbers with a decimal comma */
    size_t records;                      /* written */
    size_t omitted;                      /* GeoJSON: records without a usable location */
    int ncols;                           /* cells written in the current row */
    char *buf;                           /* scratch for one cell, reused across records */
    size_t cap;
    char name[128]; /* column name being built */
    void *props;    /* GeoJSON: json_t * properties of the current feature */
    char err[CLI_JSON_ERRLEN];
};

/* "csv", "jsonl" or "geojson". 0 or FIELDSYNC_EINVAL. */
int cli_export_format_parse(const char *name, enum cli_export_format *out);

/* Cannot fail. out and d must outlive the export. Set sep / decimal_comma after it (CSV for
 * Excel in a French locale: ';' and decimal commas). */
void cli_export_init(struct cli_export *x, enum cli_export_format format, FILE *out,
                     const ProtobufCMessageDescriptor *d);
/* Write what precedes the first record (CSV: BOM and header row). 0, FIELDSYNC_EIO,
 * FIELDSYNC_ESCHEMA (GeoJSON for a type with no lat/lon field), FIELDSYNC_ENOMEM. */
int cli_export_begin(struct cli_export *x);
/* Write one record; id is its 36-char text id. GeoJSON skips (and counts in x->omitted) a
 * record without a location. 0, FIELDSYNC_EIO, FIELDSYNC_ENOMEM, FIELDSYNC_EUTF8. */
int cli_export_record(struct cli_export *x, const char *id, const ProtobufCMessage *m);
/* Write what follows the last record and flush. 0 or FIELDSYNC_EIO. */
int cli_export_end(struct cli_export *x);
/* Release scratch memory. Safe after init alone. */
void cli_export_close(struct cli_export *x);

/* Write one CSV cell (RFC 4180 quoting for delimiter sep; text starting with = + - @ TAB CR
 * gets a leading apostrophe when is_text). Exposed for tests. 0 or FIELDSYNC_EIO. */
int cli_export_csv_cell(FILE *out, const char *s, int is_text, char sep);

#endif
