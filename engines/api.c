/* engines/api: one turn of a streaming API engine. An attempt is one HTTP
 * transfer; a failed one is tried again when the SDKs would (408, 409, 429,
 * 5xx, 529, connection errors; a mid-stream overloaded error only before any
 * text was streamed), after what the server asked for (retry-after-ms,
 * retry-after, up to 60 s) or an exponential backoff with jitter, up to the
 * engine's `attempts`. Each retry is logged once, with its reason. */
#include "engines/api.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/http.h"
#include "engines/sse.h"
#include "util/log.h"
#include "util/loop.h"

#define RETRY_AFTER_MAX_MS 60000
#define ERROR_BODY_MAX 8192

struct api_turn {
	struct engine_job *job;
	const struct api_provider *provider;
	struct http_transfer *transfer;
	uint64_t retry_timer;
	int attempt;			/* 1-based, of the transfer in flight */
	char *url;
	char **headers;
	char *body;			/* the JSON request, the same for every attempt */
	struct sse_parser sse;
	enum api_step step;		/* of the current attempt */
	char *why;			/* the current attempt's failure */
	char *error_body;		/* a non-200 response's body */
	size_t error_len;
	char *reply;
	size_t reply_len;
	unsigned seed;			/* the backoff's jitter */
	long input_tokens, output_tokens;
};

void api_text(struct api_turn *t, const char *text, size_t len)
{
	char *grown;

	if (len == 0 || t->step != API_MORE)
		return;
	if (t->reply_len + len > (size_t)t->job->def->max_output) {
		char why[96];

		snprintf(why, sizeof why, "the reply passed max_output (%d bytes)",
			 t->job->def->max_output);
		api_fail(t, why);
		t->step = API_FAIL;
		return;
	}
	grown = realloc(t->reply, t->reply_len + len + 1);
	if (!grown) {
		api_fail(t, "out of memory");
		t->step = API_FAIL;
		return;
	}
	t->reply = grown;
	memcpy(t->reply + t->reply_len, text, len);
	t->reply_len += len;
	t->reply[t->reply_len] = '\0';
	engine_job_delta(t->job, text, len);
}

void api_usage(struct api_turn *t, long input_tokens, long output_tokens)
{
	if (input_tokens >= 0)
		t->input_tokens = input_tokens;
	if (output_tokens >= 0)
		t->output_tokens = output_tokens;
}

void api_fail(struct api_turn *t, const char *why)
{
	if (!t->why)
		t->why = strdup(why);
}

int api_target(const struct engine_job *job, const char *path, const char *const *fixed,
	       const char *key_header, const char *key, char **url, char ***headers)
{
	const char *base = job->def->base_url;
	size_t len = strlen(base), n = 0, i = 0;
	char **h;

	while (fixed[n])
		n++;
	h = calloc(n + 2, sizeof *h);
	if (!h)
		return -1;
	while (len > 0 && base[len - 1] == '/')
		len--;
	if (asprintf(url, "%.*s%s", (int)len, base, path) < 0)
		*url = NULL;
	for (; *url && i < n; i++)
		if (!(h[i] = strdup(fixed[i])))
			break;
	if (*url && i == n && key && asprintf(&h[n], "%s%s", key_header, key) < 0) {
		h[n] = NULL;	/* asprintf leaves it undefined when it fails */
		i = 0;		/* and so does this call */
	}
	if (*url && i == n) {
		*headers = h;
		return 0;
	}
	for (i = 0; i <= n; i++)
		free(h[i]);
	free(h);
	free(*url);
	*url = NULL;
	return -1;
}

long api_count(const struct cJSON *usage, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, name);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15 ? (long)v->valuedouble
									      : -1;
}

long api_max_tokens(const struct engine_job *job, long fallback)
{
	double budget = job->req->max_cost_usd, price = job->def->price_out, tokens;

	if (budget <= 0 || price <= 0)
		return fallback;
	tokens = budget / price * 1e6;
	if (tokens < 1)
		tokens = 1;
	return fallback > 0 && tokens > (double)fallback ? fallback : (long)tokens;
}

struct cJSON *api_messages(const struct engine_job *job)
{
	const struct engine_request *q = job->req;
	cJSON *list = cJSON_CreateArray();
	size_t first = 0;

	if (!list)
		return NULL;
	/* The newest history_turns turns of what the thread said before. */
	if (q->n_history > (size_t)job->def->history_turns)
		first = q->n_history - (size_t)job->def->history_turns;
	for (size_t i = first; i < q->n_history; i++) {
		cJSON *u = cJSON_CreateObject(), *a = cJSON_CreateObject();

		if (!u || !a || !cJSON_AddItemToArray(list, u) || !cJSON_AddItemToArray(list, a) ||
		    !cJSON_AddStringToObject(u, "role", "user") ||
		    !cJSON_AddStringToObject(u, "content", q->history[i].user) ||
		    !cJSON_AddStringToObject(a, "role", "assistant") ||
		    !cJSON_AddStringToObject(a, "content", q->history[i].assistant)) {
			cJSON_Delete(list);
			return NULL;
		}
	}
	{
		cJSON *m = cJSON_CreateObject();

		if (!m || !cJSON_AddItemToArray(list, m) || !cJSON_AddStringToObject(m, "role", "user") ||
		    !cJSON_AddStringToObject(m, "content", q->message)) {
			cJSON_Delete(list);
			return NULL;
		}
	}
	return list;
}

static void turn_free(struct api_turn *t)
{
	struct loop *l = engine_job_loop(t->job);

	http_cancel(t->transfer);
	loop_timer_cancel(l, t->retry_timer);
	sse_free(&t->sse);
	for (size_t i = 0; t->headers && t->headers[i]; i++)
		free(t->headers[i]);
	free(t->headers);
	free(t->url);
	free(t->body);
	free(t->why);
	free(t->error_body);
	free(t->reply);
	t->job->impl = NULL;
	free(t);
}

static int on_sse_event(void *arg, const char *type, const char *data, size_t len)
{
	struct api_turn *t = arg;
	enum api_step step;

	if (t->step != API_MORE)
		return 1;
	step = t->provider->event(t, type, data, len);
	if (t->step == API_MORE)	/* api_text may have failed the attempt */
		t->step = step;
	return t->step == API_MORE ? 0 : 1;
}

static int on_data(void *arg, long status, const char *buf, size_t len)
{
	struct api_turn *t = arg;
	int rc;

	if (status != 200) {	/* an error body: JSON, kept for the message */
		size_t room = ERROR_BODY_MAX - t->error_len;
		char *grown;

		if (len > room)
			len = room;
		grown = realloc(t->error_body, t->error_len + len + 1);
		if (!grown)
			return 0;
		t->error_body = grown;
		memcpy(t->error_body + t->error_len, buf, len);
		t->error_len += len;
		t->error_body[t->error_len] = '\0';
		return 0;
	}
	rc = sse_feed(&t->sse, buf, len);
	if (rc < 0) {
		api_fail(t, "the stream broke the SSE rules (a line over max_output)");
		t->step = API_FAIL;
	}
	/* After the end or a failure nothing more is read. */
	return t->step == API_MORE ? 0 : 1;
}

static void attempt(struct api_turn *t);

static void on_retry_timer(void *arg)
{
	struct api_turn *t = arg;

	t->retry_timer = 0;
	attempt(t);
}

static bool status_retryable(long status)
{
	return status == 408 || status == 409 || status == 429 || (status >= 500 && status <= 599);
}

/* The SDKs' backoff: min(0.5 s · 2^(n-1), 8 s), less up to a quarter. */
static long backoff_ms(struct api_turn *t)
{
	long d = 500;

	for (int i = 1; i < t->attempt && d < 8000; i++)
		d *= 2;
	if (d > 8000)
		d = 8000;
	return d - (long)(rand_r(&t->seed) % (unsigned)(d / 4 + 1));
}

static void finish(struct api_turn *t, bool ok)
{
	struct engine_job *job = t->job;
	struct engine_result *res = calloc(1, sizeof *res);

	if (res) {
		res->ok = ok;
		res->input_tokens = t->input_tokens;
		res->output_tokens = t->output_tokens;
		res->cost_usd = ((double)t->input_tokens * job->def->price_in +
				 (double)t->output_tokens * job->def->price_out) / 1e6;
		if (ok)
			res->reply = t->reply ? strdup(t->reply) : strdup("");
		else
			res->error = strdup(t->why ? t->why : "the API call failed");
		if ((ok && !res->reply) || (!ok && !res->error)) {
			engine_result_free(res);
			res = NULL;
		}
	}
	turn_free(t);
	engine_job_finish(job, res);
}

/* Says what went wrong with a finished attempt; true when it may be retried. */
static bool judge(struct api_turn *t, int code, const char *error, long status, int aborted)
{
	char why[512];
	bool retry = false;

	if (code != 0 && !aborted) {
		if (http_code_is_timeout(code) && status == 200)
			snprintf(why, sizeof why, "the stream sent nothing for %d s",
				 t->job->def->idle_timeout);
		else
			snprintf(why, sizeof why, "connection error: %s", error);
		retry = http_code_is_connection(code);
	} else if (status != 200) {
		cJSON *body = t->error_body ? cJSON_Parse(t->error_body) : NULL;
		const char *msg = body ? t->provider->error_message(body) : NULL;

		snprintf(why, sizeof why, "HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
		cJSON_Delete(body);
		retry = status_retryable(status);
	} else if (t->step == API_TRANSIENT) {
		snprintf(why, sizeof why, "%s", t->why ? t->why : "overloaded");
		retry = true;
	} else if (t->step == API_FAIL) {
		snprintf(why, sizeof why, "%s", t->why ? t->why : "the API said no");
	} else {
		snprintf(why, sizeof why, "the stream ended before its end event");
		retry = true;
	}
	free(t->why);
	t->why = strdup(why);
	/* Text already streamed cannot be taken back: never a second reply. */
	return retry && t->reply_len == 0;
}

static void on_done(void *arg, int code, const char *error, long status, long retry_after_ms,
		    int aborted)
{
	struct api_turn *t = arg;
	long delay;

	t->transfer = NULL;
	/* After the end event nothing more is read: curl reports that abort. */
	if (status == 200 && t->step == API_END && (code == 0 || aborted)) {
		finish(t, true);
		return;
	}
	if (!judge(t, code, error, status, aborted) || t->attempt >= t->job->def->attempts) {
		if (t->attempt > 1) {
			char *more = NULL;

			if (asprintf(&more, "%s (after %d attempts)", t->why, t->attempt) >= 0) {
				free(t->why);
				t->why = more;
			}
		}
		finish(t, false);
		return;
	}
	delay = retry_after_ms > 0 && retry_after_ms <= RETRY_AFTER_MAX_MS ? retry_after_ms
									   : backoff_ms(t);
	engine_job_count(t->job, "agentbus_engine_retries_total");
	log_info("%s: turn of %s, attempt %d of %d failed: %s; retrying in %ld ms",
		 t->job->def->name, t->job->req->agent, t->attempt, t->job->def->attempts, t->why,
		 delay);
	t->retry_timer = loop_timer(engine_job_loop(t->job), delay, on_retry_timer, t);
	if (!t->retry_timer)
		finish(t, false);
}

static void attempt(struct api_turn *t)
{
	static const struct http_handlers handlers = { on_data, on_done };
	const struct engine_def *def = t->job->def;
	struct http_request req = {
		.url = t->url, .headers = (const char *const *)t->headers, .body = t->body,
		.body_len = strlen(t->body), .idle_s = def->idle_timeout, .connect_timeout_s = 10,
	};

	t->attempt++;
	t->step = API_MORE;
	free(t->why);
	t->why = NULL;
	free(t->error_body);
	t->error_body = NULL;
	t->error_len = 0;
	sse_free(&t->sse);
	sse_init(&t->sse, (size_t)def->max_output, on_sse_event, t);
	t->transfer = http_start(engine_job_http(t->job), &req, &handlers, t);
	if (!t->transfer) {
		api_fail(t, "cannot start the HTTP transfer (bad base_url?)");
		finish(t, false);
	}
}

static int api_start(struct engine_job *job, const struct api_provider *provider)
{
	struct api_turn *t = calloc(1, sizeof *t);
	const char *env = job->def->api_key_env;
	const char *key = env && *env ? getenv(env) : NULL;
	cJSON *body;

	if (!t)
		return -1;
	t->job = job;
	t->provider = provider;
	t->seed = (unsigned)job->req->turn ^ (unsigned)loop_now(engine_job_loop(job));
	job->impl = t;
	if (!engine_job_http(job)) {
		job->error = strdup("libcurl could not be initialised");
		turn_free(t);
		return -1;
	}
	body = provider->body(job);
	t->body = body ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(body);
	if (!t->body || provider->target(job, key && *key ? key : NULL, &t->url, &t->headers) != 0) {
		turn_free(t);
		return -1;
	}
	sse_init(&t->sse, (size_t)job->def->max_output, on_sse_event, t);
	/* The first attempt runs from the loop, never inside engine_start(). */
	t->retry_timer = loop_timer(engine_job_loop(job), 0, on_retry_timer, t);
	if (!t->retry_timer) {
		turn_free(t);
		return -1;
	}
	return 0;
}

enum api_step api_parse_stream(const struct api_provider *provider, int max_output,
			       const char *bytes, size_t len, char **reply, long *input_tokens,
			       long *output_tokens)
{
	struct engine_def def = { .max_output = max_output };
	struct engine_job job = { .def = &def };
	struct api_turn t = { .job = &job, .provider = provider, .step = API_MORE };

	sse_init(&t.sse, (size_t)max_output, on_sse_event, &t);
	if (sse_feed(&t.sse, bytes, len) < 0 && t.step == API_MORE)
		t.step = API_FAIL;
	sse_free(&t.sse);
	*reply = t.reply;
	*input_tokens = t.input_tokens;
	*output_tokens = t.output_tokens;
	free(t.why);
	return t.step;
}

static int openai_start(struct engine_job *job)
{
	return api_start(job, &openai_provider);
}

static int anthropic_start(struct engine_job *job)
{
	const char *env = job->def->api_key_env;

	if (env && *env && !getenv(env)) {
		if (asprintf(&job->error, "the API key variable %s is not set", env) < 0)
			job->error = NULL;
		return -1;
	}
	return api_start(job, &anthropic_provider);
}

static void api_cancel(struct engine_job *job)
{
	if (job->impl)
		turn_free(job->impl);
}

const struct engine_kind openai_engine = { "openai", openai_start, api_cancel };
const struct engine_kind anthropic_engine = { "anthropic", anthropic_start, api_cancel };
