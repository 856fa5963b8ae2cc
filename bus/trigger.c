/* bus/trigger: parsing trigger specs and evaluating the predicate. */
#include "bus/trigger.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/meta.h"

static const char *const default_specs[] = {
	"definition definition events=created,updated,deleted tags=agent/definition",
	"inbound inbound events=created tags=agent/message/inbound"
	" missing_metadata=channel_inbound_rendered_at",
};

static void str_list_free(struct str_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Splits "a,b,c" into `l`; `bare` strips tag hashes. Empty items are errors. */
static int str_list_parse(const char *value, bool bare, struct str_list *l)
{
	const char *p = value;

	str_list_free(l);
	for (;;) {
		size_t n = strcspn(p, ","), len = n;
		char *item = strndup(p, n), **v;
		const char *s = item;

		if (item && bare)
			s = tag_bare(item, &len);
		v = item && len ? realloc(l->v, (l->n + 1) * sizeof *v) : NULL;
		if (!v) {
			free(item);
			return -1;
		}
		memmove(item, s, len);
		item[len] = '\0';
		l->v = v;
		l->v[l->n++] = item;
		p += n;
		if (*p++ != ',')
			return 0;
	}
}

static int parse_events(const char *value, unsigned *events)
{
	const char *p = value;

	*events = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		enum note_event ev = note_event_parse(p, n);

		if (!ev)
			return -1;
		*events |= ev;
		p += n;
		if (*p == ',')
			p++;
	}
	return *events ? 0 : -1;
}

/* Applies one key=value clause to `t`. */
static int apply_clause(struct trigger *t, const char *key, const char *value, char *msg,
			size_t msglen)
{
	int rc = 0;

	if (strcmp(key, "events") == 0)
		rc = parse_events(value, &t->events);
	else if (strcmp(key, "tags") == 0)
		rc = str_list_parse(value, true, &t->tags);
	else if (strcmp(key, "has_metadata") == 0)
		rc = str_list_parse(value, false, &t->has_metadata);
	else if (strcmp(key, "missing_metadata") == 0)
		rc = str_list_parse(value, false, &t->missing_metadata);
	else if (strcmp(key, "has_content") == 0 && strcmp(value, "true") == 0)
		t->has_content = 1;
	else if (strcmp(key, "has_content") == 0 && strcmp(value, "false") == 0)
		t->has_content = 0;
	else if (strcmp(key, "has_content") == 0)
		rc = -1;
	else {
		snprintf(msg, msglen, "unknown trigger clause '%s=%s' (events, tags, has_metadata, "
			 "missing_metadata, has_content)", key, value);
		return -1;
	}
	if (rc != 0)
		snprintf(msg, msglen, "bad value for %s: '%s'", key, value);
	return rc;
}

int trigger_parse(const char *spec, struct trigger *out, char *msg, size_t msglen)
{
	char *copy = strdup(spec), *save = NULL, *word;
	int rc = -1, i = 0;

	memset(out, 0, sizeof *out);
	out->has_content = -1;
	out->events = NOTE_CREATED | NOTE_UPDATED;	/* the vault's default */
	if (!copy) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	for (word = strtok_r(copy, " \t", &save); word; word = strtok_r(NULL, " \t", &save), i++) {
		char *eq = strchr(word, '=');

		if (i == 0) {
			if (eq || !(out->name = strdup(word)))
				goto bad_name;
		} else if (i == 1) {
			if (strcmp(word, "definition") == 0) {
				out->action = TRIGGER_DEFINITION;
			} else if (strcmp(word, "inbound") == 0) {
				out->action = TRIGGER_INBOUND;
			} else {
				snprintf(msg, msglen, "unknown trigger action '%s' (definition, inbound)",
					 word);
				goto out;
			}
		} else if (!eq) {
			snprintf(msg, msglen, "'%s' is not a key=value clause", word);
			goto out;
		} else {
			*eq = '\0';
			if (apply_clause(out, word, eq + 1, msg, msglen) != 0)
				goto out;
		}
	}
	if (i < 2) {
		snprintf(msg, msglen, "a trigger needs a NAME and an ACTION");
		goto out;
	}
	rc = 0;
	goto out;
bad_name:
	snprintf(msg, msglen, "a trigger starts with its NAME");
out:
	free(copy);
	if (rc != 0)
		trigger_free(out);
	return rc;
}

void trigger_free(struct trigger *t)
{
	free(t->name);
	str_list_free(&t->tags);
	str_list_free(&t->has_metadata);
	str_list_free(&t->missing_metadata);
	memset(t, 0, sizeof *t);
}

static bool content_blank(const char *s)
{
	if (!s)
		return true;
	while (*s && isspace((unsigned char)*s))
		s++;
	return *s == '\0';
}

/* The vault skips a note that carries the trigger's own claim or result. */
static bool has_own_marker(const struct trigger *t, const struct note *n)
{
	char key[300];

	snprintf(key, sizeof key, "%s_pending_at", t->name);
	if (meta_truthy(n->metadata, key))
		return true;
	snprintf(key, sizeof key, "%s_rendered_at", t->name);
	return meta_truthy(n->metadata, key);
}

bool trigger_match(const struct trigger *t, const struct vault_event *ev)
{
	const struct note *n = &ev->note;

	if (!(t->events & ev->event))
		return false;
	if (ev->event == NOTE_DELETED)
		return true;
	if (has_own_marker(t, n))
		return false;
	for (size_t i = 0; i < t->tags.n; i++)
		if (!n->tags || !tags_contain(n->tags, t->tags.v[i]))
			return false;
	if (t->has_content >= 0 && content_blank(n->content) == (t->has_content == 1))
		return false;
	for (size_t i = 0; i < t->missing_metadata.n; i++)
		if (meta_present(n->metadata, t->missing_metadata.v[i]))
			return false;
	for (size_t i = 0; i < t->has_metadata.n; i++)
		if (!meta_present(n->metadata, t->has_metadata.v[i]))
			return false;
	return true;
}

int trigger_set_put(struct trigger_set *set, struct trigger *t)
{
	struct trigger *v;

	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->v[i].name, t->name) == 0) {
			trigger_free(&set->v[i]);
			set->v[i] = *t;
			return 0;
		}
	}
	v = set->n < TRIGGER_SET_MAX ? realloc(set->v, (set->n + 1) * sizeof *v) : NULL;
	if (!v) {
		trigger_free(t);
		return -1;
	}
	set->v = v;
	set->v[set->n++] = *t;
	return 0;
}

int trigger_set_defaults(struct trigger_set *set)
{
	char msg[256];

	for (size_t i = 0; i < sizeof default_specs / sizeof default_specs[0]; i++) {
		struct trigger t;

		if (trigger_parse(default_specs[i], &t, msg, sizeof msg) != 0 ||
		    trigger_set_put(set, &t) != 0)
			return -1;
	}
	return 0;
}

void trigger_set_free(struct trigger_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		trigger_free(&set->v[i]);
	free(set->v);
	set->v = NULL;
	set->n = 0;
}
