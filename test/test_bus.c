/* test_bus: a real broker plus agentbus is a working vault bus. Writes go in
 * on R/vault/V/write and come out as events (validated against schemas/),
 * answers reach the response topic with the correlation data, every kind of
 * unusable input is answered on the dead-letter topic while the daemon keeps
 * serving, the publishing encoding is configurable, configured triggers fire,
 * and an event is acted on once across a restart. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus/codec.h"
#include "bus/payload.h"
#include "test/check.h"
#include "test/rig.h"

#define WRITE "parachute/vault/default/write"
#define CREATED "parachute/vault/default/event/note.created"
#define UPDATED "parachute/vault/default/event/note.updated"
#define DELETED "parachute/vault/default/event/note.deleted"
#define DEADLETTER "parachute/agentbus/deadletter"

#define expect rig_expect
#define str_at rig_str

static cJSON *json_of(const struct th_msg *m)
{
	cJSON *doc = m ? cJSON_Parse(m->payload) : NULL;

	REQUIRE(doc != NULL);
	return doc;
}

static void test_write_event_answer(void)
{
	struct rig r = { 0 };
	cJSON *ev, *ans;
	struct th_msg *m;

	rig_start(&r, NULL);
	th_client_publish(&r.client, WRITE, "{\"v\":1,\"op\":\"create\",\"request_id\":\"w1\","
			  "\"origin\":\"tester\",\"note\":{\"id\":\"n1\",\"path\":\"Notes/n1\","
			  "\"content\":\"hi\",\"tags\":[\"#t\"],\"metadata\":{\"k\":\"v\"}}}",
			  SIZE_MAX, NULL, "me/answer", "corr-1");
	ev = expect(&r, CREATED, "vault-event", "\"n1\"");
	CHECK_STR(str_at(ev, "event", NULL), "note.created");
	CHECK_STR(str_at(ev, "origin", NULL), "tester");
	CHECK_STR(str_at(ev, "vault", NULL), "default");
	CHECK_INT(strlen(str_at(ev, "event_id", NULL)), 26);
	CHECK_STR(str_at(ev, "note", "content"), "hi");
	CHECK(str_at(ev, "note", "createdAt") != NULL);
	cJSON_Delete(ev);
	m = th_client_next(&r.client, "me/answer", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	CHECK_STR(m->correlation, "corr-1");
	CHECK(th_schema_valid("write-answer", m->payload));
	ans = json_of(m);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(ans, "ok")));
	CHECK_STR(str_at(ans, "id", NULL), "n1");
	cJSON_Delete(ans);
	th_msg_free(m);

	/* A merge-patch delete, and a repeated request id that changes nothing. */
	th_client_publish_text(&r.client, WRITE, "{\"v\":1,\"op\":\"patch\",\"request_id\":\"w2\","
			       "\"origin\":\"tester\",\"note\":{\"id\":\"n1\",\"metadata\":{\"k\":null,"
			       "\"x\":\"1\"}}}");
	ev = expect(&r, UPDATED, "vault-event", "\"n1\"");
	CHECK(!cJSON_HasObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "note"), "metadata"),
				   "k"));
	cJSON_Delete(ev);
	th_client_publish_text(&r.client, WRITE, "{\"v\":1,\"op\":\"patch\",\"request_id\":\"w2\","
			       "\"note\":{\"id\":\"n1\",\"metadata\":{\"x\":\"2\"}}}");
	th_client_publish_text(&r.client, WRITE, "{\"v\":1,\"op\":\"delete\",\"request_id\":\"w3\","
			       "\"note\":{\"path\":\"Notes/n1\"}}");
	/* Writes are applied in order: once the delete's event is out, the repeat
	 * has been handled, and it published nothing. */
	ev = expect(&r, DELETED, "vault-event", "\"n1\"");
	CHECK_STR(str_at(ev, "note", "path"), "Notes/n1");
	cJSON_Delete(ev);
	CHECK_INT(th_client_count(&r.client, UPDATED, NULL), 0);
	rig_stop(&r);
}

/* Publishes `payload` on `topic` and expects a dead letter with `reason`. */
static void expect_deadletter(struct rig *r, const char *topic, const void *payload, size_t len,
			      const char *content_type, const char *reason)
{
	char want[64];
	cJSON *dl;

	if (len == SIZE_MAX)
		len = strlen(payload);
	snprintf(want, sizeof want, "\"reason\":\"%s\"", reason);
	th_client_publish(&r->client, topic, payload, len, content_type, NULL, NULL);
	dl = expect(r, DEADLETTER, "deadletter", want);
	CHECK_STR(str_at(dl, "topic", NULL), topic);
	CHECK_INT(cJSON_GetObjectItem(dl, "size")->valueint, (long long)len);
	CHECK(strlen(str_at(dl, "error", NULL)) > 0);
	cJSON_Delete(dl);
}

static void test_every_dead_letter_reason(void)
{
	const char *extra[] = { "--max-payload", "4096", NULL };
	char big[5000], deep[100];
	struct rig r = { 0 };
	struct th_msg *m;
	cJSON *dl;

	rig_start(&r, extra);
	memset(big, ' ', sizeof big);
	big[0] = '{';
	big[sizeof big - 1] = '}';
	expect_deadletter(&r, CREATED, big, sizeof big, NULL, "too_large");
	expect_deadletter(&r, WRITE, "not json", SIZE_MAX, NULL, "invalid_encoding");
	expect_deadletter(&r, CREATED, "{\"a\":\"\xff\xfe\"}", 10, NULL, "invalid_encoding");
	expect_deadletter(&r, CREATED, "\x81\xa1" "a\xc1", 4, NULL, "invalid_encoding");
	expect_deadletter(&r, CREATED, "\x82", 1, "application/msgpack", "invalid_encoding");
	memset(deep, '[', 50);
	memset(deep + 50, ']', 50);
	expect_deadletter(&r, CREATED, deep, sizeof deep, NULL, "invalid_encoding");
	expect_deadletter(&r, CREATED, "{\"event\":\"note.created\",\"note\":{\"path\":\"x\"}}",
			  SIZE_MAX, NULL, "invalid_event");
	expect_deadletter(&r, UPDATED, "[]", 2, NULL, "invalid_event");
	expect_deadletter(&r, WRITE, "{\"op\":\"patch\",\"request_id\":\"q\",\"note\":{\"id\":\"x\"}}",
			  SIZE_MAX, NULL, "invalid_write");
	expect_deadletter(&r, WRITE, "{\"op\":\"create\",\"note\":{}}", SIZE_MAX, NULL,
			  "invalid_write");

	/* The excerpt of binary garbage is escaped, readable UTF-8. */
	th_client_publish(&r.client, WRITE, "\x01\x02\xff", 3, NULL, NULL, NULL);
	m = th_client_wait_for(&r.client, DEADLETTER, "\\\\x01\\\\x02\\\\xff", TH_TIMEOUT_MS);
	CHECK(m != NULL);
	th_msg_free(m);

	/* A rejected write that asked for an answer gets one. */
	th_client_publish(&r.client, WRITE, "{\"op\":\"delete\",\"request_id\":\"q2\",\"note\":"
			  "{\"id\":\"ghost\"}}", SIZE_MAX, NULL, "me/answer", "c2");
	m = th_client_next(&r.client, "me/answer", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	CHECK(th_schema_valid("write-answer", m->payload));
	CHECK_CONTAINS(m->payload, "\"ok\":false");
	CHECK_STR(m->correlation, "c2");
	th_msg_free(m);
	dl = expect(&r, DEADLETTER, "deadletter", "ghost");
	cJSON_Delete(dl);

	/* Still serving. */
	th_client_publish_text(&r.client, WRITE, "{\"op\":\"create\",\"request_id\":\"ok\","
			       "\"note\":{\"id\":\"alive\"}}");
	cJSON_Delete(expect(&r, CREATED, "vault-event", "\"alive\""));
	rig_stop(&r);
}

/* With --encoding msgpack everything published is MessagePack, content type
 * set; MessagePack writes are read too. */
static void test_msgpack_publishing(void)
{
	const char *extra[] = { "--encoding", "msgpack", NULL };
	cJSON *w = cJSON_Parse("{\"v\":1,\"op\":\"create\",\"request_id\":\"m1\",\"origin\":\"o\","
			       "\"note\":{\"id\":\"mp\",\"metadata\":{\"n\":\"1\"}}}");
	struct codec_buf buf;
	struct bus_error err;
	struct rig r = { 0 };
	struct th_msg *m;
	cJSON *doc;

	rig_start(&r, extra);
	REQUIRE(codec_encode(w, ENCODING_MSGPACK, &buf) == 0);
	th_client_publish(&r.client, WRITE, buf.data, buf.len, NULL, NULL, NULL);
	m = th_client_next(&r.client, CREATED, TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	CHECK_STR(m->content_type, "application/msgpack");
	REQUIRE(payload_decode(m->payload, (size_t)m->len, m->content_type, 1 << 20, &doc, &err) == 0);
	CHECK_STR(str_at(cJSON_GetObjectItem(doc, "note"), "metadata", "n"), "1");
	CHECK_STR(str_at(doc, "note", "id"), "mp");
	cJSON_Delete(doc);
	th_msg_free(m);
	codec_buf_free(&buf);
	cJSON_Delete(w);
	rig_stop(&r);
}

static int count_in(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void publish_inbound_event(struct rig *r, const char *event_id, const char *note_id)
{
	char *ev;

	REQUIRE(asprintf(&ev, "{\"event\":\"note.created\",%s%s%s\"note\":{\"id\":\"%s\","
			 "\"tags\":[\"agent/message/inbound\"],\"metadata\":{\"agent\":\"eng\"},"
			 "\"createdAt\":\"2026-11-21T10:00:00.000Z\"}}",
			 event_id ? "\"event_id\":\"" : "", event_id ? event_id : "",
			 event_id ? "\"," : "", note_id) > 0);
	th_client_publish_text(&r->client, CREATED, ev);
	free(ev);
}

/* Waits until the daemon reports the trigger for `note_id`. */
static void expect_fired(struct rig *r, const char *note_id)
{
	char line[128];

	snprintf(line, sizeof line, "trigger inbound fired: note.created of note %s", note_id);
	CHECK_MSG(th_daemon_wait_output(&r->daemon, false, line, TH_TIMEOUT_MS), "%s", line);
}

static void test_dedupe_across_restart(void)
{
	const char *verbose[] = { "-v", NULL };
	struct rig r = { 0 };

	rig_start(&r, verbose);
	publish_inbound_event(&r, "E1", "a");
	publish_inbound_event(&r, "E1", "a");	/* a QoS 1 redelivery */
	publish_inbound_event(&r, NULL, "b");	/* no event_id: id|event|createdAt */
	publish_inbound_event(&r, NULL, "b");
	publish_inbound_event(&r, "E2", "marker1");
	expect_fired(&r, "marker1");
	CHECK_INT(count_in(r.daemon.err, "note.created of note a\n"), 1);
	CHECK_INT(count_in(r.daemon.err, "note.created of note b\n"), 1);

	rig_restart_daemon(&r, verbose);
	publish_inbound_event(&r, "E1", "a");
	publish_inbound_event(&r, NULL, "b");
	publish_inbound_event(&r, "E3", "marker2");
	expect_fired(&r, "marker2");
	CHECK_INT(count_in(r.daemon.err, "note.created of note a\n"), 0);
	CHECK_INT(count_in(r.daemon.err, "note.created of note b\n"), 0);
	rig_stop(&r);
}

/* A trigger from the config file, and one replaced: its own action fires. */
static void test_configured_triggers(void)
{
	char *dir = th_tmpdir("conf");
	char *conf = th_write_file(dir, "agentbus.conf",
				   "# jobs become inbound messages too\n"
				   "trigger jobs inbound events=created tags=#agent/job\n"
				   "trigger inbound inbound events=created,updated tags=x/in\n");
	const char *extra[] = { "-c", conf, "-v", NULL };
	struct rig r = { 0 };

	rig_start(&r, extra);
	th_client_publish_text(&r.client, CREATED, "{\"event\":\"note.created\",\"event_id\":\"j1\","
			       "\"note\":{\"id\":\"job1\",\"tags\":[\"agent/job\"]}}");
	CHECK(th_daemon_wait_output(&r.daemon, false, "trigger jobs fired: note.created of note job1",
				    TH_TIMEOUT_MS));
	th_client_publish_text(&r.client, UPDATED, "{\"event\":\"note.updated\",\"event_id\":\"x1\","
			       "\"note\":{\"id\":\"xin\",\"tags\":[\"x/in\"]}}");
	CHECK(th_daemon_wait_output(&r.daemon, false,
				    "trigger inbound fired: note.updated of note xin", TH_TIMEOUT_MS));
	rig_stop(&r);
	free(conf);
	free(dir);
}

int main(void)
{
	RUN(test_write_event_answer);
	RUN(test_every_dead_letter_reason);
	RUN(test_msgpack_publishing);
	RUN(test_dedupe_across_restart);
	RUN(test_configured_triggers);
	return check_summary();
}
