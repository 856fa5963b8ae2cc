/* handlers/events: a vault event from bytes to the triggers it fires.
 * Decodes the event and runs the trigger predicates; what the firings do,
 * and recording them once, is the runtime's. Most events on a busy vault
 * fire nothing: they cost a decode and the predicates, and never touch
 * SQLite. */
#ifndef AB_HANDLERS_EVENTS_H
#define AB_HANDLERS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "bus/error.h"
#include "bus/event.h"
#include "bus/message.h"
#include "bus/trigger.h"

struct events_decoder {
	const struct trigger_set *triggers;	/* borrowed */
	const char *vault;		/* V of the topics we subscribe to */
	size_t max_payload;
};

/* Decodes one message from R/vault/V/event/<event_name> (`event_name`
 * points into the topic, `name_len` bytes) into `ev` (free with
 * event_free() whatever the result) and sets `matched[i]` for each trigger
 * that fires. Returns the number that fire, or -1 with `err` filled. */
int events_decode(const struct events_decoder *d, const struct bus_message *msg,
		  const char *event_name, size_t name_len, struct vault_event *ev,
		  bool matched[TRIGGER_SET_MAX], struct bus_error *err);

#endif
