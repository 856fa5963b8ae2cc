/* bridge/rest: the calls and the verdicts, one table of cases per op. */
#include "bridge/rest.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *rest_encode_segment(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

static char *note_path(const char *key)
{
	char *enc = key ? rest_encode_segment(key) : NULL;
	char *path = NULL;

	if (enc && asprintf(&path, "/api/notes/%s", enc) < 0)
		path = NULL;
	free(enc);
	return path;
}

static int add_copy(cJSON *obj, const char *key, const cJSON *v)
{
	cJSON *c = v ? cJSON_Duplicate(v, 1) : NULL;

	if (!v)
		return 0;
	if (!c || !cJSON_AddItemToObject(obj, key, c)) {
		cJSON_Delete(c);
		return -1;
	}
	return 0;
}

/* POST /api/notes: the whole note. */
static cJSON *create_body(const struct note_write *w)
{
	cJSON *b = cJSON_CreateObject();

	if (!b || (w->id && !cJSON_AddStringToObject(b, "id", w->id)) ||
	    (w->path && !cJSON_AddStringToObject(b, "path", w->path)) ||
	    !cJSON_AddStringToObject(b, "content", w->content ? w->content : "") ||
	    add_copy(b, "tags", w->tags) != 0 || add_copy(b, "metadata", w->metadata) != 0) {
		cJSON_Delete(b);
		return NULL;
	}
	return b;
}

/* PATCH: metadata merged, content when given, always forced (agentbus
 * writes what it means; it never holds a note's updatedAt to compare). */
static cJSON *patch_body(const struct note_write *w, enum rest_step step)
{
	cJSON *b = cJSON_CreateObject();
	bool may_create = w->op == WRITE_UPSERT && !w->id && step == REST_FIRST;

	if (!b || add_copy(b, "metadata", w->metadata) != 0 ||
	    (w->op == WRITE_UPSERT && w->content &&
	     !cJSON_AddStringToObject(b, "content", w->content)) ||
	    !cJSON_AddTrueToObject(b, "force")) {
		cJSON_Delete(b);
		return NULL;
	}
	if (may_create) {
		cJSON *tags = cJSON_AddObjectToObject(b, "tags");

		if (!cJSON_AddStringToObject(b, "if_missing", "create") || !tags ||
		    add_copy(tags, "add", w->tags ? w->tags : NULL) != 0) {
			cJSON_Delete(b);
			return NULL;
		}
	}
	return b;
}

int rest_call_build(const struct note_write *w, enum rest_step step, struct rest_call *out)
{
	const char *key = w->op == WRITE_UPSERT ? w->path : w->id ? w->id : w->path;
	cJSON *body = NULL;

	memset(out, 0, sizeof *out);
	if ((w->op == WRITE_CREATE && step == REST_FIRST) || step == REST_POST) {
		out->method = "POST";
		out->path = strdup("/api/notes");
		body = create_body(w);
	} else if (step == REST_CHECK) {
		out->method = "GET";
		out->path = note_path(w->id);
	} else if (w->op == WRITE_DELETE) {
		out->method = "DELETE";
		out->path = note_path(key);
	} else {
		out->method = "PATCH";
		out->path = note_path(key);
		body = patch_body(w, step);
	}
	if (body) {
		out->body = cJSON_PrintUnformatted(body);
		cJSON_Delete(body);
	}
	if (!out->path || (strcmp(out->method, "GET") && strcmp(out->method, "DELETE") &&
			   !out->body)) {
		rest_call_free(out);
		return -1;
	}
	return 0;
}

void rest_call_free(struct rest_call *c)
{
	free(c->path);
	free(c->body);
	memset(c, 0, sizeof *c);
}

static bool worth_retrying(long status)
{
	return status == 0 || status == 401 || status == 403 || status == 408 || status == 429 ||
	       status >= 500;
}

static enum rest_verdict refuse(long status, const cJSON *body, char *msg, size_t len,
				const char *what)
{
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "message"));

	if (!m)
		m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "error"));
	snprintf(msg, len, "the vault answered %ld%s%s%s", status, what || m ? ": " : "",
		 what ? what : "", !what && m ? m : "");
	return REST_REFUSED;
}

/* The GET after a create's 409 or 500: is the proposed id this note? */
static enum rest_verdict judge_check(const struct note_write *w, long first_status, long status,
				     const cJSON *body, char *msg, size_t len)
{
	const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "path"));

	if (status == 200 && (!w->path || (path && !strcasecmp(path, w->path))))
		return REST_DONE;
	if (status == 200)
		return refuse(first_status, body, msg, len, "the proposed id names another note");
	if (status == 404 && first_status == 409)
		return refuse(first_status, NULL, msg, len, "another note already uses the path");
	return REST_RETRY;
}

enum rest_verdict rest_judge(const struct note_write *w, enum rest_step step, long first_status,
			     long status, const cJSON *body, enum rest_step *next, char *msg,
			     size_t msglen)
{
	*msg = '\0';
	if (step == REST_CHECK)
		return judge_check(w, first_status, status, body, msg, msglen);
	if (status >= 200 && status < 300)
		return REST_DONE;
	if (w->op == WRITE_CREATE && (status == 409 || status == 500) && w->id) {
		*next = REST_CHECK;
		return REST_NEXT;
	}
	if (w->op == WRITE_UPSERT && status == 404 && step != REST_POST) {
		if (step == REST_REPATCH)
			return REST_RETRY;	/* deleted again between the two: start over */
		*next = REST_POST;
		return REST_NEXT;
	}
	if (w->op == WRITE_UPSERT && status == 409 && step == REST_POST) {
		*next = REST_REPATCH;
		return REST_NEXT;
	}
	if (w->op == WRITE_DELETE && status == 404)
		return REST_DONE;
	if (worth_retrying(status))
		return REST_RETRY;
	return refuse(status, body, msg, msglen, NULL);
}
