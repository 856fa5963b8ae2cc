/* engines/defs: parsing of engine-def lines and the kinds' defaults. */
#include "engines/defs.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 4096

static const char *const kinds[] = { "echo", "gate", "exec", "openai", "anthropic" };

bool engine_kind_known(const char *kind)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(kinds[i], kind) == 0)
			return true;
	return false;
}

void engine_def_free(struct engine_def *d)
{
	free(d->name);
	free(d->kind);
	free(d->base_url);
	free(d->model);
	free(d->api_key_env);
	free(d->command);
	for (size_t i = 0; i < d->n_env; i++)
		free(d->env[i]);
	free(d->env);
	memset(d, 0, sizeof *d);
}

static int set(char **field, const char *value)
{
	char *copy = value ? strdup(value) : NULL;

	if (value && !copy)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

int engine_def_defaults(struct engine_def *d, const char *name, const char *kind)
{
	int rc;

	memset(d, 0, sizeof *d);
	d->max_output = 1024 * 1024;
	d->idle_timeout = 120;
	d->history_turns = 20;
	d->attempts = 3;
	rc = set(&d->name, name) | set(&d->kind, kind);
	if (strcmp(kind, "exec") == 0) {
		/* The reference's engine: claude -p, streaming JSON lines. */
		rc |= set(&d->command, "claude -p --output-format stream-json --verbose");
		d->format = ENGINE_FORMAT_CLAUDE_STREAM_JSON;
	} else if (strcmp(kind, "openai") == 0) {
		rc |= set(&d->base_url, "https://api.openai.com/v1") |
		      set(&d->api_key_env, "OPENAI_API_KEY");
	} else if (strcmp(kind, "anthropic") == 0) {
		rc |= set(&d->base_url, "https://api.anthropic.com") |
		      set(&d->api_key_env, "ANTHROPIC_API_KEY") | set(&d->model, "claude-sonnet-4-5");
	}
	if (rc != 0) {
		engine_def_free(d);
		return -1;
	}
	return 0;
}

/* The next whitespace-separated token of `*p` into `out`; double quotes group
 * (anywhere in a token) and take `\"` and `\\`. 1: a token, 0: the end,
 * -1: an unterminated quote or a token over TOKEN_MAX. */
static int next_token(const char **p, char *out)
{
	const char *s = *p + strspn(*p, " \t");
	bool quoted = false;
	size_t n = 0;

	if (*s == '\0')
		return 0;
	for (; *s && (quoted || (*s != ' ' && *s != '\t')); s++) {
		char c = *s;

		if (c == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted && c == '\\' && (s[1] == '"' || s[1] == '\\'))
			c = *++s;
		if (n + 1 >= TOKEN_MAX)
			return -1;
		out[n++] = c;
	}
	if (quoted)
		return -1;
	out[n] = '\0';
	*p = s;
	return 1;
}

static bool is_slug(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789_-") == n;
}

static int parse_long(const char *v, long min, long max, long *out)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

static int parse_price(const char *v, double *out)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(x) || x < 0 || x > 1e6)
		return -1;
	*out = x;
	return 0;
}

static const struct {
	const char *key;
	size_t offset;
	long min, max;
} int_keys[] = {
	{ "timeout", offsetof(struct engine_def, timeout), 1, 86400 },
	{ "max_output", offsetof(struct engine_def, max_output), 1, 256L << 20 },
	{ "idle_timeout", offsetof(struct engine_def, idle_timeout), 1, 86400 },
	{ "history_turns", offsetof(struct engine_def, history_turns), 0, 1000 },
	{ "attempts", offsetof(struct engine_def, attempts), 1, 10 },
};

static bool is_env_name(const char *s, size_t n)
{
	if (n == 0 || n > 128 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_", s[i]))
			return false;
	return true;
}

/* env=NAME,NAME...: the names, checked, replacing any earlier list. */
static int set_env(struct engine_def *d, const char *v, char *err, size_t errlen)
{
	for (size_t i = 0; i < d->n_env; i++)
		free(d->env[i]);
	d->n_env = 0;
	while (*v) {
		size_t n = strcspn(v, ",");
		char **grown;

		if (!is_env_name(v, n)) {
			snprintf(err, errlen, "env must be variable names separated by commas");
			return -1;
		}
		grown = realloc(d->env, (d->n_env + 1) * sizeof *grown);
		if (!grown || !(grown[d->n_env] = strndup(v, n))) {
			if (grown)
				d->env = grown;
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		d->env = grown;
		d->n_env++;
		v += n + (v[n] == ',');
	}
	return 0;
}

/* One key=value; the message names the key and what it takes. */
static int apply(struct engine_def *d, const char *key, const char *v, char *err, size_t errlen)
{
	long n;

	if (strcmp(key, "base_url") == 0 || strcmp(key, "model") == 0 ||
	    strcmp(key, "api_key_env") == 0 || strcmp(key, "command") == 0) {
		char **field = key[0] == 'b' ? &d->base_url : key[0] == 'm' ? &d->model
			       : key[0] == 'a' ? &d->api_key_env : &d->command;

		if (!*v) {
			snprintf(err, errlen, "%s must not be empty", key);
			return -1;
		}
		if (strcmp(key, "base_url") == 0 && strncmp(v, "http://", 7) != 0 &&
		    strncmp(v, "https://", 8) != 0) {
			snprintf(err, errlen, "base_url must start with http:// or https://");
			return -1;
		}
		return set(field, v);
	}
	if (strcmp(key, "env") == 0)
		return set_env(d, v, err, errlen);
	if (strcmp(key, "format") == 0) {
		if (strcmp(v, "text") == 0)
			d->format = ENGINE_FORMAT_TEXT;
		else if (strcmp(v, "claude-stream-json") == 0)
			d->format = ENGINE_FORMAT_CLAUDE_STREAM_JSON;
		else {
			snprintf(err, errlen, "format must be text or claude-stream-json");
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "price_in") == 0 || strcmp(key, "price_out") == 0) {
		if (parse_price(v, key[6] == 'i' ? &d->price_in : &d->price_out) == 0)
			return 0;
		snprintf(err, errlen, "%s must be USD per million tokens (a number >= 0)", key);
		return -1;
	}
	for (size_t i = 0; i < sizeof int_keys / sizeof int_keys[0]; i++) {
		if (strcmp(key, int_keys[i].key) != 0)
			continue;
		if (parse_long(v, int_keys[i].min, int_keys[i].max, &n) != 0) {
			snprintf(err, errlen, "%s must be a whole number from %ld to %ld", key,
				 int_keys[i].min, int_keys[i].max);
			return -1;
		}
		*(int *)((char *)d + int_keys[i].offset) = (int)n;
		return 0;
	}
	snprintf(err, errlen, "unknown key '%s' (base_url, model, api_key_env, timeout, "
		 "max_output, price_in, price_out, command, format, env, idle_timeout, "
		 "history_turns, attempts)", key);
	return -1;
}

int engine_def_parse(const char *spec, struct engine_def *d, char *err, size_t errlen)
{
	char *tok = malloc(TOKEN_MAX), *kind = malloc(TOKEN_MAX);
	const char *p = spec;
	int rc = -1, got;

	memset(d, 0, sizeof *d);
	if (!tok || !kind) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (next_token(&p, tok) != 1 || next_token(&p, kind) != 1) {
		snprintf(err, errlen, "expected 'NAME KIND key=value ...'");
		goto out;
	}
	if (!is_slug(tok)) {
		snprintf(err, errlen, "engine name '%s' must be 1-64 of A-Z a-z 0-9 _ -", tok);
		goto out;
	}
	if (!engine_kind_known(kind) || strcmp(kind, "gate") == 0) {
		snprintf(err, errlen, "unknown engine kind '%s' (echo, exec, openai, anthropic)",
			 kind);
		goto out;
	}
	if (engine_def_defaults(d, tok, kind) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while ((got = next_token(&p, tok)) == 1) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok) {
			snprintf(err, errlen, "'%s' is not key=value", tok);
			goto fail;
		}
		*eq = '\0';
		if (apply(d, tok, eq + 1, err, errlen) != 0)
			goto fail;
	}
	if (got < 0) {
		snprintf(err, errlen, "unterminated quote or a value over %d bytes", TOKEN_MAX - 1);
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	engine_def_free(d);
out:
	free(tok);
	free(kind);
	return rc;
}
