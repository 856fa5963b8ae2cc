/* fleet/partition: FNV-1a for the agent's partition, and rendezvous
 * (highest random weight) hashing for its owner. */
#include "fleet/partition.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/hash.h"

int fleet_partition_of(const char *name, size_t len, int partitions)
{
	if (partitions <= 1)
		return 0;
	return (int)(hash_fnv1a_nocase(HASH_FNV_SEED, name, len) % (uint64_t)partitions);
}

/* splitmix64's finaliser: FNV-1a of similar names differs in few bits, and
 * the score must look independent for every (member, partition) pair. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t score(const char *member, int partition)
{
	uint64_t h = hash_fnv1a(HASH_FNV_SEED, member, strlen(member));

	return mix(h ^ mix((uint64_t)partition + 0x9e3779b97f4a7c15ULL));
}

int fleet_owner(const char *const *members, size_t n, int partition)
{
	int best = -1;
	uint64_t best_score = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t s = score(members[i], partition);

		if (best < 0 || s > best_score ||
		    (s == best_score && strcmp(members[i], members[best]) < 0)) {
			best = (int)i;
			best_score = s;
		}
	}
	return best;
}

void fleet_unit_name(int unit, int partitions, char *out, size_t len)
{
	if (unit == FLEET_ROUTER(partitions))
		snprintf(out, len, "router");
	else
		snprintf(out, len, "partition %d", unit);
}
