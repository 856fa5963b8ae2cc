/* engines/claude_stream: the stream-json line parser. Success needs both of
 * the result's fields to say so: claude prints subtype "success" with
 * is_error true when the model call failed. */
#include "engines/claude_stream.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int keep_string(char **field, const cJSON *v)
{
	char *copy;

	if (!cJSON_IsString(v))
		return 0;
	copy = strdup(v->valuestring);
	if (!copy)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

/* The text blocks of an assistant message, concatenated. */
static int assistant_text(const cJSON *msg, char **text)
{
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content"), *block;
	size_t len = 0;
	char *out = NULL;

	cJSON_ArrayForEach(block, content) {
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(block, "type"));
		const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(block, "text"));
		size_t n;
		char *grown;

		if (!type || strcmp(type, "text") != 0 || !s || !*s)
			continue;
		n = strlen(s);
		grown = realloc(out, len + n + 1);
		if (!grown) {
			free(out);
			return -1;
		}
		out = grown;
		memcpy(out + len, s, n + 1);
		len += n;
	}
	*text = out;
	return 0;
}

static long count(const cJSON *usage, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, name);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15 ? (long)v->valuedouble
									      : 0;
}

static int take_result(struct claude_stream *cs, const cJSON *doc)
{
	const char *subtype = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "subtype"));
	const cJSON *is_error = cJSON_GetObjectItemCaseSensitive(doc, "is_error");
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(doc, "usage");
	const cJSON *cost = cJSON_GetObjectItemCaseSensitive(doc, "total_cost_usd");

	cs->result_seen = true;
	cs->ok = subtype && strcmp(subtype, "success") == 0 && cJSON_IsFalse(is_error);
	if (keep_string(&cs->result, cJSON_GetObjectItemCaseSensitive(doc, "result")) != 0)
		return -1;
	cs->input_tokens = count(usage, "input_tokens");
	cs->output_tokens = count(usage, "output_tokens");
	cs->cost_usd = cJSON_IsNumber(cost) && cost->valuedouble >= 0 ? cost->valuedouble : 0;
	if (!cs->ok) {
		const char *what = cs->result && *cs->result ? cs->result : "no result text";

		free(cs->error);
		if (asprintf(&cs->error, "claude: %s%s: %s", subtype ? subtype : "no subtype",
			     cJSON_IsTrue(is_error) ? " (is_error)" : "", what) < 0) {
			cs->error = NULL;
			return -1;
		}
	}
	return 0;
}

int claude_stream_line(struct claude_stream *cs, const char *line, size_t len, char **text)
{
	cJSON *doc = cJSON_ParseWithLength(line, len);
	const char *type;
	int rc = 0;

	*text = NULL;
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return 0;
	}
	type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "type"));
	/* Every message names the session; an empty one (not signed in) is no session. */
	{
		const cJSON *sid = cJSON_GetObjectItemCaseSensitive(doc, "session_id");

		if (cJSON_IsString(sid) && sid->valuestring[0])
			rc = keep_string(&cs->session, sid);
	}
	if (rc == 0 && type && strcmp(type, "assistant") == 0)
		rc = assistant_text(cJSON_GetObjectItemCaseSensitive(doc, "message"), text);
	else if (rc == 0 && type && strcmp(type, "result") == 0)
		rc = take_result(cs, doc);
	cJSON_Delete(doc);
	return rc;
}

void claude_stream_free(struct claude_stream *cs)
{
	free(cs->session);
	free(cs->result);
	free(cs->error);
	memset(cs, 0, sizeof *cs);
}
