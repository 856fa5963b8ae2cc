/* ulid: 48 bits of milliseconds and 80 random bits, in Crockford base32.
 * Within one millisecond the random part is incremented instead of redrawn,
 * so ids sort in creation order (the vault's own ids behave the same way). */
#include "util/ulid.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char crockford[] = CROCKFORD_DIGITS;

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

/* Adds one to the 80-bit big-endian random part; 0 when it wrapped. */
static int increment(unsigned char r[10])
{
	for (int i = 9; i >= 0; i--)
		if (++r[i] != 0)
			return 1;
	return 0;
}

static int draw(struct ulid_gen *gen, unsigned char out[10])
{
	if (gen->pool_used == 0 || gen->pool_used >= sizeof gen->pool) {
		if (getrandom(gen->pool, sizeof gen->pool, 0) != (ssize_t)sizeof gen->pool)
			return -1;
		gen->pool_used = 0;
	}
	memcpy(out, gen->pool + gen->pool_used, 10);
	gen->pool_used += 10;
	return 0;
}

int ulid_next(struct ulid_gen *gen, char out[ULID_LEN + 1])
{
	unsigned long long ms = now_ms();
	unsigned char bytes[16];

	if (ms <= gen->last_ms) {
		ms = gen->last_ms;
		if (!increment(gen->last_rand))
			ms = ++gen->last_ms;	/* 2^80 ids in one ms: borrow the next one */
	} else if (draw(gen, gen->last_rand) != 0) {
		return -1;
	}
	gen->last_ms = ms;
	for (int i = 0; i < 6; i++)
		bytes[i] = (unsigned char)(ms >> (8 * (5 - i)));
	memcpy(bytes + 6, gen->last_rand, 10);
	/* 128 bits as 26 five-bit digits; the first digit holds the top 3 bits. */
	for (int i = 0; i < ULID_LEN; i++) {
		int bit = 128 - 5 * (ULID_LEN - i);	/* first bit of digit i; -2 for i=0 */
		unsigned v = 0;

		for (int b = 0; b < 5; b++, bit++)
			v = v << 1 | (bit >= 0 ? (bytes[bit / 8] >> (7 - bit % 8)) & 1u : 0u);
		out[i] = crockford[v];
	}
	out[ULID_LEN] = '\0';
	return 0;
}

bool ulid_valid(const char *s)
{
	return strlen(s) == ULID_LEN && strspn(s, crockford) == ULID_LEN;
}
