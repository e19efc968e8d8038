/*
 * session: who is on the other end of a connection, once Hello succeeded. A plain value,
 * copied into jobs that outlive the frame that made them (writer and reader jobs).
 */
#ifndef FS_SESSION_H
#define FS_SESSION_H

#include <stddef.h>
#include <stdint.h>

#define SESSION_MAX_REGIONS 16
#define SESSION_REGION_LEN  32 /* bytes incl. NUL; region codes are short ASCII: GAO, MENAKA */

enum session_role {
    SESSION_ROLE_NONE = 0,        /* not authenticated */
    SESSION_ROLE_COLLECTOR = 1,   /* = FIELDSYNC__ROLE__ROLE_COLLECTOR */
    SESSION_ROLE_COORDINATOR = 2, /* = FIELDSYNC__ROLE__ROLE_COORDINATOR */
    SESSION_ROLE_ADMIN = 3,       /* = FIELDSYNC__ROLE__ROLE_ADMIN */
};

struct session {
    enum session_role role;
    uint8_t device_id[16];
    int own_only;
    int n_regions; /* 0 with ADMIN means all regions */
    char regions[SESSION_MAX_REGIONS][SESSION_REGION_LEN];
};

/* 1 if the session may see/write records of this region (admins: every region). */
int session_in_scope(const struct session *s, const char *region);
/* Parse "GAO,TOMBOUCTOU" into s->regions (upper-cased, deduplicated). 0 or FIELDSYNC_EINVAL. */
int session_set_regions(struct session *s, const char *csv);
/* Write regions as "GAO,TOMBOUCTOU" into buf (always NUL-terminated). */
void session_regions_csv(const struct session *s, char *buf, size_t cap);

#endif
