/* bus/event: shape checks for vault events. Reading is generous where the
 * contract allows (webhook event names, snake_case timestamps, unknown
 * fields) and strict about types, so a handler never meets a number where it
 * expects a string. */
#include "bus/event.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	enum note_event ev;
} event_names[] = {
	{ "note.created", NOTE_CREATED }, { "note.updated", NOTE_UPDATED },
	{ "note.deleted", NOTE_DELETED }, { "created", NOTE_CREATED },
	{ "updated", NOTE_UPDATED },	  { "deleted", NOTE_DELETED },
};

enum note_event note_event_parse(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof event_names / sizeof event_names[0]; i++)
		if (strlen(event_names[i].name) == len && memcmp(event_names[i].name, name, len) == 0)
			return event_names[i].ev;
	return 0;
}

const char *note_event_name(enum note_event ev)
{
	return ev == NOTE_CREATED ? "note.created" : ev == NOTE_UPDATED ? "note.updated"
									 : "note.deleted";
}

/* An optional string member: 0 when absent, null or a string; -1 otherwise. */
static int opt_string(const cJSON *obj, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return -1;
	*out = v->valuestring;
	return 0;
}

static int check_tags(const cJSON *tags)
{
	const cJSON *t;

	if (!cJSON_IsArray(tags))
		return -1;
	cJSON_ArrayForEach(t, tags)
		if (!cJSON_IsString(t))
			return -1;
	return 0;
}

static bool too_many_tags(const cJSON *tags)
{
	return cJSON_IsArray(tags) && cJSON_GetArraySize(tags) > NOTE_TAGS_MAX;
}

static int decode_note(const cJSON *n, struct note *note, struct bus_error *err)
{
	const cJSON *v;
	size_t idlen;

	memset(note, 0, sizeof *note);
	if (!cJSON_IsObject(n))
		return bus_fail(err, REASON_INVALID_EVENT, "note must be an object");
	if (opt_string(n, "id", &note->id) != 0 || !note->id)
		return bus_fail(err, REASON_INVALID_EVENT, "note.id must be a string");
	idlen = strlen(note->id);
	if (idlen == 0 || idlen > NOTE_ID_MAX)
		return bus_fail(err, REASON_INVALID_EVENT, "note.id must be 1 to %d characters",
				NOTE_ID_MAX);
	if (opt_string(n, "path", &note->path) != 0)
		return bus_fail(err, REASON_INVALID_EVENT, "note.path must be a string");
	if (opt_string(n, "content", &note->content) != 0)
		return bus_fail(err, REASON_INVALID_EVENT, "note.content must be a string");
	v = cJSON_GetObjectItemCaseSensitive(n, "tags");
	if (v && !cJSON_IsNull(v) && check_tags(v) != 0)
		return bus_fail(err, REASON_INVALID_EVENT, "note.tags must be an array of strings");
	if (too_many_tags(v))
		return bus_fail(err, REASON_INVALID_EVENT, "note.tags holds more than %d tags",
				NOTE_TAGS_MAX);
	note->tags = cJSON_IsArray(v) ? v : NULL;
	v = cJSON_GetObjectItemCaseSensitive(n, "metadata");
	if (v && !cJSON_IsNull(v) && !cJSON_IsObject(v))
		return bus_fail(err, REASON_INVALID_EVENT, "note.metadata must be an object");
	note->metadata = cJSON_IsObject(v) ? v : NULL;
	v = cJSON_GetObjectItemCaseSensitive(n, "attachments");
	if (v && !cJSON_IsNull(v) && !cJSON_IsArray(v))
		return bus_fail(err, REASON_INVALID_EVENT, "note.attachments must be an array");
	note->attachments = cJSON_IsArray(v) ? v : NULL;
	if (opt_string(n, "createdAt", &note->created_at) != 0 ||
	    (!note->created_at && opt_string(n, "created_at", &note->created_at) != 0) ||
	    opt_string(n, "updatedAt", &note->updated_at) != 0 ||
	    (!note->updated_at && opt_string(n, "updated_at", &note->updated_at) != 0))
		return bus_fail(err, REASON_INVALID_EVENT, "note timestamps must be strings");
	return 0;
}

static int decode_header(const cJSON *doc, enum note_event topic_event,
			 struct vault_event *ev, struct bus_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "v");
	const char *name, *vault;

	if (v && !(cJSON_IsNumber(v) && v->valuedouble == 1))
		return bus_fail(err, REASON_INVALID_EVENT, "unsupported version (v must be 1)");
	if (opt_string(doc, "event", &name) != 0)
		return bus_fail(err, REASON_INVALID_EVENT, "event must be a string");
	ev->event = name ? note_event_parse(name, strlen(name)) : topic_event;
	if (!ev->event && name)
		return bus_fail(err, REASON_INVALID_EVENT, "unknown event '%.64s'", name);
	if (!ev->event)
		return bus_fail(err, REASON_INVALID_EVENT, "no event in the payload or the topic");
	if (opt_string(doc, "vault", &vault) != 0 || (vault && !*vault))
		return bus_fail(err, REASON_INVALID_EVENT, "vault must be a non-empty string");
	if (vault)
		ev->vault = vault;
	if (opt_string(doc, "event_id", &ev->event_id) != 0 || (ev->event_id && !*ev->event_id))
		return bus_fail(err, REASON_INVALID_EVENT, "event_id must be a non-empty string");
	if (opt_string(doc, "origin", &ev->origin) != 0 ||
	    opt_string(doc, "trigger", &ev->trigger) != 0)
		return bus_fail(err, REASON_INVALID_EVENT, "origin and trigger must be strings");
	return 0;
}

int event_decode(cJSON *doc, const char *topic_vault, enum note_event topic_event,
		 struct vault_event *out, struct bus_error *err)
{
	const cJSON *note;

	memset(out, 0, sizeof *out);
	out->doc = doc;
	out->vault = topic_vault;
	if (!cJSON_IsObject(doc))
		return bus_fail(err, REASON_INVALID_EVENT, "a vault event must be an object");
	if (decode_header(doc, topic_event, out, err) != 0)
		return -1;
	note = cJSON_GetObjectItemCaseSensitive(doc, "note");
	if (!note)
		return bus_fail(err, REASON_INVALID_EVENT, "no note in the event");
	return decode_note(note, &out->note, err);
}

void event_free(struct vault_event *ev)
{
	cJSON_Delete(ev->doc);
	memset(ev, 0, sizeof *ev);
}

char *event_dedupe_key(const struct vault_event *ev)
{
	const char *stamp = ev->note.updated_at ? ev->note.updated_at
			    : ev->note.created_at ? ev->note.created_at : "";
	char *key;

	if (ev->event_id)
		return strdup(ev->event_id);
	if (asprintf(&key, "%s|%s|%s", ev->note.id, note_event_name(ev->event), stamp) < 0)
		return NULL;
	return key;
}

cJSON *event_build(enum note_event ev, const char *vault, const char *event_id,
		   const char *origin, cJSON *note)
{
	cJSON *doc = cJSON_CreateObject();

	if (!doc || !note || !cJSON_AddNumberToObject(doc, "v", 1) ||
	    !cJSON_AddStringToObject(doc, "event", note_event_name(ev)) ||
	    !cJSON_AddStringToObject(doc, "vault", vault) ||
	    !cJSON_AddStringToObject(doc, "event_id", event_id) ||
	    (origin && !cJSON_AddStringToObject(doc, "origin", origin))) {
		cJSON_Delete(doc);
		cJSON_Delete(note);
		return NULL;
	}
	cJSON_AddItemToObject(doc, "note", note);
	return doc;
}
