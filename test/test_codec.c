/* test_codec: payload decoding (JSON and MessagePack, every limit), the
 * vault event model, note writes, metadata read as strings, and encode ->
 * decode round trips in both encodings. No broker: these are the pure parts
 * of bus/. */
#include <cjson/cJSON.h>
#include <msgpack.h>

#include "bus/codec.h"
#include "bus/event.h"
#include "bus/meta.h"
#include "bus/payload.h"
#include "bus/topics.h"
#include "bus/write.h"
#include "test/check.h"

#define LIMIT (1024 * 1024)

static const char contract_event[] =
	"{\"v\":1,\"event\":\"note.created\",\"vault\":\"default\","
	"\"event_id\":\"01JD3N5Q0Z8Y7X6W5V4T3S2R1Q\",\"origin\":\"agentbus\","
	"\"note\":{\"id\":\"01JD3N5Q0Z8Y7X6W5V4T3S2R1P\",\"path\":\"channel/eng/x\","
	"\"content\":\"summarise today's notes\",\"tags\":[\"agent/message\","
	"\"agent/message/inbound\"],\"metadata\":{\"agent\":\"eng\",\"n\":3,\"f\":0.1,"
	"\"b\":true,\"o\":{\"k\":[1,2]},\"z\":null},\"attachments\":[],"
	"\"createdAt\":\"2026-11-21T10:00:00.000Z\",\"updatedAt\":\"2026-11-21T10:00:01.000Z\"}}";

/* Decodes `text` as an event arriving on .../event/<topic_event>. */
static int decode_event(const char *text, size_t len, const char *content_type,
			enum note_event topic_event, struct vault_event *ev, struct bus_error *err)
{
	cJSON *doc;

	memset(ev, 0, sizeof *ev);
	if (payload_decode(text, len, content_type, LIMIT, &doc, err) != 0)
		return -1;
	return event_decode(doc, "topicvault", topic_event, ev, err);
}

static void check_contract_event(const struct vault_event *ev)
{
	char *s;

	CHECK_INT(ev->event, NOTE_CREATED);
	CHECK_STR(ev->vault, "default");
	CHECK_STR(ev->event_id, "01JD3N5Q0Z8Y7X6W5V4T3S2R1Q");
	CHECK_STR(ev->origin, "agentbus");
	CHECK_STR(ev->note.id, "01JD3N5Q0Z8Y7X6W5V4T3S2R1P");
	CHECK_STR(ev->note.path, "channel/eng/x");
	CHECK_STR(ev->note.content, "summarise today's notes");
	CHECK_INT(cJSON_GetArraySize(ev->note.tags), 2);
	CHECK_STR(ev->note.created_at, "2026-11-21T10:00:00.000Z");
	CHECK_STR(ev->note.updated_at, "2026-11-21T10:00:01.000Z");
	CHECK_STR(meta_str(ev->note.metadata, "agent"), "eng");
	CHECK_STR(s = meta_text(ev->note.metadata, "n"), "3");
	free(s);
	CHECK_STR(s = meta_text(ev->note.metadata, "f"), "0.1");
	free(s);
	CHECK_STR(s = meta_text(ev->note.metadata, "b"), "true");
	free(s);
	CHECK_STR(s = meta_text(ev->note.metadata, "o"), "{\"k\":[1,2]}");
	free(s);
	CHECK(meta_text(ev->note.metadata, "z") == NULL);
	CHECK(!meta_present(ev->note.metadata, "z"));
	CHECK(meta_text(ev->note.metadata, "absent") == NULL);
}

static void test_contract_event_json(void)
{
	struct vault_event ev;
	struct bus_error err;

	REQUIRE(decode_event(contract_event, strlen(contract_event), NULL, 0, &ev, &err) == 0);
	check_contract_event(&ev);
	event_free(&ev);
}

/* JSON -> MessagePack -> the same event; JSON again -> the same text. */
static void test_round_trip_both_encodings(void)
{
	cJSON *doc = cJSON_Parse(contract_event);
	struct codec_buf mp, js;
	struct vault_event ev;
	struct bus_error err;
	char *again;

	REQUIRE(doc != NULL);
	REQUIRE(codec_encode(doc, ENCODING_MSGPACK, &mp) == 0);
	CHECK_STR(mp.content_type, "application/msgpack");
	CHECK(payload_is_msgpack(mp.data, mp.len, NULL));
	/* Detected by the first byte alone, and by the content type. */
	REQUIRE(decode_event(mp.data, mp.len, NULL, 0, &ev, &err) == 0);
	check_contract_event(&ev);
	REQUIRE(codec_encode(ev.doc, ENCODING_JSON, &js) == 0);
	CHECK_STR(js.content_type, "application/json");
	again = cJSON_PrintUnformatted(doc);
	CHECK_STR(js.data, again);
	free(again);
	event_free(&ev);
	REQUIRE(decode_event(mp.data, mp.len, "application/msgpack", 0, &ev, &err) == 0);
	event_free(&ev);
	codec_buf_free(&mp);
	codec_buf_free(&js);
	cJSON_Delete(doc);
}

/* The vault's webhook body, forwarded unchanged; snake_case timestamps. */
static void test_webhook_body(void)
{
	const char *body = "{\"trigger\":\"conn_agentinbound-default\",\"event\":\"created\","
			   "\"note\":{\"id\":\"in-1\",\"content\":\"hi\",\"tags\":[],"
			   "\"metadata\":{\"agent\":\"eng\"},\"created_at\":\"T0\"}}";
	struct vault_event ev;
	struct bus_error err;
	char *key;

	REQUIRE(decode_event(body, strlen(body), NULL, NOTE_UPDATED, &ev, &err) == 0);
	CHECK_INT(ev.event, NOTE_CREATED);	/* the payload wins over the topic */
	CHECK_STR(ev.vault, "topicvault");
	CHECK_STR(ev.trigger, "conn_agentinbound-default");
	CHECK_STR(ev.note.created_at, "T0");
	CHECK_STR(key = event_dedupe_key(&ev), "in-1|note.created|T0");
	free(key);
	event_free(&ev);
}

static void expect_event_error(const char *text, enum bus_reason reason, const char *msg)
{
	struct vault_event ev;
	struct bus_error err = { 0 };

	CHECK_MSG(decode_event(text, strlen(text), NULL, 0, &ev, &err) != 0, "accepted %s", text);
	CHECK_INT(err.reason, reason);
	CHECK_CONTAINS(err.message, msg);
	event_free(&ev);
}

static void test_event_shape_errors(void)
{
	expect_event_error("[1,2]", REASON_INVALID_EVENT, "must be an object");
	expect_event_error("{\"event\":\"note.created\"}", REASON_INVALID_EVENT, "no note");
	expect_event_error("{\"note\":{\"id\":\"a\"}}", REASON_INVALID_EVENT, "no event");
	expect_event_error("{\"event\":\"note.moved\",\"note\":{\"id\":\"a\"}}",
			   REASON_INVALID_EVENT, "unknown event");
	expect_event_error("{\"v\":2,\"event\":\"created\",\"note\":{\"id\":\"a\"}}",
			   REASON_INVALID_EVENT, "version");
	expect_event_error("{\"event\":\"created\",\"note\":{\"id\":7}}", REASON_INVALID_EVENT,
			   "note.id");
	expect_event_error("{\"event\":\"created\",\"note\":{\"id\":\"\"}}", REASON_INVALID_EVENT,
			   "1 to 64");
	expect_event_error("{\"event\":\"created\",\"note\":{\"id\":\"a\",\"tags\":[1]}}",
			   REASON_INVALID_EVENT, "note.tags");
	expect_event_error("{\"event\":\"created\",\"note\":{\"id\":\"a\",\"tags\":\"x\"}}",
			   REASON_INVALID_EVENT, "note.tags");
	expect_event_error("{\"event\":\"created\",\"note\":{\"id\":\"a\",\"metadata\":[]}}",
			   REASON_INVALID_EVENT, "note.metadata");
	expect_event_error("{\"event\":\"created\",\"note\":{\"id\":\"a\",\"content\":5}}",
			   REASON_INVALID_EVENT, "note.content");
	expect_event_error("{\"event\":\"created\",\"vault\":\"\",\"note\":{\"id\":\"a\"}}",
			   REASON_INVALID_EVENT, "vault");
}

static void expect_payload_error(const void *data, size_t len, size_t limit,
				 enum bus_reason reason, const char *msg)
{
	struct bus_error err = { 0 };
	cJSON *doc = NULL;

	CHECK(payload_decode(data, len, NULL, limit, &doc, &err) != 0);
	CHECK(doc == NULL);
	CHECK_INT(err.reason, reason);
	CHECK_CONTAINS(err.message, msg);
}

static void test_payload_limits(void)
{
	char deep[200], *many;
	size_t n = 0;

	expect_payload_error("{\"a\":1}", 7, 6, REASON_TOO_LARGE, "exceeds the limit of 6");
	expect_payload_error("", 0, LIMIT, REASON_INVALID_ENCODING, "empty");
	expect_payload_error("{\"a\":", 5, LIMIT, REASON_INVALID_ENCODING, "not JSON");
	expect_payload_error("{} x", 4, LIMIT, REASON_INVALID_ENCODING, "after the value");
	expect_payload_error("{\"a\":\"\xc3\x28\"}", 9, LIMIT, REASON_INVALID_ENCODING,
			     "invalid UTF-8 at byte 6");
	expect_payload_error("\"\xed\xa0\x80\"", 5, LIMIT, REASON_INVALID_ENCODING, "UTF-8");
	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	expect_payload_error(deep, n, LIMIT, REASON_INVALID_ENCODING, "nested deeper");
	/* 100,001 values in 200 KB: under the size limit, over the value limit. */
	many = malloc(2 * 100001 + 2);
	REQUIRE(many != NULL);
	n = 0;
	many[n++] = '[';
	for (int i = 0; i <= 100000; i++) {
		many[n++] = '0';
		many[n++] = ',';
	}
	many[n - 1] = ']';
	expect_payload_error(many, n, LIMIT, REASON_INVALID_ENCODING, "more than 100000 values");
	free(many);
}

static void test_msgpack_errors(void)
{
	/* fixmap of 1 with a truncated string key */
	expect_payload_error("\x81\xa3" "ab", 4, LIMIT, REASON_INVALID_ENCODING, "truncated");
	/* key is an integer */
	expect_payload_error("\x81\x01\x02", 3, LIMIT, REASON_INVALID_ENCODING, "not a string");
	/* a value that is binary */
	expect_payload_error("\x81\xa1" "a\xc4\x01x", 6, LIMIT, REASON_INVALID_ENCODING, "binary");
	/* invalid UTF-8 in a string */
	expect_payload_error("\x81\xa1" "a\xa1\xff", 5, LIMIT, REASON_INVALID_ENCODING, "UTF-8");
	/* trailing bytes */
	expect_payload_error("\x80\x00", 2, LIMIT, REASON_INVALID_ENCODING, "after the value");
	/* 5 bytes declaring 2^32-1 map entries: refused before anything is
	 * allocated for them (found by fuzz_event). */
	expect_payload_error("\xdf\xff\xff\xff\xff", 5, LIMIT, REASON_INVALID_ENCODING,
			     "more elements than it has bytes");
	expect_payload_error("\x81\xa1" "a\xdd\x00\x01\x00\x00\x01", 9, LIMIT,
			     REASON_INVALID_ENCODING, "more elements than it has bytes");
	/* a str32 longer than the payload */
	expect_payload_error("\x81\xa1" "a\xdb\x7f\xff\xff\xff", 8, LIMIT,
			     REASON_INVALID_ENCODING, "truncated");
	expect_payload_error("\x81\xc1\x01", 3, LIMIT, REASON_INVALID_ENCODING, "invalid header");
}

/* `levels` nested maps {"a": {"a": ... 1}} (the 1 is the last level), as
 * JSON or as MessagePack. */
static size_t nested(char *out, int levels, bool msgpack)
{
	size_t n = 0;

	for (int i = 0; i < levels - 1; i++) {
		if (msgpack) {
			memcpy(out + n, "\x81\xa1" "a", 3);
			n += 3;
		} else {
			memcpy(out + n, "{\"a\":", 5);
			n += 5;
		}
	}
	out[n++] = msgpack ? '\x01' : '1';
	for (int i = 0; !msgpack && i < levels - 1; i++)
		out[n++] = '}';
	return n;
}

static void expect_payload_ok(const void *data, size_t len)
{
	struct bus_error err = { 0 };
	cJSON *doc = NULL;

	CHECK_MSG(payload_decode(data, len, NULL, LIMIT, &doc, &err) == 0, "%s", err.message);
	cJSON_Delete(doc);
}

/* Both encodings allow the same 32 levels, and neither lets NUL into a
 * string (cJSON would cut "RT\u0000x" to "RT"). */
static void test_same_limits_both_encodings(void)
{
	char buf[512];

	expect_payload_ok(buf, nested(buf, 32, false));
	expect_payload_ok(buf, nested(buf, 32, true));
	expect_payload_error(buf, nested(buf, 33, false), LIMIT, REASON_INVALID_ENCODING,
			     "nested deeper than 32");
	expect_payload_error(buf, nested(buf, 33, true), LIMIT, REASON_INVALID_ENCODING,
			     "nested deeper than 32");
	expect_payload_error("{\"id\":\"RT\\u0000x\"}", 18, LIMIT, REASON_INVALID_ENCODING,
			     "contains NUL");
	expect_payload_error("\x81\xa2id\xa4RT\0x", 9, LIMIT, REASON_INVALID_ENCODING,
			     "contains NUL");
	/* An escaped backslash before u0000 is text, not NUL. */
	expect_payload_ok("{\"id\":\"RT\\\\u0000x\"}", 19);
}

static void test_msgpack_by_content_type(void)
{
	/* An array is not a map, so only the content type says MessagePack. */
	struct bus_error err;
	cJSON *doc;

	REQUIRE(payload_decode("\x92\x01\xa1x", 4, "application/msgpack", LIMIT, &doc, &err) == 0);
	CHECK_INT(cJSON_GetArraySize(doc), 2);
	CHECK_STR(cJSON_GetArrayItem(doc, 1)->valuestring, "x");
	cJSON_Delete(doc);
	/* Empty key and value (msgpack-c hands over NULL pointers for them). */
	REQUIRE(payload_decode("\x81\xa0\xa0", 3, NULL, LIMIT, &doc, &err) == 0);
	CHECK_STR(cJSON_GetObjectItem(doc, "")->valuestring, "");
	cJSON_Delete(doc);
}

static void test_tags_bare(void)
{
	cJSON *tags = cJSON_Parse("[\"#agent/message\", \"  ##x \", \"c#\"]");
	size_t len;
	const char *b = tag_bare("##a/b  ", &len);

	CHECK_INT(len, 3);
	CHECK(strncmp(b, "a/b", 3) == 0);
	CHECK(tags_contain(tags, "agent/message"));
	CHECK(tags_contain(tags, "#agent/message"));
	CHECK(tags_contain(tags, "x"));
	CHECK(tags_contain(tags, "c#"));
	CHECK(!tags_contain(tags, "c"));
	CHECK(!tags_contain(tags, "Agent/message"));	/* case matters */
	cJSON_Delete(tags);
}

static void expect_write_error(const char *text, const char *msg, bool has_request_id)
{
	struct note_write w;
	struct bus_error err = { 0 };

	CHECK_MSG(write_decode(cJSON_Parse(text), &w, &err) != 0, "accepted %s", text);
	CHECK_INT(err.reason, REASON_INVALID_WRITE);
	CHECK_CONTAINS(err.message, msg);
	CHECK((w.request_id != NULL) == has_request_id);
	write_free(&w);
}

static void test_writes(void)
{
	struct note_write w;
	struct bus_error err;
	const char *ok = "{\"v\":1,\"op\":\"upsert\",\"request_id\":\"r\",\"origin\":\"agentbus\","
			 "\"note\":{\"path\":\"Threads/eng/eng\",\"tags\":[\"agent/thread\"],"
			 "\"metadata\":{\"status\":\"ok\",\"gone\":null}}}";

	REQUIRE(write_decode(cJSON_Parse(ok), &w, &err) == 0);
	CHECK_INT(w.op, WRITE_UPSERT);
	CHECK_STR(w.request_id, "r");
	CHECK_STR(w.origin, "agentbus");
	CHECK_STR(w.path, "Threads/eng/eng");
	CHECK(w.content == NULL);
	write_free(&w);
	expect_write_error("{\"op\":\"create\",\"note\":{}}", "request_id", false);
	expect_write_error("{\"op\":\"move\",\"request_id\":\"r\",\"note\":{}}", "op must be", true);
	expect_write_error("{\"op\":\"upsert\",\"request_id\":\"r\",\"note\":{\"id\":\"a\"}}",
			   "upsert needs note.path", true);
	expect_write_error("{\"op\":\"patch\",\"request_id\":\"r\",\"note\":{\"content\":\"x\"}}",
			   "patch needs note.id or note.path", true);
	expect_write_error("{\"op\":\"create\",\"request_id\":\"r\",\"note\":{\"id\":\"a/b\"}}",
			   "note.id", true);
	expect_write_error("{\"op\":\"create\",\"request_id\":\"r\",\"note\":{\"tags\":[1]}}",
			   "only strings", true);
	expect_write_error("{\"op\":\"create\",\"request_id\":\"r\",\"note\":{\"metadata\":1}}",
			   "note.metadata", true);
	expect_write_error("{\"op\":\"create\",\"request_id\":\"r\"}", "note must be", true);
}

/* Every topic kind, with the level the handlers (and the console's feed) use. */
static void test_topic_kinds(void)
{
	static const struct {
		const char *topic;
		enum topic_kind kind;
		const char *level;
	} cases[] = {
		{ "r/vault/v/write", TOPIC_VAULT_WRITE, NULL },
		{ "r/vault/v/event/note.created", TOPIC_VAULT_EVENT, "note.created" },
		{ "r/vault/v/event/a/b", TOPIC_OTHER, NULL },
		{ "r/agent/eng/inbox", TOPIC_AGENT_INBOX, "eng" },
		{ "r/agent/eng/cancel", TOPIC_AGENT_CANCEL, "eng" },
		{ "r/agent/eng/events", TOPIC_AGENT_EVENTS, "eng" },
		{ "r/agent/eng/definition", TOPIC_AGENT_DEFINITION, "eng" },
		{ "r/agent/eng/reply/me", TOPIC_OTHER, NULL },
		{ "r/agent//inbox", TOPIC_OTHER, NULL },
		{ "r/agentbus/deadletter", TOPIC_DEADLETTER, NULL },
		{ "r/agentbus/status/box", TOPIC_STATUS, NULL },
		{ "r/agentbus/status/other", TOPIC_OTHER, NULL },
	};
	struct topics t;

	REQUIRE(topics_init(&t, "r", "v", "box") == 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *level;
		size_t len;

		CHECK_INT(topics_classify(&t, cases[i].topic, &level, &len), cases[i].kind);
		if (cases[i].level)
			CHECK_MSG(level && len == strlen(cases[i].level) &&
				  strncmp(level, cases[i].level, len) == 0, "level of %s", cases[i].topic);
	}
	topics_free(&t);
}

int main(void)
{
	RUN(test_topic_kinds);
	RUN(test_contract_event_json);
	RUN(test_round_trip_both_encodings);
	RUN(test_webhook_body);
	RUN(test_event_shape_errors);
	RUN(test_payload_limits);
	RUN(test_msgpack_errors);
	RUN(test_same_limits_both_encodings);
	RUN(test_msgpack_by_content_type);
	RUN(test_tags_bare);
	RUN(test_writes);
	return check_summary();
}
