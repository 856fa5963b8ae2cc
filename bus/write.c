/* bus/write: shape checks for note writes. Other modules may write metadata
 * of any JSON type; agentbus itself writes only strings. */
#include "bus/write.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <string.h>

#include "bus/event.h"

static const char *const op_names[] = {
	[WRITE_CREATE] = "create",
	[WRITE_UPSERT] = "upsert",
	[WRITE_PATCH] = "patch",
	[WRITE_DELETE] = "delete",
};

const char *write_op_name(enum write_op op)
{
	return op_names[op];
}

static int op_parse(const char *name, enum write_op *op)
{
	for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++) {
		if (strcmp(op_names[i], name) == 0) {
			*op = (enum write_op)i;
			return 0;
		}
	}
	return -1;
}

/* Optional string member: 0 when absent or a string; -1 when another type. */
static int member_string(const cJSON *obj, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = cJSON_IsString(v) ? v->valuestring : NULL;
	return !v || cJSON_IsString(v) ? 0 : -1;
}

/* A note id as the vault accepts one: 1-64 characters, no '/'. */
static bool id_valid(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= NOTE_ID_MAX && !strchr(id, '/');
}

static int decode_note(const cJSON *n, struct note_write *w, struct bus_error *err)
{
	const cJSON *v;

	if (!cJSON_IsObject(n))
		return bus_fail(err, REASON_INVALID_WRITE, "note must be an object");
	if (member_string(n, "id", &w->id) != 0 || (w->id && !id_valid(w->id)))
		return bus_fail(err, REASON_INVALID_WRITE,
				"note.id must be a string of 1 to %d characters without '/'",
				NOTE_ID_MAX);
	if (member_string(n, "path", &w->path) != 0 ||
	    (w->path && (!*w->path || strlen(w->path) > WRITE_PATH_MAX)))
		return bus_fail(err, REASON_INVALID_WRITE,
				"note.path must be a string of 1 to %d bytes", WRITE_PATH_MAX);
	if (member_string(n, "content", &w->content) != 0)
		return bus_fail(err, REASON_INVALID_WRITE, "note.content must be a string");
	v = cJSON_GetObjectItemCaseSensitive(n, "tags");
	if (v) {
		const cJSON *t;

		if (!cJSON_IsArray(v))
			return bus_fail(err, REASON_INVALID_WRITE, "note.tags must be an array");
		if (cJSON_GetArraySize(v) > NOTE_TAGS_MAX)
			return bus_fail(err, REASON_INVALID_WRITE, "note.tags holds more than %d tags",
					NOTE_TAGS_MAX);
		cJSON_ArrayForEach(t, v)
			if (!cJSON_IsString(t))
				return bus_fail(err, REASON_INVALID_WRITE,
						"note.tags must hold only strings");
		w->tags = v;
	}
	v = cJSON_GetObjectItemCaseSensitive(n, "metadata");
	if (v && !cJSON_IsObject(v))
		return bus_fail(err, REASON_INVALID_WRITE, "note.metadata must be an object");
	w->metadata = v;
	if (w->op == WRITE_UPSERT && !w->path)
		return bus_fail(err, REASON_INVALID_WRITE, "upsert needs note.path");
	if (w->op != WRITE_CREATE && w->op != WRITE_UPSERT && !w->id && !w->path)
		return bus_fail(err, REASON_INVALID_WRITE, "%s needs note.id or note.path",
				write_op_name(w->op));
	return 0;
}

int write_decode(cJSON *doc, struct note_write *out, struct bus_error *err)
{
	const cJSON *v;
	const char *op;

	memset(out, 0, sizeof *out);
	out->doc = doc;
	if (!cJSON_IsObject(doc))
		return bus_fail(err, REASON_INVALID_WRITE, "a note write must be an object");
	if (member_string(doc, "request_id", &out->request_id) != 0 || !out->request_id ||
	    !*out->request_id || strlen(out->request_id) > WRITE_REQUEST_ID_MAX) {
		out->request_id = NULL;
		return bus_fail(err, REASON_INVALID_WRITE,
				"request_id must be a string of 1 to %d bytes", WRITE_REQUEST_ID_MAX);
	}
	v = cJSON_GetObjectItemCaseSensitive(doc, "v");
	if (v && !(cJSON_IsNumber(v) && v->valuedouble == 1))
		return bus_fail(err, REASON_INVALID_WRITE, "unsupported version (v must be 1)");
	if (member_string(doc, "op", &op) != 0 || !op || op_parse(op, &out->op) != 0)
		return bus_fail(err, REASON_INVALID_WRITE,
				"op must be one of create, upsert, patch, delete");
	if (member_string(doc, "origin", &out->origin) != 0)
		return bus_fail(err, REASON_INVALID_WRITE, "origin must be a string");
	return decode_note(cJSON_GetObjectItemCaseSensitive(doc, "note"), out, err);
}

void write_free(struct note_write *w)
{
	cJSON_Delete(w->doc);
	memset(w, 0, sizeof *w);
}

cJSON *write_build(enum write_op op, const char *request_id, const char *origin, cJSON *note)
{
	cJSON *doc = cJSON_CreateObject();

	if (!doc || !note || !cJSON_AddNumberToObject(doc, "v", 1) ||
	    !cJSON_AddStringToObject(doc, "op", write_op_name(op)) ||
	    !cJSON_AddStringToObject(doc, "request_id", request_id) ||
	    !cJSON_AddStringToObject(doc, "origin", origin)) {
		cJSON_Delete(doc);
		cJSON_Delete(note);
		return NULL;
	}
	cJSON_AddItemToObject(doc, "note", note);
	return doc;
}
