/* bus/utf8: validation and safe excerpts. cJSON does not check UTF-8, so every
 * JSON payload and every MessagePack string passes through utf8_valid(). */
#include "bus/utf8.h"

#include <stdio.h>
#include <stdlib.h>

/* Length of the valid sequence at s[0..len), or 0 if it is not valid. */
static size_t seq_len(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	size_t n;
	unsigned min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		min = 0x80;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		min = 0x800;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		min = 0x10000;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool utf8_valid(const char *s, size_t len, size_t *bad_at)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		n = seq_len(u + i, len - i);
		if (n == 0) {
			if (bad_at)
				*bad_at = i;
			return false;
		}
		i += n;
	}
	return true;
}

char *utf8_excerpt(const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t limit = len < max ? len : max;
	/* Worst case every byte becomes four characters. */
	char *out = malloc(limit * 4 + 1);
	size_t i = 0, o = 0;

	if (!out)
		return NULL;
	while (i < limit) {
		size_t n = seq_len(u + i, len - i);

		if (n > 1 && i + n > limit)
			break;	/* a character cut by the limit */
		if (n == 0 || (n == 1 && (u[i] < 0x20 || u[i] == 0x7f) && u[i] != '\n' &&
			       u[i] != '\t')) {
			snprintf(out + o, 5, "\\x%02x", u[i]);
			o += 4;
			i++;
			continue;
		}
		for (size_t k = 0; k < n; k++)
			out[o++] = (char)u[i++];
	}
	out[o] = '\0';
	return out;
}
