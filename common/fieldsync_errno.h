/*
 * The one error list of fieldsync. Each entry is XX(NAME, code, message): the C API's
 * FIELDSYNC_<NAME> is -code, and the wire protocol's ErrorCode has the same code (sync.proto).
 * Never renumber; add new codes at the end (and to sync.proto's ErrorCode).
 * This header is self-contained: the server, common/ and the public fieldsync.h include it.
 */
#ifndef FIELDSYNC_ERRNO_H
#define FIELDSYNC_ERRNO_H

#define FIELDSYNC_ERRNO_MAP(XX)                                                                    \
    XX(EINVAL, 1, "invalid argument")                                                              \
    XX(ENOMEM, 2, "out of memory")                                                                 \
    XX(EIO, 3, "input/output error")                                                               \
    XX(EPROTO, 4, "protocol error: malformed frame or message")                                    \
    XX(EFRAMESIZE, 5, "frame too large")                                                           \
    XX(EVERSION, 6, "unsupported protocol version")                                                \
    XX(ESTATE, 7, "message not valid in this session state")                                       \
    XX(EAUTH, 8, "authentication failed")                                                          \
    XX(EREVOKED, 9, "device revoked")                                                              \
    XX(EENROLL, 10, "enrolment code unknown, used or expired")                                     \
    XX(ESCOPE, 11, "outside the device's role or region scope")                                    \
    XX(EREGION, 12, "a record's region cannot change")                                             \
    XX(ECLOCK, 13, "clock too far ahead of server time")                                           \
    XX(EBATCH, 14, "batch too large")                                                              \
    XX(EBADID, 15, "id has the wrong length or is nil")                                            \
    XX(EUTF8, 16, "invalid UTF-8 in a string field")                                               \
    XX(ESCHEMA, 17, "value does not match the collection's schema")                                \
    XX(ESEQ, 18, "device sequence number invalid")                                                 \
    XX(EBUSY, 19, "too busy: connection or in-flight limit reached")                               \
    XX(ERATE, 20, "rate limited, retry later")                                                     \
    XX(ETIMEDOUT, 21, "timed out")                                                                 \
    XX(ETLS, 22, "TLS failure")                                                                    \
    XX(ESTORE, 23, "storage failure")                                                              \
    XX(ENOTFOUND, 24, "not found")                                                                 \
    XX(ECANCELED, 25, "canceled")                                                                  \
    XX(ECOLLECTION, 26, "unknown collection")                                                      \
    XX(ESHUTDOWN, 27, "server shutting down")                                                      \
    XX(EINTERNAL, 28, "internal error")                                                            \
    XX(ECONNECT, 29, "could not connect")                                                          \
    XX(ERECORDSIZE, 30, "record would grow past the record size limit")

#endif
