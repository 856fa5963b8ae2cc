/* bridge/triggers: bus/trigger's structures in the vault's words. */
#include "bridge/triggers.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/rest.h"

static cJSON *strings(const struct str_list *l)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < l->n; i++) {
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(l->v[i]))) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

static int add_list(cJSON *obj, const char *key, const struct str_list *l)
{
	cJSON *a;

	if (l->n == 0)
		return 0;
	a = strings(l);
	if (!a || !cJSON_AddItemToObject(obj, key, a)) {
		cJSON_Delete(a);
		return -1;
	}
	return 0;
}

static cJSON *one(const struct trigger *t, const char *hook_url, const char *bearer)
{
	cJSON *o = cJSON_CreateObject(), *events, *when, *action;
	char name[160];

	snprintf(name, sizeof name, BRIDGE_TRIGGER_PREFIX "%s", t->name);
	if (!o || !cJSON_AddStringToObject(o, "name", name) ||
	    !(events = cJSON_AddArrayToObject(o, "events")) ||
	    !(when = cJSON_AddObjectToObject(o, "when")) ||
	    !(action = cJSON_AddObjectToObject(o, "action")))
		goto fail;
	if (((t->events & NOTE_CREATED) &&
	     !cJSON_AddItemToArray(events, cJSON_CreateString("created"))) ||
	    ((t->events & NOTE_UPDATED) &&
	     !cJSON_AddItemToArray(events, cJSON_CreateString("updated"))))
		goto fail;
	if (add_list(when, "tags", &t->tags) != 0 ||
	    add_list(when, "has_metadata", &t->has_metadata) != 0 ||
	    add_list(when, "missing_metadata", &t->missing_metadata) != 0 ||
	    (t->has_content >= 0 && !cJSON_AddBoolToObject(when, "has_content", t->has_content)))
		goto fail;
	if (!cJSON_AddStringToObject(action, "webhook", hook_url) ||
	    !cJSON_AddStringToObject(action, "send", "json"))
		goto fail;
	if (bearer) {
		cJSON *auth = cJSON_AddObjectToObject(action, "auth");

		if (!auth || !cJSON_AddStringToObject(auth, "bearer", bearer))
			goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

cJSON *bridge_triggers_build(const struct trigger_set *set, const char *hook_url,
			     const char *bearer)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < set->n; i++) {
		cJSON *t;

		if (!(set->v[i].events & (NOTE_CREATED | NOTE_UPDATED)))
			continue;
		t = one(&set->v[i], hook_url, bearer);
		if (!t || !cJSON_AddItemToArray(a, t)) {
			cJSON_Delete(t);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

/* A YAML flow value: JSON's own quoting is YAML's. */
static int put_json(FILE *f, const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);

	if (!s)
		return -1;
	fputs(s, f);
	free(s);
	return 0;
}

char *bridge_triggers_yaml(const cJSON *triggers)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	const cJSON *t, *v;
	int rc = 0;

	if (!f)
		return NULL;
	fputs("triggers:\n", f);
	cJSON_ArrayForEach(t, triggers) {
		const cJSON *action = cJSON_GetObjectItemCaseSensitive(t, "action");

		fputs("  - name: ", f);
		rc |= put_json(f, cJSON_GetObjectItemCaseSensitive(t, "name"));
		fputs("\n    events: ", f);
		rc |= put_json(f, cJSON_GetObjectItemCaseSensitive(t, "events"));
		fputs("\n    when:\n", f);
		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(t, "when")) {
			fprintf(f, "      %s: ", v->string);
			rc |= put_json(f, v);
			fputc('\n', f);
		}
		fputs("    action:\n      webhook: ", f);
		rc |= put_json(f, cJSON_GetObjectItemCaseSensitive(action, "webhook"));
		fputs("\n      send: \"json\"\n", f);
	}
	if (fclose(f) != 0 || rc != 0) {
		free(out);
		return NULL;
	}
	return out;
}

char *bridge_feed_query(const struct trigger_set *set)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	bool any = false;

	if (!f)
		return NULL;
	for (size_t i = 0; i < set->n; i++) {
		const struct trigger *t = &set->v[i];

		if (t->tags.n == 0) {
			/* This trigger may match any note: the feed must carry all. */
			fclose(f);
			free(out);
			return strdup("");
		}
		for (size_t k = 0; k < t->tags.n; k++) {
			char *enc = rest_encode_segment(t->tags.v[k]);

			if (enc)
				fprintf(f, "%stag=%s", any ? "&" : "", enc);
			any = true;
			free(enc);
		}
	}
	if (any)
		fputs("&tag_match=any&expand=exact", f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
