/* route: a fleet's router (contract section 14). Its session receives the
 * vault events, inboxes and cancels every partition used to receive; it
 * hands each message, in an envelope (fleet/forward.h), to the partition
 * that acts on it, on R/agentbus/fleet/<fleet>/in/<N>, or to every
 * partition, or to none. It starts only once every partition's session
 * exists (each says so with a retained marker), so no forward is published
 * where no session would keep it. */
#ifndef AB_DAEMON_ROUTE_H
#define AB_DAEMON_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/message.h"
#include "bus/topics.h"
#include "fleet/partition.h"
#include "handlers/events.h"
#include "handlers/runtime.h"
#include "util/strmap.h"

#define ROUTE_ALL (-1)
#define ROUTE_NONE (-2)

struct route {
	int partitions;
	const struct topics *topics;	/* borrowed */
	struct events_decoder decoder;	/* the partitions' triggers */
	/* Definition notes (ids; values unused): their every event is every
	 * partition's, as only the partition that registered one knows it. */
	struct strmap definitions;
	char **in_topics;		/* R/agentbus/fleet/<fleet>/in/<N>, for each N */
	char *sessions_filter;		/* R/agentbus/fleet/<fleet>/session/+ */
	uint64_t sessions[(FLEET_PARTITIONS_MAX + 63) / 64];	/* markers seen */
};

/* Topics of fleet `fleet` under `root`; malloc'd, NULL when out of memory. */
char *route_in_topic(const char *root, const char *fleet, int partition);
char *route_session_topic(const char *root, const char *fleet, int partition);

int route_init(struct route *r, const char *root, const char *fleet, int partitions,
	       const struct topics *topics, const struct events_decoder *decoder);
void route_free(struct route *r);

/* The partition (0 ..), ROUTE_ALL or ROUTE_NONE for `msg`; -3 when out of
 * memory. */
int route_message(struct route *r, const struct bus_message *msg);

/* `msg` to where route_message() says, through `rt`'s outbox. Returns 0, or
 * -1 (the transaction fails; the message comes again). */
int route_forward(struct route *r, struct agent_runtime *rt, const struct bus_message *msg);

/* A registry entry (R/agent/A/definition) seen: its definition note is one. */
void route_entry(struct route *r, const struct bus_message *msg);

/* A retained message on `sessions_filter`: true once every partition's
 * marker has been seen. */
bool route_session(struct route *r, const struct bus_message *msg);

/* The partitions whose marker is missing, as "3,7-9". */
void route_missing_text(const struct route *r, char *out, size_t len);

#endif
