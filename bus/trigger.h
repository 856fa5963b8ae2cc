/* bus/trigger: which vault events agentbus acts on. A trigger has the
 * vault's predicate semantics (parachute-vault-events-and-hub-jwt.md 2.3):
 * all-of tags, has/missing metadata, has_content, and the trigger's own
 * <name>_pending_at / <name>_rendered_at markers, except that a leading '#'
 * on a tag never matters. The set is small and fixed at start-up; routing an
 * event to one of many agents is the handlers' hash lookup, so matching costs
 * the same whatever the number of agents. */
#ifndef AB_BUS_TRIGGER_H
#define AB_BUS_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>

#include "bus/event.h"

/* What a matching event is handed to. */
enum trigger_action {
	TRIGGER_DEFINITION,	/* (re)register or unregister an agent */
	TRIGGER_INBOUND,	/* an inbound message: one agent turn */
};

struct str_list {
	char **v;
	size_t n;
};

struct trigger {
	char *name;
	enum trigger_action action;
	unsigned events;	/* NOTE_CREATED | NOTE_UPDATED | NOTE_DELETED */
	struct str_list tags;	/* bare forms */
	struct str_list has_metadata;
	struct str_list missing_metadata;
	int has_content;	/* -1: no constraint; 0: blank; 1: non-blank */
};

/* Most triggers one set holds. */
#define TRIGGER_SET_MAX 64

struct trigger_set {
	struct trigger *v;
	size_t n;
};

/* Parses "NAME ACTION [events=a,b] [tags=a,b] [has_metadata=k,..]
 * [missing_metadata=k,..] [has_content=true|false]" (the config file's
 * `trigger` value). ACTION is `definition` or `inbound`. Returns 0, or -1
 * with a message in `msg`. Free with trigger_free(). */
int trigger_parse(const char *spec, struct trigger *out, char *msg, size_t msglen);
void trigger_free(struct trigger *t);

/* True when `ev` fires `t`. On note.deleted only `events` is checked: a
 * deleted note carries no tags or metadata to test. */
bool trigger_match(const struct trigger *t, const struct vault_event *ev);

/* The reference module's triggers: `definition` (created, updated, deleted;
 * tags agent/definition) and `inbound` (created; tags agent/message/inbound;
 * missing channel_inbound_rendered_at). Returns 0 or -1. */
int trigger_set_defaults(struct trigger_set *set);
/* Adds `t` (taken), replacing a trigger of the same name. Returns 0, or -1
 * when out of memory or the set already holds TRIGGER_SET_MAX. */
int trigger_set_put(struct trigger_set *set, struct trigger *t);
void trigger_set_free(struct trigger_set *set);

#endif
