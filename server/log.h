/*
 * log: one line per event on stderr, key=value after a UTC timestamp and a level:
 *   2026-11-23T19:00:00.123Z info event=listen addr=127.0.0.1:7443
 * Callers never pass secrets (codes, credentials, keys) to it.
 */
#ifndef FS_LOG_H
#define FS_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Lines below this level are dropped (default LOG_INFO). */
void log_set_level(enum log_level lvl);
/* fmt is the key=value part ("event=x key=%s ..."). */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
