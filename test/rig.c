/* rig: the shared set-up of the pipeline's end-to-end tests. */
#include "test/rig.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/check.h"

static void daemon_start(struct rig *r, const char *const *extra)
{
	const char *args[40] = { "-p", r->port, "--id", r->id, "--state-dir", r->state };
	size_t n = 6;

	while (extra && *extra && n < 39)
		args[n++] = *extra++;
	args[n] = NULL;
	th_daemon_start(&r->daemon, args);
}

static void wait_status(struct rig *r)
{
	char topic[128];
	struct th_msg *m;

	/* A fresh status: "online" (JSON or MessagePack alike). */
	snprintf(topic, sizeof topic, "parachute/agentbus/status/%s", r->id);
	m = th_client_wait_for(&r->client, topic, "online", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	th_msg_free(m);
}

void rig_start(struct rig *r, const char *const *extra)
{
	if (!r->id)
		r->id = "rig";
	th_broker_start(&r->broker, "broker", r->persistence);
	snprintf(r->port, sizeof r->port, "%d", r->broker.child.port);
	r->state = th_tmpdir("state");
	th_client_open(&r->client, r->broker.child.port, "#");
	daemon_start(r, extra);
	wait_status(r);
}

void rig_start_daemon(struct rig *r, const char *const *extra)
{
	daemon_start(r, extra);
	wait_status(r);
}

void rig_restart_daemon(struct rig *r, const char *const *extra)
{
	CHECK(th_daemon_stop_cleanly(&r->daemon, SIGTERM));
	th_daemon_free(&r->daemon);
	rig_start_daemon(r, extra);
}

void rig_stop(struct rig *r)
{
	CHECK(th_daemon_stop_cleanly(&r->daemon, SIGTERM));
	th_daemon_free(&r->daemon);
	th_client_close(&r->client);
	th_broker_free(&r->broker);
	free(r->state);
}

cJSON *rig_expect(struct rig *r, const char *topic, const char *schema, const char *text)
{
	struct th_msg *m = th_client_wait_for(&r->client, topic, text, TH_TIMEOUT_MS);
	cJSON *doc;

	CHECK_MSG(m != NULL, "nothing on %s containing %s", topic, text ? text : "(any)");
	if (!m)
		exit(check_summary());
	if (schema) {
		CHECK_STR(m->content_type, "application/json");
		CHECK(th_schema_valid(schema, m->payload));
	}
	doc = cJSON_Parse(m->payload);
	CHECK_MSG(doc != NULL, "not JSON on %s: %s", topic, m->payload);
	th_msg_free(m);
	if (!doc)
		exit(check_summary());
	return doc;
}

void rig_define_meta(struct rig *r, const char *name, const char *meta)
{
	char *w = rig_fmt("{\"op\":\"upsert\",\"request_id\":\"def-%s\",\"note\":{\"id\":\"d-%s\","
			  "\"path\":\"Agents/%s\",\"tags\":[\"agent/definition\"],"
			  "\"metadata\":{\"name\":\"%s\"%s}}}", name, name, name, name, meta);
	char *topic = rig_fmt("parachute/agent/%s/definition", name);

	th_client_publish_text(&r->client, "parachute/vault/default/write", w);
	cJSON_Delete(rig_expect(r, topic, NULL, "enabled"));
	free(w);
	free(topic);
}

void rig_define(struct rig *r, const char *name)
{
	rig_define_meta(r, name, "");
}

char *rig_start_gated(struct rig *r, const char **extra)
{
	char *dir = th_tmpdir("gate"), *gate = th_gate_new(dir);

	extra[1] = gate;
	rig_start(r, extra);
	free(dir);
	return gate;
}

void rig_http_addr(struct rig *r, char addr[64])
{
	const char *line, *on;

	REQUIRE(th_daemon_wait_output(&r->daemon, false, "http: serving", TH_TIMEOUT_MS));
	line = strstr(r->daemon.err, "http: serving");
	on = strstr(line, " on ");
	REQUIRE(on && sscanf(on + 4, "%63s", addr) == 1);
}

const char *rig_str(const cJSON *doc, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, a);

	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_GetStringValue(v);
}

char *rig_fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	REQUIRE(vasprintf(&s, f, ap) >= 0);
	va_end(ap);
	return s;
}

void rig_send_inbound(struct rig *r, const char *id, const char *agent, const char *content,
		      const char *meta)
{
	char *w = rig_fmt("{\"v\":1,\"op\":\"create\",\"request_id\":\"in-%s\",\"origin\":\"tester\","
			  "\"note\":{\"id\":\"%s\",\"path\":\"channel/%s/%s\",\"content\":\"%s\","
			  "\"tags\":[\"agent/message\",\"agent/message/inbound\"],"
			  "\"metadata\":{\"agent\":\"%s\",\"sender\":\"operator\"%s}}}",
			  id, id, agent, id, content, agent, meta);

	th_client_publish_text(&r->client, "parachute/vault/default/write", w);
	free(w);
}

void rig_wait_turn_end(struct rig *r, const char *inbound_id)
{
	char *want = rig_fmt("\"id\":\"%s\"", inbound_id);
	cJSON *ev = rig_expect(r, "parachute/vault/default/event/note.updated", "vault-event", want);

	CHECK(rig_str(cJSON_GetObjectItem(ev, "note"), "metadata", "agentbus_rendered_at") != NULL);
	cJSON_Delete(ev);
	free(want);
}

cJSON *rig_latest_with(struct rig *r, const char *topic, const char *text, const char *also,
		       int wait_ms)
{
	struct th_msg *m, *last = NULL;
	cJSON *doc;

	while ((m = th_client_wait_for(&r->client, topic, text, last ? 0 : wait_ms))) {
		if (also && !strstr(m->payload, also)) {
			th_msg_free(m);
			continue;
		}
		th_msg_free(last);
		last = m;
	}
	doc = last ? cJSON_Parse(last->payload) : NULL;
	th_msg_free(last);
	return doc;
}

cJSON *rig_latest(struct rig *r, const char *topic, const char *text)
{
	/* The first may still be on its way: the client is another connection
	 * than the one whose action produced it. */
	return rig_latest_with(r, topic, text, NULL, TH_TIMEOUT_MS);
}

const char *rig_meta(const cJSON *ev, const char *key)
{
	return rig_str(cJSON_GetObjectItem(ev, "note"), "metadata", key);
}

cJSON *rig_reply(struct rig *r, const char *agent, const char *id)
{
	char *topic = rig_fmt("parachute/agent/%s/reply", agent);
	cJSON *reply = rig_expect(r, topic, "message-note", id);

	rig_wait_turn_end(r, id);
	free(topic);
	return reply;
}

char *rig_streamed_text(struct rig *r, const char *agent, const char *id)
{
	char *topic = rig_fmt("parachute/agent/%s/events", agent), *all = rig_fmt("%s", "");
	struct th_msg *m;
	long seq = 0;

	/* After rig_reply() every event of the turn is queued already. */
	while ((m = th_client_wait_for(&r->client, topic, id, 100)) != NULL) {
		cJSON *ev = cJSON_Parse(m->payload);
		const char *kind = rig_str(ev, "kind", NULL);

		if (kind && strcmp(kind, "text") == 0) {
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "seq");
			char *joined = rig_fmt("%s%s", all, rig_str(ev, "text", NULL));

			CHECK_INT(cJSON_IsNumber(s) ? s->valueint : -1, ++seq);
			free(all);
			all = joined;
		}
		cJSON_Delete(ev);
		th_msg_free(m);
	}
	free(topic);
	return all;
}
