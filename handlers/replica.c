/* handlers/replica: retained JSON records under <replica>/agent/<name> and
 * <replica>/thread/<hash of the lower-cased path>, sent through the outbox
 * like every other write of the transaction. Always JSON, whatever
 * --encoding: only agentbus reads them. */
#include "handlers/replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "handlers/context.h"
#include "state/state.h"
#include "util/hash.h"

static int send_record(struct agent_runtime *rt, const char *kind, const char *key,
		       cJSON *doc)
{
	char *topic = NULL, *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
	int rc = -1;

	if (asprintf(&topic, "%s/%s/%s", rt->opt.replica, kind, key) >= 0 && (!doc || text))
		rc = ctx_send(rt, &(struct bus_publish){ .topic = topic, .payload = text,
							  .len = text ? strlen(text) : 0,
							  .retain = true });
	if (rc != 0)
		state_fail(rt->state);
	free(topic);
	free(text);
	cJSON_Delete(doc);
	return rc;
}

int replica_agent(struct agent_runtime *rt, const char *name, const char *definition,
		  const char *spec)
{
	cJSON *doc = NULL, *parsed;

	if (!rt->opt.replica)
		return 0;
	if (spec) {
		parsed = cJSON_Parse(spec);
		doc = cJSON_CreateObject();
		if (!parsed || !doc || !cJSON_AddStringToObject(doc, "name", name) ||
		    !cJSON_AddStringToObject(doc, "definition", definition) ||
		    !cJSON_AddItemToObject(doc, "spec", parsed)) {
			cJSON_Delete(parsed);
			cJSON_Delete(doc);
			state_fail(rt->state);
			return -1;
		}
	}
	return send_record(rt, "agent", name, doc);
}

static void done_row(void *arg, const char *const cols[4])
{
	cJSON_AddItemToArray(arg, cJSON_CreateString(cols[0]));
}

int replica_thread(struct agent_runtime *rt, const char *path, const char *id,
		   const char *meta, const char *inbound_id)
{
	char key[27];
	cJSON *doc, *parsed, *done;

	if (!rt->opt.replica)
		return 0;
	if (state_thread_done_add(rt->state, path, inbound_id, REPLICA_DONE_KEEP) != 0)
		return -1;
	hash_id_nocase(path, strlen(path), key);
	parsed = cJSON_Parse(meta);
	done = cJSON_CreateArray();
	doc = cJSON_CreateObject();
	if (!parsed || !done || !doc || state_thread_done_get(rt->state, path, done_row, done) != 0 ||
	    cJSON_GetArraySize(done) == 0 || !cJSON_AddStringToObject(doc, "path", path) ||
	    !cJSON_AddStringToObject(doc, "id", id) || !cJSON_AddItemToObject(doc, "meta", parsed)) {
		cJSON_Delete(parsed);
		cJSON_Delete(done);
		cJSON_Delete(doc);
		state_fail(rt->state);
		return -1;
	}
	cJSON_AddItemToObject(doc, "done", done);
	return send_record(rt, "thread", key, doc);
}
