/* handlers/replica: retained JSON records under <replica>/agent/<name>,
 * <replica>/thread/<hash of the lower-cased path> and <replica>/inbox/batch,
 * sent through the outbox
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
#include "util/log.h"

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

static void exchange_row(void *arg, const char *const cols[4])
{
	cJSON *doc = arg;

	cJSON_AddStringToObject(doc, "user", cols[0] ? cols[0] : "");
	cJSON_AddStringToObject(doc, "assistant", cols[1] ? cols[1] : "");
}

int replica_history(struct agent_runtime *rt, const char *path, const char *inbound_id, long n,
		    int keep)
{
	char thread[27], slot[48];
	const char *user, *assistant;
	cJSON *doc;

	if (!rt->opt.replica || keep <= 0)
		return 0;
	doc = cJSON_CreateObject();
	if (!doc || !cJSON_AddStringToObject(doc, "thread", path) ||
	    !cJSON_AddStringToObject(doc, "inbound", inbound_id) ||
	    !cJSON_AddNumberToObject(doc, "n", (double)n) ||
	    state_history_exchange(rt->state, inbound_id, exchange_row, doc) != 0) {
		cJSON_Delete(doc);
		state_fail(rt->state);
		return -1;
	}
	user = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "user"));
	assistant = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "assistant"));
	if (!user || !assistant || strlen(user) + strlen(assistant) + 1024 > ctx_write_limit(rt)) {
		log_warn("thread %s: exchange %s is not kept for the partition's next owner (%s)",
			 path, inbound_id, user && assistant ? "too large" : "not in the state");
		cJSON_Delete(doc);
		return 0;
	}
	hash_id_nocase(path, strlen(path), thread);
	snprintf(slot, sizeof slot, "%s/%ld", thread, n % keep);
	return send_record(rt, "history", slot, doc);
}

int replica_answer(struct agent_runtime *rt, const char *inbound_id, const char *topic,
		   const char *correlation_hex, bool json)
{
	char key[27];
	cJSON *doc = NULL;

	if (!rt->opt.replica)
		return 0;
	hash_id_join(inbound_id, "answer", key);
	if (topic) {
		doc = cJSON_CreateObject();
		if (!doc || !cJSON_AddStringToObject(doc, "inbound", inbound_id) ||
		    !cJSON_AddStringToObject(doc, "topic", topic) ||
		    (correlation_hex &&
		     !cJSON_AddStringToObject(doc, "correlation", correlation_hex)) ||
		    !cJSON_AddBoolToObject(doc, "json", json)) {
			cJSON_Delete(doc);
			state_fail(rt->state);
			return -1;
		}
	}
	return send_record(rt, "answer", key, doc);
}

int replica_spend(struct agent_runtime *rt, const char *agent, const char *day)
{
	double cost;
	cJSON *doc;

	if (!rt->opt.replica)
		return 0;
	doc = cJSON_CreateObject();
	if (state_spend_get(rt->state, agent, day, &cost) != 0 || !doc ||
	    !cJSON_AddStringToObject(doc, "agent", agent) ||
	    !cJSON_AddStringToObject(doc, "day", day) || !cJSON_AddNumberToObject(doc, "cost", cost)) {
		cJSON_Delete(doc);
		state_fail(rt->state);
		return -1;
	}
	return send_record(rt, "spend", agent, doc);
}

/* Packet ids run from 1 to 65535 and wrap. */
static int mid_behind(int newest, int mid)
{
	return (newest - mid + 65535) % 65535;
}

/* Drops the entries of `list` (the batch or the known map) STATE_INBOX_WINDOW
 * or more ids behind `newest`; those a little ahead of it stay (the rest of
 * a redelivered batch, read after `newest`). Returns how many went. */
static int forget_old(cJSON *list, int newest)
{
	cJSON *e = list ? list->child : NULL, *next;
	int gone = 0;

	for (; e; e = next) {
		const cJSON *mid = cJSON_GetObjectItemCaseSensitive(e, "mid");

		next = e->next;
		int behind = cJSON_IsNumber(mid) ? mid_behind(newest, mid->valueint) : -1;

		if (behind < 0 || (behind >= STATE_INBOX_WINDOW && behind < 65535 - STATE_INBOX_WINDOW)) {
			cJSON_Delete(cJSON_DetachItemViaPointer(list, e));
			gone++;
		}
	}
	return gone;
}

/* The entry of one message, when it is there already (carried from the
 * previous owner and now made again). */
static void forget_entry(cJSON *list, int mid, const char *digest)
{
	cJSON *e;

	cJSON_ArrayForEach(e, list) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "mid");
		const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "digest"));

		if (cJSON_IsNumber(m) && m->valueint == mid && d && strcmp(d, digest) == 0) {
			cJSON_Delete(cJSON_DetachItemViaPointer(list, e));
			return;
		}
	}
}

static int send_inbox(struct agent_runtime *rt)
{
	cJSON *doc;

	if (!rt->inbox_batch || cJSON_GetArraySize(rt->inbox_batch) == 0)
		return send_record(rt, "inbox", "batch", NULL);
	doc = cJSON_CreateObject();
	if (!doc || !cJSON_AddItemReferenceToObject(doc, "batch", rt->inbox_batch)) {
		cJSON_Delete(doc);
		state_fail(rt->state);
		return -1;
	}
	return send_record(rt, "inbox", "batch", doc);
}

int replica_inbox_note(struct agent_runtime *rt, int mid, const char *digest,
		       const char *note_id)
{
	cJSON *entry;

	if (!rt->opt.replica)
		return 0;
	if (!rt->inbox_batch && !(rt->inbox_batch = cJSON_CreateArray()))
		goto fail;
	forget_old(rt->inbox_batch, mid);
	forget_old(rt->inbox_known, mid);
	forget_entry(rt->inbox_batch, mid, digest);
	entry = cJSON_CreateObject();
	if (!entry || !cJSON_AddNumberToObject(entry, "mid", mid) ||
	    !cJSON_AddStringToObject(entry, "digest", digest) ||
	    !cJSON_AddStringToObject(entry, "note", note_id) ||
	    !cJSON_AddItemToArray(rt->inbox_batch, entry)) {
		cJSON_Delete(entry);
		goto fail;
	}
	return send_inbox(rt);
fail:
	state_fail(rt->state);
	return -1;
}

const char *replica_inbox_known(const struct agent_runtime *rt, int mid, const char *digest)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, rt->inbox_known) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "mid");
		const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "digest"));

		if (cJSON_IsNumber(m) && m->valueint == mid && d && strcmp(d, digest) == 0)
			return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "note"));
	}
	return NULL;
}

int replica_open(struct agent_runtime *rt)
{
	cJSON *doc;

	if (!rt->opt.inbox_record)
		return 0;
	doc = cJSON_Parse(rt->opt.inbox_record);
	rt->inbox_known = cJSON_DetachItemFromObjectCaseSensitive(doc, "batch");
	cJSON_Delete(doc);
	/* Carried on in this owner's records: should it die before these come
	 * again, its successor must still know them. */
	if (cJSON_IsArray(rt->inbox_known) &&
	    !(rt->inbox_batch = cJSON_Duplicate(rt->inbox_known, true)))
		return -1;
	return 0;
}

void replica_close(struct agent_runtime *rt)
{
	cJSON_Delete(rt->inbox_batch);
	cJSON_Delete(rt->inbox_known);
	rt->inbox_batch = rt->inbox_known = NULL;
}

int replica_released(struct agent_runtime *rt, int last_mid)
{
	int rc;

	forget_old(rt->inbox_known, last_mid);
	if (!rt->inbox_batch || forget_old(rt->inbox_batch, last_mid) == 0)
		return 0;
	rc = state_begin(rt->state);
	if (rc == 0)
		rc = send_inbox(rt);
	if (state_commit(rt->state) != 0)
		rc = -1;
	return rc;
}
