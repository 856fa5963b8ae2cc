/* hash: FNV-1a 64. */
#include "util/hash.h"

#include <ctype.h>
#include <string.h>

#include "util/ulid.h"

uint64_t hash_fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t hash_fnv1a_nocase(uint64_t h, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)tolower((unsigned char)data[i]);

		h = hash_fnv1a(h, &c, 1);
	}
	return h;
}

/* 26 digits of 5 bits from the 128 bits, high bits first. */
static void encode_id(const uint64_t h[2], char out[27])
{
	static const char digits[] = CROCKFORD_DIGITS;
	int bit = 0;

	for (int i = 0; i < 26; i++, bit += 5) {
		unsigned v = 0;

		for (int b = 0; b < 5; b++) {
			int k = bit + b;

			v = v << 1 | (k < 128 ? (unsigned)(h[k / 64] >> (63 - k % 64)) & 1u : 0u);
		}
		out[i] = digits[v];
	}
	out[26] = '\0';
}

#define HASH_SECOND_SEED 0x84222325cbf29ce4ULL

void hash_id_join(const char *a, const char *b, char out[27])
{
	uint64_t h[2] = { HASH_FNV_SEED, HASH_SECOND_SEED };

	for (int i = 0; i < 2; i++) {
		h[i] = hash_fnv1a(h[i], a, strlen(a));
		h[i] = hash_fnv1a(h[i], "|", 1);
		h[i] = hash_fnv1a(h[i], b, strlen(b));
	}
	encode_id(h, out);
}

void hash_id_nocase(const char *data, size_t len, char out[27])
{
	uint64_t h[2] = { hash_fnv1a_nocase(HASH_FNV_SEED, data, len),
			  hash_fnv1a_nocase(HASH_SECOND_SEED, data, len) };

	encode_id(h, out);
}
