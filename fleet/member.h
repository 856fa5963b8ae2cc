/* fleet/member: an instance's retained member record
 * (R/agentbus/fleet/<fleet>/member/<instance>, contract section 14): what
 * the others need to agree on ownership. Pure. */
#ifndef AB_FLEET_MEMBER_H
#define AB_FLEET_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/partition.h"

struct cJSON;

struct fleet_member {
	char id[65];		/* the instance id (one topic level) */
	int partitions;		/* the fleet's partition count, as this member runs it */
	bool leaving;		/* draining before a clean stop: owns nothing new */
	int64_t started_at;	/* wall clock ms: the older of two disagreeing members wins */
	/* The units it holds (a bit each: partitions, then the router), and of
	 * those the ones subscribed. */
	uint64_t owned[(FLEET_UNITS_MAX + 63) / 64];
	uint64_t serving[(FLEET_UNITS_MAX + 63) / 64];
};

static inline bool fleet_bit_get(const uint64_t *bits, int p)
{
	return (bits[p / 64] >> (p % 64)) & 1;
}

static inline bool fleet_member_owns(const struct fleet_member *m, int p)
{
	return fleet_bit_get(m->owned, p);
}

static inline void fleet_bit_set(uint64_t *bits, int p, bool on)
{
	if (on)
		bits[p / 64] |= 1ULL << (p % 64);
	else
		bits[p / 64] &= ~(1ULL << (p % 64));
}

static inline void fleet_member_set(struct fleet_member *m, int p, bool on)
{
	fleet_bit_set(m->owned, p, on);
}

/* The record as JSON, owned by the caller; NULL when out of memory. */
struct cJSON *fleet_member_encode(const struct fleet_member *m, const char *fleet);

/* Parses a record. Returns 0, or -1 with a reason in `why`. */
int fleet_member_decode(const void *payload, size_t len, struct fleet_member *out, char *why,
			size_t why_len);

/* The partitions set in `bits` (of `n`), as "0-3,7" into `out` (truncated
 * to fit; empty when none). */
void fleet_bits_text(const uint64_t *bits, int n, char *out, size_t len);

#endif
