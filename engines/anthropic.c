/* engines/anthropic: the Messages API, streamed. `message_start` carries the
 * input usage, `content_block_delta` with a `text_delta` the text,
 * `message_delta` the output usage (cumulative) and the stop reason,
 * `message_stop` the end; `ping` and event types not known here are
 * ignored, as Anthropic asks. An `error` event of type overloaded_error is
 * transient (the stream's form of HTTP 529); other errors fail the turn. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/api.h"

#define MAX_TOKENS 4096

static int anthropic_target(const struct engine_job *job, const char *key, char **url,
			    char ***headers)
{
	static const char *const fixed[] = { "Content-Type: application/json",
					     "Accept: text/event-stream",
					     "anthropic-version: 2023-06-01", NULL };

	return api_target(job, "/v1/messages", fixed, "x-api-key: ", key, url, headers);
}

static cJSON *anthropic_body(const struct engine_job *job)
{
	const struct engine_request *q = job->req;
	const char *model = q->model ? q->model : job->def->model;
	cJSON *body = cJSON_CreateObject(), *messages = api_messages(job);

	if (!body || !messages ||
	    !cJSON_AddStringToObject(body, "model", model ? model : "claude-sonnet-4-5") ||
	    !cJSON_AddNumberToObject(body, "max_tokens", (double)api_max_tokens(job, MAX_TOKENS)) ||
	    !cJSON_AddTrueToObject(body, "stream") ||
	    (q->system_prompt && *q->system_prompt &&
	     !cJSON_AddStringToObject(body, "system", q->system_prompt))) {
		cJSON_Delete(messages);
		cJSON_Delete(body);
		return NULL;
	}
	cJSON_AddItemToObject(body, "messages", messages);
	return body;
}

static const char *anthropic_error_message(const cJSON *body)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(body, "error");

	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "message"));
}

static enum api_step on_error_event(struct api_turn *t, const cJSON *ev)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(ev, "error");
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "type"));
	const char *msg = anthropic_error_message(ev);
	char why[512];

	snprintf(why, sizeof why, "the API sent an error: %s%s%s", type ? type : "error",
		 msg ? ": " : "", msg ? msg : "");
	api_fail(t, why);
	return type && strcmp(type, "overloaded_error") == 0 ? API_TRANSIENT : API_FAIL;
}

static enum api_step anthropic_event(struct api_turn *t, const char *type, const char *data,
				     size_t len)
{
	cJSON *ev = cJSON_ParseWithLength(data, len);
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
	enum api_step step = API_MORE;

	if (!cJSON_IsObject(ev)) {
		cJSON_Delete(ev);
		api_fail(t, "the API sent an event that is not JSON");
		return API_FAIL;
	}
	/* The data's type is the event's; the event: line is only a hint. */
	if (!kind)
		kind = type;
	if (strcmp(kind, "message_start") == 0) {
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ev, "message");
		const cJSON *usage = cJSON_GetObjectItemCaseSensitive(msg, "usage");

		api_usage(t, api_count(usage, "input_tokens"), api_count(usage, "output_tokens"));
	} else if (strcmp(kind, "content_block_delta") == 0) {
		const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ev, "delta");
		const char *dt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(delta, "type"));
		const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(delta, "text"));

		if (dt && strcmp(dt, "text_delta") == 0 && text)
			api_text(t, text, strlen(text));
	} else if (strcmp(kind, "message_delta") == 0) {
		const cJSON *usage = cJSON_GetObjectItemCaseSensitive(ev, "usage");

		api_usage(t, api_count(usage, "input_tokens"), api_count(usage, "output_tokens"));
	} else if (strcmp(kind, "message_stop") == 0) {
		step = API_END;
	} else if (strcmp(kind, "error") == 0) {
		step = on_error_event(t, ev);
	}
	cJSON_Delete(ev);
	return step;
}

const struct api_provider anthropic_provider = { "anthropic", anthropic_target, anthropic_body,
						 anthropic_event, anthropic_error_message };
