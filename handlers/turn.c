/* handlers/turn: a turn is started by turn_start() and finished by
 * turn_finish(), which reads top to bottom as CONTRACT.md section 6. What a
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
#include "handlers/notes.h"
#include "handlers/runtime.h"
#include "state/state.h"
#include "util/clock.h"
#include "util/crash.h"
#include "util/log.h"
#include "util/text.h"

struct turn {
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
	int64_t deadline;		/* monotonic ms */
	struct turn *next;
};

/* What an outcome says, for the notes written after the engine. */
struct outcome {
	bool ok;
	const char *text;		/* the reply, or the failure reason */
	const char *session;
	long input_tokens, output_tokens;
	double cost_usd;
};

/* --- requests ------------------------------------------------------------ */

void turn_request_free(struct turn_request *r)
{
	if (!r)
		return;
	free(r->inbound_id);
	free(r->agent);
	free(r->drain_key);
	free(r->content);
	free(r->sender);
	free(r->subject);
	free(r->reply_to);
	free(r->correlation_id);
	free(r);
}

cJSON *turn_request_to_json(const struct turn_request *r)
{
	cJSON *j = cJSON_CreateObject();

	if (!j || !notes_add(j, "inbound_id", r->inbound_id) || !notes_add(j, "agent", r->agent) ||
	    !notes_add(j, "drain_key", r->drain_key) || !notes_add(j, "content", r->content) ||
	    !notes_add(j, "sender", r->sender) || !notes_add(j, "subject", r->subject) ||
	    !notes_add(j, "reply_to", r->reply_to) ||
	    !notes_add(j, "correlation_id", r->correlation_id) ||
	    !cJSON_AddNumberToObject(j, "depth", r->depth)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

struct turn_request *turn_request_from_json(const cJSON *doc)
{
	struct turn_request *r = calloc(1, sizeof *r);
	const cJSON *depth = cJSON_GetObjectItemCaseSensitive(doc, "depth");

	if (!r)
		return NULL;
	r->inbound_id = meta_strdup(doc, "inbound_id");
	r->agent = meta_strdup(doc, "agent");
	r->drain_key = meta_strdup(doc, "drain_key");
	r->content = meta_strdup(doc, "content");
	r->sender = meta_strdup(doc, "sender");
	r->subject = meta_strdup(doc, "subject");
	r->reply_to = meta_strdup(doc, "reply_to");
	r->correlation_id = meta_strdup(doc, "correlation_id");
	r->depth = cJSON_IsNumber(depth) ? depth->valueint : 0;
	if (r->inbound_id && r->agent && r->drain_key && r->content)
		return r;
	turn_request_free(r);
	return NULL;
}

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
	char *safe_agent = strdup(agent), *path = NULL;

	if (safe_agent) {
		text_safe_name(safe_agent);
		if (asprintf(&path, "Threads/%s/%s", safe_agent, last) < 0)
			path = NULL;
	}
	free(safe_agent);
	return path;
}

static void load_thread_row(void *arg, const char *const cols[4])
{
	struct turn *t = arg;

	snprintf(t->thread_id, sizeof t->thread_id, "%s", cols[0]);
	cJSON_Delete(t->thread_meta);
	t->thread_meta = cJSON_Parse(cols[1]);
}

static char *new_request_id(struct agent_runtime *rt, char buf[ULID_LEN + 1])
{
	runtime_new_id(rt, buf);
	return buf;
}

/* Merges `md` into what the thread note says and writes it (taken). */
static void write_thread(struct agent_runtime *rt, struct turn *t, cJSON *md)
{
	char rid[ULID_LEN + 1];

	if (!md || merge_patch(&t->thread_meta, md) != 0)
		log_error("turn %s: out of memory tracking the thread note", t->turn_id);
	runtime_write(rt, notes_thread_write(new_request_id(rt, rid), t->thread_path, t->thread_id,
					     md));
}

/* A turn event on R/agent/A/events (QoS 0: live only). */
static void turn_event(struct agent_runtime *rt, const struct turn *t, const char *kind,
		       const char *key, const char *value)
{
	char at[CLOCK_ISO_LEN];
	char *topic = topics_agent(rt->topics, t->req->agent, "events");
	cJSON *ev = cJSON_CreateObject();

	clock_iso8601(at);
	if (topic && ev && notes_add(ev, "kind", kind) && notes_add(ev, "agent", t->req->agent) &&
	    notes_add(ev, "turn_id", t->turn_id) && notes_add(ev, "inbound_id", t->req->inbound_id) &&
	    notes_add(ev, "thread", t->thread_id) && notes_add(ev, "at", at) &&
	    notes_add(ev, key, value))
		sink_publish_doc(&rt->sink, topic, ev, 0, false);
	cJSON_Delete(ev);
	free(topic);
}

/* --- start ------------------------------------------------------------------- */

/* Section 6, step 1: the thread note's start write. */
static cJSON *thread_start_meta(const struct turn *t, const char *agent)
{
	const cJSON *prior = t->thread_meta;
	cJSON *md = cJSON_CreateObject();
	const char *started = meta_get(prior, "started_at");
	const char *model = meta_get(prior, "model");

	if (md && notes_add(md, "agent", agent) && notes_add(md, "mode", agent_mode_name(t->mode)) &&
	    notes_add(md, "status", "working") &&
	    notes_add(md, "started_at", started ? started : t->started_at) &&
	    notes_add(md, "turn_count", t->per_fire ? "0" : meta_get(prior, "turn_count")
							? meta_get(prior, "turn_count") : "0") &&
	    notes_add(md, "last_turn_at", meta_get(prior, "last_turn_at")) &&
	    notes_add(md, "definition", t->definition) && notes_add(md, "backend", "programmatic") &&
	    notes_add(md, "model", model ? model : t->model))
		return md;
	cJSON_Delete(md);
	return NULL;
}

static struct turn *turn_new(struct agent_runtime *rt, struct turn_request *req,
			     const struct agent_spec *spec)
{
	struct turn *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->req = req;
	t->seq = ++rt->next_turn;
	runtime_new_id(rt, t->turn_id);
	clock_iso8601(t->started_at);
	t->mode = spec->mode;
	t->definition = strdup(spec->definition);
	t->model = spec->model ? strdup(spec->model) : NULL;
	t->per_fire = spec->mode == MODE_MULTI && !req->subject;
	if (t->per_fire) {
		t->thread_path = thread_path(req->agent, t->turn_id);
	} else {
		char *key = notes_thread_key(req->agent, req->subject);

		t->thread_path = key ? thread_path(req->agent, key) : NULL;
		free(key);
	}
	t->thread_meta = cJSON_CreateObject();
	t->timeout = spec->timeout;
	t->deadline = clock_mono_ms() + (int64_t)spec->timeout * 1000;
	if (!t->definition || (spec->model && !t->model) || !t->thread_path || !t->thread_meta) {
		free(t->definition);
		free(t->model);
		free(t->thread_path);
		cJSON_Delete(t->thread_meta);
		free(t);
		return NULL;
	}
	/* A deterministic thread note may exist from earlier turns. */
	if (!t->per_fire)
		state_thread_get(rt->state, t->thread_path, load_thread_row, t);
	if (!t->thread_meta)
		t->thread_meta = cJSON_CreateObject();
	if (!t->thread_id[0])
		runtime_new_id(rt, t->thread_id);
	return t;
}

static struct engine_request *engine_request_for(const struct turn *t,
						 const struct agent_spec *spec)
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
	er->message = strdup(t->req->content);
	er->session = session && *session ? strdup(session) : NULL;
	if (er->engine && er->agent && er->message)
		return er;
	engine_request_free(er);
	return NULL;
}

static void turn_finish(struct agent_runtime *rt, struct turn *t, const struct outcome *o);

void turn_start(struct agent_runtime *rt, struct turn_request *req)
{
	const struct agent_spec *spec = strmap_get(&rt->agents, req->agent);
	struct engine_request *er;
	struct turn *t;

	if (!spec) {
		queues_done(&rt->queues, req->drain_key);
		turn_refuse(rt, req, "the agent was unregistered before the turn could run");
		return;
	}
	t = turn_new(rt, req, spec);
	if (!t) {
		queues_done(&rt->queues, req->drain_key);
		turn_refuse(rt, req, "out of memory starting the turn");
		return;
	}
	t->next = rt->running;
	rt->running = t;
	write_thread(rt, t, thread_start_meta(t, req->agent));
	turn_event(rt, t, "start", NULL, NULL);
	log_debug("turn %s: %s on %s (thread %s)", t->turn_id, req->inbound_id, req->agent,
		  t->thread_path);
	er = engine_request_for(t, spec);
	if (!er) {
		turn_finish(rt, t, &(struct outcome){ .text = "out of memory calling the engine" });
		return;
	}
	engine_pool_submit(rt->pool, er);
	crash_point("turn-running");
}

/* --- finish ------------------------------------------------------------------ */

/* Section 6, step 2: status, count, time, session and usage sums. */
static cJSON *thread_end_meta(const struct turn *t, const struct outcome *o, const char *now)
{
	const cJSON *prior = t->per_fire ? NULL : t->thread_meta;
	const char *session = o->session ? o->session : meta_get(t->thread_meta, "session");
	cJSON *md = cJSON_CreateObject();

	if (md && notes_add(md, "status", o->ok ? "ok" : "error") &&
	    notes_add_count(md, "turn_count", meta_count(prior, "turn_count") + 1) &&
	    notes_add(md, "last_turn_at", now) && notes_add(md, "session", session) &&
	    notes_add_count(md, "input_tokens", meta_count(prior, "input_tokens") + o->input_tokens) &&
	    notes_add_count(md, "output_tokens",
			    meta_count(prior, "output_tokens") + o->output_tokens) &&
	    add_cost(md, (prior && meta_get(prior, "total_cost_usd")
			  ? strtod(meta_get(prior, "total_cost_usd"), NULL) : 0) + o->cost_usd))
		return md;
	cJSON_Delete(md);
	return NULL;
}

/* A response topic waiting for this turn's reply. */
struct answer {
	char *topic;
	char *correlation;	/* hex */
	bool json;
};

static void take_answer_row(void *arg, const char *const cols[4])
{
	struct answer *a = arg;

	a->topic = cols[0] ? strdup(cols[0]) : NULL;
	a->correlation = cols[1] ? strdup(cols[1]) : NULL;
	a->json = cols[2] && strcmp(cols[2], "1") == 0;
}

static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = 0;

	for (; hex && hex[0] && hex[1] && n < cap; hex += 2) {
		unsigned v;

		if (sscanf(hex, "%2x", &v) != 1)
			break;
		out[n++] = (unsigned char)v;
	}
	return n;
}

/* Section 5.2: the reply also goes to the inbox request's response topic,
 * text for text and the note for JSON. */
static void answer_inbox(struct agent_runtime *rt, const struct turn_request *req,
			 const cJSON *note, const char *text)
{
	struct answer a = { 0 };
	unsigned char corr[512];
	size_t corr_len;

	if (state_answer_take(rt->state, req->inbound_id, take_answer_row, &a) != 0 || !a.topic)
		goto out;
	corr_len = unhex(a.correlation, corr, sizeof corr);
	if (a.json) {
		cJSON *empty = note ? NULL : cJSON_CreateObject();
		struct codec_buf buf;

		/* An empty reply writes no note; say so with an empty content. */
		if (empty && cJSON_AddStringToObject(empty, "content", ""))
			note = empty;
		if (note && sink_encode(&rt->sink, note, &buf) == 0) {
			runtime_send(rt, &(struct bus_publish){
				.topic = a.topic, .payload = buf.data, .len = buf.len,
				.content_type = buf.content_type,
				.correlation = corr_len ? corr : NULL, .correlation_len = corr_len });
			codec_buf_free(&buf);
		}
		cJSON_Delete(empty);
	} else {
		runtime_send(rt, &(struct bus_publish){
			.topic = a.topic, .payload = text, .len = strlen(text),
			.content_type = "text/plain; charset=utf-8",
			.correlation = corr_len ? corr : NULL, .correlation_len = corr_len });
	}
out:
	free(a.topic);
	free(a.correlation);
}

/* Section 6, step 3: the reply note (non-empty reply) or the failure note,
 * also on R/agent/A/reply. Writes the new note's id into `id_out` (empty when
 * nothing was written). */
static void write_reply(struct agent_runtime *rt, const struct turn_request *req,
			const char *thread, const struct outcome *o, char id_out[ULID_LEN + 1])
{
	char rid[ULID_LEN + 1], ts[CLOCK_ISO_LEN];
	char *text = o->ok ? strdup(o->text) : notes_failure_text(o->text);
	char *topic = topics_agent(rt->topics, req->agent, "reply");
	cJSON *md = cJSON_CreateObject(), *note;

	id_out[0] = '\0';
	if (o->ok && !*o->text) {
		answer_inbox(rt, req, NULL, "");
		goto out;
	}
	runtime_new_id(rt, id_out);
	clock_iso8601(ts);
	if (!text || !md || !notes_add(md, "agent", req->agent) ||
	    !notes_add(md, "direction", "outbound") || !notes_add(md, "sender", "session") ||
	    !notes_add(md, "ts", ts) || !notes_add(md, "in_reply_to", req->inbound_id) ||
	    !notes_add(md, "thread", thread))
		goto out;
	note = notes_message(id_out, req->agent, text, true, md);
	md = NULL;
	if (!note)
		goto out;
	if (topic)
		runtime_send_doc(rt, topic, note, false);
	answer_inbox(rt, req, note, text);
	runtime_write(rt, write_build(WRITE_CREATE, new_request_id(rt, rid), AGENTBUS_ORIGIN, note));
out:
	cJSON_Delete(md);
	free(text);
	free(topic);
}

/* Section 6, step 4: wake the requester, unless the depth limit says stop. */
static void write_callback(struct agent_runtime *rt, const struct turn_request *req,
			   const char *thread, bool ok, const char *reply_id)
{
	char id[ULID_LEN + 1], rid[ULID_LEN + 1], ts[CLOCK_ISO_LEN], depth[16];
	char *text, *sender = NULL;
	cJSON *md, *note;

	if (!req->reply_to)
		return;
	if (req->depth >= MAX_DELEGATION_DEPTH) {
		log_warn("%s: delegation depth %d reached the limit of %d; no callback to %s",
			 req->inbound_id, req->depth, MAX_DELEGATION_DEPTH, req->reply_to);
		return;
	}
	if (!strmap_get(&rt->agents, req->reply_to)) {
		log_warn("%s: reply_to names no registered agent (%s); no callback", req->inbound_id,
			 req->reply_to);
		return;
	}
	runtime_new_id(rt, id);
	clock_iso8601(ts);
	snprintf(depth, sizeof depth, "%d", req->depth + 1);
	text = notes_callback_text(req->agent, ok);
	md = cJSON_CreateObject();
	if (text && md && asprintf(&sender, "callback:%s", req->agent) >= 0 &&
	    notes_add(md, "callback", "true") && notes_add(md, "status", ok ? "ok" : "error") &&
	    notes_add(md, "source_channel", req->agent) && notes_add(md, "source_thread", thread) &&
	    notes_add(md, "source_message", reply_id && *reply_id ? reply_id : NULL) &&
	    notes_add(md, "correlation_id", req->correlation_id) &&
	    notes_add(md, "delegation_depth", depth) && notes_add(md, "agent", req->reply_to) &&
	    notes_add(md, "direction", "inbound") && notes_add(md, "sender", sender) &&
	    notes_add(md, "ts", ts) && (note = notes_message(id, req->reply_to, text, false, md))) {
		md = NULL;
		runtime_write(rt, write_build(WRITE_CREATE, new_request_id(rt, rid), AGENTBUS_ORIGIN,
					      note));
	}
	cJSON_Delete(md);
	free(sender);
	free(text);
}

/* Steps 3 to 5, shared by finished and refused turns. */
static void write_outcome(struct agent_runtime *rt, const struct turn_request *req,
			  const char *thread, const struct outcome *o)
{
	char reply_id[ULID_LEN + 1], rid[ULID_LEN + 1], at[CLOCK_ISO_LEN];

	write_reply(rt, req, thread, o, reply_id);
	write_callback(rt, req, thread, o->ok, reply_id);
	clock_iso8601(at);
	runtime_write(rt, notes_marker_write(new_request_id(rt, rid), req->inbound_id, at));
}

static void turn_unlink(struct agent_runtime *rt, struct turn *t)
{
	for (struct turn **pp = &rt->running; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			return;
		}
	}
}

static void turn_free(struct turn *t)
{
	turn_request_free(t->req);
	free(t->definition);
	free(t->model);
	free(t->thread_path);
	cJSON_Delete(t->thread_meta);
	free(t);
}

/* Remembers the thread note and forgets the finished turn, together. */
static void record_finished(struct agent_runtime *rt, const struct turn *t)
{
	char *meta = cJSON_PrintUnformatted(t->thread_meta);
	int rc = state_begin(rt->state);

	if (rc == 0 && !t->per_fire && meta)
		rc = state_thread_put(rt->state, t->thread_path, t->thread_id, meta);
	if (rc == 0)
		rc = state_turn_done(rt->state, t->req->inbound_id);
	if (rc != 0 || state_commit(rt->state) != 0)
		log_error("turn %s: cannot record the finished turn", t->turn_id);
	free(meta);
}

/* Steps 2 to 5 are recorded in the outbox in one transaction with the
 * finished turn and what the thread note now says: after a crash either all
 * of them are sent (the outbox) or the turn runs again and none were. */
static void turn_finish(struct agent_runtime *rt, struct turn *t, const struct outcome *o)
{
	char now[CLOCK_ISO_LEN];

	clock_iso8601(now);
	if (state_begin(rt->state) != 0)
		log_error("turn %s: cannot begin the finishing transaction", t->turn_id);
	write_thread(rt, t, thread_end_meta(t, o, now));		/* 2 */
	write_outcome(rt, t->req, t->thread_id, o);			/* 3, 4, 5 */
	crash_point("turn-finishing");
	record_finished(rt, t);
	if (state_commit(rt->state) != 0)
		log_error("turn %s: cannot commit the finished turn", t->turn_id);
	crash_point("turn-finished");
	if (o->ok)
		turn_event(rt, t, "done", "reply", o->text);
	else
		turn_event(rt, t, "error", "error", o->text);
	log_info("turn %s: %s on %s %s", t->turn_id, t->req->inbound_id, t->req->agent,
		 o->ok ? "done" : "failed");
	turn_unlink(rt, t);
	queues_done(&rt->queues, t->req->drain_key);
	turn_free(t);
	runtime_schedule(rt);
}

void turn_engine_done(struct agent_runtime *rt, struct engine_result *res)
{
	struct turn *t = rt->running;

	while (t && t->seq != res->turn)
		t = t->next;
	if (!t) {
		log_debug("engine result for turn %llu, which already ended",
			  (unsigned long long)res->turn);
	} else {
		turn_finish(rt, t, &(struct outcome){
			.ok = res->ok, .text = res->ok ? (res->reply ? res->reply : "")
						       : (res->error ? res->error : "engine failed"),
			.session = res->session, .input_tokens = res->input_tokens,
			.output_tokens = res->output_tokens, .cost_usd = res->cost_usd });
	}
	engine_result_free(res);
}

void turn_expire(struct agent_runtime *rt, int64_t now_ms)
{
	struct turn *t = rt->running;
	char why[64];

	while (t) {
		if (t->deadline > now_ms) {
			t = t->next;
			continue;
		}
		snprintf(why, sizeof why, "timed out after %d s", t->timeout);
		turn_finish(rt, t, &(struct outcome){ .text = why });
		/* Finishing may have started other turns: look again from the top. */
		t = rt->running;
	}
}

int turn_timeout_ms(const struct agent_runtime *rt, int64_t now_ms)
{
	int64_t next = -1;

	for (const struct turn *t = rt->running; t; t = t->next)
		if (next < 0 || t->deadline < next)
			next = t->deadline;
	if (next < 0)
		return -1;
	return next <= now_ms ? 0 : (int)(next - now_ms);
}

void turn_refuse(struct agent_runtime *rt, struct turn_request *req, const char *reason)
{
	log_warn("%s on %s refused: %s", req->inbound_id, req->agent, reason);
	write_outcome(rt, req, NULL, &(struct outcome){ .text = reason });
	if (state_turn_done(rt->state, req->inbound_id) != 0)
		log_error("%s: cannot forget the refused turn", req->inbound_id);
	turn_request_free(req);
}

void turn_free_all(struct agent_runtime *rt)
{
	while (rt->running) {
		struct turn *t = rt->running;

		rt->running = t->next;
		turn_free(t);
	}
}
