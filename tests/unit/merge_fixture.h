/*
 * merge_fixture: what the merge unit tests share: the collection (ConsultationReport), three
 * device ids, op builders, a checked apply, state comparison, an op collector and a full
 * report encoded by protobuf-c itself.
 */
#ifndef FS_TEST_MERGE_FIXTURE_H
#define FS_TEST_MERGE_FIXTURE_H

#include "merge.h"
#include "merge_enc.h"

#include <stddef.h>
#include <stdint.h>

extern const ProtobufCMessageDescriptor *const D;
extern uint8_t dev1[16], dev2[16], dev3[16];

/* Fill dev1..dev3 (0x11.., 0x22.., 0x33..). */
void merge_fixture_init(void);
/* An op setting field to v (NULL = clear) at (hlc, dev), no base. */
struct merge_op op_make(uint32_t field, const struct enc *v, uint64_t hlc, const uint8_t *dev);
/* An op on the concern (field 14) whose id is 16 bytes of idbyte (kept in idbuf). */
struct merge_op elem_op(const struct enc *v, uint8_t idbyte, uint8_t *idbuf, uint64_t hlc,
                        const uint8_t *dev);
/* merge_op_check + merge_apply, both CHECKed to succeed. */
struct merge_result apply_ok(struct merge_record *r, const struct merge_op *op);
/* Byte-identical bodies and clock blobs. */
void check_same_state(const struct merge_record *a, const struct merge_record *b);

/* Collected ops own copies of their bytes (callback views die with the callback). */
struct collect {
    struct merge_op ops[128];
    size_t n;
    uint8_t store[16384];
    size_t used;
};

/* A merge_op_cb collecting copies into a struct collect (user). */
int collect_cb(void *user, const struct merge_op *op);
/* r initialised and holding a new report with n_concerns concerns, created by device dev1 at
 * clock 500 through the general path (split, then apply every op at once). */
void fresh_report(struct merge_record *r, int n_concerns);
/* A full report encoded by protobuf-c, n_concerns concerns in id order (reverse: not). */
size_t pack_report(uint8_t *buf, size_t cap, int n_concerns, int reverse);

#endif
