/* handlers/notes: shapes of the notes written back, in one place. */
#include "handlers/notes.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/write.h"
#include "handlers/context.h"
#include "util/hash.h"
#include "util/text.h"

bool notes_add(cJSON *obj, const char *key, const char *value)
{
	return !value || cJSON_AddStringToObject(obj, key, value) != NULL;
}

bool notes_add_count(cJSON *obj, const char *key, long long n)
{
	char buf[32];

	if (n == 0)
		return true;
	snprintf(buf, sizeof buf, "%lld", n);
	return cJSON_AddStringToObject(obj, key, buf) != NULL;
}

/* A long subject keeps its start and gains a hash of the whole (without
 * regard to case, as thread paths are resolved), so the path stays within
 * the vault's limit and two long subjects that differ late stay apart. */
static void shorten_subject(char *s)
{
	size_t n = strlen(s);
	uint64_t h;

	if (n <= THREAD_SUBJECT_MAX)
		return;
	h = hash_fnv1a_nocase(HASH_FNV_SEED, s, n);
	snprintf(s + THREAD_SUBJECT_MAX - 17, 18, "-%016llx", (unsigned long long)h);
}

char *notes_thread_key(const char *name, const char *subject)
{
	char *key = NULL, *safe_name = strdup(name), *safe_subject = NULL;
	size_t n = 0;

	while (subject && isspace((unsigned char)*subject))
		subject++;
	if (subject) {
		n = strlen(subject);
		while (n > 0 && isspace((unsigned char)subject[n - 1]))
			n--;
	}
	if (n && !(safe_subject = strndup(subject, n)))
		goto out;
	if (!safe_name)
		goto out;
	text_safe_name(safe_name);
	if (safe_subject) {
		text_safe_name(safe_subject);
		shorten_subject(safe_subject);
	}
	if (asprintf(&key, "%s%s%s", safe_name, safe_subject ? "--" : "",
		     safe_subject ? safe_subject : "") < 0)
		key = NULL;
out:
	free(safe_name);
	free(safe_subject);
	return key;
}

static cJSON *tags(const char *a, const char *b)
{
	cJSON *t = cJSON_CreateArray();

	if (t && cJSON_AddItemToArray(t, cJSON_CreateString(a)) &&
	    (!b || cJSON_AddItemToArray(t, cJSON_CreateString(b))))
		return t;
	cJSON_Delete(t);
	return NULL;
}

cJSON *notes_thread_write(const char *request_id, const char *path, const char *id,
			  cJSON *metadata)
{
	cJSON *note = cJSON_CreateObject();

	if (!note || !metadata || !cJSON_AddStringToObject(note, "id", id) ||
	    !cJSON_AddStringToObject(note, "path", path) ||
	    !cJSON_AddItemToObject(note, "tags", tags("agent/thread", NULL))) {
		cJSON_Delete(note);
		cJSON_Delete(metadata);
		return NULL;
	}
	cJSON_AddItemToObject(note, "metadata", metadata);
	return write_build(WRITE_UPSERT, request_id, AGENTBUS_ORIGIN, note);
}

cJSON *notes_message(const char *id, const char *channel, const char *content, bool outbound,
		     cJSON *metadata)
{
	cJSON *note = cJSON_CreateObject();
	char *safe = strdup(channel), *path = NULL;

	if (safe)
		text_safe_name(safe);
	if (!note || !metadata || !safe || asprintf(&path, "channel/%s/%s", safe, id) < 0 ||
	    !cJSON_AddStringToObject(note, "id", id) || !cJSON_AddStringToObject(note, "path", path) ||
	    !cJSON_AddStringToObject(note, "content", content) ||
	    !cJSON_AddItemToObject(note, "tags", tags("agent/message", outbound
							? "agent/message/outbound"
							: "agent/message/inbound"))) {
		cJSON_Delete(note);
		cJSON_Delete(metadata);
		note = NULL;
	} else {
		cJSON_AddItemToObject(note, "metadata", metadata);
	}
	free(safe);
	free(path);
	return note;
}

char *notes_failure_text(const char *reason)
{
	size_t n = strlen(reason);
	bool cut = n > FAILURE_REASON_MAX;
	char *text;

	if (cut) {
		n = FAILURE_REASON_MAX;
		/* Never split a UTF-8 character. */
		while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
			n--;
	}
	if (asprintf(&text, "⚠️ I couldn't complete that — the turn failed: %.*s%s\n\n"
		     "This is often temporary; please try again in a moment.", (int)n, reason,
		     cut ? "…" : "") < 0)
		return NULL;
	return text;
}

char *notes_callback_text(const char *agent, bool ok)
{
	char *text;

	if (asprintf(&text, "[callback] %s finished %s — see source_message / source_thread in "
		     "this note's metadata to pull the full result.", agent,
		     ok ? "(ok)" : "with an error") < 0)
		return NULL;
	return text;
}

cJSON *notes_marker_write(const char *request_id, const char *inbound_id, const char *at)
{
	cJSON *note = cJSON_CreateObject();
	cJSON *md = note ? cJSON_AddObjectToObject(note, "metadata") : NULL;

	if (!md || !cJSON_AddStringToObject(note, "id", inbound_id) ||
	    !cJSON_AddStringToObject(md, "agentbus_rendered_at", at)) {
		cJSON_Delete(note);
		return NULL;
	}
	return write_build(WRITE_PATCH, request_id, AGENTBUS_ORIGIN, note);
}

cJSON *notes_demo_definition(const char *request_id)
{
	cJSON *note = cJSON_CreateObject(), *md = cJSON_CreateObject();

	if (!note || !md || !cJSON_AddStringToObject(note, "path", "Agents/eng") ||
	    !cJSON_AddStringToObject(note, "content",
				     "You are eng, agentbus's demo agent. The echo engine answers "
				     "every message with the message itself.") ||
	    !cJSON_AddItemToObject(note, "tags", tags("agent/definition", NULL)) ||
	    !cJSON_AddStringToObject(md, "name", "eng") ||
	    !cJSON_AddStringToObject(md, "engine", "echo")) {
		cJSON_Delete(note);
		cJSON_Delete(md);
		return NULL;
	}
	cJSON_AddItemToObject(note, "metadata", md);
	return write_build(WRITE_CREATE, request_id, AGENTBUS_ORIGIN, note);
}
