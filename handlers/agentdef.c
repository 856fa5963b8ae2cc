/* handlers/agentdef: field by field as the reference's parseAgentDef, in its
 * order, so the first error reported is the one the reference reports. */
#include "handlers/agentdef.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bus/meta.h"
#include "engines/defs.h"
#include "engines/engine.h"


const char *agent_mode_name(enum agent_mode m)
{
	return m == MODE_MULTI ? "multi-threaded" : "single-threaded";
}

static bool is_slug(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static bool is_model_name(const char *s)
{
	if (!isalnum((unsigned char)*s))
		return false;
	for (s++; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._:-", *s))
			return false;
	return true;
}

static bool blank(const char *s)
{
	while (s && *s && isspace((unsigned char)*s))
		s++;
	return !s || !*s;
}

/* The reference's metaStr: a trimmed non-empty string, or a number or
 * boolean as text; anything else is absent. malloc'd or NULL. */
static char *meta_field(const cJSON *metadata, const char *key)
{
	const cJSON *v = metadata ? cJSON_GetObjectItemCaseSensitive(metadata, key) : NULL;
	char *s, *start, *end;

	if (!cJSON_IsString(v) && !cJSON_IsNumber(v) && !cJSON_IsBool(v))
		return NULL;
	s = meta_text(metadata, key);
	if (!s)
		return NULL;
	for (start = s; isspace((unsigned char)*start); start++)
		;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	memmove(s, start, (size_t)(end - start) + 1);
	if (!*s) {
		free(s);
		return NULL;
	}
	return s;
}

const char *agentdef_name(const struct note *n)
{
	const char *name = meta_str(n->metadata, "name");

	return name && is_slug(name) && strlen(name) <= AGENT_NAME_MAX ? name : NULL;
}

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* The reference's slugs: vault and service names, and surface names (which
 * start with a letter or digit and are at most 64 long). */
static bool is_surface_slug(const char *s, size_t n)
{
	if (n == 0 || n > 64 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

static bool is_slug_n(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return n > 0;
}

/* `s` without leading and trailing white space, as [p, p + *n). */
static const char *trimmed(const char *s, size_t *n)
{
	size_t len = strlen(s);

	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	*n = len;
	return s;
}

/* The env var a service's grant sets (the reference's serviceEnvVar). */
static void service_env_var(const char *service, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	bool gap = false;

	if (n == 6 && strncmp(service, "github", 6) == 0) {
		snprintf(out, cap, "GITHUB_TOKEN");
		return;
	}
	if (n == 10 && strncmp(service, "cloudflare", 10) == 0) {
		snprintf(out, cap, "CLOUDFLARE_API_TOKEN");
		return;
	}
	for (size_t i = 0; i < n && o + 8 < cap; i++) {
		char c = (char)toupper((unsigned char)service[i]);

		if (isalnum((unsigned char)c) && !(c & 0x80)) {
			out[o++] = c;
			gap = false;
		} else if (!gap) {
			out[o++] = '_';
			gap = true;
		}
	}
	snprintf(out + o, cap - o, "_TOKEN");
}

/* <name>:<verb>, as vault (tags allowed after the verb) or surface. */
static int check_named_verb(const char *entry, const char *rest, bool vault, char *err,
			    size_t errlen)
{
	const char *kind = vault ? "vault" : "surface", *colon = strchr(rest, ':'), *verb;
	size_t name_len, verb_len;

	if (!colon) {
		snprintf(err, errlen, "wants: \"%s\" is malformed — a %s connection needs a verb: "
			 "\"%s:<name>:<read|write>\".", entry, kind, kind);
		return -1;
	}
	name_len = (size_t)(colon - rest);
	if (vault ? !is_slug_n(rest, name_len) : !is_surface_slug(rest, name_len)) {
		snprintf(err, errlen, "wants: \"%s\" — %s name \"%.*s\" must be a slug "
			 "(alphanumeric, dash, underscore%s).", entry, kind, (int)name_len, rest,
			 vault ? "" : "; no slashes or dots");
		return -1;
	}
	verb = colon + 1;
	verb_len = vault && strchr(verb, '#') ? (size_t)(strchr(verb, '#') - verb) : strlen(verb);
	while (verb_len && isspace((unsigned char)*verb)) {
		verb++;
		verb_len--;
	}
	while (verb_len && isspace((unsigned char)verb[verb_len - 1]))
		verb_len--;
	if ((verb_len == 4 && strncmp(verb, "read", 4) == 0) ||
	    (verb_len == 5 && strncmp(verb, "write", 5) == 0))
		return 0;
	snprintf(err, errlen, "wants: \"%s\" — %s access must be \"read\" or \"write\" (got "
		 "\"%.*s\").", entry, kind, (int)verb_len, verb);
	return -1;
}

static int check_service(const char *entry, const char *service, char *err, size_t errlen)
{
	static const char *const protected[] = { "ANTHROPIC_API_KEY", "CLAUDE_API_KEY",
						  "CLAUDE_CODE_OAUTH_TOKEN", NULL };
	size_t n;
	const char *t = trimmed(service, &n);
	char var[160];

	if (!is_slug_n(t, n)) {
		snprintf(err, errlen, "wants: \"%s\" — service name \"%.*s\" must be a slug "
			 "(alphanumeric, dash, underscore).", entry, (int)n, t);
		return -1;
	}
	service_env_var(t, n, var, sizeof var);
	if (!in_list(protected, var))
		return 0;
	snprintf(err, errlen, "wants: \"%s\" — service \"%.*s\" maps to the protected env var "
		 "%s, which a grant can never set (it's the session's managed Claude auth).",
		 entry, (int)n, t, var);
	return -1;
}

/* mcp:<http(s) URL>: a scheme, then a host. */
static int check_mcp_url(const char *entry, const char *url, char *err, size_t errlen)
{
	const char *host = strstr(url, "://") + 3;

	if (*host && !strchr("/?#", *host) && !strpbrk(url, " \t"))
		return 0;
	snprintf(err, errlen, "wants: \"%s\" — \"%s\" is not a valid URL.", entry, url);
	return -1;
}

/* One `wants` entry, as the reference's parseOneWant; 0 or -1 with `err`. */
static int check_want(const char *entry, char *err, size_t errlen)
{
	const char *colon = strchr(entry, ':'), *rest;
	size_t kind_len;

	if (!colon) {
		snprintf(err, errlen, "wants: \"%s\" is malformed — expected \"<kind>:<target>…\" "
			 "(e.g. \"vault:research:read\", \"env:github\", \"mcp:https://…\").", entry);
		return -1;
	}
	kind_len = (size_t)(colon - entry);
	rest = colon + 1;
	if (kind_len == 5 && strncmp(entry, "vault", 5) == 0)
		return check_named_verb(entry, rest, true, err, errlen);
	if (kind_len == 7 && strncmp(entry, "surface", 7) == 0)
		return check_named_verb(entry, rest, false, err, errlen);
	if (kind_len == 3 && strncmp(entry, "env", 3) == 0)
		return check_service(entry, rest, err, errlen);
	if (kind_len == 3 && strncmp(entry, "mcp", 3) == 0) {
		if (strncasecmp(rest, "http://", 7) == 0 || strncasecmp(rest, "https://", 8) == 0)
			return check_mcp_url(entry, rest, err, errlen);
		return check_service(entry, rest, err, errlen);
	}
	snprintf(err, errlen, "wants: \"%s\" has unknown kind \"%.*s\" — expected one of "
		 "vault | surface | env | mcp.", entry, (int)kind_len, entry);
	return -1;
}

/* The reference's metaList: an array's items (as strings), or a string split
 * on commas and white space. Fills `err` for the first malformed entry. */
static int check_wants(const cJSON *metadata, const char *label, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(metadata, "wants"), *it;
	char *text = NULL, *save = NULL, *w, problem[512];
	int rc = 0;

	if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach(it, v) {
			char *item = cJSON_IsString(it) ? strdup(it->valuestring)
							: cJSON_PrintUnformatted(it);
			size_t n;
			const char *p = item ? trimmed(item, &n) : NULL;

			if (p && n) {
				char *entry = strndup(p, n);

				if (entry && check_want(entry, problem, sizeof problem) != 0) {
					snprintf(err, errlen, "%s: %s", label, problem);
					rc = -1;
				}
				free(entry);
			}
			free(item);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (!cJSON_IsString(v) || !(text = strdup(v->valuestring)))
		return 0;
	for (w = strtok_r(text, ", \t\r\n", &save); w && rc == 0;
	     w = strtok_r(NULL, ", \t\r\n", &save)) {
		if (check_want(w, problem, sizeof problem) != 0) {
			snprintf(err, errlen, "%s: %s", label, problem);
			rc = -1;
		}
	}
	free(text);
	return rc;
}

/* Every enumerated field; on error `err` says which. */
static int parse_choices(const cJSON *md, const struct note *n, const char *label,
			 struct agent_spec *s, char *err, size_t errlen)
{
	char *backend = meta_field(md, "backend"), *mode = meta_field(md, "mode");
	char *spm = meta_field(md, "systemPromptMode");
	int rc = -1;

	if (!backend || strcmp(backend, "programmatic") == 0)
		s->backend = BACKEND_PROGRAMMATIC;
	else if (strcmp(backend, "attached") == 0 || strcmp(backend, "channel") == 0)
		s->backend = BACKEND_ATTACHED;
	else if (strcmp(backend, "interactive") == 0) {
		snprintf(err, errlen, "%s: the \"interactive\" backend is retired — use "
			 "\"programmatic\" (daemon-run turns, the default) or \"attached\" (handled "
			 "by a Claude Code session you connect to the channel).", label);
		goto out;
	} else {
		snprintf(err, errlen, "%s: backend must be \"programmatic\" or \"attached\"", label);
		goto out;
	}
	if (!mode || strcmp(mode, "single-threaded") == 0 || strcmp(mode, "resident") == 0)
		s->mode = MODE_SINGLE;
	else if (strcmp(mode, "multi-threaded") == 0 || strcmp(mode, "one-shot") == 0 ||
		 strcmp(mode, "per-thread") == 0)
		s->mode = MODE_MULTI;
	else {
		snprintf(err, errlen, "%s: mode must be \"single-threaded\" or \"multi-threaded\"",
			 label);
		goto out;
	}
	/* Only a definition with a body has a prompt whose mode matters. */
	s->prompt_mode = PROMPT_APPEND;
	if (!blank(n->content) && spm && strcmp(spm, "replace") == 0)
		s->prompt_mode = PROMPT_REPLACE;
	else if (!blank(n->content) && spm && strcmp(spm, "append") != 0) {
		snprintf(err, errlen, "%s: systemPromptMode must be \"append\" or \"replace\"", label);
		goto out;
	}
	rc = 0;
out:
	free(backend);
	free(mode);
	free(spm);
	return rc;
}

static bool engine_named(const struct agentdef_defaults *d, const char *name)
{
	return d->engines ? engines_find(d->engines, name) != NULL : engine_kind_known(name);
}

/* A budget field: absent (0), or US dollars above 0. */
static int parse_budget(const cJSON *md, const char *key, const char *label, double *out,
			char *err, size_t errlen)
{
	char *v = meta_field(md, key), *end = NULL;
	double x = 0;

	if (v) {
		errno = 0;
		x = strtod(v, &end);
		if (errno || end == v || *end || !isfinite(x) || x <= 0 || x > 1e6) {
			snprintf(err, errlen, "%s: %s must be an amount of US dollars above 0", label,
				 key);
			free(v);
			return -1;
		}
	}
	free(v);
	*out = x;
	return 0;
}

/* The free-form fields with a shape: model, workspace, filesystem, network,
 * wants, and agentbus's engine and timeout. */
static int parse_shaped(const cJSON *md, const char *label, const struct agentdef_defaults *d,
			struct agent_spec *s, char *err, size_t errlen)
{
	char *ws = meta_field(md, "workspace"), *fs = meta_field(md, "filesystem");
	char *net = meta_field(md, "network"), *timeout = meta_field(md, "timeout");
	char *end = NULL;
	long t = d->timeout;
	int rc = -1;

	s->model = meta_field(md, "model");
	s->engine = meta_field(md, "engine");
	if (s->model && !is_model_name(s->model))
		snprintf(err, errlen, "%s: model \"%s\" is not a valid model name (letters, numbers, "
			 "dot, underscore, colon, dash)", label, s->model);
	else if (ws && ws[0] != '/')
		snprintf(err, errlen, "%s: workspace must be an absolute path (start with \"/\")",
			 label);
	else if (fs && strcmp(fs, "workspace") != 0 && strcmp(fs, "full") != 0)
		snprintf(err, errlen, "%s: filesystem must be \"workspace\" or \"full\"", label);
	else if (net && strcmp(net, "open") != 0 && strcmp(net, "restricted") != 0)
		snprintf(err, errlen, "%s: network must be \"open\" or \"restricted\"", label);
	else if (check_wants(md, label, err, errlen) != 0)
		;
	else if (s->engine && !engine_named(d, s->engine))
		snprintf(err, errlen, "%s: engine \"%s\" is not configured (an engine-def name, or "
			 "\"echo\", \"exec\", \"openai\", \"anthropic\")", label, s->engine);
	else if (timeout && ((t = strtol(timeout, &end, 10)) < 1 || t > AGENT_TIMEOUT_MAX || *end))
		snprintf(err, errlen, "%s: timeout must be a whole number of seconds from 1 to %d",
			 label, AGENT_TIMEOUT_MAX);
	else if (parse_budget(md, "max_turn_cost_usd", label, &s->max_turn_cost_usd, err,
			      errlen) != 0 ||
		 parse_budget(md, "max_daily_cost_usd", label, &s->max_daily_cost_usd, err,
			      errlen) != 0)
		;
	else if (sandbox_policy_read_lists(md, &s->sandbox) != 0)
		snprintf(err, errlen, "%s: out of memory", label);
	else
		rc = 0;
	s->timeout = (int)t;
	s->sandbox.fs = fs && strcmp(fs, "full") == 0 ? SANDBOX_FS_FULL : SANDBOX_FS_WORKSPACE;
	s->sandbox.net = net && strcmp(net, "restricted") == 0 ? SANDBOX_NET_RESTRICTED
							       : SANDBOX_NET_OPEN;
	if (rc == 0 && ws && !(s->sandbox.workspace = strdup(ws)))
		rc = -1;
	if (rc == 0 && !s->engine && !(s->engine = strdup(d->engine)))
		rc = -1;
	free(ws);
	free(fs);
	free(net);
	free(timeout);
	return rc;
}

int agentdef_parse(const struct note *n, const char *vault, const struct agentdef_defaults *d,
		   struct agent_spec *out, char *err, size_t errlen)
{
	const cJSON *md = n->metadata;
	char label[NOTE_ID_MAX + 32];
	char *name = meta_field(md, "name");

	memset(out, 0, sizeof *out);
	snprintf(label, sizeof label, "#agent/definition note %s", n->id);
	if (!name) {
		snprintf(err, errlen, "%s has no metadata.name", label);
		return -1;
	}
	out->name = name;
	if (!is_slug(name))
		snprintf(err, errlen, "%s: name \"%s\" must be a slug (alphanumeric, dash, underscore)",
			 label, name);
	else if (strlen(name) > AGENT_NAME_MAX)
		snprintf(err, errlen, "%s: name \"%s\" is longer than %d characters", label, name,
			 AGENT_NAME_MAX);
	else if (parse_choices(md, n, label, out, err, errlen) == 0 &&
		 parse_shaped(md, label, d, out, err, errlen) == 0) {
		out->definition = strdup(n->id);
		out->path = n->path ? strdup(n->path) : NULL;
		out->vault = strdup(vault);
		out->system_prompt = blank(n->content) ? NULL : strdup(n->content);
		if (out->definition && (!n->path || out->path) && out->vault &&
		    (blank(n->content) || out->system_prompt))
			return 0;
		snprintf(err, errlen, "%s: out of memory", label);
	}
	agent_spec_free(out);
	return -1;
}

void agent_spec_free(struct agent_spec *s)
{
	free(s->name);
	free(s->definition);
	free(s->path);
	free(s->vault);
	free(s->system_prompt);
	free(s->model);
	free(s->engine);
	sandbox_policy_free(&s->sandbox);
	memset(s, 0, sizeof *s);
}

cJSON *agent_spec_to_json(const struct agent_spec *s)
{
	cJSON *j = cJSON_CreateObject();

	if (!j || !cJSON_AddStringToObject(j, "name", s->name) ||
	    !cJSON_AddStringToObject(j, "definition", s->definition) ||
	    (s->path && !cJSON_AddStringToObject(j, "path", s->path)) ||
	    !cJSON_AddStringToObject(j, "vault", s->vault) ||
	    !cJSON_AddStringToObject(j, "mode", agent_mode_name(s->mode)) ||
	    !cJSON_AddStringToObject(j, "backend", s->backend == BACKEND_ATTACHED ? "attached"
									 : "programmatic") ||
	    !cJSON_AddStringToObject(j, "systemPromptMode",
				     s->prompt_mode == PROMPT_REPLACE ? "replace" : "append") ||
	    (s->system_prompt && !cJSON_AddStringToObject(j, "systemPrompt", s->system_prompt)) ||
	    (s->model && !cJSON_AddStringToObject(j, "model", s->model)) ||
	    !cJSON_AddStringToObject(j, "engine", s->engine) ||
	    !cJSON_AddNumberToObject(j, "timeout", s->timeout) ||
	    (s->max_turn_cost_usd > 0 &&
	     !cJSON_AddNumberToObject(j, "max_turn_cost_usd", s->max_turn_cost_usd)) ||
	    (s->max_daily_cost_usd > 0 &&
	     !cJSON_AddNumberToObject(j, "max_daily_cost_usd", s->max_daily_cost_usd)) ||
	    sandbox_policy_to_json(&s->sandbox, j) != 0) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

int agent_spec_from_json(const cJSON *doc, struct agent_spec *out)
{
	const char *mode = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "mode"));
	const char *backend = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "backend"));
	const char *spm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "systemPromptMode"));
	const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(doc, "timeout");

	memset(out, 0, sizeof *out);
	out->name = meta_strdup(doc, "name");
	out->definition = meta_strdup(doc, "definition");
	out->path = meta_strdup(doc, "path");
	out->vault = meta_strdup(doc, "vault");
	out->system_prompt = meta_strdup(doc, "systemPrompt");
	out->model = meta_strdup(doc, "model");
	out->engine = meta_strdup(doc, "engine");
	out->mode = mode && strcmp(mode, "multi-threaded") == 0 ? MODE_MULTI : MODE_SINGLE;
	out->backend = backend && strcmp(backend, "attached") == 0 ? BACKEND_ATTACHED
								    : BACKEND_PROGRAMMATIC;
	out->prompt_mode = spm && strcmp(spm, "replace") == 0 ? PROMPT_REPLACE : PROMPT_APPEND;
	out->timeout = cJSON_IsNumber(timeout) ? timeout->valueint : 0;
	{
		const cJSON *turn = cJSON_GetObjectItemCaseSensitive(doc, "max_turn_cost_usd");
		const cJSON *daily = cJSON_GetObjectItemCaseSensitive(doc, "max_daily_cost_usd");

		out->max_turn_cost_usd = cJSON_IsNumber(turn) ? turn->valuedouble : 0;
		out->max_daily_cost_usd = cJSON_IsNumber(daily) ? daily->valuedouble : 0;
	}
	if (out->name && out->definition && out->vault && out->engine && out->timeout > 0 &&
	    sandbox_policy_from_json(doc, &out->sandbox) == 0)
		return 0;
	agent_spec_free(out);
	return -1;
}
