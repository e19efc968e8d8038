/*
 * Error codes shared by every module: 0 is success, failures are FIELDSYNC_E* (negative),
 * generated from the one list in fieldsync_errno.h and mapped 1:1 onto the wire's ErrorCode.
 */
#ifndef FS_ERROR_H
#define FS_ERROR_H

#include "fieldsync_errno.h"

#ifndef FIELDSYNC_ERRNO_ENUM_DEFINED
#define FIELDSYNC_ERRNO_ENUM_DEFINED
enum fieldsync_errno {
    FIELDSYNC_OK = 0,
#define XX(name, code, msg) FIELDSYNC_##name = -(code),
    FIELDSYNC_ERRNO_MAP(XX)
#undef XX
};
#endif

/* Human message for a code ("unknown error" for codes not in the list). Static storage. */
const char *error_str(int code);
/* Stable name, e.g. "EAUTH" ("OK" for 0, "EUNKNOWN" otherwise). Static storage. */
const char *error_name(int code);
/* Wire code (positive, sync.proto ErrorCode) for a C code, and back. Unknown → EINTERNAL. */
int error_to_wire(int code);
int error_from_wire(int wire);

#endif
