/* fleet/partition: which partition an agent is in, and which member of a
 * fleet owns a partition. Pure, and the same in every instance and every
 * run: the instances of a fleet agree on the answer without talking. */
#ifndef AB_FLEET_PARTITION_H
#define AB_FLEET_PARTITION_H

#include <stddef.h>

#define FLEET_PARTITIONS_MAX 1024
/* What a fleet's instances own: its partitions 0 .. N-1 and, as unit N,
 * the router, which hands each message to its partition (contract 14). */
#define FLEET_UNITS_MAX (FLEET_PARTITIONS_MAX + 1)
#define FLEET_ROUTER(partitions) (partitions)

/* Unit `unit` as the logs name it: "partition 3", or "router". */
void fleet_unit_name(int unit, int partitions, char *out, size_t len);

/* The partition (0 .. partitions-1) of agent `name`. Names that differ only
 * in ASCII case share a partition: the registry treats them as one name. */
int fleet_partition_of(const char *name, size_t len, int partitions);

/* The owner of `partition` among `members[0..n)`: the member with the
 * highest rendezvous score (ties: the smaller name). Adding a member moves
 * only the partitions it now wins; removing one moves only its own.
 * Returns the index, or -1 when n is 0. */
int fleet_owner(const char *const *members, size_t n, int partition);

#endif
