/* handlers/turn: a turn is started by turn_start() and finished by
 * turn_finish(), which reads top to bottom as docs/CONTRACT.md section 6. What a
 * thread note says is tracked in the state (what agentbus merged into it),
 * so each turn's counts and sums follow from the last without reading the
 * vault back. */
#include "handlers/turn.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/merge.h"
#include "bus/meta.h"
#include "bus/write.h"
#include "engines/defs.h"
#include "engines/engine.h"
#include "handlers/context.h"
#include "handlers/notes.h"
#include "handlers/outcome.h"
#include "handlers/replica.h"
#include "handlers/request.h"
#include "state/state.h"
#include "util/clock.h"
#include "util/crash.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/metrics.h"

/* Streamed text goes out as turn events at most this often, or this big. */
#define TEXT_EVENT_MS 50
#define TEXT_EVENT_BYTES 1024

struct turn {
	struct agent_runtime *rt;
	uint64_t seq;			/* engine request id */
	char turn_id[ULID_LEN + 1];
	struct turn_request *req;
	enum agent_mode mode;
	char *definition;
	char *model;
	char *thread_path;
	char thread_id[NOTE_ID_MAX + 1];
	bool per_fire;			/* multi-threaded without subject */
	cJSON *thread_meta;		/* what the thread note says, merged */
	char started_at[CLOCK_ISO_LEN];
	int timeout;			/* seconds */
	uint64_t deadline;		/* loop timer */
	struct engine_job *job;		/* NULL once it ended */
	const struct engine_def *engine;	/* lives as long as the engines */
	double max_turn_cost_usd;	/* the definition's budget; 0: none */
	int64_t started_ms;		/* loop time the turn began */
	char *text;			/* streamed, not yet in a text event */
	size_t text_len, text_cap;
	int text_seq;
	int64_t text_at;		/* when the last text event went out */
	uint64_t text_timer;
	struct turn *next;
};


/* --- small pieces ---------------------------------------------------------- */

static const char *meta_get(const cJSON *meta, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, key));
}

static long long meta_count(const cJSON *meta, const char *key)
{
	const char *v = meta_get(meta, key);

	return v ? strtoll(v, NULL, 10) : 0;
}

/* The reference's cost form: rounded to 9 decimals, no trailing zeros. */
static bool add_cost(cJSON *md, double cost)
{
	char buf[48];
	size_t n;

	if (cost == 0)
		return true;
	snprintf(buf, sizeof buf, "%.9f", cost);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	return cJSON_AddStringToObject(md, "total_cost_usd", buf) != NULL;
}

/* Threads/<safe(agent)>/<last>, where <last> is the thread key or, for a
 * per-fire thread, the turn's id. */
static char *thread_path(const char *agent, const char *last)
{
	char *path = NULL;

	/* Agent names are slugs: safe(name) is the name. */
	if (asprintf(&path, "Threads/%s/%s", agent, last) < 0)
		path = NULL;
	return path;
}

static void load_thread_row(void *arg, const char *const cols[4])
{
	struct turn *t = arg;
	char *path = cols[0] ? strdup(cols[0]) : NULL;

	/* The spelling first written: the vault resolves paths without regard
	 * to case, so this is the note the new turn continues. */
	if (path) {
		free(t->thread_path);
		t->thread_path = path;
	}
	snprintf(t->thread_id, sizeof t->thread_id, "%s", cols[1] ? cols[1] : "");
	cJSON_Delete(t->thread_meta);
	t->thread_meta = cols[2] ? cJSON_Parse(cols[2]) : NULL;
}

/* Merges `md` (taken) into what the thread note says and writes it. */
static int write_thread(struct agent_runtime *rt, struct turn *t, const char *step, cJSON *md)
{
	char rid[ULID_LEN + 1];

	if (!md || merge_patch(&t->thread_meta, md) != 0) {
		log_error("turn %s: out of memory tracking the thread note", t->turn_id);
		cJSON_Delete(md);
		state_fail(rt->state);
		return -1;
	}
	return ctx_write(rt, notes_thread_write(ctx_step_id(t->req->inbound_id, step, rid),
						t->thread_path, t->thread_id, md));
}

/* A turn event on R/agent/A/events (QoS 0: live only). */
static void turn_event(struct agent_runtime *rt, const struct turn *t, const char *kind,
		       cJSON *extra)
{
	char at[CLOCK_ISO_LEN];
	char *topic = topics_agent(rt->topics, t->req->agent, "events");
	cJSON *ev = cJSON_CreateObject(), *x;

	clock_iso8601(at);
	if (topic && ev && notes_add(ev, "kind", kind) && notes_add(ev, "agent", t->req->agent) &&
	    notes_add(ev, "turn_id", t->turn_id) && notes_add(ev, "inbound_id", t->req->inbound_id) &&
	    notes_add(ev, "thread", t->thread_id) && notes_add(ev, "at", at) &&
	    (!t->req->correlation_id || notes_add(ev, "correlation_id", t->req->correlation_id))) {
		while (extra && (x = extra->child) != NULL)
			cJSON_AddItemToObject(ev, x->string,
					      cJSON_DetachItemViaPointer(extra, x));
		ctx_publish_live(rt, topic, ev);
	}
	cJSON_Delete(extra);
	cJSON_Delete(ev);
	free(topic);
}

/* --- streamed text ------------------------------------------------------------ */

static void flush_text(struct turn *t)
{
	cJSON *x = cJSON_CreateObject();

	loop_timer_cancel(t->rt->loop, t->text_timer);
	t->text_timer = 0;
	if (!t->text_len) {
		cJSON_Delete(x);
		return;
	}
	if (x && cJSON_AddStringToObject(x, "text", t->text) &&
	    cJSON_AddNumberToObject(x, "seq", ++t->text_seq))
		turn_event(t->rt, t, "text", x);
	else
		cJSON_Delete(x);
	t->text_len = 0;
	t->text[0] = '\0';
	t->text_at = loop_now(t->rt->loop);
}

static void flush_text_later(void *arg)
{
	struct turn *t = arg;

	t->text_timer = 0;
	flush_text(t);
}

static void on_delta(void *arg, const char *text, size_t len)
{
	struct turn *t = arg;
	int64_t wait;

	if (t->text_len + len + 1 > t->text_cap) {
		size_t cap = (t->text_len + len + 1) * 2;
		char *p = realloc(t->text, cap);

		if (!p)
			return;	/* a live event lost; the reply note is whole */
		t->text = p;
		t->text_cap = cap;
	}
	memcpy(t->text + t->text_len, text, len);
	t->text_len += len;
	t->text[t->text_len] = '\0';
	wait = t->text_at + TEXT_EVENT_MS - loop_now(t->rt->loop);
	if (t->text_len >= TEXT_EVENT_BYTES || wait <= 0)
		flush_text(t);
	else if (!t->text_timer)
		t->text_timer = loop_timer(t->rt->loop, wait, flush_text_later, t);
}

/* --- the list of running turns ---------------------------------------------- */

static void turn_unlink(struct agent_runtime *rt, struct turn *t)
{
	for (struct turn **pp = &rt->running; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			return;
		}
	}
}

/* Frees `t` and whatever of it still runs: its job, its timers. */
static void turn_free(struct turn *t)
{
	engine_cancel(t->job);
	loop_timer_cancel(t->rt->loop, t->deadline);
	loop_timer_cancel(t->rt->loop, t->text_timer);
	turn_request_free(t->req);
	free(t->definition);
	free(t->model);
	free(t->thread_path);
	free(t->text);
	cJSON_Delete(t->thread_meta);
	free(t);
}

/* The state could not record a step of `t`: nothing of it was published
 * (the outbox rolled back with the transaction), so it goes back to the head
 * of its queue and runs again once the state can be written. */
static void turn_requeue(struct agent_runtime *rt, struct turn *t)
{
	struct queued *it = queued_new(t->req->inbound_id, t->req->drain_key);

	log_error("turn %s: the state cannot be written; %s waits to run again", t->turn_id,
		  t->req->inbound_id);
	rt->paused = true;
	turn_unlink(rt, t);
	queues_done(&rt->queues, t->req->drain_key);
	if (!it || queues_push_front(&rt->queues, it) != 0) {
		/* Still in the state's turn table: it runs after a restart. */
		log_error("turn %s: out of memory requeueing %s", t->turn_id, t->req->inbound_id);
		queued_free(it);
	}
	turn_free(t);
}

/* --- start ------------------------------------------------------------------- */

/* Section 6, step 1: the thread note's start write. */
static cJSON *thread_start_meta(const struct turn *t, const char *agent)
{
	const cJSON *prior = t->thread_meta;
	cJSON *md = cJSON_CreateObject();
	const char *started = meta_get(prior, "started_at");
	const char *model = meta_get(prior, "model");
	const char *count = meta_get(prior, "turn_count");

	if (md && notes_add(md, "agent", agent) && notes_add(md, "mode", agent_mode_name(t->mode)) &&
	    notes_add(md, "status", "working") &&
	    notes_add(md, "started_at", started ? started : t->started_at) &&
	    notes_add(md, "turn_count", t->per_fire || !count ? "0" : count) &&
	    notes_add(md, "last_turn_at", meta_get(prior, "last_turn_at")) &&
	    notes_add(md, "definition", t->definition) && notes_add(md, "backend", "programmatic") &&
	    notes_add(md, "model", model ? model : t->model))
		return md;
	cJSON_Delete(md);
	return NULL;
}

/* Where the turn's thread note is, and what it says so far. A thread that
 * is new gets an id derived from its path, so every attempt at it (after a
 * crash, or with a lost state) proposes the id the vault already holds. */
static int find_thread(struct agent_runtime *rt, struct turn *t)
{
	char *key;

	if (t->per_fire) {
		t->thread_path = thread_path(t->req->agent, t->turn_id);
		ctx_step_id(t->req->inbound_id, "thread", t->thread_id);
		return t->thread_path ? 0 : -1;
	}
	key = notes_thread_key(t->req->agent, t->req->subject);
	t->thread_path = key ? thread_path(t->req->agent, key) : NULL;
	free(key);
	if (!t->thread_path ||
	    state_thread_get(rt->state, t->thread_path, load_thread_row, t) != 0)
		return -1;
	if (!t->thread_id[0])
		hash_id_nocase(t->thread_path, strlen(t->thread_path), t->thread_id);
	return 0;
}

static struct turn *turn_new(struct agent_runtime *rt, struct turn_request *req,
			     const struct agent_spec *spec)
{
	struct turn *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->rt = rt;
	t->req = req;
	t->seq = ++rt->next_turn;
	/* Every id a turn writes follows from its inbound note (ctx_step_id). */
	ctx_step_id(req->inbound_id, "turn", t->turn_id);
	clock_iso8601(t->started_at);
	t->mode = spec->mode;
	t->definition = strdup(spec->definition);
	t->model = spec->model ? strdup(spec->model) : NULL;
	t->per_fire = spec->mode == MODE_MULTI && !req->subject;
	t->thread_meta = cJSON_CreateObject();
	t->timeout = spec->timeout;
	t->max_turn_cost_usd = spec->max_turn_cost_usd;
	t->started_ms = loop_now(rt->loop);
	t->engine = engines_find(rt->engines, spec->engine);
	/* The engine's own limit, when it is the nearer one. */
	if (t->engine && t->engine->timeout > 0 && t->engine->timeout < t->timeout)
		t->timeout = t->engine->timeout;
	if (!t->definition || (spec->model && !t->model) || !t->thread_meta ||
	    find_thread(rt, t) != 0) {
		t->req = NULL;
		turn_free(t);
		return NULL;
	}
	if (!t->thread_meta)
		t->thread_meta = cJSON_CreateObject();
	return t;
}

/* Which of its thread's turns this is (its turn_count once it ends). */
static long turn_ordinal(const struct turn *t)
{
	const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t->thread_meta,
										"turn_count"));

	return n ? atol(n) : 0;
}

/* Whether the turn's engine is sent the thread's earlier exchanges. */
static bool keeps_history(const struct turn *t)
{
	return !t->per_fire && t->engine && t->engine->history_turns > 0 &&
	       (strcmp(t->engine->kind, "openai") == 0 || strcmp(t->engine->kind, "anthropic") == 0);
}

struct history_load {
	struct engine_request *er;
	size_t cap;
	int rc;
};

static void history_row(void *arg, const char *const cols[4])
{
	struct history_load *h = arg;
	struct engine_exchange *grown;
	struct engine_request *er = h->er;

	if (h->rc != 0)
		return;
	if (er->n_history == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 8;
		grown = realloc(er->history, h->cap * sizeof *grown);
		if (!grown) {
			h->rc = -1;
			return;
		}
		er->history = grown;
	}
	er->history[er->n_history].user = strdup(cols[0] ? cols[0] : "");
	er->history[er->n_history].assistant = strdup(cols[1] ? cols[1] : "");
	if (!er->history[er->n_history].user || !er->history[er->n_history].assistant) {
		free(er->history[er->n_history].user);
		free(er->history[er->n_history].assistant);
		h->rc = -1;
		return;
	}
	er->n_history++;
}

/* The engine's request. The message moves into it: a turn needs no content
 * after its engine starts, and a message can be most of a megabyte. */
static struct engine_request *engine_request_for(struct turn *t, const struct agent_spec *spec)
{
	struct engine_request *er = calloc(1, sizeof *er);
	const char *session = t->per_fire ? NULL : meta_get(t->thread_meta, "session");

	if (!er)
		return NULL;
	er->turn = t->seq;
	er->engine = strdup(spec->engine);
	er->agent = strdup(spec->name);
	er->system_prompt = spec->system_prompt ? strdup(spec->system_prompt) : NULL;
	er->replace_prompt = spec->prompt_mode == PROMPT_REPLACE;
	er->model = t->model ? strdup(t->model) : NULL;
	er->message = t->req->content;
	t->req->content = NULL;
	er->session = session && *session ? strdup(session) : NULL;
	er->thread = t->thread_path ? strdup(t->thread_path) : NULL;
	er->max_cost_usd = spec->max_turn_cost_usd;
	if (t->engine && strcmp(t->engine->kind, "exec") == 0 &&
	    (!(er->workspace_key = notes_thread_key(spec->name, t->req->subject)) ||
	     !(er->sandbox = calloc(1, sizeof *er->sandbox)) ||
	     sandbox_policy_copy(er->sandbox, &spec->sandbox) != 0)) {
		engine_request_free(er);
		return NULL;
	}
	if (keeps_history(t)) {
		struct history_load h = { .er = er };

		if (state_history_get(t->rt->state, t->thread_path, t->req->inbound_id,
				      t->engine->history_turns, history_row, &h) != 0 || h.rc != 0)
			log_warn("turn %s: the thread's history could not be read; sent without it",
				 t->turn_id);
	}
	if (er->engine && er->agent && er->message)
		return er;
	engine_request_free(er);
	return NULL;
}

/* The start write and what the thread note says, committed together. */
static int record_start(struct agent_runtime *rt, struct turn *t)
{
	char *meta;
	int rc = state_begin(rt->state);

	if (rc == 0)
		rc = write_thread(rt, t, "thread-start", thread_start_meta(t, t->req->agent));
	if (rc == 0 && !t->per_fire) {
		meta = cJSON_PrintUnformatted(t->thread_meta);
		rc = meta ? state_thread_put(rt->state, t->thread_path, t->thread_id, meta) : -1;
		free(meta);
	}
	if (rc == 0 && keeps_history(t))
		rc = state_history_add(rt->state, t->thread_path, t->req->inbound_id,
				       t->req->content, t->engine->history_turns + 1);
	if (rc != 0)
		state_fail(rt->state);
	return state_commit(rt->state);
}

static void turn_finish(struct agent_runtime *rt, struct turn *t, const struct outcome *o);
static void on_done(void *arg, struct engine_result *res);
static void on_deadline(void *arg);

static void read_request(void *arg, const char *const cols[4])
{
	struct turn_request **req = arg;
	cJSON *doc = cols[0] ? cJSON_Parse(cols[0]) : NULL;

	turn_request_free(*req);
	*req = doc ? turn_request_from_json(doc) : NULL;
	cJSON_Delete(doc);
}

/* The request of `it`, from the state; NULL (logged) when it cannot be had. */
static struct turn_request *load_request(struct agent_runtime *rt, const struct queued *it)
{
	struct turn_request *req = NULL;

	if (state_turn_get(rt->state, it->inbound_id, read_request, &req) != 0)
		return NULL;
	if (!req)
		log_error("%s: the accepted turn is missing from the state", it->inbound_id);
	return req;
}

static void begin_engine(struct agent_runtime *rt, struct turn *t, const struct agent_spec *spec)
{
	static const struct engine_events events = { on_delta, on_done };
	struct engine_request *er = engine_request_for(t, spec);

	t->job = er ? engine_start(rt->engines, er, &events, t) : NULL;
	t->deadline = loop_timer(rt->loop, (int64_t)t->timeout * 1000, on_deadline, t);
	if (!t->job || !t->deadline) {
		turn_finish(rt, t, &(struct outcome){ .text = "out of memory calling the engine" });
		return;
	}
	crash_point("turn-running");
}

/* A waiting turn that cannot start after all is answered now. */
static void refuse_waiting(struct agent_runtime *rt, struct turn_request *req, const char *why)
{
	int rc = state_begin(rt->state);

	if (rc == 0)
		rc = turn_refuse(rt, req, why);
	if (rc != 0)
		state_fail(rt->state);
	if (state_commit(rt->state) != 0) {
		struct queued *it = queued_new(req->inbound_id, req->drain_key);

		rt->paused = true;
		queues_done(&rt->queues, req->drain_key);
		if (!it || queues_push_front(&rt->queues, it) != 0)
			queued_free(it);
		turn_request_free(req);
		return;
	}
	queues_done(&rt->queues, req->drain_key);
	turn_request_free(req);
}

/* "YYYY-MM-DD" of an ISO 8601 time. */
static const char *utc_day(const char *iso, char day[11])
{
	snprintf(day, 11, "%.10s", iso);
	return day;
}

/* Why `spec`'s daily budget refuses a turn now, or NULL. */
static char *budget_spent(struct agent_runtime *rt, const struct agent_spec *spec)
{
	char now[CLOCK_ISO_LEN], day[11], *why = NULL;
	double spent;

	if (spec->max_daily_cost_usd <= 0)
		return NULL;
	clock_iso8601(now);
	if (state_spend_get(rt->state, spec->name, utc_day(now, day), &spent) != 0 ||
	    spent < spec->max_daily_cost_usd)
		return NULL;
	if (asprintf(&why, "the daily budget of %s (max_daily_cost_usd $%g) is spent: $%g today",
		     spec->name, spec->max_daily_cost_usd, spent) < 0)
		why = NULL;
	return why;
}

void turn_start(struct agent_runtime *rt, struct queued *it)
{
	struct turn_request *req = load_request(rt, it);
	const struct agent_spec *spec = req ? strmap_get(&rt->agents, req->agent) : NULL;
	struct turn *t;

	if (!req) {
		if (state_failing(rt->state, NULL)) {
			rt->paused = true;
			queues_done(&rt->queues, it->drain_key);
			if (queues_push_front(&rt->queues, it) == 0)
				return;
		} else {
			queues_done(&rt->queues, it->drain_key);
		}
		queued_free(it);
		return;
	}
	queued_free(it);
	if (!spec) {
		refuse_waiting(rt, req, "the agent was unregistered before the turn could run");
		return;
	}
	{
		char *why = budget_spent(rt, spec);

		if (why) {
			refuse_waiting(rt, req, why);
			free(why);
			return;
		}
	}
	t = turn_new(rt, req, spec);
	if (!t) {
		refuse_waiting(rt, req, "out of memory starting the turn");
		return;
	}
	t->next = rt->running;
	rt->running = t;
	if (record_start(rt, t) != 0) {
		turn_requeue(rt, t);
		return;
	}
	turn_event(rt, t, "start", NULL);
	log_debug("turn %s: %s on %s (thread %s)", t->turn_id, req->inbound_id, req->agent,
		  t->thread_path);
	begin_engine(rt, t, spec);
}

/* --- finish ------------------------------------------------------------------ */

/* Section 6, step 2: status, count, time, session and usage sums. */
static cJSON *thread_end_meta(const struct turn *t, const struct outcome *o, const char *now)
{
	const cJSON *prior = t->per_fire ? NULL : t->thread_meta;
	const char *session = o->session ? o->session : meta_get(t->thread_meta, "session");
	const char *cost = prior ? meta_get(prior, "total_cost_usd") : NULL;
	cJSON *md = cJSON_CreateObject();

	if (md && notes_add(md, "status", o->ok ? "ok" : "error") &&
	    notes_add_count(md, "turn_count", meta_count(prior, "turn_count") + 1) &&
	    notes_add(md, "last_turn_at", now) && notes_add(md, "session", session) &&
	    notes_add_count(md, "input_tokens", meta_count(prior, "input_tokens") + o->input_tokens) &&
	    notes_add_count(md, "output_tokens",
			    meta_count(prior, "output_tokens") + o->output_tokens) &&
	    add_cost(md, (cost ? strtod(cost, NULL) : 0) + o->cost_usd))
		return md;
	cJSON_Delete(md);
	return NULL;
}

/* Remembers the thread note and forgets the finished turn. */
static int record_finished(struct agent_runtime *rt, const struct turn *t)
{
	char *meta = cJSON_PrintUnformatted(t->thread_meta);
	int rc = meta ? 0 : -1;

	if (rc == 0 && !t->per_fire)
		rc = state_thread_put(rt->state, t->thread_path, t->thread_id, meta);
	if (rc == 0 && !t->per_fire)
		rc = replica_thread(rt, t->thread_path, t->thread_id, meta, t->req->inbound_id);
	if (rc == 0)
		rc = state_turn_done(rt->state, t->req->inbound_id);
	free(meta);
	return rc;
}

static cJSON *done_extra(const struct outcome *o)
{
	cJSON *x = cJSON_CreateObject();
	cJSON *usage = x ? cJSON_AddObjectToObject(x, "usage") : NULL;

	if (!o->ok) {
		if (usage)
			cJSON_DeleteItemFromObject(x, "usage");
		if (x && cJSON_AddStringToObject(x, "error", o->text))
			return x;
	} else if (usage && cJSON_AddStringToObject(x, "reply", o->text) &&
		   cJSON_AddNumberToObject(usage, "input_tokens", (double)o->input_tokens) &&
		   cJSON_AddNumberToObject(usage, "output_tokens", (double)o->output_tokens) &&
		   cJSON_AddNumberToObject(x, "cost_usd", o->cost_usd)) {
		return x;
	}
	cJSON_Delete(x);
	return NULL;
}

/* Steps 2 to 5 are recorded in the outbox in one transaction with the
 * finished turn and what the thread note now says: after a crash either all
 * of them are sent (the outbox) or the turn runs again and none were. */
static void count_turn(struct agent_runtime *rt, const struct turn *t, const struct outcome *o)
{
	struct metrics *m = rt->opt.metrics;
	char agent[160], labels[256];

	if (!m)
		return;
	metrics_label_escape(t->req->agent, agent, sizeof agent);
	snprintf(labels, sizeof labels, "agent=\"%s\",outcome=\"%s\"", agent, o->ok ? "ok" : "error");
	metrics_add(m, "agentbus_turns_total", labels, 1);
	snprintf(labels, sizeof labels, "agent=\"%s\"", agent);
	metrics_observe(m, "agentbus_turn_duration_seconds", labels,
			(double)(loop_now(rt->loop) - t->started_ms) / 1000.0);
	metrics_add(m, "agentbus_cost_usd_total", labels, o->cost_usd);
	snprintf(labels, sizeof labels, "agent=\"%s\",direction=\"in\"", agent);
	metrics_add(m, "agentbus_tokens_total", labels, (double)o->input_tokens);
	snprintf(labels, sizeof labels, "agent=\"%s\",direction=\"out\"", agent);
	metrics_add(m, "agentbus_tokens_total", labels, (double)o->output_tokens);
}

static void turn_finish(struct agent_runtime *rt, struct turn *t, const struct outcome *o)
{
	char now[CLOCK_ISO_LEN], day[11];
	int rc = state_begin(rt->state);

	clock_iso8601(now);
	flush_text(t);
	if (rc == 0)
		rc = write_thread(rt, t, "thread-end", thread_end_meta(t, o, now));	/* 2 */
	if (rc == 0)
		rc = outcome_write(rt, t->req, t->thread_id, o);		/* 3, 4, 5 */
	if (rc == 0 && o->ok && keeps_history(t))
		rc = state_history_answer(rt->state, t->req->inbound_id, o->text);
	if (rc == 0 && o->ok && keeps_history(t))
		rc = replica_history(rt, t->thread_path, t->req->inbound_id, turn_ordinal(t),
				     t->engine->history_turns + 1);
	if (rc == 0 && o->cost_usd > 0)
		rc = state_spend_add(rt->state, t->req->agent, utc_day(now, day), o->cost_usd);
	if (rc == 0 && o->cost_usd > 0)
		rc = replica_spend(rt, t->req->agent, day);
	crash_point("turn-finishing");
	if (rc == 0)
		rc = record_finished(rt, t);
	if (rc != 0)
		state_fail(rt->state);
	if (state_commit(rt->state) != 0) {
		turn_requeue(rt, t);
		return;
	}
	crash_point("turn-finished");
	count_turn(rt, t, o);
	turn_event(rt, t, o->ok ? "done" : "error", done_extra(o));
	log_info("turn %s: %s on %s %s", t->turn_id, t->req->inbound_id, t->req->agent,
		 o->ok ? "done" : "failed");
	turn_unlink(rt, t);
	queues_done(&rt->queues, t->req->drain_key);
	turn_free(t);
}

static void on_done(void *arg, struct engine_result *res)
{
	struct turn *t = arg;
	char over[160];
	bool ok = res->ok;
	const char *text = res->ok ? (res->reply ? res->reply : "")
				   : (res->error ? res->error : "engine failed");

	t->job = NULL;	/* the job is gone */
	/* Over its budget, a turn fails (its cost still counts as spent). */
	if (ok && t->max_turn_cost_usd > 0 && res->cost_usd > t->max_turn_cost_usd) {
		snprintf(over, sizeof over, "the turn cost $%g, more than its budget "
			 "(max_turn_cost_usd $%g)", res->cost_usd, t->max_turn_cost_usd);
		ok = false;
		text = over;
	}
	turn_finish(t->rt, t, &(struct outcome){
		.ok = ok, .text = text, .session = res->session, .input_tokens = res->input_tokens,
		.output_tokens = res->output_tokens, .cost_usd = res->cost_usd });
	engine_result_free(res);
}

static void on_deadline(void *arg)
{
	struct turn *t = arg;
	char why[64];

	t->deadline = 0;
	/* The job's fds, timers and memory go now; the engine's answer, should
	 * one come, has nowhere to arrive. */
	engine_cancel(t->job);
	t->job = NULL;
	snprintf(why, sizeof why, "timed out after %d s", t->timeout);
	turn_finish(t->rt, t, &(struct outcome){ .text = why });
}

int turn_cancel(struct agent_runtime *rt, const char *agent, const char *inbound_id)
{
	int n = 0;

	for (struct turn *t = rt->running, *next; t; t = next) {
		next = t->next;
		if (strcmp(t->req->agent, agent) != 0 || !t->job ||
		    (inbound_id && strcmp(t->req->inbound_id, inbound_id) != 0 &&
		     strcmp(t->turn_id, inbound_id) != 0))
			continue;
		engine_cancel(t->job);
		t->job = NULL;
		turn_finish(rt, t, &(struct outcome){ .text = "cancelled" });
		n++;
		next = rt->running;	/* finishing changed the list */
	}
	return n;
}

int turn_refuse(struct agent_runtime *rt, const struct turn_request *req, const char *reason)
{
	log_warn("%s on %s refused: %s", req->inbound_id, req->agent, reason);
	if (outcome_write(rt, req, NULL, &(struct outcome){ .text = reason }) != 0 ||
	    state_turn_done(rt->state, req->inbound_id) != 0) {
		state_fail(rt->state);
		return -1;
	}
	return 0;
}

void turn_free_all(struct agent_runtime *rt)
{
	while (rt->running) {
		struct turn *t = rt->running;

		rt->running = t->next;
		turn_free(t);
	}
}
