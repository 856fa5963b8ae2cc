/* route: a partition acts on an inbox or cancel message of its agents, an
 * inbound message to one of them, and every event of a definition note (to
 * register, rename, unregister); the router sends each message only where
 * it is acted on. An event no trigger matches on a note that is no
 * definition is nobody's: the thread, reply and marker writes of every turn,
 * which were most of the partitions' deliveries when each received every
 * event. */
#include "daemon/route.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/event.h"
#include "bus/payload.h"
#include "fleet/forward.h"
#include "fleet/member.h"
#include "fleet/partition.h"
#include "handlers/inbound.h"
#include "util/log.h"

static int partition_of(const struct route *r, const char *name, size_t len)
{
	/* What names no agent (an unusable event) is partition 0's. */
	return name ? fleet_partition_of(name, len, r->partitions) : 0;
}

static int route_event(struct route *r, const struct bus_message *msg, const char *event,
		       size_t event_len)
{
	bool matched[TRIGGER_SET_MAX] = { false }, definition = false;
	struct vault_event ev;
	struct bus_error err;
	char *name = NULL;
	int fired = events_decode(&r->decoder, msg, event, event_len, &ev, matched, &err), to;

	if (fired < 0) {
		event_free(&ev);
		return 0;	/* partition 0 dead-letters it */
	}
	for (size_t i = 0; i < r->decoder.triggers->n; i++)
		if (matched[i] && r->decoder.triggers->v[i].action == TRIGGER_DEFINITION)
			definition = true;
	if (definition || (ev.note.id && strmap_get(&r->definitions, ev.note.id))) {
		to = ROUTE_ALL;
		/* Known before its registry entry comes back: a later event
		 * without the tag (it was removed) still reaches its partition. */
		if (ev.note.id && ev.event == NOTE_DELETED)
			strmap_remove(&r->definitions, ev.note.id);
		else if (ev.note.id && strmap_put(&r->definitions, ev.note.id, r) != 0)
			to = -3;
	} else if (fired) {
		name = inbound_agent_name(&ev.note);
		to = partition_of(r, name, name ? strlen(name) : 0);
	} else {
		to = ROUTE_NONE;
	}
	free(name);
	event_free(&ev);
	return to;
}

int route_message(struct route *r, const struct bus_message *msg)
{
	const char *level;
	size_t len;

	switch (topics_classify(r->topics, msg->topic, &level, &len)) {
	case TOPIC_VAULT_EVENT:
		return route_event(r, msg, level, len);
	case TOPIC_AGENT_INBOX:
	case TOPIC_AGENT_CANCEL:
		return partition_of(r, level, len);
	default:
		return ROUTE_NONE;
	}
}

void route_entry(struct route *r, const struct bus_message *msg)
{
	struct bus_error err;
	cJSON *doc = NULL;
	const char *id;

	/* Empty: unregistered; its note stays known, which costs a delivery to
	 * every partition of the note's next event at most. */
	if (!msg->len || payload_decode(msg->payload, msg->len, msg->content_type,
					r->decoder.max_payload, &doc, &err) != 0)
		return;
	id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "definition"));

	if (id && strmap_put(&r->definitions, id, r) != 0)
		log_error("router: out of memory remembering definition note %s", id);
	cJSON_Delete(doc);
}

/* R/agentbus/fleet/<fleet>/<leaf>/<partition>; partition -1: the filter
 * for all of them. malloc'd, NULL when out of memory. */
static char *fleet_topic(const char *root, const char *fleet, const char *leaf, int partition)
{
	char *t;
	int n = partition < 0 ? asprintf(&t, "%s/agentbus/fleet/%s/%s/+", root, fleet, leaf)
			      : asprintf(&t, "%s/agentbus/fleet/%s/%s/%d", root, fleet, leaf,
					 partition);

	return n < 0 ? NULL : t;
}

char *route_in_topic(const char *root, const char *fleet, int partition)
{
	return fleet_topic(root, fleet, "in", partition);
}

char *route_session_topic(const char *root, const char *fleet, int partition)
{
	return fleet_topic(root, fleet, "session", partition);
}

int route_init(struct route *r, const char *root, const char *fleet, int partitions,
	       const struct topics *topics, const struct events_decoder *decoder)
{
	*r = (struct route){ .partitions = partitions, .topics = topics, .decoder = *decoder };
	if (!(r->sessions_filter = fleet_topic(root, fleet, "session", -1)) ||
	    !(r->in_topics = calloc((size_t)partitions, sizeof *r->in_topics)))
		return -1;
	for (int p = 0; p < partitions; p++)
		if (!(r->in_topics[p] = route_in_topic(root, fleet, p)))
			return -1;
	return 0;
}

void route_free(struct route *r)
{
	strmap_free(&r->definitions);
	for (int p = 0; r->in_topics && p < r->partitions; p++)
		free(r->in_topics[p]);
	free(r->in_topics);
	free(r->sessions_filter);
	r->in_topics = NULL;
	r->sessions_filter = NULL;
}

int route_forward(struct route *r, struct agent_runtime *rt, const struct bus_message *msg)
{
	int to = route_message(r, msg), rc;
	char *wrapped;
	size_t len;

	if (to == ROUTE_NONE)
		return 0;
	if (to < ROUTE_NONE || fleet_forward_encode(msg, &wrapped, &len) != 0)
		return -1;
	rc = to == ROUTE_ALL
		     ? runtime_forward(rt, (const char *const *)r->in_topics, (size_t)r->partitions,
				       wrapped, len)
		     : runtime_forward(rt, (const char *const *)&r->in_topics[to], 1, wrapped, len);
	free(wrapped);
	return rc;
}

bool route_session(struct route *r, const struct bus_message *msg)
{
	const char *leaf = strrchr(msg->topic, '/');
	char *end;
	long p = leaf ? strtol(leaf + 1, &end, 10) : -1;

	if (leaf && *end == '\0' && p >= 0 && p < r->partitions && msg->len > 0)
		fleet_bit_set(r->sessions, (int)p, true);
	for (int q = 0; q < r->partitions; q++)
		if (!fleet_bit_get(r->sessions, q))
			return false;
	return true;
}

void route_missing_text(const struct route *r, char *out, size_t len)
{
	uint64_t missing[(FLEET_PARTITIONS_MAX + 63) / 64] = { 0 };

	for (int p = 0; p < r->partitions; p++)
		fleet_bit_set(missing, p, !fleet_bit_get(r->sessions, p));
	fleet_bits_text(missing, r->partitions, out, len);
}
