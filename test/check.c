/* check: counting and reporting results. */
#include "test/check.h"

#include <stdarg.h>

struct check_tally check_tally;

/* The first failures again at the end: a log cut to its head and tail
 * (CI's is) still says what failed. */
#define RECALLED 8
#define RECALLED_LEN 400
static char recalled[RECALLED][RECALLED_LEN];

char *check_fmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

int check_int(long long a, long long b, const char *file, int line, const char *expr)
{
	return check_report(a == b, file, line, expr,
			     a == b ? NULL : check_fmt("%lld != %lld", a, b));
}

int check_str(const char *a, const char *b, const char *file, int line, const char *expr)
{
	int ok = a && b && strcmp(a, b) == 0;

	return check_report(ok, file, line, expr,
			    ok ? NULL : check_fmt("'%s' != '%s'", a ? a : "(null)",
						  b ? b : "(null)"));
}

int check_contains(const char *hay, const char *needle, const char *file, int line,
		   const char *expr)
{
	int ok = hay && strstr(hay, needle) != NULL;

	return check_report(ok, file, line, expr,
			    ok ? NULL : check_fmt("'%s' not in '%s'", needle,
						  hay ? hay : "(null)"));
}

int check_report(int ok, const char *file, int line, const char *expr, char *detail)
{
	if (ok) {
		check_tally.passed++;
	} else {
		if (check_tally.failed < RECALLED)
			snprintf(recalled[check_tally.failed], RECALLED_LEN, "FAIL %s:%d: %s%s%s",
				 file, line, expr, detail ? ": " : "", detail ? detail : "");
		check_tally.failed++;
		fprintf(stderr, "FAIL %s:%d: %s%s%s\n", file, line, expr, detail ? ": " : "",
			detail ? detail : "");
	}
	free(detail);
	return ok;
}

int check_summary(void)
{
	fflush(stderr);
	for (int i = 0; i < check_tally.failed && i < RECALLED; i++)
		printf("%s\n", recalled[i]);
	printf("%d passed, %d failed\n", check_tally.passed, check_tally.failed);
	return check_tally.failed ? 1 : 0;
}
