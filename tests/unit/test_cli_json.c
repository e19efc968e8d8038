/*
 * test_cli_json: the CLI's JSON mapping (JSON -> protobuf -> JSON round trip of a full
 * ConsultationReport, strict errors) and its export writers (CSV for Excel, JSON Lines,
 * GeoJSON), on the real generated protobuf-c code.
 */
#include "check.h"

#include "cli_export.h"
#include "cli_json.h"
#include "consultation.pb-c.h"
#include "sync.pb-c.h"

#include <math.h>

static const char *full_report =
    "{\"region\":\"TOMBOUCTOU\",\"cercle\":\"Goundam\",\"commune\":\"Tonka\","
    "\"locality\":\"Quartier Château d'eau\","
    "\"location\":{\"lat\":16.2719,\"lon\":-3.0417,\"accuracy_m\":3.7},"
    "\"type\":\"CONSULTATION_FOCUS_GROUP\",\"date\":{\"year\":2024,\"month\":3,\"day\":15},"
    "\"start_time\":\"09:30\",\"end_time\":\"12:05\",\"facilitator\":\"Aïssata Maïga\","
    "\"organisation\":\"Sécurité & Développement, Mopti\","
    "\"participants\":{\"women_under_18\":4,\"women_18_35\":12,\"women_over_35\":9,"
    "\"men_under_18\":3,\"men_18_35\":10,\"men_over_35\":7},"
    "\"stakeholders\":[\"STAKEHOLDER_WOMENS_ASSOCIATIONS\",\"STAKEHOLDER_YOUTH_ASSOCIATIONS\","
    "\"STAKEHOLDER_DEFENCE_SECURITY_FORCES\"],"
    "\"concerns\":[{\"id\":\"01890a5d-ac96-774b-bcce-b302099a8057\","
    "\"category\":\"CONCERN_BANDITRY_THEFT\",\"description\":\"Vols de bétail près du fleuve, "
    "\\\"la nuit\\\"\\nsurtout\",\"severity\":4,\"trend\":\"TREND_WORSENING\"},"
    "{\"id\":\"01890a5d-ac96-774b-bcce-b302099a8058\",\"category\":\"CONCERN_OTHER\","
    "\"description\":\"Écoles fermées\",\"severity\":2,\"trend\":\"TREND_STABLE\"}],"
    "\"trust_in_security_forces\":\"TRUST_LOW\","
    "\"recommendations\":[{\"id\":\"01890a5d-ac96-774b-bcce-b302099a8059\","
    "\"text\":\"Patrouilles mixtes les jours de foire\",\"addressed_to\":\"Gendarmerie de "
    "Goundam\",\"pillar\":\"PVE_PROTECTION\"}],"
    "\"follow_ups\":[{\"id\":\"01890a5d-ac96-774b-bcce-b302099a805a\","
    "\"description\":\"Réunion avec le préfet\",\"responsible\":\"Maire\","
    "\"due\":{\"year\":2024,\"month\":4,\"day\":1},\"status\":\"ACTION_PLANNED\"}],"
    "\"summary\":\"Les femmes signalent une hausse des vols ; confiance faible envers les FDS.\","
    "\"language\":\"fr\",\"clock_offset_ms\":-1234567890123}";

static Fieldsync__ConsultationReport *parse_report(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    ProtobufCMessage *m = NULL;
    char err[CLI_JSON_ERRLEN] = "";

    if (!j)
        fprintf(stderr, "bad test JSON: %s (line %d col %d)\n", jerr.text, jerr.line, jerr.column);
    CHECK(j != NULL);
    int rc = cli_json_to_pb(&fieldsync__consultation_report__descriptor, j, &m, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "cli_json_to_pb: %s\n", err);
    CHECK_EQ(rc, 0);
    json_decref(j);
    return (Fieldsync__ConsultationReport *)m;
}

/* Compact JSON text of message m. Caller frees. */
static char *to_text(const ProtobufCMessage *m, unsigned flags)
{
    json_t *j = NULL;
    char err[CLI_JSON_ERRLEN] = "", *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    CHECK(f != NULL);
    CHECK_EQ(cli_json_from_pb(m, flags, &j, err, sizeof err), 0);
    CHECK_EQ(cli_text_json(j, 0, f), 0);
    fclose(f);
    json_decref(j);
    return buf;
}

static char *read_all(FILE *f, size_t *len)
{
    long n;
    CHECK(fseek(f, 0, SEEK_END) == 0);
    n = ftell(f);
    CHECK(n >= 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    CHECK(buf != NULL);
    CHECK_EQ(fread(buf, 1, (size_t)n, f), n);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static void test_cli_json_round_trip(void)
{
    Fieldsync__ConsultationReport *r = parse_report(full_report);

    /* The protobuf side holds what the JSON said. */
    CHECK_STR(r->facilitator, "Aïssata Maïga");
    CHECK(r->location != NULL);
    CHECK(r->location->lat == 16.2719);
    CHECK(r->location->lon == -3.0417);
    CHECK(r->location->accuracy_m == 3.7f);
    CHECK_EQ(r->type, FIELDSYNC__CONSULTATION_TYPE__CONSULTATION_FOCUS_GROUP);
    CHECK_EQ(r->date->year, 2024);
    CHECK_EQ(r->participants->women_18_35, 12);
    CHECK_EQ(r->n_stakeholders, 3);
    CHECK_EQ(r->stakeholders[2], FIELDSYNC__STAKEHOLDER_GROUP__STAKEHOLDER_DEFENCE_SECURITY_FORCES);
    CHECK_EQ(r->n_concerns, 2);
    CHECK_EQ(r->concerns[0]->id.len, 16);
    CHECK_EQ(r->concerns[0]->id.data[0], 0x01);
    CHECK_EQ(r->concerns[0]->id.data[15], 0x57);
    CHECK_STR(r->concerns[0]->description, "Vols de bétail près du fleuve, \"la nuit\"\nsurtout");
    CHECK_EQ(r->concerns[1]->trend, FIELDSYNC__TREND__TREND_STABLE);
    CHECK_EQ(r->follow_ups[0]->due->month, 4);
    CHECK_EQ(r->clock_offset_ms, -1234567890123LL);
    const ProtobufCBinaryData *eid = cli_json_element_id(&r->concerns[1]->base);
    CHECK(eid != NULL && eid->len == 16 && eid->data[15] == 0x58);

    /* Through the wire encoding and back: the same JSON text, byte for byte. */
    size_t n = fieldsync__consultation_report__get_packed_size(r);
    uint8_t *buf = malloc(n);
    CHECK(buf != NULL);
    CHECK_EQ(fieldsync__consultation_report__pack(r, buf), n);
    Fieldsync__ConsultationReport *r2 = fieldsync__consultation_report__unpack(NULL, n, buf);
    CHECK(r2 != NULL);
    char *text = to_text(&r2->base, 0);
    CHECK_STR(text, full_report);

    /* And the JSON made from it parses to the same encoding again. */
    Fieldsync__ConsultationReport *r3 = parse_report(text);
    CHECK_EQ(fieldsync__consultation_report__get_packed_size(r3), n);
    uint8_t *buf3 = malloc(n);
    CHECK(buf3 != NULL);
    fieldsync__consultation_report__pack(r3, buf3);
    CHECK_MEM(buf, buf3, n);

    free(buf3);
    free(text);
    free(buf);
    fieldsync__consultation_report__free_unpacked(r3, NULL);
    fieldsync__consultation_report__free_unpacked(r2, NULL);
    fieldsync__consultation_report__free_unpacked(r, NULL);
}

static void test_cli_json_defaults(void)
{
    Fieldsync__ConsultationReport *r =
        parse_report("{\"region\":\"GAO\",\"summary\":null,\"location\":null}");

    CHECK_STR(r->summary, "");
    CHECK(r->location == NULL);
    char *t = to_text(&r->base, 0);
    CHECK_STR(t, "{\"region\":\"GAO\"}");
    free(t);
    t = to_text(&r->base, CLI_JSON_DEFAULTS);
    CHECK(strstr(t, "\"summary\":\"\"") != NULL);
    CHECK(strstr(t, "\"location\":null") != NULL);
    CHECK(strstr(t, "\"stakeholders\":[]") != NULL);
    CHECK(strstr(t, "\"type\":\"CONSULTATION_TYPE_UNSPECIFIED\"") != NULL);
    CHECK(strstr(t, "\"clock_offset_ms\":0") != NULL);
    free(t);
    fieldsync__consultation_report__free_unpacked(r, NULL);
}

static int expect_error(const char *text, int code, const char *needle)
{
    json_t *j = json_loads(text, 0, NULL);
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    char err[CLI_JSON_ERRLEN] = "";

    CHECK(j != NULL);
    int rc = cli_json_to_pb(&fieldsync__consultation_report__descriptor, j, &m, err, sizeof err);
    json_decref(j);
    CHECK_EQ(rc, code);
    CHECK(m == NULL);
    if (!strstr(err, needle)) {
        fprintf(stderr, "error \"%s\" does not mention \"%s\"\n", err, needle);
        return -1;
    }
    return 0;
}

static void test_cli_json_unknown_key(void)
{
    CHECK_EQ(expect_error("{\"region\":\"GAO\",\"sumary\":\"x\"}", FIELDSYNC_ESCHEMA, "sumary"), 0);
    /* Nested, after fields that allocated (no leak under ASan). */
    CHECK_EQ(expect_error("{\"summary\":\"é\",\"concerns\":[{\"description\":\"a\"},"
                          "{\"descriptionn\":\"b\"}]}",
                          FIELDSYNC_ESCHEMA, "concerns[1].descriptionn"),
             0);
    CHECK_EQ(expect_error("{\"participants\":{\"women_18_35\":3,\"girls\":1}}", FIELDSYNC_ESCHEMA,
                          "participants.girls"),
             0);
}

static void test_cli_json_type_errors(void)
{
    CHECK_EQ(expect_error("{\"concerns\":[{\"severity\":\"high\"}]}", FIELDSYNC_ESCHEMA,
                          "concerns[0].severity"),
             0);
    CHECK_EQ(expect_error("{\"participants\":{\"men_18_35\":-1}}", FIELDSYNC_ESCHEMA, "range"), 0);
    CHECK_EQ(
        expect_error("{\"participants\":{\"men_18_35\":4294967296}}", FIELDSYNC_ESCHEMA, "range"),
        0);
    CHECK_EQ(expect_error("{\"type\":\"CONSULTATION_PICNIC\"}", FIELDSYNC_ESCHEMA,
                          "CONSULTATION_PICNIC"),
             0);
    CHECK_EQ(expect_error("{\"concerns\":[{\"id\":\"not-a-uuid!\"}]}", FIELDSYNC_ESCHEMA,
                          "concerns[0].id"),
             0);
    CHECK_EQ(expect_error("{\"summary\":42}", FIELDSYNC_ESCHEMA, "expected a string"), 0);
    CHECK_EQ(expect_error("{\"stakeholders\":\"STAKEHOLDER_CIVIL_SOCIETY\"}", FIELDSYNC_ESCHEMA,
                          "expected an array"),
             0);
    CHECK_EQ(expect_error("[1,2]", FIELDSYNC_ESCHEMA, "expected an object"), 0);
    CHECK_EQ(expect_error("{\"location\":{\"lat\":\"north\"}}", FIELDSYNC_ESCHEMA, "location.lat"),
             0);
}

static void test_cli_json_set_field(void)
{
    Fieldsync__ConsultationReport *r = parse_report(full_report);
    const ProtobufCFieldDescriptor *f = NULL;
    char err[CLI_JSON_ERRLEN] = "";

    /* A string takes the text as is, even if it looks like JSON. */
    CHECK_EQ(cli_json_set_field(&r->base, "summary", "42", &f, err, sizeof err), 0);
    CHECK_STR(r->summary, "42");
    CHECK_EQ(f->id, 18);
    CHECK_EQ(cli_json_set_field(&r->base, "type", "CONSULTATION_INTERVIEW", NULL, err, sizeof err),
             0);
    CHECK_EQ(r->type, FIELDSYNC__CONSULTATION_TYPE__CONSULTATION_INTERVIEW);
    CHECK_EQ(cli_json_set_field(&r->base, "location", "{\"lat\":14.5,\"lon\":-4.2}", NULL, err,
                                sizeof err),
             0);
    CHECK(r->location->lon == -4.2);
    CHECK(r->location->accuracy_m == 0);
    CHECK_EQ(cli_json_set_field(&r->base, "stakeholders", "[]", NULL, err, sizeof err), 0);
    CHECK_EQ(r->n_stakeholders, 0);
    CHECK_EQ(cli_json_set_field(&r->base, "location", "null", NULL, err, sizeof err), 0);
    CHECK(r->location == NULL);
    CHECK_EQ(cli_json_set_field(&r->base, "participants", "{\"women_18_35\":\"many\"}", NULL, err,
                                sizeof err),
             FIELDSYNC_ESCHEMA);
    CHECK_EQ(r->participants->women_18_35, 12); /* unchanged after an error */
    CHECK_EQ(cli_json_set_field(&r->base, "sumary", "x", NULL, err, sizeof err),
             FIELDSYNC_ENOTFOUND);
    CHECK(strstr(err, "sumary") != NULL);
    CHECK(strstr(err, "summary") != NULL); /* lists the real names */
    /* Other fields untouched. */
    CHECK_STR(r->facilitator, "Aïssata Maïga");
    CHECK_EQ(r->n_concerns, 2);
    fieldsync__consultation_report__free_unpacked(r, NULL);
}

static void test_cli_json_numbers(void)
{
    char buf[32];

    cli_text_double(16.2719, buf);
    CHECK_STR(buf, "16.2719");
    cli_text_double(0.1, buf);
    CHECK_STR(buf, "0.1");
    cli_text_double(-3.0, buf);
    CHECK_STR(buf, "-3");
    cli_text_double(1.0 / 3.0, buf);
    CHECK(strtod(buf, NULL) == 1.0 / 3.0);
    cli_text_float(3.7f, buf);
    CHECK_STR(buf, "3.7");
}

static void test_cli_json_pretty(void)
{
    json_t *j = json_loads("{\"a\":[1,{\"b\":\"é\"}],\"c\":{},\"d\":[]}", 0, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    CHECK(j && f);
    CHECK_EQ(cli_text_json(j, CLI_TEXT_PRETTY, f), 0);
    fclose(f);
    CHECK_STR(buf, "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"é\"\n    }\n  ],\n"
                   "  \"c\": {},\n  \"d\": []\n}");
    free(buf);
    json_decref(j);
}

/* The mapping is generic over descriptors: a oneof, 32-byte bytes (base64), a uint64 past
 * INT64_MAX (a decimal string), fixed64 and bool, on the wire contract's Frame. */
static void test_cli_json_generic_types(void)
{
    static const char *text =
        "{\"request_id\":7,\"hello\":{\"protocol_version\":1,"
        "\"device_id\":\"01890a5d-ac96-774b-bcce-b302099a8057\","
        "\"credential\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
        "\"device_high_water\":\"18446744073709551615\",\"device_hlc\":123456789012345,"
        "\"app_version\":\"cli-test\"}}";
    json_t *j = json_loads(text, 0, NULL);
    ProtobufCMessage *m = NULL;
    char err[CLI_JSON_ERRLEN] = "";

    CHECK(j != NULL);
    CHECK_EQ(cli_json_to_pb(&fieldsync__frame__descriptor, j, &m, err, sizeof err), 0);
    json_decref(j);
    Fieldsync__Frame *f = (Fieldsync__Frame *)m;
    CHECK_EQ(f->msg_case, FIELDSYNC__FRAME__MSG_HELLO);
    CHECK_EQ(f->hello->credential.len, 32);
    CHECK_EQ(f->hello->credential.data[31], 31);
    CHECK_U64(f->hello->device_high_water, ==, UINT64_MAX);
    CHECK_U64(f->hello->device_hlc, ==, 123456789012345ULL);

    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n);
    CHECK(buf != NULL);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *back = protobuf_c_message_unpack(&fieldsync__frame__descriptor, NULL, n, buf);
    CHECK(back != NULL);
    char *out = to_text(back, 0);
    CHECK_STR(out, text);
    free(out);
    free(buf);
    protobuf_c_message_free_unpacked(back, NULL);

    /* Switching the oneof to another member frees the old one (ASan checks it). */
    CHECK_EQ(cli_json_set_field(m, "ping", "{\"nonce\":5}", NULL, err, sizeof err), 0);
    CHECK_EQ(f->msg_case, FIELDSYNC__FRAME__MSG_PING);
    CHECK_U64(f->ping->nonce, ==, 5);
    /* Clearing a member that is not the one set leaves the oneof alone. */
    CHECK_EQ(cli_json_set_field(m, "hello", "null", NULL, err, sizeof err), 0);
    CHECK_EQ(f->msg_case, FIELDSYNC__FRAME__MSG_PING);
    protobuf_c_message_free_unpacked(m, NULL);

    /* Two members of one oneof, a bad base64, a bool given as a number. */
    const char *bad[] = {"{\"hello\":{},\"ping\":{}}", "{\"hello\":{\"credential\":\"***\"}}",
                         "{\"error\":{\"closing\":1}}"};
    const char *why[] = {"oneof", "hello.credential", "error.closing"};
    for (int i = 0; i < 3; i++) {
        j = json_loads(bad[i], 0, NULL);
        CHECK(j != NULL);
        CHECK_EQ(cli_json_to_pb(&fieldsync__frame__descriptor, j, &m, err, sizeof err),
                 FIELDSYNC_ESCHEMA);
        json_decref(j);
        if (!strstr(err, why[i]))
            fprintf(stderr, "error \"%s\" does not mention \"%s\"\n", err, why[i]);
        CHECK(strstr(err, why[i]) != NULL);
    }
}

static void test_cli_json_nonfinite(void)
{
    Fieldsync__ConsultationReport *r =
        parse_report("{\"location\":{\"lat\":\"NaN\",\"lon\":\"-Infinity\",\"accuracy_m\":"
                     "\"Infinity\"}}");
    CHECK(isnan(r->location->lat));
    CHECK(isinf(r->location->lon) && r->location->lon < 0);
    CHECK(isinf(r->location->accuracy_m));
    char *t = to_text(&r->base, 0);
    CHECK_STR(t,
              "{\"location\":{\"lat\":\"NaN\",\"lon\":\"-Infinity\",\"accuracy_m\":\"Infinity\"}}");
    free(t);
    fieldsync__consultation_report__free_unpacked(r, NULL);
    CHECK_EQ(expect_error("{\"location\":{\"accuracy_m\":1e300}}", FIELDSYNC_ESCHEMA, "float"), 0);
}

/* ---- export ------------------------------------------------------------------------------ */

static const char *row_a = "{\"region\":\"GAO\",\"commune\":\"Ansongo\","
                           "\"location\":{\"lat\":15.6597,\"lon\":-0.5022,\"accuracy_m\":8},"
                           "\"date\":{\"year\":2024,\"month\":2,\"day\":9},"
                           "\"facilitator\":\"=HYPERLINK(\\\"http://x\\\",\\\"clic\\\")\","
                           "\"organisation\":\"-2+3\",\"locality\":\"@SUM(A1)\","
                           "\"summary\":\"Réunion, « difficile »\\nsuite \\\"demain\\\"\","
                           "\"stakeholders\":[\"STAKEHOLDER_CIVIL_SOCIETY\","
                           "\"STAKEHOLDER_RELIGIOUS_LEADERS\"],"
                           "\"concerns\":[{\"description\":\"a\"},{\"description\":\"b\"}],"
                           "\"participants\":{\"women_18_35\":12},\"clock_offset_ms\":-250}";
static const char *row_b = "{\"region\":\"MENAKA\",\"summary\":\"sans position\"}";

static void export_two(enum cli_export_format fmt, FILE *f, size_t *omitted)
{
    Fieldsync__ConsultationReport *a = parse_report(row_a), *b = parse_report(row_b);
    struct cli_export x;

    cli_export_init(&x, fmt, f, &fieldsync__consultation_report__descriptor);
    CHECK_EQ(cli_export_begin(&x), 0);
    CHECK_EQ(cli_export_record(&x, "01890a5d-ac96-774b-bcce-b302099a8057", &a->base), 0);
    CHECK_EQ(cli_export_record(&x, "01890a5d-ac96-774b-bcce-b302099a8058", &b->base), 0);
    CHECK_EQ(cli_export_end(&x), 0);
    *omitted = x.omitted;
    cli_export_close(&x);
    fieldsync__consultation_report__free_unpacked(a, NULL);
    fieldsync__consultation_report__free_unpacked(b, NULL);
}

static void test_cli_export_csv(void)
{
    FILE *f = tmpfile();
    size_t len, omitted;

    CHECK(f != NULL);
    export_two(CLI_EXPORT_CSV, f, &omitted);
    char *csv = read_all(f, &len);
    fclose(f);

    CHECK_MEM(csv,
              "\xEF\xBB\xBF"
              "id,region,cercle,commune,locality,location.lat,location.lon,"
              "location.accuracy_m,type,date,",
              strlen("\xEF\xBB\xBF"
                     "id,region,cercle,commune,locality,location.lat,location.lon,"
                     "location.accuracy_m,type,date,"));
    CHECK(strstr(csv, ",participants.women_18_35,") != NULL);
    CHECK(strstr(csv,
                 ",stakeholders,concerns_count,trust_in_security_forces,"
                 "recommendations_count,follow_ups_count,summary,language,clock_offset_ms\r\n"));
    /* Formula injection: text cells get an apostrophe (inside the quotes when quoted). */
    CHECK(strstr(csv, ",\"'=HYPERLINK(\"\"http://x\"\",\"\"clic\"\")\",") != NULL);
    CHECK(strstr(csv, ",'-2+3,") != NULL);
    CHECK(strstr(csv, ",'@SUM(A1),") != NULL);
    /* Our own numbers are left alone: west longitudes and negative offsets stay numbers. */
    CHECK(strstr(csv, ",15.6597,-0.5022,8,CONSULTATION_TYPE_UNSPECIFIED,2024-02-09,") != NULL);
    CHECK(strstr(csv, ",-250\r\n") != NULL);
    /* RFC 4180: quotes doubled, newline kept inside quotes, accents as UTF-8 bytes. */
    CHECK(strstr(csv, ",\"Réunion, « difficile »\nsuite \"\"demain\"\"\",") != NULL);
    CHECK(strstr(csv, ",STAKEHOLDER_CIVIL_SOCIETY;STAKEHOLDER_RELIGIOUS_LEADERS,2,") != NULL);
    /* The report without a location has empty location cells, not zeroes. */
    CHECK(strstr(csv, "01890a5d-ac96-774b-bcce-b302099a8058,MENAKA,,,,,,,") != NULL);
    /* Every record ends with CRLF: 3 lines (header + 2), and no bare LF outside quotes except
     * the one inside the quoted summary. */
    size_t crlf = 0, lf = 0;
    for (size_t i = 0; i < len; i++) {
        if (csv[i] == '\n') {
            lf++;
            if (i > 0 && csv[i - 1] == '\r')
                crlf++;
        }
    }
    CHECK_EQ(crlf, 3);
    CHECK_EQ(lf, 4);
    CHECK_EQ(omitted, 0);
    free(csv);

    /* The cell writer alone. */
    char *buf = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&buf, &blen);
    CHECK(m != NULL);
    cli_export_csv_cell(m, "plain", 1, ',');
    fputc('|', m);
    cli_export_csv_cell(m, "+33 6 12", 1, ',');
    fputc('|', m);
    cli_export_csv_cell(m, "-12.5", 0, ',');
    fputc('|', m);
    cli_export_csv_cell(m, "a\"b", 1, ',');
    fputc('|', m);
    cli_export_csv_cell(m, "\tx", 1, ',');
    fputc('|', m);
    cli_export_csv_cell(m, "a;b,c", 1, ';');
    fclose(m);
    CHECK_STR(buf, "plain|'+33 6 12|-12.5|\"a\"\"b\"|'\tx|\"a;b,c\"");
    free(buf);
}

/* Excel in a French locale: ';' between cells, decimal commas; text with ';' is quoted. */
static void test_cli_export_csv_french_excel(void)
{
    Fieldsync__ConsultationReport *a = parse_report(row_a);
    struct cli_export x;
    FILE *f = tmpfile();
    size_t len;

    CHECK(f != NULL);
    free(a->locality);
    a->locality = strdup("Quartier 1; Château");
    CHECK(a->locality != NULL);
    cli_export_init(&x, CLI_EXPORT_CSV, f, &fieldsync__consultation_report__descriptor);
    x.sep = ';';
    x.decimal_comma = 1;
    CHECK_EQ(cli_export_begin(&x), 0);
    CHECK_EQ(cli_export_record(&x, "01890a5d-ac96-774b-bcce-b302099a8057", &a->base), 0);
    CHECK_EQ(cli_export_end(&x), 0);
    cli_export_close(&x);
    char *csv = read_all(f, &len);
    fclose(f);
    CHECK(strncmp(csv, "\xEF\xBB\xBFid;region;cercle;commune;", 28) == 0);
    CHECK(strstr(csv, ";\"Quartier 1; Château\";15,6597;-0,5022;8;") != NULL);
    CHECK(strstr(csv, ";\"Réunion, « difficile »\nsuite \"\"demain\"\"\";") != NULL);
    CHECK(strstr(csv, ";-250\r\n") != NULL);
    free(csv);
    fieldsync__consultation_report__free_unpacked(a, NULL);
}

static void test_cli_export_geojson(void)
{
    FILE *f = tmpfile();
    size_t len, omitted;
    json_error_t jerr;

    CHECK(f != NULL);
    export_two(CLI_EXPORT_GEOJSON, f, &omitted);
    char *text = read_all(f, &len);
    fclose(f);
    CHECK_EQ(omitted, 1);

    json_t *fc = json_loads(text, 0, &jerr);
    if (!fc)
        fprintf(stderr, "GeoJSON does not parse: %s\n%s\n", jerr.text, text);
    CHECK(fc != NULL);
    CHECK_STR(json_string_value(json_object_get(fc, "type")), "FeatureCollection");
    json_t *features = json_object_get(fc, "features");
    CHECK_EQ(json_array_size(features), 1);
    json_t *feat = json_array_get(features, 0);
    CHECK_STR(json_string_value(json_object_get(feat, "type")), "Feature");
    json_t *geom = json_object_get(feat, "geometry");
    CHECK_STR(json_string_value(json_object_get(geom, "type")), "Point");
    json_t *coords = json_object_get(geom, "coordinates");
    CHECK_EQ(json_array_size(coords), 2);
    /* [lon, lat]: Ansongo is west of Greenwich by half a degree, 15.66 degrees north. */
    CHECK(json_number_value(json_array_get(coords, 0)) == -0.5022);
    CHECK(json_number_value(json_array_get(coords, 1)) == 15.6597);
    json_t *props = json_object_get(feat, "properties");
    CHECK_STR(json_string_value(json_object_get(props, "id")),
              "01890a5d-ac96-774b-bcce-b302099a8057");
    CHECK_STR(json_string_value(json_object_get(props, "commune")), "Ansongo");
    CHECK_STR(json_string_value(json_object_get(props, "date")), "2024-02-09");
    CHECK_EQ(json_integer_value(json_object_get(props, "participants.women_18_35")), 12);
    CHECK_EQ(json_integer_value(json_object_get(props, "concerns_count")), 2);
    CHECK_EQ(json_integer_value(json_object_get(props, "clock_offset_ms")), -250);
    CHECK(json_is_string(json_object_get(props, "summary")));
    json_decref(fc);
    free(text);

    /* No record at all: still a valid, empty FeatureCollection. */
    struct cli_export x;
    f = tmpfile();
    CHECK(f != NULL);
    cli_export_init(&x, CLI_EXPORT_GEOJSON, f, &fieldsync__consultation_report__descriptor);
    CHECK_EQ(cli_export_begin(&x), 0);
    CHECK_EQ(cli_export_end(&x), 0);
    cli_export_close(&x);
    text = read_all(f, &len);
    fclose(f);
    fc = json_loads(text, 0, NULL);
    CHECK(fc != NULL);
    CHECK_EQ(json_array_size(json_object_get(fc, "features")), 0);
    json_decref(fc);
    free(text);
}

static void test_cli_export_jsonl(void)
{
    FILE *f = tmpfile();
    size_t len, omitted;

    CHECK(f != NULL);
    export_two(CLI_EXPORT_JSONL, f, &omitted);
    char *text = read_all(f, &len);
    fclose(f);
    char *nl = strchr(text, '\n');
    CHECK(nl != NULL);
    CHECK(strncmp(text, "{\"_id\":\"01890a5d-ac96-774b-bcce-b302099a8057\",\"region\":\"GAO\"",
                  60) == 0);
    *nl = '\0';
    json_t *j = json_loads(text, 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "summary")),
              "Réunion, « difficile »\nsuite \"demain\"");
    json_decref(j);
    CHECK_STR(nl + 1, "{\"_id\":\"01890a5d-ac96-774b-bcce-b302099a8058\",\"region\":\"MENAKA\","
                      "\"summary\":\"sans position\"}\n");
    free(text);
}

int main(void)
{
    RUN(test_cli_json_round_trip);
    RUN(test_cli_json_defaults);
    RUN(test_cli_json_unknown_key);
    RUN(test_cli_json_type_errors);
    RUN(test_cli_json_set_field);
    RUN(test_cli_json_numbers);
    RUN(test_cli_json_pretty);
    RUN(test_cli_json_generic_types);
    RUN(test_cli_json_nonfinite);
    RUN(test_cli_export_csv);
    RUN(test_cli_export_csv_french_excel);
    RUN(test_cli_export_geojson);
    RUN(test_cli_export_jsonl);
    return 0;
}
