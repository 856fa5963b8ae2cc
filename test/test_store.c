/* test_store: the embedded note store on a real SQLite file: every write op,
 * the events they produce, RFC 7386 merge (the RFC's own examples), repeated
 * request ids across a reopen, and rejected writes that change nothing. */
#include <cjson/cJSON.h>
#include <stdio.h>

#include "bus/merge.h"
#include "store/notes.h"
#include "test/check.h"
#include "test/harness.h"

static struct note_store *ns;

/* Applies the write in `text`; the result is the caller's to free. */
static struct store_result apply(const char *text)
{
	struct note_write w;
	struct bus_error err;
	struct store_result r;

	REQUIRE(write_decode(cJSON_Parse(text), &w, &err) == 0);
	REQUIRE(note_store_begin(ns) == 0);
	REQUIRE(note_store_apply(ns, &w, &r) == 0);
	REQUIRE(note_store_commit(ns) == 0);
	write_free(&w);
	return r;
}

static const char *str(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

static const char *meta(const cJSON *note, const char *key)
{
	return str(cJSON_GetObjectItemCaseSensitive(note, "metadata"), key);
}

static void test_create(void)
{
	struct store_result r = apply(
		"{\"op\":\"create\",\"request_id\":\"c1\",\"note\":{\"id\":\"n1\","
		"\"path\":\"Notes/one\",\"content\":\"hello\",\"tags\":[\"#a\",\"a\",\"b\",\"#\"],"
		"\"metadata\":{\"k\":\"v\",\"gone\":null}}}");

	CHECK(r.ok && !r.repeated);
	CHECK_INT(r.event, NOTE_CREATED);
	CHECK_STR(str(r.answer, "id"), "n1");
	CHECK_STR(str(r.answer, "path"), "Notes/one");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r.answer, "ok")));
	CHECK_STR(str(r.note, "content"), "hello");
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r.note, "tags")), 2);	/* bare, deduped */
	CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(r.note, "tags"), 0)->valuestring, "a");
	CHECK_STR(meta(r.note, "k"), "v");
	CHECK(!cJSON_HasObjectItem(cJSON_GetObjectItem(r.note, "metadata"), "gone"));
	CHECK_STR(str(r.note, "createdAt"), str(r.note, "updatedAt"));
	CHECK(cJSON_IsArray(cJSON_GetObjectItem(r.note, "attachments")));
	store_result_free(&r);

	/* No proposed id: the store makes a ULID. */
	r = apply("{\"op\":\"create\",\"request_id\":\"c2\",\"note\":{\"content\":\"x\"}}");
	CHECK(r.ok);
	CHECK_INT(strlen(str(r.answer, "id")), 26);
	CHECK(!cJSON_HasObjectItem(r.answer, "path"));
	store_result_free(&r);
}

static void test_create_conflicts(void)
{
	struct store_result r = apply("{\"op\":\"create\",\"request_id\":\"c3\",\"note\":"
				      "{\"id\":\"n1\",\"content\":\"again\"}}");

	CHECK(!r.ok);
	CHECK_CONTAINS(r.err.message, "id n1 already exists");
	CHECK_CONTAINS(str(r.answer, "error"), "already exists");
	CHECK(r.note == NULL);
	store_result_free(&r);
	r = apply("{\"op\":\"create\",\"request_id\":\"c4\",\"note\":{\"path\":\"notes/ONE\"}}");
	CHECK(!r.ok);	/* paths resolve case-insensitively, as the vault's do */
	CHECK_CONTAINS(r.err.message, "already exists");
	store_result_free(&r);
}

static void test_upsert(void)
{
	struct store_result r = apply(
		"{\"op\":\"upsert\",\"request_id\":\"u1\",\"note\":{\"path\":\"Threads/eng/eng\","
		"\"tags\":[\"agent/thread\"],\"metadata\":{\"status\":\"working\",\"turn_count\":\"0\"}}}");
	char *id;

	CHECK(r.ok);
	CHECK_INT(r.event, NOTE_CREATED);
	CHECK_STR(str(r.note, "content"), "");
	id = strdup(str(r.answer, "id"));
	store_result_free(&r);
	r = apply("{\"op\":\"upsert\",\"request_id\":\"u2\",\"note\":{\"path\":\"Threads/eng/eng\","
		  "\"tags\":[\"other\"],\"metadata\":{\"status\":\"ok\",\"turn_count\":\"1\"}}}");
	CHECK(r.ok);
	CHECK_INT(r.event, NOTE_UPDATED);
	CHECK_STR(str(r.answer, "id"), id);
	CHECK_STR(meta(r.note, "status"), "ok");
	CHECK_STR(meta(r.note, "turn_count"), "1");
	/* Tags only take effect on create. */
	CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(r.note, "tags"), 0)->valuestring,
		  "agent/thread");
	store_result_free(&r);
	r = apply("{\"op\":\"upsert\",\"request_id\":\"u3\",\"note\":{\"path\":\"Threads/eng/eng\","
		  "\"content\":\"authored\"}}");
	CHECK_STR(str(r.note, "content"), "authored");
	CHECK_STR(meta(r.note, "status"), "ok");	/* untouched keys survive */
	store_result_free(&r);
	free(id);
}

static void test_patch(void)
{
	struct store_result r = apply(
		"{\"op\":\"patch\",\"request_id\":\"p1\",\"note\":{\"id\":\"n1\","
		"\"metadata\":{\"k\":null,\"obj\":{\"a\":\"1\",\"b\":\"2\"},\"x\":\"y\"}}}");
	cJSON *o;

	CHECK(r.ok);
	CHECK_INT(r.event, NOTE_UPDATED);
	CHECK(!cJSON_HasObjectItem(cJSON_GetObjectItem(r.note, "metadata"), "k"));
	CHECK_STR(meta(r.note, "x"), "y");
	CHECK_STR(str(r.note, "content"), "hello");
	store_result_free(&r);
	r = apply("{\"op\":\"patch\",\"request_id\":\"p2\",\"note\":{\"path\":\"Notes/one\","
		  "\"metadata\":{\"obj\":{\"a\":null,\"c\":\"3\"}}}}");
	o = cJSON_GetObjectItem(cJSON_GetObjectItem(r.note, "metadata"), "obj");
	CHECK(!cJSON_HasObjectItem(o, "a"));
	CHECK_STR(str(o, "b"), "2");
	CHECK_STR(str(o, "c"), "3");
	store_result_free(&r);
	r = apply("{\"op\":\"patch\",\"request_id\":\"p3\",\"note\":{\"id\":\"nope\","
		  "\"metadata\":{\"x\":\"1\"}}}");
	CHECK(!r.ok);
	CHECK_CONTAINS(r.err.message, "patch: no note with id nope");
	store_result_free(&r);
}

static void test_repeated_request_id(void)
{
	struct store_result r = apply("{\"op\":\"patch\",\"request_id\":\"p1\",\"note\":"
				      "{\"id\":\"n1\",\"content\":\"changed\"}}");
	cJSON *note;

	CHECK(r.ok && r.repeated);
	CHECK(r.note == NULL);	/* nothing happened, so no event */
	CHECK_STR(str(r.answer, "id"), "n1");
	store_result_free(&r);
	note = note_store_get(ns, "n1");
	CHECK_STR(str(note, "content"), "hello");
	cJSON_Delete(note);
}

static void test_delete(void)
{
	struct store_result r = apply("{\"op\":\"delete\",\"request_id\":\"d1\",\"note\":"
				      "{\"path\":\"Notes/one\"}}");

	CHECK(r.ok);
	CHECK_INT(r.event, NOTE_DELETED);
	CHECK_STR(str(r.note, "id"), "n1");
	CHECK_STR(str(r.note, "path"), "Notes/one");
	CHECK(!cJSON_HasObjectItem(r.note, "content"));
	store_result_free(&r);
	CHECK(note_store_get(ns, "n1") == NULL);
	r = apply("{\"op\":\"delete\",\"request_id\":\"d2\",\"note\":{\"id\":\"n1\"}}");
	CHECK(!r.ok);
	store_result_free(&r);
}

/* RFC 7386 appendix A, the cases that apply to objects. */
static void test_merge_rfc7386(void)
{
	static const char *const cases[][3] = {
		{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
		{ "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
		{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
		{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
		{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
		{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
		{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}" },
		{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
		{ "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
		{ "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
		{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *target = cJSON_Parse(cases[i][0]), *patch = cJSON_Parse(cases[i][1]);
		cJSON *want = cJSON_Parse(cases[i][2]);

		REQUIRE(merge_patch(&target, patch) == 0);
		CHECK_MSG(cJSON_Compare(target, want, true), "case %zu: %s", i, cases[i][2]);
		cJSON_Delete(target);
		cJSON_Delete(patch);
		cJSON_Delete(want);
	}
}

int main(void)
{
	char *dir = th_tmpdir("store");

	REQUIRE(note_store_open(dir, &ns) == 0);
	RUN(test_create);
	RUN(test_create_conflicts);
	RUN(test_upsert);
	RUN(test_patch);
	/* Request ids are durable: reopen the file before repeating one. */
	note_store_close(ns);
	REQUIRE(note_store_open(dir, &ns) == 0);
	RUN(test_repeated_request_id);
	RUN(test_delete);
	RUN(test_merge_rfc7386);
	note_store_close(ns);
	free(dir);
	return check_summary();
}
