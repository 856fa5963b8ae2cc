/* ulid: 26-character, time-ordered ids for the notes and events we create. */
#ifndef AB_UTIL_ULID_H
#define AB_UTIL_ULID_H

#include <stdbool.h>

#define ULID_LEN 26
/* Crockford's base32: the digits of ULIDs and of hash_id's ids. */
#define CROCKFORD_DIGITS "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/* Writes a new ULID and its NUL into `out`; ids from one generator are
 * strictly increasing even within one millisecond. Returns 0 or -1. */
struct ulid_gen {
	unsigned long long last_ms;
	unsigned char last_rand[10];
	/* Random bytes drawn ahead: one getrandom() per 16 milliseconds in use,
	 * not one per millisecond. Zeroed: empty. */
	unsigned char pool[160];
	unsigned pool_used;
};

int ulid_next(struct ulid_gen *gen, char out[ULID_LEN + 1]);

/* Whether `s` reads as a ULID: ULID_LEN upper-case Crockford digits. */
bool ulid_valid(const char *s);

#endif
