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
#include "handlers/notes.h"
#include "handlers/runtime.h"
#include "state/state.h"
#include "util/clock.h"
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

/* The inbound note's metadata: the message's extras as strings, then the
 * fields agentbus sets, which win. */
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
		char *v = meta_text(m->metadata, x->string);

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

static void remember_answer(struct agent_runtime *rt, const struct bus_message *msg,
			    const char *id, bool json)
{
	char *hex = NULL;

	if (!msg->response_topic)
		return;
	if (msg->correlation_len && (hex = malloc(msg->correlation_len * 2 + 1)) != NULL)
		for (size_t i = 0; i < msg->correlation_len; i++)
			snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)msg->correlation)[i]);
	if (state_answer_put(rt->state, id, msg->response_topic, hex, json) != 0)
		log_error("inbox: cannot remember the response topic for %s", id);
	free(hex);
}

/* An inbox message for an agent that is not there is answered at once. */
static void reject(struct agent_runtime *rt, const struct bus_message *msg,
		   const struct bus_error *err)
{
	if (msg->response_topic) {
		char *text;

		if (asprintf(&text, "⚠️ %s", err->message) >= 0) {
			runtime_send(rt, &(struct bus_publish){
				.topic = msg->response_topic, .payload = text, .len = strlen(text),
				.content_type = "text/plain; charset=utf-8",
				.correlation = msg->correlation,
				.correlation_len = msg->correlation_len });
			free(text);
		}
	}
	rt->sink.deadletter(rt->sink.arg, msg, err);
}

void inbox_receive(struct agent_runtime *rt, const struct bus_message *msg, const char *agent,
		   size_t agent_len)
{
	char *name = strndup(agent, agent_len), *text = NULL;
	char id[ULID_LEN + 1], rid[ULID_LEN + 1];
	struct inbox_msg m = { 0 };
	struct bus_error err;
	cJSON *doc = NULL, *note;

	if (!name)
		return;
	if (!strmap_get(&rt->agents, name)) {
		bus_fail(&err, REASON_UNKNOWN_AGENT, "no agent named \"%.64s\" is registered", name);
		reject(rt, msg, &err);
	} else if (inbox_parse(msg, rt->opt.max_payload, &m, &doc, &err) != 0) {
		reject(rt, msg, &err);
	} else {
		if (!m.json && (text = strndup(msg->payload, msg->len)) != NULL)
			m.content = text;
		runtime_new_id(rt, id);
		runtime_new_id(rt, rid);
		note = m.content ? notes_message(id, name, m.content, false,
						  inbound_metadata(name, &m)) : NULL;
		if (note) {
			remember_answer(rt, msg, id, m.json);
			runtime_write(rt, write_build(WRITE_CREATE, rid, AGENTBUS_ORIGIN, note));
		}
	}
	free(m.depth);
	cJSON_Delete(doc);
	free(text);
	free(name);
}
