/* handlers/runtime: start-up, the dispatch of incoming messages as one unit
 * of work each (state/txn.h), scheduling under the global cap, and the
 * group commit's undo. */
#include "handlers/runtime.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/context.h"
#include "handlers/events.h"
#include "handlers/inbound.h"
#include "handlers/inbox.h"
#include "handlers/notes.h"
#include "handlers/registry.h"
#include "handlers/replica.h"
#include "handlers/turn.h"
#include "state/outbox.h"
#include "state/state.h"
#include "util/crash.h"
#include "util/log.h"
#include "util/metrics.h"

/* A turn accepted before a restart: queued again in its original order. */
static void requeue_row(void *arg, const char *const cols[4])
{
	struct agent_runtime *rt = arg;
	struct queued *it = cols[0] && cols[1] ? queued_new(cols[0], cols[1]) : NULL;

	if (!it || queues_push(&rt->queues, it) != 0) {
		log_error("cannot queue the accepted turn %s again", cols[0] ? cols[0] : "?");
		queued_free(it);
	}
}

int runtime_open(struct agent_runtime *rt, const struct runtime_options *opt,
		 struct state *state, const struct topics *topics, const struct bus_sink *sink,
		 struct loop *l)
{
	memset(rt, 0, sizeof *rt);
	rt->opt = *opt;
	rt->state = state;
	rt->topics = topics;
	rt->sink = *sink;
	rt->loop = l;
	if (replica_open(rt) != 0 || registry_load(rt) != 0 ||
	    state_turns_load(state, requeue_row, rt) != 0 ||
	    engines_open(l, &opt->engine, &rt->engines) != 0) {
		log_error("cannot start the agent runtime");
		runtime_close(rt);
		return -1;
	}
	if (rt->queues.queued)
		log_info("%zu accepted turns from before the restart are queued again",
			 rt->queues.queued);
	registry_warn_unusable(rt);
	return 0;
}

void runtime_close(struct agent_runtime *rt)
{
	turn_free_all(rt);
	engines_close(rt->engines);
	rt->engines = NULL;
	queues_free(&rt->queues);
	queues_free(&rt->accepted);
	registry_free(rt);
	replica_close(rt);
	strmap_free(&rt->directory);
}

/* Whatever the handlers changed in memory ahead of a transaction that did
 * not commit goes back to what the state says; the message comes again. */
static void undo_memory(struct agent_runtime *rt)
{
	queues_free(&rt->accepted);
	registry_free(rt);
	if (registry_load(rt) != 0)
		log_error("registry: cannot reload the agents from the state");
}

static int fire(struct agent_runtime *rt, const struct trigger *t, const struct vault_event *ev,
		const struct bus_message *msg)
{
	log_debug("trigger %s fired: %s of note %s", t->name, note_event_name(ev->event),
		  ev->note.id);
	if (rt->opt.metrics) {
		char labels[160], name[96];

		metrics_label_escape(t->name, name, sizeof name);
		snprintf(labels, sizeof labels, "trigger=\"%s\"", name);
		metrics_add(rt->opt.metrics, "agentbus_triggers_fired_total", labels, 1);
	}
	if (t->action == TRIGGER_DEFINITION)
		return registry_definition(rt, ev, msg);
	return inbound_receive(rt, ev, msg);
}

/* In a fleet, every partition sees every event of a definition note (the
 * router sends those to all) and acts only for its own agents: a definition
 * is its agent's partition's (or, once registered, the partition that holds
 * it: a rename away unregisters it there), a message its addressee's. What
 * names no agent is partition 0's. Returns how many firings remain. */
static int keep_own_firings(struct agent_runtime *rt, const struct trigger_set *triggers,
			    bool *matched, const struct vault_event *ev)
{
	int kept = 0;

	for (size_t i = 0; i < triggers->n; i++) {
		char *name = NULL;

		if (!matched[i])
			continue;
		if (triggers->v[i].action == TRIGGER_DEFINITION) {
			const char *defined = agentdef_name(&ev->note);

			matched[i] = strmap_get(&rt->definitions, ev->note.id) ||
				     ctx_owns(rt, defined);
		} else {
			name = inbound_agent_name(&ev->note);
			matched[i] = ctx_owns(rt, name);
		}
		free(name);
		kept += matched[i];
	}
	return kept;
}

/* The dedupe key, then every firing, in the caller's transaction. */
static int act_once(struct agent_runtime *rt, const struct trigger_set *triggers,
		    const bool *matched, const struct vault_event *ev, const struct bus_message *msg)
{
	char *key = event_dedupe_key(ev);
	int seen = key ? state_mark_seen(rt->state, key) : -1, rc = seen < 0 ? -1 : 0;

	if (seen == 0)
		log_debug("event %s seen before; skipped", key);
	for (size_t i = 0; seen == 1 && rc == 0 && i < triggers->n; i++)
		if (matched[i])
			rc = fire(rt, &triggers->v[i], ev, msg);
	free(key);
	return rc;
}

int runtime_vault_event(struct agent_runtime *rt, const struct trigger_set *triggers,
			const struct bus_message *msg, const char *event_name, size_t name_len)
{
	struct events_decoder d = { triggers, rt->opt.vault, rt->opt.max_payload };
	bool matched[TRIGGER_SET_MAX] = { false };
	struct vault_event ev;
	struct bus_error err;
	int fired = events_decode(&d, msg, event_name, name_len, &ev, matched, &err), rc;

	if (fired < 0) {
		if (ctx_owns(rt, NULL))
			rt->sink.deadletter(rt->sink.arg, msg, &err);
		event_free(&ev);
		return 0;
	}
	if (fired)
		fired = keep_own_firings(rt, triggers, matched, &ev);
	/* Most events neither fire nor concern a definition: no transaction. */
	if (!fired && !strmap_get(&rt->definitions, ev.note.id)) {
		event_free(&ev);
		return 0;
	}
	rc = state_begin(rt->state);
	if (rc == 0)
		rc = registry_observe(rt, &ev);
	if (rc == 0 && fired)
		rc = act_once(rt, triggers, matched, &ev, msg);
	if (rc != 0)
		state_fail(rt->state);
	event_free(&ev);
	if (state_commit(rt->state) != 0) {
		undo_memory(rt);
		return -1;
	}
	if (queues_move_all(&rt->queues, &rt->accepted) != 0)
		log_error("out of memory queueing accepted turns; they run after a restart");
	return 0;
}

int runtime_inbox(struct agent_runtime *rt, const struct bus_message *msg, const char *agent,
		  size_t agent_len)
{
	return inbox_receive(rt, msg, agent, agent_len);
}

int runtime_forward(struct agent_runtime *rt, const char *const *topics, size_t n,
		    const void *payload, size_t len)
{
	int rc = state_begin(rt->state);

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = ctx_send(rt, &(struct bus_publish){ .topic = topics[i], .payload = payload,
							  .len = len });
	if (rc != 0)
		state_fail(rt->state);
	if (state_commit(rt->state) != 0)
		rc = -1;
	return rc;
}

int runtime_cancel(struct agent_runtime *rt, const struct bus_message *msg, const char *agent,
		   size_t agent_len)
{
	char *name = strndup(agent, agent_len);
	char *id = msg->len ? strndup(msg->payload, msg->len) : NULL;
	int n = 0;

	if (name && (id || !msg->len)) {
		n = turn_cancel(rt, name, id && *id ? id : NULL);
		log_info("cancel on %s: %d running turn%s ended", name, n, n == 1 ? "" : "s");
	}
	free(name);
	free(id);
	return 0;
}

void runtime_schedule(struct agent_runtime *rt)
{
	struct queued *it;

	while (!rt->paused && rt->queues.running < (size_t)rt->opt.max_running &&
	       (it = queues_next(&rt->queues)) != NULL)
		turn_start(rt, it);
}

bool runtime_paused(const struct agent_runtime *rt)
{
	return rt->paused;
}

static void reload_from_state(struct agent_runtime *rt);

void runtime_resume(struct agent_runtime *rt)
{
	rt->paused = false;
	if (rt->rewound) {
		rt->rewound = false;
		reload_from_state(rt);
	}
}

static int send_recorded(void *arg, const struct bus_publish *pub, bus_publish_done_fn *done,
			 void *done_arg)
{
	struct agent_runtime *rt = arg;
	int rc = rt->sink.publish(rt->sink.arg, pub, done, done_arg);

	crash_point("published");
	return rc;
}

void runtime_flush(struct agent_runtime *rt, int64_t now_ms, int *retry_ms)
{
	struct outbox *ob = state_outbox(rt->state);

	outbox_flush(ob, now_ms, send_recorded, rt);
	*retry_ms = outbox_retry_ms(ob, now_ms);
}

void runtime_settle(struct agent_runtime *rt)
{
	if (state_settle(rt->state) != 0)
		rt->paused = true;
}

/* What the runtime holds in memory goes back to what the state says, as at
 * a restart: the running turns end (their engines stop) and, like every
 * accepted turn, wait in their queues again. Their thread notes' writes
 * carry the ids the state recorded, so the rerun writes the same notes. */
static void reload_from_state(struct agent_runtime *rt)
{
	turn_free_all(rt);
	queues_free(&rt->queues);
	queues_free(&rt->accepted);
	registry_free(rt);
	if (registry_load(rt) != 0 || state_turns_load(rt->state, requeue_row, rt) != 0) {
		log_error("cannot reload the agents and turns from the state; again when it "
			  "can be written");
		rt->rewound = true;
	}
}

int runtime_commit(struct agent_runtime *rt)
{
	int rc = state_group_commit(rt->state);

	if (rc >= 0)
		return rc;
	log_error("the state did not commit this iteration's writes; agents and turns go back "
		  "to what it holds");
	reload_from_state(rt);
	rt->paused = true;
	return -1;
}

void runtime_connected(struct agent_runtime *rt, bool session_present)
{
	if (!session_present && state_inbox_forget_all(rt->state) != 0)
		log_warn("inbox: cannot forget the packet ids of the last session");
}

int runtime_offer_demo(struct agent_runtime *rt)
{
	int rc = state_begin(rt->state), taken = 0;

	if (rc == 0 && rt->agents.used == 0)
		taken = state_flag_take(rt->state, "demo_offered");
	if (taken < 0)
		rc = -1;
	if (rc == 0 && taken == 1)
		rc = ctx_write(rt, notes_demo_definition("agentbus-demo-eng"));
	if (rc != 0)
		state_fail(rt->state);
	if (state_commit(rt->state) != 0)
		return -1;
	if (taken == 1)
		log_info("first start: defined the demo agent eng (echo engine) as note Agents/eng; "
			 "delete that note to remove it");
	return 0;
}

void runtime_directory(struct agent_runtime *rt, const char *name, const void *payload,
		       size_t len)
{
	cJSON *entry = len ? cJSON_ParseWithLength(payload, len) : NULL;
	const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "status"));

	if (status && strcmp(status, "enabled") == 0) {
		if (strmap_put(&rt->directory, name, rt) != 0)
			log_error("out of memory: agent %s of another partition is not known here", name);
	} else {
		strmap_remove(&rt->directory, name);
	}
	cJSON_Delete(entry);
}

void runtime_released(struct agent_runtime *rt, int last_mid)
{
	if (replica_released(rt, last_mid) != 0)
		log_error("cannot rewrite the partition's inbox record; it is with the next");
}

bool runtime_settled(const struct agent_runtime *rt)
{
	return runtime_queued(rt) == 0 && runtime_running(rt) == 0 &&
	       outbox_idle(state_outbox(rt->state));
}

int runtime_agents(const struct agent_runtime *rt)
{
	return (int)rt->agents.used;
}

int runtime_queued(const struct agent_runtime *rt)
{
	return (int)rt->queues.queued;
}

int runtime_running(const struct agent_runtime *rt)
{
	return (int)rt->queues.running;
}

struct load {
	const struct agent_runtime *rt;
	cJSON *agents;
	int rc;
};

/* The agent a drain key belongs to: the key itself (its name folded), or
 * what precedes a "--" (a thread key: name--subject). */
static const struct agent_spec *key_agent(const struct agent_runtime *rt, const char *key)
{
	const struct agent_spec *spec = strmap_get(&rt->folded, key);
	char name[AGENT_NAME_MAX + 1];

	for (const char *cut = strstr(key, "--"); !spec && cut; cut = strstr(cut + 1, "--")) {
		size_t n = (size_t)(cut - key);

		if (n == 0 || n > AGENT_NAME_MAX)
			continue;
		memcpy(name, key, n);
		name[n] = '\0';
		spec = strmap_get(&rt->folded, name);
	}
	return spec;
}

static void count_key(void *arg, const char *key, void *value)
{
	struct load *l = arg;
	const struct agent_spec *spec = key_agent(l->rt, key);
	size_t waiting = queues_waiting(&l->rt->queues, key);
	cJSON *entry, *queued;

	(void)value;
	if (!spec || waiting == 0 || l->rc != 0)
		return;
	entry = cJSON_GetObjectItemCaseSensitive(l->agents, spec->name);
	if (!entry && !(entry = cJSON_AddObjectToObject(l->agents, spec->name))) {
		l->rc = -1;
		return;
	}
	queued = cJSON_GetObjectItemCaseSensitive(entry, "queued");
	if (queued)
		cJSON_SetNumberValue(queued, queued->valuedouble + (double)waiting);
	else if (!cJSON_AddNumberToObject(entry, "queued", (double)waiting))
		l->rc = -1;
}

cJSON *runtime_load_doc(const struct agent_runtime *rt)
{
	cJSON *doc = cJSON_CreateObject();
	struct load l = { rt, doc ? cJSON_AddObjectToObject(doc, "agents") : NULL, 0 };

	if (!l.agents) {
		cJSON_Delete(doc);
		return NULL;
	}
	strmap_each(&rt->queues.keys, count_key, &l);
	if (l.rc != 0) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}
