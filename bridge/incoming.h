/* bridge/incoming: what a vault sends (a trigger's webhook body, a note of
 * its change feed) made into the contract's vault event (docs/CONTRACT.md
 * section 2), with an event_id every source derives alike, so a note seen
 * by a webhook and again by the feed is one event. Pure: no I/O. */
#ifndef AB_BRIDGE_INCOMING_H
#define AB_BRIDGE_INCOMING_H

#include <stddef.h>

#include "bus/error.h"
#include "bus/event.h"

struct cJSON;

/* One event ready to record: `doc` owned; `note_id` and `updated_at` point
 * into it (updated_at falls back to createdAt, then ""). */
struct incoming {
	struct cJSON *doc;
	enum note_event event;
	const char *note_id;
	const char *updated_at;
};

/* A trigger's webhook body ({trigger, event: created|updated, note,
 * context?}), `len` bytes of JSON. Returns 0, or -1 with `err`
 * (invalid_encoding, invalid_event) for anything else. */
int incoming_from_hook(const char *body, size_t len, const char *vault, size_t max_payload,
		       struct incoming *out, struct bus_error *err);

/* A note of the change feed (a snapshot entry or an upsert): created when
 * its createdAt equals its updatedAt, otherwise updated. -1 with `err` when
 * it is not a note. */
int incoming_from_feed(const struct cJSON *note, const char *vault, struct incoming *out,
		       struct bus_error *err);

/* A feed's remove: note.deleted of {id}. */
int incoming_removed(const char *id, const char *vault, struct incoming *out);

void incoming_free(struct incoming *in);

#endif
