/* scope: the hub's scope rules (read < write < admin, other verbs exact,
 * narrowed `resource:name:verb` grants) applied to the topic table of
 * CONTRACT.md section 11. Each grant is a topic filter built from a name
 * that was checked to be a slug, so a scope can never smuggle a wildcard. */
#include "plugin/scope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum verb { VERB_NONE, VERB_SEND, VERB_READ, VERB_WRITE, VERB_ADMIN };

static enum verb verb_of(const char *s, size_t len)
{
	static const struct {
		const char *name;
		enum verb verb;
	} verbs[] = { { "send", VERB_SEND }, { "read", VERB_READ }, { "write", VERB_WRITE },
		      { "admin", VERB_ADMIN } };
	size_t i;

	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strlen(verbs[i].name) == len && memcmp(verbs[i].name, s, len) == 0)
			return verbs[i].verb;
	return VERB_NONE;
}

/* The ladder holds for read, write and admin only: admin implies read, and
 * nothing implies send. */
static bool verb_holds(enum verb granted, enum verb needed)
{
	if (needed == VERB_SEND || granted == VERB_SEND)
		return granted == needed;
	return granted != VERB_NONE && granted >= needed;
}

bool scope_name_valid(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Appends the filter `root/prefix<name>suffix`. */
static int add(char ***list, size_t *n, const char *root, const char *prefix, const char *name,
	       size_t name_len, const char *suffix)
{
	char **grown = realloc(*list, (*n + 1) * sizeof **list);
	char *filter;

	if (!grown)
		return -1;
	*list = grown;
	if (asprintf(&filter, "%s/%s%.*s%s", root, prefix, (int)name_len, name, suffix) < 0)
		return -1;
	(*list)[(*n)++] = filter;
	return 0;
}

struct scope_target {
	struct grants *g;
	const char *root;
	const char *name;	/* "+" for a broad scope */
	size_t name_len;
	bool broad;
};

static int pub(const struct scope_target *t, const char *prefix, const char *suffix)
{
	return add(&t->g->publish, &t->g->n_publish, t->root, prefix, t->name, t->name_len,
		   suffix);
}

static int sub(const struct scope_target *t, const char *prefix, const char *suffix)
{
	return add(&t->g->read, &t->g->n_read, t->root, prefix, t->name, t->name_len, suffix);
}

/* agent:VERB, or agent:A:VERB narrowed to agent A's topics (the instance
 * status stays readable: it names no agent). */
static int grant_agent(const struct scope_target *t, enum verb v)
{
	struct grants *g = t->g;
	int rc = 0;

	if (verb_holds(v, VERB_SEND))
		rc |= pub(t, "agent/", "/inbox");
	if (verb_holds(v, VERB_READ)) {
		/* reply/# also holds the response topics an asker picks (section 11). */
		rc |= sub(t, "agent/", "/reply/#");
		rc |= sub(t, "agent/", "/events");
		rc |= sub(t, "agent/", "/definition");
		rc |= add(&g->read, &g->n_read, t->root, "agentbus/status/+", "", 0, "");
	}
	if (verb_holds(v, VERB_ADMIN) && t->broad) {
		rc |= add(&g->publish, &g->n_publish, t->root, "agent/#", "", 0, "");
		rc |= add(&g->read, &g->n_read, t->root, "agent/#", "", 0, "");
		rc |= add(&g->publish, &g->n_publish, t->root, "agentbus/#", "", 0, "");
		rc |= add(&g->read, &g->n_read, t->root, "agentbus/#", "", 0, "");
	} else if (verb_holds(v, VERB_ADMIN)) {
		rc |= pub(t, "agent/", "/#");
		rc |= sub(t, "agent/", "/#");
	}
	return rc ? -1 : 0;
}

/* vault:V:VERB; the broad vault:VERB names no vault and grants nothing. */
static int grant_vault(const struct scope_target *t, enum verb v)
{
	int rc = 0;

	if (t->broad)
		return 0;
	if (verb_holds(v, VERB_READ))
		rc |= sub(t, "vault/", "/event/#");
	if (verb_holds(v, VERB_WRITE))
		rc |= pub(t, "vault/", "/write");
	if (verb_holds(v, VERB_ADMIN)) {
		rc |= pub(t, "vault/", "/event/#");
		rc |= sub(t, "vault/", "/#");
	}
	return rc ? -1 : 0;
}

/* One scope of `len` bytes: `resource:verb` or `resource:name:verb`. */
static int grant_one(struct grants *g, const char *root, const char *s, size_t len)
{
	struct scope_target t = { .g = g, .root = root, .name = "+", .name_len = 1,
				  .broad = true };
	const char *end = s + len, *c1 = memchr(s, ':', len), *c2, *verb;
	enum verb v;

	if (!c1)
		return 0;
	c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
	verb = c1 + 1;
	if (c2) {
		if (memchr(c2 + 1, ':', (size_t)(end - c2 - 1)) ||
		    !scope_name_valid(c1 + 1, (size_t)(c2 - c1 - 1)))
			return 0;	/* malformed: grants nothing */
		t.name = c1 + 1;
		t.name_len = (size_t)(c2 - c1 - 1);
		t.broad = false;
		verb = c2 + 1;
	}
	v = verb_of(verb, (size_t)(end - verb));
	if (v == VERB_NONE)
		return 0;
	if (c1 - s == 5 && memcmp(s, "agent", 5) == 0)
		return grant_agent(&t, v);
	if (c1 - s == 5 && memcmp(s, "vault", 5) == 0)
		return grant_vault(&t, v);
	return 0;
}

int grants_build(struct grants *g, const char *root, const char *scope, bool everything)
{
	const char *p = scope ? scope : "";

	memset(g, 0, sizeof *g);
	if (everything && (add(&g->publish, &g->n_publish, root, "#", "", 0, "") != 0 ||
			   add(&g->read, &g->n_read, root, "#", "", 0, "") != 0))
		goto fail;
	for (;;) {
		size_t len;

		p += strspn(p, " \t\r\n\f\v");
		len = strcspn(p, " \t\r\n\f\v");
		if (len == 0)
			break;
		if (grant_one(g, root, p, len) != 0)
			goto fail;
		p += len;
	}
	return 0;
fail:
	grants_free(g);
	return -1;
}

void grants_free(struct grants *g)
{
	size_t i;

	for (i = 0; i < g->n_publish; i++)
		free(g->publish[i]);
	for (i = 0; i < g->n_read; i++)
		free(g->read[i]);
	free(g->publish);
	free(g->read);
	memset(g, 0, sizeof *g);
}

/* Length of the topic level starting at `s`. */
static size_t level_len(const char *s)
{
	return strcspn(s, "/");
}

/* Level by level: a grant's `#` covers the rest (and the parent itself, as
 * MQTT matches `a/#` against `a`); a grant's `+` covers one level of
 * anything, the filter's `+` included; a filter's `#` needs a grant's `#`;
 * literals must be equal. Checking against one grant at a time is exact:
 * a filter wildcard matches levels no finite set of literals covers. */
bool filter_covers(const char *grant, const char *filter)
{
	const char *g = grant, *f = filter;

	/* MQTT: wildcards in the first level never match a $ topic. */
	if (f[0] == '$' && (g[0] == '+' || g[0] == '#'))
		return false;
	for (;;) {
		size_t gl = level_len(g), fl = level_len(f);

		if (gl == 1 && g[0] == '#')
			return true;
		if (fl == 1 && f[0] == '#')
			return false;
		if (!(gl == 1 && g[0] == '+') &&
		    !(gl == fl && memcmp(g, f, gl) == 0 && !(fl == 1 && f[0] == '+')))
			return false;
		g += gl;
		f += fl;
		if (*f == '\0')
			return *g == '\0' || strcmp(g, "/#") == 0;
		if (*g == '\0')
			return false;
		g++;
		f++;
	}
}

bool grants_allow(const struct grants *g, enum grant_access access, const char *topic)
{
	char *const *list = access == GRANT_PUBLISH ? g->publish : g->read;
	size_t i, n = access == GRANT_PUBLISH ? g->n_publish : g->n_read;

	for (i = 0; i < n; i++)
		if (filter_covers(list[i], topic))
			return true;
	return false;
}

const char *subscription_filter(const char *sub)
{
	const char *slash;

	if (strncmp(sub, "$share/", 7) != 0)
		return sub;
	slash = strchr(sub + 7, '/');
	if (!slash || slash == sub + 7 || slash[1] == '\0')
		return NULL;
	return slash + 1;
}
