/* bus/topics: the topic names of docs/CONTRACT.md section 1, in one place: built
 * once from the configured root, vault and instance, and recognised again
 * when a message arrives. */
#ifndef AB_BUS_TOPICS_H
#define AB_BUS_TOPICS_H

#include <stdbool.h>
#include <stddef.h>

struct topics {
	char *vault_events;	/* R/vault/V/event/+ (a filter) */
	char *vault_event_prefix;	/* R/vault/V/event/ */
	char *vault_write;	/* R/vault/V/write */
	char *agent_prefix;	/* R/agent/ */
	char *inboxes;		/* R/agent/+/inbox (a filter) */
	char *cancels;		/* R/agent/+/cancel (a filter) */
	char *deadletter;	/* R/agentbus/deadletter */
	char *status;		/* R/agentbus/status/<instance> */
};

/* What an incoming topic is. */
enum topic_kind {
	TOPIC_OTHER,
	TOPIC_VAULT_EVENT,	/* level: the event name after .../event/ */
	TOPIC_VAULT_WRITE,
	TOPIC_AGENT_INBOX,	/* level: the agent name */
	TOPIC_AGENT_CANCEL,	/* level: the agent name */
	TOPIC_AGENT_EVENTS,	/* level: the agent name (what agentbus publishes) */
	TOPIC_AGENT_DEFINITION,	/* level: the agent name (what agentbus publishes) */
	TOPIC_DEADLETTER,
	TOPIC_STATUS,		/* this instance's */
};

/* Fills `t`; free with topics_free(). Returns 0 or -1 (out of memory). */
int topics_init(struct topics *t, const char *root, const char *vault, const char *instance);
void topics_free(struct topics *t);

/* Classifies `topic`; for the kinds that have one, `*level` points into
 * `topic` at the variable level and `*level_len` is its length. */
enum topic_kind topics_classify(const struct topics *t, const char *topic, const char **level,
				size_t *level_len);

/* True when `topic` is a name a message can be published on, as the broker
 * judges it (libmosquitto's checks: UTF-8, no wildcards, MQTT's length). */
bool topics_publishable(const char *topic);

/* R/vault/V/event/<event>; malloc'd, NULL when out of memory. */
char *topics_vault_event(const struct topics *t, const char *event);

/* R/agent/<agent>/<leaf> (inbox, reply, events, definition); malloc'd. */
char *topics_agent(const struct topics *t, const char *agent, const char *leaf);

#endif
