/* engines/api: what the streaming API engines (openai, anthropic) share:
 * attempts and retries as the official SDKs make them, the HTTP transfer,
 * SSE framing, the reply, usage and cost. A provider says how to ask and
 * how to read one event. Private to engines/. */
#ifndef AB_ENGINES_API_H
#define AB_ENGINES_API_H

#include <stddef.h>

#include "engines/job.h"

struct cJSON;
struct api_turn;

/* What a provider's event handler says about the stream. */
enum api_step {
	API_MORE,	/* go on */
	API_END,	/* the reply is complete */
	API_FAIL,	/* failed for good (the reason was given with api_fail) */
	API_TRANSIENT,	/* failed, retryable while nothing was streamed (overloaded) */
};

struct api_provider {
	const char *kind;
	/* The URL and extra headers ("Name: value", malloc'd, NULL-terminated)
	 * for this job, `key` the API key or NULL. 0 or -1. */
	int (*target)(const struct engine_job *job, const char *key, char **url, char ***headers);
	/* The JSON body. NULL when out of memory. */
	struct cJSON *(*body)(const struct engine_job *job);
	/* One SSE event of a successful response. */
	enum api_step (*event)(struct api_turn *t, const char *type, const char *data, size_t len);
	/* The message of an error response's JSON body, for the failure. */
	const char *(*error_message)(const struct cJSON *body);
};

extern const struct api_provider openai_provider, anthropic_provider;

/* For providers: stream and keep reply text; set usage (a negative count
 * leaves that count as it was); give the reason of API_FAIL/API_TRANSIENT. */
void api_text(struct api_turn *t, const char *text, size_t len);
void api_usage(struct api_turn *t, long input_tokens, long output_tokens);
void api_fail(struct api_turn *t, const char *why);

/* For providers' target(): `{base_url without trailing /}{path}` and the
 * headers: `fixed` (NULL-terminated), then `key_header` + `key` when there is
 * a key. 0 or -1 (out of memory). */
int api_target(const struct engine_job *job, const char *path, const char *const *fixed,
	       const char *key_header, const char *key, char **url, char ***headers);

/* A token count in a usage object, or -1 when absent or not a count (for
 * api_usage, which then keeps what it had). */
long api_count(const struct cJSON *usage, const char *name);

/* The output tokens the turn's budget pays for at the engine's price_out, or
 * `fallback` when that is lower or there is no budget or price. */
long api_max_tokens(const struct engine_job *job, long fallback);

/* The turn's messages after the system prompt: its history, then the
 * message, as [{"role":…,"content":…}]. NULL when out of memory. */
struct cJSON *api_messages(const struct engine_job *job);

/* Parses a whole response stream offline with `provider` (for the fuzz
 * targets): the reply and usage it yields. Returns the final step. */
enum api_step api_parse_stream(const struct api_provider *provider, int max_output,
			       const char *bytes, size_t len, char **reply, long *input_tokens,
			       long *output_tokens);

/* The engine kinds built on this. */
extern const struct engine_kind openai_engine, anthropic_engine;

#endif
