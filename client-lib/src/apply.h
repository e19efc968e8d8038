/*
 * apply: merging one pulled PullPage into the local store. See apply.c.
 */
#ifndef FIELDSYNC_APPLY_H
#define FIELDSYNC_APPLY_H

#include "hlc.h"
#include "internal.h"

#include "sync.pb-c.h"

/* The clock state a page is applied with, and what applying it learned. */
struct apply_clock {
    struct hlc *hlc;         /* the session's clock: advanced past every clock the page shows */
    int64_t clock_offset_ms; /* server time - local wall time */
    uint64_t seen;           /* in/out: the greatest clock seen (server's or a record's) */
    uint64_t conflicts;      /* out: conflicts stored by this call */
};

/* Apply page pg, pulled from cursor, in ONE local transaction: merge each record of a known
 * collection into its local copy (same merge code as the server; local pending edits stay
 * pending), store each conflict, advance the stored cursor to next_cursor when beyond cursor,
 * store the clock. On any error the transaction is rolled back (the store is as before) and
 * the code returned with the handle's message set: FIELDSYNC_EPROTO for a page no correct
 * server sends, FIELDSYNC_ESCHEMA/EBADID/EUTF8 for a record that does not fit its collection,
 * FIELDSYNC_ESTORE, FIELDSYNC_ENOMEM. Must be called outside a transaction. */
int apply_page(fieldsync_client *c, const Fieldsync__PullPage *pg, uint64_t cursor,
               struct apply_clock *ck);

#endif
