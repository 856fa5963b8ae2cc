/* log: timestamped, levelled log lines on stderr (or any stream). */
#ifndef AB_UTIL_LOG_H
#define AB_UTIL_LOG_H

#include <stdio.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

/* Lines below `level` are dropped; `out` NULL means stderr. */
void log_configure(enum log_level level, FILE *out);
int log_enabled(enum log_level level);

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void log_msg(enum log_level level, const char *fmt, ...);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
