/* bridge/incoming: a vault's note, copied field by field into an event. */
#include "bridge/incoming.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/payload.h"

/* The note's fields the contract carries; a feed's note also has
 * attribution and counts, which stay behind. */
static const char *const note_fields[] = { "id", "path", "content", "tags", "metadata",
					   "attachments", "createdAt", "updatedAt" };

static cJSON *copy_note(const struct note *n, const cJSON *src)
{
	cJSON *note = cJSON_CreateObject();

	if (!note)
		return NULL;
	for (size_t i = 0; i < sizeof note_fields / sizeof note_fields[0]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, note_fields[i]);
		cJSON *copy;

		if (!v || cJSON_IsNull(v))
			continue;
		copy = cJSON_Duplicate(v, 1);
		if (!copy || !cJSON_AddItemToObject(note, note_fields[i], copy)) {
			cJSON_Delete(copy);
			cJSON_Delete(note);
			return NULL;
		}
	}
	/* The vault's older field names, as the contract accepts them. */
	if (!n->created_at || !n->updated_at) {
		if (n->created_at && !cJSON_HasObjectItem(note, "createdAt"))
			cJSON_AddStringToObject(note, "createdAt", n->created_at);
		if (n->updated_at && !cJSON_HasObjectItem(note, "updatedAt"))
			cJSON_AddStringToObject(note, "updatedAt", n->updated_at);
	}
	return note;
}

/* The event of `n` (decoded from `src`): its id is the contract's own
 * dedupe key, "<note id>|<event>|<updatedAt>", so a consumer dedupes it
 * the same with or without reading event_id. */
static int build(enum note_event event, const char *vault, const struct note *n,
		 const cJSON *src, struct incoming *out, struct bus_error *err)
{
	const char *stamp = n->updated_at ? n->updated_at : n->created_at ? n->created_at : "";
	char *event_id = NULL;
	cJSON *note = copy_note(n, src);

	memset(out, 0, sizeof *out);
	if (note && asprintf(&event_id, "%s|%s|%s", n->id, note_event_name(event), stamp) >= 0)
		out->doc = event_build(event, vault, event_id, NULL, note);
	else
		cJSON_Delete(note);
	free(event_id);
	if (!out->doc)
		return bus_fail(err, REASON_INVALID_EVENT, "out of memory");
	note = cJSON_GetObjectItemCaseSensitive(out->doc, "note");
	out->event = event;
	out->note_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(note, "id"));
	out->updated_at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(note, "updatedAt"));
	if (!out->updated_at)
		out->updated_at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(note,
											 "createdAt"));
	if (!out->updated_at)
		out->updated_at = "";
	return 0;
}

int incoming_from_hook(const char *body, size_t len, const char *vault, size_t max_payload,
		       struct incoming *out, struct bus_error *err)
{
	struct vault_event ev;
	cJSON *doc;
	int rc;

	memset(out, 0, sizeof *out);
	if (payload_decode(body, len, "application/json", max_payload, &doc, err) != 0)
		return -1;
	rc = event_decode(doc, vault, 0, &ev, err);
	if (rc == 0 && !ev.trigger)
		rc = bus_fail(err, REASON_INVALID_EVENT, "not a trigger's body: no \"trigger\"");
	else if (rc == 0 && ev.event == NOTE_DELETED)
		rc = bus_fail(err, REASON_INVALID_EVENT, "a trigger fires on created or updated");
	if (rc == 0)
		rc = build(ev.event, vault, &ev.note,
			   cJSON_GetObjectItemCaseSensitive(ev.doc, "note"), out, err);
	event_free(&ev);
	return rc;
}

int incoming_from_feed(const cJSON *note, const char *vault, struct incoming *out,
		       struct bus_error *err)
{
	cJSON *wrap = cJSON_CreateObject();
	struct vault_event ev;
	enum note_event event;
	int rc;

	memset(out, 0, sizeof *out);
	if (!wrap || !cJSON_AddStringToObject(wrap, "event", "note.updated") ||
	    !cJSON_AddItemReferenceToObject(wrap, "note", (cJSON *)note)) {
		cJSON_Delete(wrap);
		return bus_fail(err, REASON_INVALID_EVENT, "out of memory");
	}
	rc = event_decode(wrap, vault, 0, &ev, err);
	if (rc == 0) {
		event = ev.note.created_at && ev.note.updated_at &&
				!strcmp(ev.note.created_at, ev.note.updated_at)
			? NOTE_CREATED : NOTE_UPDATED;
		rc = build(event, vault, &ev.note, note, out, err);
	}
	event_free(&ev);
	return rc;
}

int incoming_removed(const char *id, const char *vault, struct incoming *out)
{
	const struct note n = { .id = id };
	cJSON *note = cJSON_CreateObject();
	struct bus_error err;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (note && cJSON_AddStringToObject(note, "id", id))
		rc = build(NOTE_DELETED, vault, &n, note, out, &err);
	cJSON_Delete(note);
	return rc;
}

void incoming_free(struct incoming *in)
{
	cJSON_Delete(in->doc);
	memset(in, 0, sizeof *in);
}
