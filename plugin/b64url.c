/* b64url: strict base64url decoding. Strict because two spellings of one
 * signature segment would make "the same token" ambiguous in logs and lists. */
#include "plugin/b64url.h"

#include <stdint.h>
#include <stdlib.h>

static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

unsigned char *b64url_decode(const char *in, size_t len, size_t *out_len)
{
	unsigned char *out;
	uint32_t acc = 0;
	size_t i, n = 0;
	int bits = 0;

	if (len % 4 == 1)
		return NULL;
	out = malloc(len / 4 * 3 + 3);
	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		int v = sextet((unsigned char)in[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* What is left must be the zero fill of the last character. */
	if (acc & ((1u << bits) - 1)) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}
