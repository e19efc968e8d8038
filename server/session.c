/*
 * session: scope checks on a plain value (see session.h). No I/O.
 */
#include "session.h"

#include "error.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int session_in_scope(const struct session *s, const char *region)
{
    if (s->role == SESSION_ROLE_ADMIN && s->n_regions == 0)
        return 1;
    for (int i = 0; i < s->n_regions; i++)
        if (strcmp(s->regions[i], region) == 0)
            return 1;
    return 0;
}

int session_set_regions(struct session *s, const char *csv)
{
    s->n_regions = 0;
    const char *p = csv;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || n >= SESSION_REGION_LEN)
            return FIELDSYNC_EINVAL;
        char r[SESSION_REGION_LEN];
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if (!isalnum(c) && c != '_' && c != '-')
                return FIELDSYNC_EINVAL;
            r[i] = (char)toupper(c);
        }
        r[n] = '\0';
        int dup = 0;
        for (int i = 0; i < s->n_regions; i++)
            dup |= strcmp(s->regions[i], r) == 0;
        if (!dup) {
            if (s->n_regions == SESSION_MAX_REGIONS)
                return FIELDSYNC_EINVAL;
            memcpy(s->regions[s->n_regions++], r, n + 1);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

void session_regions_csv(const struct session *s, char *buf, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    for (int i = 0; i < s->n_regions; i++) {
        int n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "", s->regions[i]);
        if (n < 0 || (size_t)n >= cap - used)
            return;
        used += (size_t)n;
    }
}
