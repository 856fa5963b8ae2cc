/* engines/openai: chat completions, streamed, from any OpenAI-compatible
 * server (OpenAI, llama.cpp, Ollama, vLLM). Each `data:` is a chunk;
 * `delta.content` is the text; the usage comes in a chunk with no choices
 * (stream_options.include_usage), and a server that never sends it is no
 * error; `[DONE]` ends the stream; a chunk with "error" is a failure. What
 * else servers add (llama.cpp's timings, reasoning_content, Ollama's
 * reasoning) is not the reply and is ignored. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/api.h"

static int openai_target(const struct engine_job *job, const char *key, char **url,
			 char ***headers)
{
	static const char *const fixed[] = { "Content-Type: application/json",
					     "Accept: text/event-stream", NULL };

	return api_target(job, "/chat/completions", fixed, "Authorization: Bearer ", key, url,
			  headers);
}

static cJSON *openai_body(const struct engine_job *job)
{
	const struct engine_request *q = job->req;
	const char *model = q->model ? q->model : job->def->model;
	cJSON *body = cJSON_CreateObject(), *opts, *messages = api_messages(job);

	if (!body || !messages || !cJSON_AddStringToObject(body, "model", model ? model : "default") ||
	    !cJSON_AddTrueToObject(body, "stream") ||
	    !(opts = cJSON_AddObjectToObject(body, "stream_options")) ||
	    !cJSON_AddTrueToObject(opts, "include_usage"))
		goto fail;
	/* Only a budget limits the reply: servers differ in their defaults. */
	if (q->max_cost_usd > 0 && job->def->price_out > 0 &&
	    !cJSON_AddNumberToObject(body, "max_tokens", (double)api_max_tokens(job, 0)))
		goto fail;
	if (q->system_prompt && *q->system_prompt) {
		cJSON *sys = cJSON_CreateObject();

		if (!sys || !cJSON_InsertItemInArray(messages, 0, sys) ||
		    !cJSON_AddStringToObject(sys, "role", "system") ||
		    !cJSON_AddStringToObject(sys, "content", q->system_prompt))
			goto fail;
	}
	cJSON_AddItemToObject(body, "messages", messages);
	return body;
fail:
	cJSON_Delete(messages);
	cJSON_Delete(body);
	return NULL;
}

static const char *openai_error_message(const cJSON *body)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(body, "error");
	const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "message"));

	return msg ? msg : cJSON_GetStringValue(err);
}

static enum api_step openai_event(struct api_turn *t, const char *type, const char *data,
				  size_t len)
{
	cJSON *chunk;
	const cJSON *choices, *choice, *usage;
	enum api_step step = API_MORE;

	(void)type;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
		return API_END;
	chunk = cJSON_ParseWithLength(data, len);
	if (!cJSON_IsObject(chunk)) {
		cJSON_Delete(chunk);
		api_fail(t, "the server sent a chunk that is not JSON");
		return API_FAIL;
	}
	if (cJSON_GetObjectItemCaseSensitive(chunk, "error")) {
		const char *msg = openai_error_message(chunk);
		char why[512];

		snprintf(why, sizeof why, "the server sent an error: %s", msg ? msg : "(no message)");
		api_fail(t, why);
		cJSON_Delete(chunk);
		return API_FAIL;
	}
	choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
	cJSON_ArrayForEach(choice, choices) {
		const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
		const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(delta, "content"));

		if (text)
			api_text(t, text, strlen(text));
	}
	usage = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
	if (cJSON_IsObject(usage))
		api_usage(t, api_count(usage, "prompt_tokens"), api_count(usage, "completion_tokens"));
	cJSON_Delete(chunk);
	return step;
}

const struct api_provider openai_provider = { "openai", openai_target, openai_body, openai_event,
					      openai_error_message };
