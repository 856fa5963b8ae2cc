/* test_bridge_units: the bridge's pure parts. A recorded 0.3.6 webhook body
 * becomes the contract's event; each write op becomes the REST calls the
 * vault takes, and each answer the verdict the writer acts on; the triggers
 * agentbus registers, their config.yaml lines and the feed's query. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/incoming.h"
#include "bridge/rest.h"
#include "bridge/triggers.h"
#include "test/check.h"

/* A webhook body exactly as a real 0.3.6 vault sent it for a note created
 * through its REST API (trigger agentbus-inbound, events [created]). */
static const char recorded_webhook[] =
	"{\"trigger\":\"agentbus-inbound\",\"event\":\"created\",\"note\":{\"id\":"
	"\"2026-12-01-07-24-34-931002\",\"content\":\"hello from the real vault\",\"path\":"
	"\"channel/eng/01M8R7VDQJ7Q4263JMR8EH7TNX\",\"tags\":[\"agent/message\","
	"\"agent/message/inbound\"],\"metadata\":{\"agent\":\"eng\",\"direction\":\"inbound\","
	"\"sender\":\"prove\"},\"attachments\":[],\"createdAt\":\"2026-12-01T07:24:34.931Z\","
	"\"updatedAt\":\"2026-12-01T07:24:34.931Z\"}}";

static const char *str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void test_webhook(void)
{
	struct incoming in;
	struct bus_error err;
	const cJSON *note;

	REQUIRE(incoming_from_hook(recorded_webhook, strlen(recorded_webhook), "default", 1 << 20,
				   &in, &err) == 0);
	CHECK_STR(str(in.doc, "event"), "note.created");
	CHECK_STR(str(in.doc, "vault"), "default");
	CHECK_STR(str(in.doc, "event_id"),
		  "2026-12-01-07-24-34-931002|note.created|2026-12-01T07:24:34.931Z");
	CHECK(!cJSON_HasObjectItem(in.doc, "trigger"));
	note = cJSON_GetObjectItemCaseSensitive(in.doc, "note");
	CHECK_STR(str(note, "content"), "hello from the real vault");
	CHECK_STR(str(cJSON_GetObjectItemCaseSensitive(note, "metadata"), "agent"), "eng");
	CHECK_STR(in.note_id, "2026-12-01-07-24-34-931002");
	CHECK_STR(in.updated_at, "2026-12-01T07:24:34.931Z");
	incoming_free(&in);

	CHECK(incoming_from_hook("{", 1, "default", 1 << 20, &in, &err) == -1);
	CHECK_INT(err.reason, REASON_INVALID_ENCODING);
	CHECK(incoming_from_hook("{\"event\":\"created\",\"note\":{\"id\":\"a\"}}", 37, "default",
				 1 << 20, &in, &err) == -1);
	CHECK_CONTAINS(err.message, "no \"trigger\"");
	CHECK(incoming_from_hook("{\"trigger\":\"t\",\"event\":\"exploded\",\"note\":{\"id\":\"a\"}}",
				 52, "default", 1 << 20, &in, &err) == -1);
	CHECK_INT(err.reason, REASON_INVALID_EVENT);
	CHECK(incoming_from_hook("{\"trigger\":\"t\",\"event\":\"created\",\"note\":{}}", 43,
				 "default", 1 << 20, &in, &err) == -1);
	CHECK_CONTAINS(err.message, "note.id");
	CHECK(incoming_from_hook(recorded_webhook, strlen(recorded_webhook), "default", 100, &in,
				 &err) == -1);
	CHECK_INT(err.reason, REASON_TOO_LARGE);
}

static void test_feed_notes(void)
{
	cJSON *fresh = cJSON_Parse("{\"id\":\"n1\",\"content\":\"x\",\"tags\":[],\"metadata\":{},"
				   "\"createdAt\":\"T1\",\"updatedAt\":\"T1\",\"createdBy\":\"hub\","
				   "\"linkCount\":3}");
	cJSON *edited = cJSON_Parse("{\"id\":\"n1\",\"createdAt\":\"T1\",\"updatedAt\":\"T2\"}");
	struct incoming in;
	struct bus_error err;

	REQUIRE(incoming_from_feed(fresh, "v", &in, &err) == 0);
	CHECK_INT(in.event, NOTE_CREATED);
	CHECK_STR(str(in.doc, "event_id"), "n1|note.created|T1");
	/* Attribution and counts stay behind: the contract's note fields only. */
	CHECK(!cJSON_HasObjectItem(cJSON_GetObjectItem(in.doc, "note"), "createdBy"));
	CHECK(!cJSON_HasObjectItem(cJSON_GetObjectItem(in.doc, "note"), "linkCount"));
	incoming_free(&in);
	REQUIRE(incoming_from_feed(edited, "v", &in, &err) == 0);
	CHECK_INT(in.event, NOTE_UPDATED);
	CHECK_STR(in.updated_at, "T2");
	incoming_free(&in);
	REQUIRE(incoming_removed("n1", "v", &in) == 0);
	CHECK_STR(str(in.doc, "event"), "note.deleted");
	incoming_free(&in);
	cJSON_Delete(fresh);
	cJSON_Delete(edited);
}

static struct note_write decode(const char *json)
{
	struct note_write w;
	struct bus_error err;

	REQUIRE(write_decode(cJSON_Parse(json), &w, &err) == 0);
	return w;
}

static void expect_call(const struct note_write *w, enum rest_step step, const char *method,
			const char *path, const char *body)
{
	struct rest_call c;

	REQUIRE(rest_call_build(w, step, &c) == 0);
	CHECK_STR(c.method, method);
	CHECK_STR(c.path, path);
	if (body)
		CHECK_STR(c.body, body);
	else
		CHECK(c.body == NULL);
	rest_call_free(&c);
}

static enum rest_verdict judge(const struct note_write *w, enum rest_step step, long first,
			       long status, const char *body, enum rest_step *next)
{
	cJSON *doc = body ? cJSON_Parse(body) : NULL;
	char msg[300];
	enum rest_verdict v = rest_judge(w, step, first, status, doc, next, msg, sizeof msg);

	cJSON_Delete(doc);
	return v;
}

static void test_create(void)
{
	struct note_write w = decode("{\"v\":1,\"op\":\"create\",\"request_id\":\"r\",\"note\":{"
				     "\"id\":\"01M8R7VDNWZ1G1EVPYWX6ZCM86\",\"path\":"
				     "\"channel/eng/01M8R7VDNWZ1G1EVPYWX6ZCM86\",\"content\":\"hi\","
				     "\"tags\":[\"agent/message\"]}}");
	enum rest_step next;

	expect_call(&w, REST_FIRST, "POST", "/api/notes",
		    "{\"id\":\"01M8R7VDNWZ1G1EVPYWX6ZCM86\",\"path\":"
		    "\"channel/eng/01M8R7VDNWZ1G1EVPYWX6ZCM86\",\"content\":\"hi\",\"tags\":"
		    "[\"agent/message\"]}");
	CHECK_INT(judge(&w, REST_FIRST, 0, 201, NULL, &next), REST_DONE);
	/* 0.3.6: the same id and path again is 409, the same id elsewhere 500. */
	CHECK_INT(judge(&w, REST_FIRST, 0, 409, NULL, &next), REST_NEXT);
	CHECK_INT(next, REST_CHECK);
	CHECK_INT(judge(&w, REST_FIRST, 0, 500, NULL, &next), REST_NEXT);
	expect_call(&w, REST_CHECK, "GET", "/api/notes/01M8R7VDNWZ1G1EVPYWX6ZCM86", NULL);
	CHECK_INT(judge(&w, REST_CHECK, 409, 200,
			"{\"id\":\"01M8R7VDNWZ1G1EVPYWX6ZCM86\",\"path\":"
			"\"Channel/ENG/01M8R7VDNWZ1G1EVPYWX6ZCM86\"}", &next), REST_DONE);
	CHECK_INT(judge(&w, REST_CHECK, 500, 200, "{\"id\":\"x\",\"path\":\"elsewhere\"}", &next),
		  REST_REFUSED);
	CHECK_INT(judge(&w, REST_CHECK, 409, 404, NULL, &next), REST_REFUSED);
	CHECK_INT(judge(&w, REST_CHECK, 500, 404, NULL, &next), REST_RETRY);
	CHECK_INT(judge(&w, REST_FIRST, 0, 503, NULL, &next), REST_RETRY);
	CHECK_INT(judge(&w, REST_FIRST, 0, 0, NULL, &next), REST_RETRY);
	CHECK_INT(judge(&w, REST_FIRST, 0, 401, NULL, &next), REST_RETRY);
	CHECK_INT(judge(&w, REST_FIRST, 0, 429, NULL, &next), REST_RETRY);
	CHECK_INT(judge(&w, REST_FIRST, 0, 422, "{\"error\":\"schema_validation\"}", &next),
		  REST_REFUSED);
	write_free(&w);
}

static void test_upsert(void)
{
	struct note_write with_id = decode(
		"{\"v\":1,\"op\":\"upsert\",\"request_id\":\"r\",\"note\":{\"id\":\"T1\","
		"\"path\":\"Threads/eng/eng\",\"tags\":[\"agent/thread\"],"
		"\"metadata\":{\"status\":\"working\"}}}");
	struct note_write no_id = decode(
		"{\"v\":1,\"op\":\"upsert\",\"request_id\":\"r\",\"note\":{\"path\":\"A/b c\","
		"\"content\":\"body\",\"tags\":[\"t\"],\"metadata\":{\"k\":\"v\"}}}");
	enum rest_step next;

	/* A proposed id never creates through PATCH (the vault would pick its own). */
	expect_call(&with_id, REST_FIRST, "PATCH", "/api/notes/Threads%2Feng%2Feng",
		    "{\"metadata\":{\"status\":\"working\"},\"force\":true}");
	CHECK_INT(judge(&with_id, REST_FIRST, 0, 404, NULL, &next), REST_NEXT);
	CHECK_INT(next, REST_POST);
	expect_call(&with_id, REST_POST, "POST", "/api/notes",
		    "{\"id\":\"T1\",\"path\":\"Threads/eng/eng\",\"content\":\"\",\"tags\":"
		    "[\"agent/thread\"],\"metadata\":{\"status\":\"working\"}}");
	CHECK_INT(judge(&with_id, REST_POST, 404, 409, NULL, &next), REST_NEXT);
	CHECK_INT(next, REST_REPATCH);
	CHECK_INT(judge(&with_id, REST_REPATCH, 404, 200, NULL, &next), REST_DONE);
	CHECK_INT(judge(&with_id, REST_REPATCH, 404, 404, NULL, &next), REST_RETRY);
	/* Without one: the newer vault's if_missing, content replaced. */
	expect_call(&no_id, REST_FIRST, "PATCH", "/api/notes/A%2Fb%20c",
		    "{\"metadata\":{\"k\":\"v\"},\"content\":\"body\",\"force\":true,\"tags\":"
		    "{\"add\":[\"t\"]},\"if_missing\":\"create\"}");
	CHECK_INT(judge(&no_id, REST_FIRST, 0, 428, NULL, &next), REST_REFUSED);
	write_free(&with_id);
	write_free(&no_id);
}

static void test_patch_delete(void)
{
	struct note_write patch = decode("{\"v\":1,\"op\":\"patch\",\"request_id\":\"r\",\"note\":"
					 "{\"id\":\"in-1\",\"metadata\":{\"x\":null}}}");
	struct note_write del = decode("{\"v\":1,\"op\":\"delete\",\"request_id\":\"r\",\"note\":"
				       "{\"path\":\"Notes/old\"}}");
	enum rest_step next;

	expect_call(&patch, REST_FIRST, "PATCH", "/api/notes/in-1",
		    "{\"metadata\":{\"x\":null},\"force\":true}");
	CHECK_INT(judge(&patch, REST_FIRST, 0, 404, "{\"error\":\"Note not found\"}", &next),
		  REST_REFUSED);
	expect_call(&del, REST_FIRST, "DELETE", "/api/notes/Notes%2Fold", NULL);
	CHECK_INT(judge(&del, REST_FIRST, 0, 404, NULL, &next), REST_DONE);
	CHECK_INT(judge(&del, REST_FIRST, 0, 200, "{\"deleted\":true}", &next), REST_DONE);
	write_free(&patch);
	write_free(&del);
}

static void test_triggers(void)
{
	struct trigger_set set = { 0 };
	cJSON *t;
	char *json, *yaml, *query;

	REQUIRE(trigger_set_defaults(&set) == 0);
	t = bridge_triggers_build(&set, "http://127.0.0.1:8080/vault/default/hook", "b");
	json = cJSON_PrintUnformatted(t);
	CHECK_STR(json,
		  "[{\"name\":\"agentbus-definition\",\"events\":[\"created\",\"updated\"],"
		  "\"when\":{\"tags\":[\"agent/definition\"]},\"action\":{\"webhook\":"
		  "\"http://127.0.0.1:8080/vault/default/hook\",\"send\":\"json\",\"auth\":"
		  "{\"bearer\":\"b\"}}},{\"name\":\"agentbus-inbound\",\"events\":[\"created\"],"
		  "\"when\":{\"tags\":[\"agent/message/inbound\"],\"missing_metadata\":"
		  "[\"channel_inbound_rendered_at\"]},\"action\":{\"webhook\":"
		  "\"http://127.0.0.1:8080/vault/default/hook\",\"send\":\"json\",\"auth\":"
		  "{\"bearer\":\"b\"}}}]");
	yaml = bridge_triggers_yaml(t);
	CHECK_CONTAINS(yaml, "triggers:\n  - name: \"agentbus-definition\"\n"
			     "    events: [\"created\",\"updated\"]\n    when:\n"
			     "      tags: [\"agent/definition\"]\n    action:\n"
			     "      webhook: \"http://127.0.0.1:8080/vault/default/hook\"\n"
			     "      send: \"json\"\n");
	CHECK(!strstr(yaml, "bearer"));
	query = bridge_feed_query(&set);
	CHECK_STR(query, "tag=agent%2Fdefinition&tag=agent%2Fmessage%2Finbound&tag_match=any"
			 "&expand=exact");
	free(json);
	free(yaml);
	free(query);
	cJSON_Delete(t);
	trigger_set_free(&set);
}

int main(void)
{
	char *enc = rest_encode_segment("a/b c~é");

	CHECK_STR(enc, "a%2Fb%20c~%C3%A9");
	free(enc);
	test_webhook();
	test_feed_notes();
	test_create();
	test_upsert();
	test_patch_delete();
	test_triggers();
	return check_summary();
}
