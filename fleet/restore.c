/* fleet/restore: retained records in, state rows out. */
#include "fleet/restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bus/client.h"
#include "handlers/replica.h"
#include "state/state.h"
#include "util/log.h"

static const char *str(const cJSON *doc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The thread's finished turns: seen (their messages, delivered again, are
 * acknowledged without a turn) and carried on in the next record. */
static int take_done(struct state *st, const char *thread, const cJSON *done)
{
	const cJSON *id;
	char key[300];
	int rc = 0;

	cJSON_ArrayForEach(id, done) {
		if (!cJSON_IsString(id) || strlen(id->valuestring) > 256)
			continue;
		snprintf(key, sizeof key, "inbound|%s", id->valuestring);
		if (state_mark_seen(st, key) < 0 ||
		    state_thread_done_add(st, thread, id->valuestring, REPLICA_DONE_KEEP) != 0)
			rc = -1;
	}
	return rc;
}

/* An agent's or a thread's record; 0 when recorded, 1 when unusable, -1
 * when the state failed. */
static int take_state(struct state *st, const char *kind, const cJSON *doc,
		      struct fleet_restored *out)
{
	bool agent = strncmp(kind, "agent/", 6) == 0, thread = strncmp(kind, "thread/", 7) == 0;
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(doc, agent ? "spec" : "meta");
	char *text = cJSON_IsObject(body) ? cJSON_PrintUnformatted(body) : NULL;
	int rc = 1;

	if (strncmp(kind, "answer/", 7) == 0 && str(doc, "inbound") && str(doc, "topic")) {
		rc = state_answer_put(st, str(doc, "inbound"), str(doc, "topic"),
				      str(doc, "correlation"),
				      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "json")));
	} else if (strncmp(kind, "spend/", 6) == 0 && str(doc, "agent") && str(doc, "day") &&
		   cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(doc, "cost"))) {
		rc = state_spend_add(st, str(doc, "agent"), str(doc, "day"),
				     cJSON_GetObjectItemCaseSensitive(doc, "cost")->valuedouble);
	} else if (text && agent && str(doc, "name") && str(doc, "definition")) {
		rc = state_agent_put(st, str(doc, "name"), str(doc, "definition"), text);
		out->agents += rc == 0;
	} else if (text && thread && str(doc, "path") && str(doc, "id")) {
		rc = state_thread_put(st, str(doc, "path"), str(doc, "id"), text);
		if (rc == 0)
			rc = take_done(st, str(doc, "path"),
				       cJSON_GetObjectItemCaseSensitive(doc, "done"));
		out->threads += rc == 0;
	}
	free(text);
	return rc;
}

/* One record; 0 when taken (or skipped as unusable), -1 when it could not be. */
static int take_record(struct state *st, const char *prefix, const struct bus_client_msg *m,
		       cJSON *history, struct fleet_restored *out)
{
	const char *kind = m->topic + strlen(prefix) + 1;
	cJSON *doc;
	int rc;

	if (strncmp(kind, "history/", 8) == 0) {
		doc = cJSON_ParseWithLength(m->payload, m->len);

		if (!history || !cJSON_IsObject(doc)) {
			cJSON_Delete(doc);
			return history ? 0 : -1;
		}
		cJSON_AddItemToArray(history, doc);
		return 0;
	}
	if (strcmp(kind, "inbox/batch") == 0) {
		free(out->inbox);
		out->inbox = strndup(m->payload, m->len);
		return out->inbox ? 0 : -1;
	}
	doc = cJSON_ParseWithLength(m->payload, m->len);
	rc = take_state(st, kind, doc, out);
	cJSON_Delete(doc);
	if (rc == 1) {
		log_warn("fleet: unusable partition record on %s; skipped", m->topic);
		rc = 0;
	}
	return rc;
}

/* A registry entry: the agent name is the topic's level before the last. */
static int take_entry(const struct bus_client_msg *m, struct fleet_restored *out)
{
	const char *end = strrchr(m->topic, '/'), *start = end;
	char name[128];
	cJSON *text;

	while (start > m->topic && start[-1] != '/')
		start--;
	if (!end || end - start <= 0 || end - start >= (long)sizeof name)
		return 0;
	snprintf(name, sizeof name, "%.*s", (int)(end - start), start);
	if ((!out->directory && !(out->directory = cJSON_CreateObject())) ||
	    !(text = cJSON_CreateString(m->payload)))
		return -1;
	cJSON_DeleteItemFromObjectCaseSensitive(out->directory, name);
	cJSON_AddItemToObject(out->directory, name, text);
	return 0;
}

static int by_turn(const void *a, const void *b)
{
	double x = cJSON_GetNumberValue(cJSON_GetObjectItem(*(cJSON *const *)a, "n"));
	double y = cJSON_GetNumberValue(cJSON_GetObjectItem(*(cJSON *const *)b, "n"));

	return (x > y) - (x < y);
}

/* The exchanges, oldest first per thread, into the state's history. */
static int take_history(struct state *st, cJSON *history, struct fleet_restored *out)
{
	int n = cJSON_GetArraySize(history), rc = 0;
	cJSON **v = n ? calloc((size_t)n, sizeof *v) : NULL, *e;
	int i = 0;

	if (n == 0)
		return 0;
	if (!v)
		return -1;
	cJSON_ArrayForEach(e, history)
		v[i++] = e;
	qsort(v, (size_t)n, sizeof *v, by_turn);
	for (i = 0; i < n && rc == 0; i++) {
		const char *thread = str(v[i], "thread"), *inbound = str(v[i], "inbound");
		const char *user = str(v[i], "user"), *assistant = str(v[i], "assistant");

		if (!thread || !inbound || !user || !assistant)
			continue;
		/* The live turns trim to their engine's own length. */
		rc = state_history_add(st, thread, inbound, user, 1 << 20);
		if (rc == 0)
			rc = state_history_answer(st, inbound, assistant);
		out->exchanges += rc == 0;
	}
	free(v);
	return rc;
}

static int read_until_fence(struct bus_client *c, const char *prefix, const char *registry,
			    const char *fence, struct state *st, struct fleet_restored *out)
{
	struct bus_client_msg m;
	cJSON *history = cJSON_CreateArray();
	int got = 0, rc = history ? 0 : -1;

	while (rc >= 0 && (got = bus_client_next(c, &m, 30000)) == 1) {
		if (strcmp(m.topic, fence) == 0) {
			bus_client_msg_free(&m);
			rc = take_history(st, history, out);
			cJSON_Delete(history);
			return rc;
		}
		if (m.retain && m.len > 0 && bus_topic_matches(registry, m.topic))
			rc = take_entry(&m, out);
		else if (m.retain && m.len > 0 && strlen(m.topic) > strlen(prefix) + 1)
			rc = take_record(st, prefix, &m, history, out);
		bus_client_msg_free(&m);
	}
	cJSON_Delete(history);
	if (rc < 0)
		log_error("fleet: cannot record the partition's state");
	else
		log_error("fleet: the partition's records did not arrive (%s)",
			  got == 0 ? "timed out" : "connection lost");
	return -1;
}

int fleet_restore(const struct bus_client_options *opt, const char *prefix,
		  const char *registry, struct state *st, struct fleet_restored *out)
{
	struct bus_client *c = NULL;
	char err[256], *filter = NULL, *fence = NULL;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (asprintf(&filter, "%s/#", prefix) < 0 || asprintf(&fence, "%s/fence", prefix) < 0) {
		filter = fence = NULL;
		goto done;
	}
	if (bus_client_connect(opt, &c, err, sizeof err) != 0 ||
	    bus_client_subscribe(c, filter, err, sizeof err) != 0 ||
	    bus_client_subscribe(c, registry, err, sizeof err) != 0 ||
	    bus_client_publish(c, fence, "fence", 5, NULL, NULL, err, sizeof err) != 0) {
		log_error("fleet: cannot read the partition's state from the broker: %s", err);
		goto done;
	}
	if (state_begin(st) != 0)
		goto done;
	rc = read_until_fence(c, prefix, registry, fence, st, out);
	if (rc != 0) {
		state_fail(st);
		free(out->inbox);
		out->inbox = NULL;
		cJSON_Delete(out->directory);
		out->directory = NULL;
	}
	if (state_commit(st) != 0)
		rc = -1;
done:
	bus_client_close(c);
	free(filter);
	free(fence);
	return rc;
}
