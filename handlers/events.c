/* handlers/events: the path of a vault event from bytes to a trigger action.
 * Most events on a busy vault fire no trigger; they cost a decode and the
 * predicate, and never touch SQLite. */
#include "handlers/events.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bus/payload.h"
#include "state/state.h"
#include "util/log.h"

/* Records the event's dedupe key. True when it is new and should be acted on. */
static bool first_sighting(struct events_handler *h, const struct vault_event *ev)
{
	char *key = event_dedupe_key(ev);
	int rc = key ? state_mark_seen(h->state, key) : -1;

	if (rc == 0)
		log_debug("event %s seen before; skipped", key);
	/* A state error acts anyway: a repeat is better than a loss. */
	if (rc < 0)
		log_error("cannot record event of note %s; acting on it anyway", ev->note.id);
	free(key);
	return rc != 0;
}

void events_receive(struct events_handler *h, const struct bus_message *msg,
		    const char *event_name, size_t name_len)
{
	struct vault_event ev = { 0 };
	struct bus_error err;
	cJSON *doc;
	bool matched[TRIGGER_SET_MAX] = { false }, any = false;
	size_t n = h->triggers->n;

	if (payload_decode(msg->payload, msg->len, msg->content_type, h->max_payload, &doc,
			   &err) != 0) {
		h->sink.deadletter(h->sink.arg, msg, &err);
		return;
	}
	if (event_decode(doc, h->vault, note_event_parse(event_name, name_len), &ev, &err) != 0) {
		h->sink.deadletter(h->sink.arg, msg, &err);
		event_free(&ev);
		return;
	}
	if (h->observed)
		h->observed(h->arg, &ev);
	for (size_t i = 0; i < n; i++)
		any |= matched[i] = trigger_match(&h->triggers->v[i], &ev);
	/* The dedupe key and what the actions record commit together. */
	if (any && state_begin(h->state) != 0)
		log_error("cannot begin a transaction for the event of note %s", ev.note.id);
	if (any && first_sighting(h, &ev))
		for (size_t i = 0; i < n; i++)
			if (matched[i])
				h->fired(h->arg, &h->triggers->v[i], &ev, msg);
	if (any && state_commit(h->state) != 0)
		log_error("cannot commit what the event of note %s changed", ev.note.id);
	event_free(&ev);
}
