/* handlers/inbox: plain text or a JSON object in, one inbound note write out. */
#include "handlers/inbox.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/meta.h"
#include "bus/payload.h"
#include "bus/utf8.h"
#include "bus/write.h"
#include "handlers/context.h"
#include "handlers/notes.h"
#include "handlers/replica.h"
#include "state/state.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/log.h"

static bool looks_like_object(const struct bus_message *msg)
{
	const char *p = msg->payload;
	size_t i = 0;

	if (payload_is_msgpack(msg->payload, msg->len, msg->content_type))
		return true;
	while (i < msg->len && strchr(" \t\r\n", p[i]) && p[i])
		i++;
	return i < msg->len && p[i] == '{';
}

int inbox_parse(const struct bus_message *msg, size_t max_payload, struct inbox_msg *m,
		cJSON **doc, struct bus_error *err)
{
	const cJSON *c;

	memset(m, 0, sizeof *m);
	*doc = NULL;
	if (msg->len == 0)
		return bus_fail(err, REASON_INVALID_EVENT, "an empty message has no content");
	if (!looks_like_object(msg)) {
		if (msg->len > max_payload)
			return bus_fail(err, REASON_TOO_LARGE, "payload of %zu bytes exceeds the "
					"limit of %zu", msg->len, max_payload);
		if (!utf8_valid(msg->payload, msg->len, NULL) || memchr(msg->payload, 0, msg->len))
			return bus_fail(err, REASON_INVALID_ENCODING, "a text message must be UTF-8 "
					"without NUL bytes");
		return 0;	/* text: the caller copies the payload */
	}
	if (payload_decode(msg->payload, msg->len, msg->content_type, max_payload, doc, err) != 0)
		return -1;
	m->json = true;
	c = cJSON_GetObjectItemCaseSensitive(*doc, "content");
	if (!cJSON_IsObject(*doc) || !cJSON_IsString(c))
		return bus_fail(err, REASON_INVALID_EVENT, "a JSON message needs a string content");
	m->content = c->valuestring;
	m->sender = meta_str(*doc, "sender");
	m->subject = meta_str(*doc, "subject");
	m->reply_to = meta_str(*doc, "reply_to");
	m->correlation_id = meta_str(*doc, "correlation_id");
	m->depth = meta_text(*doc, "delegation_depth");
	m->metadata = cJSON_GetObjectItemCaseSensitive(*doc, "metadata");
	if (m->metadata && !cJSON_IsObject(m->metadata))
		return bus_fail(err, REASON_INVALID_EVENT, "metadata must be an object");
	return 0;
}

/* A trigger's own marker (<trigger>_pending_at, <trigger>_rendered_at): on
 * a new note it would stop the trigger from ever firing for it. */
static bool is_marker(const char *key)
{
	size_t n = strlen(key);

	return (n > 11 && strcmp(key + n - 11, "_pending_at") == 0) ||
	       (n > 12 && strcmp(key + n - 12, "_rendered_at") == 0);
}

/* The inbound note's metadata: the message's extras as strings (without
 * trigger markers), then the fields agentbus sets, which win. */
static cJSON *inbound_metadata(const char *agent, const struct inbox_msg *m)
{
	static const char *const ours[] = { "agent", "direction", "sender", "ts", "subject",
					    "reply_to", "correlation_id", "delegation_depth" };
	cJSON *md = cJSON_CreateObject();
	const cJSON *x;
	char ts[CLOCK_ISO_LEN];

	if (!md)
		return NULL;
	cJSON_ArrayForEach(x, m->metadata) {
		char *v = is_marker(x->string) ? NULL : meta_text(m->metadata, x->string);

		if (v)
			cJSON_AddStringToObject(md, x->string, v);
		free(v);
	}
	clock_iso8601(ts);
	for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
		cJSON_DeleteItemFromObjectCaseSensitive(md, ours[i]);
	if (notes_add(md, "agent", agent) && notes_add(md, "direction", "inbound") &&
	    notes_add(md, "sender", m->sender ? m->sender : "mqtt") && notes_add(md, "ts", ts) &&
	    notes_add(md, "subject", m->subject) && notes_add(md, "reply_to", m->reply_to) &&
	    notes_add(md, "correlation_id", m->correlation_id) &&
	    notes_add(md, "delegation_depth", m->depth))
		return md;
	cJSON_Delete(md);
	return NULL;
}

static int remember_answer(struct agent_runtime *rt, const struct bus_message *msg,
			   const char *id, bool json)
{
	char *hex = NULL;
	int rc;

	if (!msg->response_topic)
		return 0;
	if (msg->correlation_len && !(hex = malloc(msg->correlation_len * 2 + 1)))
		return -1;
	for (size_t i = 0; i < msg->correlation_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)msg->correlation)[i]);
	rc = state_answer_put(rt->state, id, msg->response_topic, hex, json);
	if (rc == 0)
		rc = replica_answer(rt, id, msg->response_topic, hex, json);
	free(hex);
	return rc;
}

/* A message that will not become a note: dead-lettered and, when it asked,
 * answered at once. */
static int reject(struct agent_runtime *rt, const struct bus_message *msg,
		  const struct bus_error *err, bool answer)
{
	char *text;
	int rc = 0;

	rt->sink.deadletter(rt->sink.arg, msg, err);
	if (!answer || !msg->response_topic)
		return 0;
	if (asprintf(&text, "⚠️ %s", err->message) < 0)
		return -1;
	rc = ctx_send(rt, &(struct bus_publish){
		.topic = msg->response_topic, .payload = text, .len = strlen(text),
		.content_type = "text/plain; charset=utf-8",
		.correlation = msg->correlation, .correlation_len = msg->correlation_len });
	free(text);
	return rc;
}

/* The inbound note for a parsed message, written through the vault. */
static int write_note(struct agent_runtime *rt, const struct bus_message *msg, const char *name,
		      const struct inbox_msg *m, const char *digest)
{
	char id[ULID_LEN + 1], rid[ULID_LEN + 1];
	struct bus_error err;
	cJSON *note;
	int rc;

	const char *known = replica_inbox_known(rt, msg->mid, digest);

	/* In a fleet, the note the previous owner made of this very message,
	 * whose write the vault may have: the same id and request id again. */
	if (known) {
		snprintf(id, sizeof id, "%s", known);
		log_info("inbox message %d on %s came again after a handover: note %s, as its "
			 "previous owner wrote it", msg->mid, msg->topic, id);
	}
	else
		ctx_new_id(rt, id);
	if (rt->opt.replica)
		ctx_step_id(id, "inbox-write", rid);
	else
		ctx_new_id(rt, rid);
	note = notes_message(id, name, m->content, false, inbound_metadata(name, m));
	if (!note)
		return -1;
	if (msg->qos > 0 && replica_inbox_note(rt, msg->mid, digest, id) != 0) {
		cJSON_Delete(note);
		return -1;
	}
	rc = ctx_write(rt, write_build(WRITE_CREATE, rid, AGENTBUS_ORIGIN, note));
	if (rc == -2) {
		/* Escaping can make a message under the limit a note over it. */
		bus_fail(&err, REASON_TOO_LARGE, "the message makes a note larger than the largest "
			 "note agentbus writes (%zu bytes)", ctx_write_limit(rt));
		return reject(rt, msg, &err, true);
	}
	if (rc == 0)
		rc = remember_answer(rt, msg, id, m->json);
	return rc;
}

/* What one message becomes, inside the caller's transaction. */
static int handle(struct agent_runtime *rt, const struct bus_message *msg, const char *name,
		  const char *digest)
{
	struct inbox_msg m = { 0 };
	struct bus_error err;
	char *text = NULL;
	cJSON *doc = NULL;
	int rc;

	if (msg->retain) {
		bus_fail(&err, REASON_INVALID_EVENT, "a retained inbox message is not run (it "
			 "would run again at every subscribe); publish it without retain");
		return reject(rt, msg, &err, false);
	}
	if (msg->response_topic && !topics_publishable(msg->response_topic)) {
		bus_fail(&err, REASON_INVALID_EVENT, "the response topic is not a topic a reply "
			 "can be published on (wildcards, or empty)");
		return reject(rt, msg, &err, false);
	}
	if (!strmap_get(&rt->agents, name)) {
		bus_fail(&err, REASON_UNKNOWN_AGENT, "no agent named \"%.64s\" is registered", name);
		return reject(rt, msg, &err, true);
	}
	if (inbox_parse(msg, rt->opt.max_payload, &m, &doc, &err) != 0) {
		rc = reject(rt, msg, &err, true);
	} else {
		if (!m.json && (text = strndup(msg->payload, msg->len)) != NULL)
			m.content = text;
		rc = m.content ? write_note(rt, msg, name, &m, digest) : -1;
	}
	free(m.depth);
	cJSON_Delete(doc);
	free(text);
	return rc;
}

/* What names this message across redeliveries besides its packet id. */
static void digest(const struct bus_message *msg, char out[17])
{
	uint64_t h = hash_fnv1a(HASH_FNV_SEED, msg->topic, strlen(msg->topic) + 1);

	h = hash_fnv1a(h, msg->payload, msg->len);
	if (msg->response_topic)
		h = hash_fnv1a(h, msg->response_topic, strlen(msg->response_topic) + 1);
	h = hash_fnv1a(h, msg->correlation, msg->correlation_len);
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int inbox_receive(struct agent_runtime *rt, const struct bus_message *msg, const char *agent,
		  size_t agent_len)
{
	char *name = strndup(agent, agent_len), d[17];
	bool tracked = msg->qos > 0;
	int rc = name ? state_begin(rt->state) : -1, seen = 0;

	digest(msg, d);
	if (rc == 0 && tracked && (seen = state_inbox_seen(rt->state, msg->mid, d)) < 0)
		rc = -1;
	if (rc == 0 && tracked)
		rc = state_inbox_record(rt->state, msg->mid, d);
	if (rc == 0 && seen)
		log_info("inbox message %d on %s was delivered again; it was handled before",
			 msg->mid, msg->topic);
	else if (rc == 0)
		rc = handle(rt, msg, name, d);
	if (rc != 0)
		state_fail(rt->state);
	if (name && state_commit(rt->state) != 0)
		rc = -1;
	free(name);
	return rc;
}
