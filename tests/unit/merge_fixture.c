/* merge_fixture: see merge_fixture.h. */
#include "merge_fixture.h"

#include "check.h"
#include "consultation.pb-c.h"

#include <string.h>

const ProtobufCMessageDescriptor *const D = &fieldsync__consultation_report__descriptor;
uint8_t dev1[16], dev2[16], dev3[16];

void merge_fixture_init(void)
{
    memset(dev1, 0x11, 16);
    memset(dev2, 0x22, 16);
    memset(dev3, 0x33, 16);
}

struct merge_op op_make(uint32_t field, const struct enc *v, uint64_t hlc, const uint8_t *dev)
{
    struct merge_op op = {0};
    op.field = field;
    op.value = v ? v->b : NULL;
    op.value_len = v ? v->n : 0;
    op.hlc = hlc;
    op.device = dev;
    return op;
}

struct merge_op elem_op(const struct enc *v, uint8_t idbyte, uint8_t *idbuf, uint64_t hlc,
                        const uint8_t *dev)
{
    struct merge_op op = op_make(14, v, hlc, dev);
    memset(idbuf, idbyte, 16);
    op.element_id = idbuf;
    op.element_id_len = 16;
    return op;
}

struct merge_result apply_ok(struct merge_record *r, const struct merge_op *op)
{
    struct merge_result res;
    CHECK_EQ(merge_op_check(D, op), 0);
    CHECK_EQ(merge_apply(D, r, op, &res), 0);
    return res;
}

void check_same_state(const struct merge_record *a, const struct merge_record *b)
{
    CHECK_EQ(a->body_len, b->body_len);
    CHECK_MEM(a->body, b->body, a->body_len);
    CHECK_EQ(a->clocks_len, b->clocks_len);
    CHECK_MEM(a->clocks, b->clocks, a->clocks_len);
}

static const uint8_t *keep(struct collect *c, const uint8_t *p, size_t n)
{
    if (!p)
        return NULL;
    CHECK(n <= sizeof c->store - c->used);
    uint8_t *q = c->store + c->used;
    memcpy(q, p, n);
    c->used += n;
    return q;
}

int collect_cb(void *user, const struct merge_op *op)
{
    struct collect *c = user;
    CHECK(c->n < 128);
    if (c->n == 0)
        c->used = 0;
    struct merge_op *o = &c->ops[c->n++];
    *o = *op;
    o->value = keep(c, op->value, op->value_len);
    o->element_id = keep(c, op->element_id, op->element_id_len);
    o->device = keep(c, op->device, 16);
    o->base_device = keep(c, op->base_device, 16);
    return 0;
}

/* A full report encoded by protobuf-c itself, concerns in id order. */
size_t pack_report(uint8_t *buf, size_t cap, int n_concerns, int reverse)
{
    Fieldsync__ConsultationReport rep = FIELDSYNC__CONSULTATION_REPORT__INIT;
    Fieldsync__GeoPoint loc = FIELDSYNC__GEO_POINT__INIT;
    Fieldsync__Date date = FIELDSYNC__DATE__INIT;
    Fieldsync__ParticipantCounts pc = FIELDSYNC__PARTICIPANT_COUNTS__INIT;
    Fieldsync__Concern cs[16], *cp[16];
    uint8_t ids[16][16];
    Fieldsync__StakeholderGroup sg[] = {1, 3, 5};
    rep.region = "GAO";
    rep.cercle = "Ansongo";
    rep.commune = "Bourra";
    rep.locality = "Fafa";
    loc.lat = 15.66;
    loc.lon = 0.50;
    loc.accuracy_m = 12.5f;
    rep.location = &loc;
    rep.type = FIELDSYNC__CONSULTATION_TYPE__CONSULTATION_COMMUNAL_CCS;
    date.year = 2026;
    date.month = 11;
    date.day = 23;
    rep.date = &date;
    rep.start_time = "09:00";
    rep.end_time = "12:30";
    rep.facilitator = "Fatoumata Maiga";
    rep.organisation = "CCS Ansongo";
    pc.women_18_35 = 12;
    pc.men_over_35 = 9;
    rep.participants = &pc;
    rep.n_stakeholders = 3;
    rep.stakeholders = sg;
    for (int i = 0; i < n_concerns; i++) {
        int k = reverse ? n_concerns - 1 - i : i;
        fieldsync__concern__init(&cs[i]);
        memset(ids[i], 0x40 + k, 16);
        cs[i].id.data = ids[i];
        cs[i].id.len = 16;
        cs[i].category = FIELDSYNC__CONCERN_CATEGORY__CONCERN_BANDITRY_THEFT;
        cs[i].description = "Vols de betail sur la route du marche, la nuit, par des hommes armes";
        cs[i].severity = 3;
        cp[i] = &cs[i];
    }
    rep.n_concerns = (size_t)n_concerns;
    rep.concerns = cp;
    rep.trust_in_security_forces = FIELDSYNC__TRUST_LEVEL__TRUST_MEDIUM;
    rep.summary = "Les participants signalent une hausse des vols de betail et demandent des "
                  "patrouilles mixtes FDS et comites de vigilance sur les axes.";
    rep.language = "son";
    rep.clock_offset_ms = -1234;
    size_t n = fieldsync__consultation_report__get_packed_size(&rep);
    CHECK(n <= cap);
    return fieldsync__consultation_report__pack(&rep, buf);
}

void fresh_report(struct merge_record *r, int n_concerns)
{
    uint8_t body[4096];
    static struct collect c;
    c.n = 0;
    size_t n = pack_report(body, sizeof body, n_concerns, 0);
    merge_record_init(r);
    CHECK_EQ(merge_split_body(D, body, n, 500, dev1, collect_cb, &c), 0);
    CHECK_EQ(merge_apply_many(D, r, c.ops, c.n, NULL), 0);
}
