/* handlers/events: vault events in, trigger firings out. Decodes the event,
 * dead-letters what is unusable, runs the triggers, and hands each event that
 * fires one to the trigger's action exactly once: the dedupe key is recorded
 * in the state before the action runs, so a QoS 1 redelivery or a replay
 * (also after a restart) is recognised and skipped. */
#ifndef AB_HANDLERS_EVENTS_H
#define AB_HANDLERS_EVENTS_H

#include <stddef.h>

#include "bus/event.h"
#include "bus/message.h"
#include "bus/sink.h"
#include "bus/trigger.h"

struct state;

/* Called once per (event, trigger) that fires; `ev` and `msg` (what it
 * arrived as) are valid during the call. */
typedef void trigger_fired_fn(void *arg, const struct trigger *t, const struct vault_event *ev,
			      const struct bus_message *msg);
/* Called for every decoded event, before the triggers. */
typedef void event_observed_fn(void *arg, const struct vault_event *ev);

struct events_handler {
	struct state *state;		/* dedupe; borrowed */
	const struct trigger_set *triggers;	/* borrowed */
	const char *vault;		/* V of the topics we subscribe to */
	struct bus_sink sink;
	size_t max_payload;
	event_observed_fn *observed;	/* may be NULL */
	trigger_fired_fn *fired;
	void *arg;
};

/* One message from R/vault/V/event/<event_name>; `event_name` points into the
 * topic and is `name_len` bytes long. */
void events_receive(struct events_handler *h, const struct bus_message *msg,
		    const char *event_name, size_t name_len);

#endif
