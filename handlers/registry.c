/* handlers/registry: two maps over the same specs, by agent name (routing)
 * and by definition note id (changes to the note); the state holds the same
 * specs so a restart needs nothing from the vault. */
#include "handlers/registry.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/meta.h"
#include "bus/write.h"
#include "engines/engine.h"
#include "handlers/agentdef.h"
#include "handlers/replica.h"
#include "handlers/notes.h"
#include "handlers/context.h"
#include "state/state.h"
#include "util/clock.h"
#include "util/log.h"

/* Names are unique without regard to case: their thread notes' paths are. */
static void fold(const char *name, char out[AGENT_NAME_MAX + 1])
{
	size_t i = 0;

	for (; name[i] && i < AGENT_NAME_MAX; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[i] = '\0';
}

static int index_spec(struct agent_runtime *rt, struct agent_spec *spec)
{
	char key[AGENT_NAME_MAX + 1];

	fold(spec->name, key);
	if (strmap_put(&rt->agents, spec->name, spec) != 0 ||
	    strmap_put(&rt->folded, key, spec) != 0 ||
	    strmap_put(&rt->definitions, spec->definition, spec) != 0)
		return -1;
	return 0;
}

static void unindex_spec(struct agent_runtime *rt, const struct agent_spec *spec)
{
	char key[AGENT_NAME_MAX + 1];

	fold(spec->name, key);
	if (strmap_get(&rt->agents, spec->name) == spec)
		strmap_remove(&rt->agents, spec->name);
	if (strmap_get(&rt->folded, key) == spec)
		strmap_remove(&rt->folded, key);
	if (strmap_get(&rt->definitions, spec->definition) == spec)
		strmap_remove(&rt->definitions, spec->definition);
}

static void load_row(void *arg, const char *const cols[4])
{
	struct agent_runtime *rt = arg;
	struct agent_spec *spec = calloc(1, sizeof *spec);
	cJSON *doc = cJSON_Parse(cols[1]);

	if (spec && doc && agent_spec_from_json(doc, spec) == 0 && index_spec(rt, spec) == 0) {
		cJSON_Delete(doc);
		return;
	}
	log_error("registry: cannot load agent %s from the state", cols[0]);
	if (spec && spec->name) {
		unindex_spec(rt, spec);
		agent_spec_free(spec);
	}
	free(spec);
	cJSON_Delete(doc);
}

int registry_load(struct agent_runtime *rt)
{
	return state_agents_load(rt->state, load_row, rt);
}

static void warn_unusable(void *arg, const char *key, void *value)
{
	struct agent_runtime *rt = arg;
	const struct agent_spec *spec = value;
	const char *why = engines_unusable(rt->engines, spec->engine);

	(void)key;
	if (why)
		log_warn("agent %s: its turns fail until a sandbox can be made: %s", spec->name, why);
}

void registry_warn_unusable(struct agent_runtime *rt)
{
	strmap_each(&rt->agents, warn_unusable, rt);
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
	strmap_free(&rt->folded);
	strmap_free(&rt->definitions);
}

/* The retained registry entry (section 4.3); `error` NULL when enabled. */
static int publish_entry(struct agent_runtime *rt, const char *name, const struct note *n,
			 const struct agent_spec *spec, const char *error)
{
	char at[CLOCK_ISO_LEN];
	int rc = -1;
	char *topic = topics_agent(rt->topics, name, "definition");
	cJSON *e = cJSON_CreateObject();

	clock_iso8601(at);
	if (topic && e && notes_add(e, "name", name) &&
	    notes_add(e, "status", error ? "error" : "enabled") && notes_add(e, "error", error) &&
	    notes_add(e, "definition", n->id) && notes_add(e, "path", n->path ? n->path : "") &&
	    notes_add(e, "mode", agent_mode_name(spec ? spec->mode : MODE_SINGLE)) &&
	    notes_add(e, "engine", spec ? spec->engine : rt->opt.defaults.engine) &&
	    notes_add(e, "model", spec ? spec->model : NULL) &&
	    notes_add(e, "sandbox", spec ? engines_confinement(rt->engines, spec->engine) : NULL) &&
	    notes_add(e, "vault", rt->opt.vault) && notes_add(e, "updated_at", at))
		rc = ctx_send_doc(rt, topic, e, true, SIZE_MAX);
	cJSON_Delete(e);
	free(topic);
	return rc;
}

/* The definition note's status, patched only when it changes. */
static int stamp_status(struct agent_runtime *rt, const struct note *n, const char *error)
{
	const char *status = error ? "error" : "enabled";
	const char *had_status = meta_str(n->metadata, "status");
	const char *had_error = meta_str(n->metadata, "error");
	char rid[ULID_LEN + 1];
	cJSON *note, *md;

	if (had_status && strcmp(had_status, status) == 0 &&
	    (error ? had_error && strcmp(had_error, error) == 0 : !had_error))
		return 0;
	note = cJSON_CreateObject();
	md = note ? cJSON_AddObjectToObject(note, "metadata") : NULL;
	if (!md || !cJSON_AddStringToObject(note, "id", n->id) ||
	    !cJSON_AddStringToObject(md, "status", status) ||
	    !(error ? cJSON_AddStringToObject(md, "error", error) : cJSON_AddNullToObject(md, "error"))) {
		cJSON_Delete(note);
		return -1;
	}
	ctx_new_id(rt, rid);
	return ctx_write(rt, write_build(WRITE_PATCH, rid, AGENTBUS_ORIGIN, note));
}

/* Drops `spec` from the maps and the state, and frees it. */
static int forget(struct agent_runtime *rt, struct agent_spec *spec)
{
	int rc = state_agent_delete(rt->state, spec->name);

	if (rc == 0)
		rc = replica_agent(rt, spec->name, NULL, NULL);

	unindex_spec(rt, spec);
	agent_spec_free(spec);
	free(spec);
	return rc;
}

static int unregister(struct agent_runtime *rt, struct agent_spec *spec, const char *why)
{
	char *topic = topics_agent(rt->topics, spec->name, "definition");
	int rc = -1;

	log_info("agent %s unregistered (%s)", spec->name, why);
	/* An empty retained message clears the entry. */
	if (topic)
		rc = ctx_send(rt, &(struct bus_publish){ .topic = topic, .payload = "",
							 .retain = true });
	free(topic);
	return forget(rt, spec) == 0 ? rc : -1;
}

/* The spec registered under a name equal to `name` but for case, if any. */
static struct agent_spec *owner_of(struct agent_runtime *rt, const char *name)
{
	char key[AGENT_NAME_MAX + 1];

	fold(name, key);
	return strmap_get(&rt->folded, key);
}

/* A definition that cannot be used: said where it can be seen, and the agent
 * that was registered from this note (if any) keeps running. The retained
 * entry is this note's to write only when no other note owns the name. */
static int refuse(struct agent_runtime *rt, const struct vault_event *ev,
		  const struct bus_message *msg, const char *error)
{
	const struct agent_spec *prev = strmap_get(&rt->definitions, ev->note.id);
	const char *name = agentdef_name(&ev->note);
	const struct agent_spec *owner;
	int rc = 0;

	if (prev && !name)
		name = prev->name;
	owner = name ? owner_of(rt, name) : NULL;
	if (name && (!owner || owner == prev))
		rc = publish_entry(rt, prev ? prev->name : name, &ev->note, prev, error);
	if (rc == 0)
		rc = stamp_status(rt, &ev->note, error);
	ctx_deadletter(rt, msg, REASON_INVALID_DEFINITION, "%s", error);
	return rc;
}

static int remember(struct agent_runtime *rt, struct agent_spec *spec)
{
	cJSON *j = agent_spec_to_json(spec);
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;
	int rc = text ? state_agent_put(rt->state, spec->name, spec->definition, text) : -1;

	if (rc == 0)
		rc = replica_agent(rt, spec->name, spec->definition, text);

	if (rc == 0 && index_spec(rt, spec) != 0) {
		unindex_spec(rt, spec);
		rc = -1;
	}
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

static int register_spec(struct agent_runtime *rt, const struct vault_event *ev,
			 const struct bus_message *msg, struct agent_spec *spec)
{
	struct agent_spec *prev = strmap_get(&rt->definitions, ev->note.id);
	struct agent_spec *owner = owner_of(rt, spec->name);
	char error[256];
	int rc = 0;

	if (owner && owner != prev) {
		snprintf(error, sizeof error, "an agent named \"%s\" already exists (note %s)%s",
			 owner->name, owner->definition, strcmp(owner->name, spec->name) == 0 ? ""
			 : "; agent names are unique without regard to case");
		agent_spec_free(spec);
		free(spec);
		return refuse(rt, ev, msg, error);
	}
	if (prev && same_spec(prev, spec)) {
		log_debug("agent %s: definition unchanged", spec->name);
		agent_spec_free(spec);
		free(spec);
		return stamp_status(rt, &ev->note, NULL);
	}
	/* A new name clears the old one's entry; the same name is simply
	 * replaced by the entry published below. */
	if (prev && strcmp(prev->name, spec->name) != 0)
		rc = unregister(rt, prev, "renamed");
	else if (prev)
		rc = forget(rt, prev);
	if (rc != 0 || remember(rt, spec) != 0) {
		log_error("registry: cannot register agent %s", spec->name);
		agent_spec_free(spec);
		free(spec);
		return -1;
	}
	log_info("agent %s registered from note %s (%s, engine %s)", spec->name, ev->note.id,
		 agent_mode_name(spec->mode), spec->engine);
	if (publish_entry(rt, spec->name, &ev->note, spec, NULL) != 0)
		return -1;
	return stamp_status(rt, &ev->note, NULL);
}

/* An agent whose turns must be confined is never run unconfined: with no
 * sandbox to be had (and the config not saying `sandbox off`), it is refused.
 * Mounts the reference's leniency drops are said in the log. */
static bool confinement_refused(struct agent_runtime *rt, const struct note *n,
				const struct agent_spec *spec, char *error, size_t len)
{
	const char *why = engines_unusable(rt->engines, spec->engine);

	if (spec->sandbox.mounts_dropped)
		log_warn("agent %s: %zu of its mounts ignored (each needs an absolute hostPath "
			 "and mountPath, not over /, /proc, /dev or /tmp, and mode ro or rw)",
			 spec->name, spec->sandbox.mounts_dropped);
	if (!why)
		return false;
	snprintf(error, len, "#agent/definition note %s: engine \"%s\" runs commands in a "
		 "sandbox, and none can be made here: %s", n->id, spec->engine, why);
	return true;
}

int registry_definition(struct agent_runtime *rt, const struct vault_event *ev,
			const struct bus_message *msg)
{
	struct agent_spec *spec, *prev = strmap_get(&rt->definitions, ev->note.id);
	struct agentdef_defaults defaults;
	char error[512];

	if (ev->event == NOTE_DELETED)
		return prev ? unregister(rt, prev, "definition note deleted") : 0;
	/* Our own status stamp coming back: nothing to do. */
	if (ev->event == NOTE_UPDATED && ev->origin && strcmp(ev->origin, AGENTBUS_ORIGIN) == 0)
		return 0;
	spec = calloc(1, sizeof *spec);
	if (!spec)
		return -1;
	defaults = rt->opt.defaults;
	defaults.engines = rt->engines;
	if (agentdef_parse(&ev->note, rt->opt.vault, &defaults, spec, error, sizeof error) != 0) {
		free(spec);
		log_warn("definition note %s refused: %s", ev->note.id, error);
		return refuse(rt, ev, msg, error);
	}
	if (!ctx_owns(rt, spec->name)) {
		/* Renamed to an agent of another partition, which registers it. */
		agent_spec_free(spec);
		free(spec);
		return prev ? unregister(rt, prev, "renamed into another partition") : 0;
	}
	if (confinement_refused(rt, &ev->note, spec, error, sizeof error)) {
		agent_spec_free(spec);
		free(spec);
		log_warn("definition note %s refused: %s", ev->note.id, error);
		return refuse(rt, ev, msg, error);
	}
	return register_spec(rt, ev, msg, spec);
}

int registry_observe(struct agent_runtime *rt, const struct vault_event *ev)
{
	struct agent_spec *prev;

	if (ev->event != NOTE_UPDATED || tags_contain(ev->note.tags, "agent/definition"))
		return 0;
	prev = strmap_get(&rt->definitions, ev->note.id);
	return prev ? unregister(rt, prev, "tag agent/definition removed") : 0;
}
