/* bus/event: the vault event of docs/CONTRACT.md section 2 as one C structure,
 * decoded from the document bus/payload produced (JSON or MessagePack alike),
 * and built again for publishing by a vault (the embedded store). */
#ifndef AB_BUS_EVENT_H
#define AB_BUS_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "bus/error.h"

struct cJSON;

enum note_event {
	NOTE_CREATED = 1 << 0,
	NOTE_UPDATED = 1 << 1,
	NOTE_DELETED = 1 << 2,
};

/* A note as an event carries it. Every pointer borrows from the document the
 * event owns; absent optional fields are NULL. */
struct note {
	const char *id;
	const char *path;
	const char *content;
	const struct cJSON *tags;	/* array of strings */
	const struct cJSON *metadata;	/* object; values of any JSON type */
	const struct cJSON *attachments;	/* array of objects */
	const char *created_at;
	const char *updated_at;
};

struct vault_event {
	struct cJSON *doc;	/* owned; everything else points into it */
	enum note_event event;
	const char *vault;	/* the payload's, else the topic's (borrowed) */
	const char *event_id;
	const char *origin;
	const char *trigger;	/* set when a vault webhook body was forwarded */
	struct note note;
};

/* Longest note id the contract allows. */
#define NOTE_ID_MAX 64
/* Most tags a note may carry; a vault note has a handful. */
#define NOTE_TAGS_MAX 256

/* "note.created" or the webhook form "created" -> NOTE_CREATED ...; 0 when
 * `name` (of `len` bytes) is neither. */
enum note_event note_event_parse(const char *name, size_t len);
/* NOTE_CREATED -> "note.created". */
const char *note_event_name(enum note_event ev);

/* Takes ownership of `doc` and checks its shape; the caller frees `out` with
 * event_free() whatever the result.
 * `topic_vault` and `topic_event` (0: unknown) come from the topic the event
 * arrived on and stand in for what the payload does not say; where both
 * speak, the payload wins. Returns 0, or -1 with `err` (invalid_event). */
int event_decode(struct cJSON *doc, const char *topic_vault, enum note_event topic_event,
		 struct vault_event *out, struct bus_error *err);
void event_free(struct vault_event *ev);

/* The dedupe key of docs/CONTRACT.md section 2: event_id, else
 * "<note id>|<event>|<updatedAt or createdAt or empty>". malloc'd. */
char *event_dedupe_key(const struct vault_event *ev);

/* A new event document {v, event, vault, event_id, origin?, note} around
 * `note`, which it takes (also on failure). NULL when out of memory. */
struct cJSON *event_build(enum note_event ev, const char *vault, const char *event_id,
			  const char *origin, struct cJSON *note);

#endif
