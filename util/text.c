/* text: the character rules docs/CONTRACT.md puts on names, paths and topics,
 * and the one parser of whole numbers the options use. */
#include "util/text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_slug_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

void text_safe_name(char *s)
{
	for (; *s; s++)
		if (!is_slug_char(*s))
			*s = '-';
}

bool text_is_topic_level(const char *s)
{
	return *s && strpbrk(s, "/+#") == NULL;
}

bool text_is_topic_prefix(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || s[0] == '/' || s[len - 1] == '/' || strstr(s, "//"))
		return false;
	return strpbrk(s, "+#") == NULL;
}

int text_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}
