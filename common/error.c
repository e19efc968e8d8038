/*
 * error: names and messages for the one error list (fieldsync_errno.h), and its mapping to
 * the wire. Pure: no I/O.
 */
#include "error.h"

const char *error_str(int code)
{
    switch (code) {
    case 0:
        return "ok";
#define XX(name, num, msg)                                                                         \
    case -(num):                                                                                   \
        return msg;
        FIELDSYNC_ERRNO_MAP(XX)
#undef XX
    }
    return "unknown error";
}

const char *error_name(int code)
{
    switch (code) {
    case 0:
        return "OK";
#define XX(name, num, msg)                                                                         \
    case -(num):                                                                                   \
        return #name;
        FIELDSYNC_ERRNO_MAP(XX)
#undef XX
    }
    return "EUNKNOWN";
}

int error_to_wire(int code)
{
    switch (code) {
#define XX(name, num, msg)                                                                         \
    case -(num):                                                                                   \
        return num;
        FIELDSYNC_ERRNO_MAP(XX)
#undef XX
    }
    return -FIELDSYNC_EINTERNAL;
}

int error_from_wire(int wire)
{
    switch (wire) {
#define XX(name, num, msg)                                                                         \
    case num:                                                                                      \
        return -(num);
        FIELDSYNC_ERRNO_MAP(XX)
#undef XX
    }
    return FIELDSYNC_EINTERNAL;
}
