/* log: one line per event, "<ISO time> <level> <message>", written with a
 * single fwrite so lines from the daemon and its broker child never interleave
 * mid-line. Only the main thread configures the logger; workers only write. */
#include "util/log.h"

#include <stdarg.h>
#include <string.h>

#include "util/clock.h"

static struct logger {
	enum log_level level;
	FILE *out;
} logger = { LOG_INFO, NULL };

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_configure(enum log_level level, FILE *out)
{
	logger.level = level;
	logger.out = out;
}

int log_enabled(enum log_level level)
{
	return level <= logger.level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	char now[CLOCK_ISO_LEN];
	va_list ap;
	int n, m;

	if (!log_enabled(level))
		return;
	clock_iso8601(now);
	n = snprintf(line, sizeof line, "%s %-5s ", now, level_names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	/* A truncated message still ends its line. */
	if (m < 0 || (size_t)m >= sizeof line - (size_t)n - 1)
		n = (int)sizeof line - 2;
	else
		n += m;
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, logger.out ? logger.out : stderr);
}
