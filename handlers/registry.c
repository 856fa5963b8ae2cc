/* handlers/registry: two maps over the same specs, by agent name (routing)
 * and by definition note id (changes to the note); the state holds the same
 * specs so a restart needs nothing from the vault. */
#include "handlers/registry.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bus/meta.h"
#include "bus/write.h"
#include "handlers/agentdef.h"
#include "handlers/notes.h"
#include "handlers/runtime.h"
#include "state/state.h"
#include "util/clock.h"
#include "util/log.h"

static void load_row(void *arg, const char *const cols[4])
{
	struct agent_runtime *rt = arg;
	struct agent_spec *spec = calloc(1, sizeof *spec);
	cJSON *doc = cJSON_Parse(cols[1]);

	if (spec && doc && agent_spec_from_json(doc, spec) == 0 &&
	    strmap_put(&rt->agents, spec->name, spec) == 0 &&
	    strmap_put(&rt->definitions, spec->definition, spec) == 0) {
		cJSON_Delete(doc);
		return;
	}
	log_error("registry: cannot load agent %s from the state", cols[0]);
	if (spec && spec->name && strmap_get(&rt->agents, spec->name) == spec)
		strmap_remove(&rt->agents, spec->name);
	if (spec)
		agent_spec_free(spec);
	free(spec);
	cJSON_Delete(doc);
}

int registry_load(struct agent_runtime *rt)
{
	return state_agents_load(rt->state, load_row, rt);
}

static void free_spec(void *arg, const char *key, void *value)
{
	(void)arg;
	(void)key;
	agent_spec_free(value);
	free(value);
}

void registry_free(struct agent_runtime *rt)
{
	strmap_each(&rt->agents, free_spec, NULL);
	strmap_free(&rt->agents);
	strmap_free(&rt->definitions);
}

/* The retained registry entry (section 4.3); `error` NULL when enabled. */
static void publish_entry(struct agent_runtime *rt, const char *name, const struct note *n,
			  const struct agent_spec *spec, const char *error)
{
	char at[CLOCK_ISO_LEN];
	char *topic = topics_agent(rt->topics, name, "definition");
	cJSON *e = cJSON_CreateObject();

	clock_iso8601(at);
	if (topic && e && notes_add(e, "name", name) &&
	    notes_add(e, "status", error ? "error" : "enabled") && notes_add(e, "error", error) &&
	    notes_add(e, "definition", n->id) && notes_add(e, "path", n->path ? n->path : "") &&
	    notes_add(e, "mode", agent_mode_name(spec ? spec->mode : MODE_SINGLE)) &&
	    notes_add(e, "engine", spec ? spec->engine : rt->opt.defaults.engine) &&
	    notes_add(e, "model", spec ? spec->model : NULL) &&
	    notes_add(e, "vault", rt->opt.vault) && notes_add(e, "updated_at", at))
		runtime_send_doc(rt, topic, e, true);
	cJSON_Delete(e);
	free(topic);
}

/* The definition note's status, patched only when it changes. */
static void stamp_status(struct agent_runtime *rt, const struct note *n, const char *error)
{
	const char *status = error ? "error" : "enabled";
	const char *had_status = meta_str(n->metadata, "status");
	const char *had_error = meta_str(n->metadata, "error");
	char rid[ULID_LEN + 1];
	cJSON *note, *md;

	if (had_status && strcmp(had_status, status) == 0 &&
	    (error ? had_error && strcmp(had_error, error) == 0 : !had_error))
		return;
	note = cJSON_CreateObject();
	md = note ? cJSON_AddObjectToObject(note, "metadata") : NULL;
	if (!md || !cJSON_AddStringToObject(note, "id", n->id) ||
	    !cJSON_AddStringToObject(md, "status", status) ||
	    !(error ? cJSON_AddStringToObject(md, "error", error) : cJSON_AddNullToObject(md, "error"))) {
		cJSON_Delete(note);
		return;
	}
	runtime_new_id(rt, rid);
	runtime_write(rt, write_build(WRITE_PATCH, rid, AGENTBUS_ORIGIN, note));
}

/* Drops `spec` from the maps and the state, and frees it. */
static void forget(struct agent_runtime *rt, struct agent_spec *spec)
{
	strmap_remove(&rt->agents, spec->name);
	strmap_remove(&rt->definitions, spec->definition);
	if (state_agent_delete(rt->state, spec->name) != 0)
		log_error("registry: cannot forget agent %s", spec->name);
	agent_spec_free(spec);
	free(spec);
}

static void unregister(struct agent_runtime *rt, struct agent_spec *spec, const char *why)
{
	char *topic = topics_agent(rt->topics, spec->name, "definition");

	log_info("agent %s unregistered (%s)", spec->name, why);
	/* An empty retained message clears the entry. */
	if (topic)
		runtime_send(rt, &(struct bus_publish){ .topic = topic, .payload = "",
							.retain = true });
	free(topic);
	forget(rt, spec);
}

/* A definition that cannot be used: said where it can be seen, and the agent
 * that was registered from this note (if any) keeps running. */
static void refuse(struct agent_runtime *rt, const struct vault_event *ev,
		   const struct bus_message *msg, const char *error)
{
	const struct agent_spec *prev = strmap_get(&rt->definitions, ev->note.id);
	const char *name = agentdef_name(&ev->note);
	struct bus_error err;

	if (prev && !name)
		name = prev->name;
	if (name)
		publish_entry(rt, name, &ev->note, prev, error);
	stamp_status(rt, &ev->note, error);
	bus_fail(&err, REASON_INVALID_DEFINITION, "%s", error);
	rt->sink.deadletter(rt->sink.arg, msg, &err);
}

static int remember(struct agent_runtime *rt, struct agent_spec *spec)
{
	cJSON *j = agent_spec_to_json(spec);
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;
	int rc = text ? state_agent_put(rt->state, spec->name, spec->definition, text) : -1;

	if (rc == 0 && (strmap_put(&rt->agents, spec->name, spec) != 0 ||
			strmap_put(&rt->definitions, spec->definition, spec) != 0))
		rc = -1;
	cJSON_Delete(j);
	free(text);
	return rc;
}

/* True when `a` and `b` describe the same agent. */
static bool same_spec(const struct agent_spec *a, const struct agent_spec *b)
{
	cJSON *ja = agent_spec_to_json(a), *jb = agent_spec_to_json(b);
	bool same = ja && jb && cJSON_Compare(ja, jb, true);

	cJSON_Delete(ja);
	cJSON_Delete(jb);
	return same;
}

static void register_spec(struct agent_runtime *rt, const struct vault_event *ev,
			  const struct bus_message *msg, struct agent_spec *spec)
{
	struct agent_spec *prev = strmap_get(&rt->definitions, ev->note.id);
	struct agent_spec *owner = strmap_get(&rt->agents, spec->name);
	char error[256];

	if (owner && owner != prev) {
		snprintf(error, sizeof error, "an agent named \"%s\" already exists (note %s)",
			 spec->name, owner->definition);
		agent_spec_free(spec);
		free(spec);
		refuse(rt, ev, msg, error);
		return;
	}
	if (prev && same_spec(prev, spec)) {
		log_debug("agent %s: definition unchanged", spec->name);
		stamp_status(rt, &ev->note, NULL);
		agent_spec_free(spec);
		free(spec);
		return;
	}
	/* A new name clears the old one's entry; the same name is simply
	 * replaced by the entry published below. */
	if (prev && strcmp(prev->name, spec->name) != 0)
		unregister(rt, prev, "renamed");
	else if (prev)
		forget(rt, prev);
	if (remember(rt, spec) != 0) {
		log_error("registry: cannot register agent %s", spec->name);
		agent_spec_free(spec);
		free(spec);
		return;
	}
	log_info("agent %s registered from note %s (%s, engine %s)", spec->name, ev->note.id,
		 agent_mode_name(spec->mode), spec->engine);
	publish_entry(rt, spec->name, &ev->note, spec, NULL);
	stamp_status(rt, &ev->note, NULL);
	runtime_schedule(rt);
}

void registry_definition(struct agent_runtime *rt, const struct vault_event *ev,
			 const struct bus_message *msg)
{
	struct agent_spec *spec, *prev = strmap_get(&rt->definitions, ev->note.id);
	char error[512];

	if (ev->event == NOTE_DELETED) {
		if (prev)
			unregister(rt, prev, "definition note deleted");
		return;
	}
	/* Our own status stamp coming back: nothing to do. */
	if (ev->event == NOTE_UPDATED && ev->origin && strcmp(ev->origin, AGENTBUS_ORIGIN) == 0)
		return;
	spec = calloc(1, sizeof *spec);
	if (!spec)
		return;
	if (agentdef_parse(&ev->note, rt->opt.vault, &rt->opt.defaults, spec, error,
			   sizeof error) != 0) {
		free(spec);
		log_warn("definition note %s refused: %s", ev->note.id, error);
		refuse(rt, ev, msg, error);
		return;
	}
	register_spec(rt, ev, msg, spec);
}

void registry_observe(struct agent_runtime *rt, const struct vault_event *ev)
{
	struct agent_spec *prev;

	if (ev->event != NOTE_UPDATED || tags_contain(ev->note.tags, "agent/definition"))
		return;
	prev = strmap_get(&rt->definitions, ev->note.id);
	if (prev)
		unregister(rt, prev, "tag agent/definition removed");
}
