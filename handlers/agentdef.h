/* handlers/agentdef: a note tagged agent/definition -> an agent spec, with
 * the reference's fields, coercions and error wording
 * (parachute-agent-behaviour.md section 3.2) plus agentbus's `engine` and
 * `timeout`. Pure: no bus, no state. */
#ifndef AB_HANDLERS_AGENTDEF_H
#define AB_HANDLERS_AGENTDEF_H

#include <stdbool.h>
#include <stddef.h>

#include "bus/event.h"
#include "sandbox/policy.h"

struct cJSON;

enum agent_mode { MODE_SINGLE, MODE_MULTI };
enum agent_backend { BACKEND_PROGRAMMATIC, BACKEND_ATTACHED };
enum prompt_mode { PROMPT_APPEND, PROMPT_REPLACE };

#define AGENT_NAME_MAX 64
#define AGENT_TIMEOUT_MAX 86400

/* Everything a registered agent is; all strings owned. */
struct agent_spec {
	char *name;
	char *definition;	/* the definition note's id */
	char *path;		/* its path, or NULL */
	char *vault;
	enum agent_mode mode;
	enum agent_backend backend;
	enum prompt_mode prompt_mode;
	char *system_prompt;	/* the untrimmed body; NULL when blank */
	char *model;		/* NULL: the engine's default */
	char *engine;
	int timeout;		/* seconds */
	double max_turn_cost_usd;	/* 0: no cap */
	double max_daily_cost_usd;	/* 0: no cap; per UTC day */
	struct sandbox_policy sandbox;	/* how exec turns are confined */
};

/* Defaults for what a definition does not say. */
struct engines;

struct agentdef_defaults {
	const char *engine;
	int timeout;
	/* The engines a definition may name; NULL: the bare kinds only. */
	const struct engines *engines;
};

/* Parses `n`. Returns 0 with `out` filled, or -1 with the reference's message
 * in `err` (`out` then holds nothing to free). */
int agentdef_parse(const struct note *n, const char *vault, const struct agentdef_defaults *d,
		   struct agent_spec *out, char *err, size_t errlen);
void agent_spec_free(struct agent_spec *s);

/* The spec as JSON (for the state and for change detection: two specs are
 * the same definition when their JSON is), and back. */
struct cJSON *agent_spec_to_json(const struct agent_spec *s);
int agent_spec_from_json(const struct cJSON *doc, struct agent_spec *out);

const char *agent_mode_name(enum agent_mode m);

/* The name in a definition note, if it is a valid one: for reporting an
 * error under the right agent. NULL otherwise; borrowed from the note. */
const char *agentdef_name(const struct note *n);

#endif
