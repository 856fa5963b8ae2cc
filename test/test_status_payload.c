/* test_status_payload: the status message in both encodings, and the
 * refresh policy (only on change, at most every 10 s). */
#include <cjson/cJSON.h>
#include <msgpack.h>

#include "daemon/status.h"
#include "test/check.h"

static void test_json(void)
{
	struct status st;
	struct status_counts counts = { .agents = 3, .queued = 2, .running = 1 };
	struct status_totals totals = { .turns_ok = 7 };
	struct codec_buf buf;
	cJSON *doc;

	status_init(&st, "box");
	REQUIRE(status_encode(&st, true, &counts, &totals, ENCODING_JSON, &buf) == 0);
	CHECK_STR(buf.content_type, "application/json");
	doc = cJSON_ParseWithLength(buf.data, buf.len);
	REQUIRE(doc != NULL);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "state")), "online");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "instance")), "box");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "started_at")), st.started_at);
	CHECK_INT(cJSON_GetObjectItem(doc, "agents")->valueint, 3);
	CHECK_INT(cJSON_GetObjectItem(doc, "queued")->valueint, 2);
	CHECK_INT(cJSON_GetObjectItem(doc, "running")->valueint, 1);
	CHECK_INT(cJSON_GetObjectItem(doc, "turns_ok")->valueint, 7);
	CHECK_INT(cJSON_GetObjectItem(doc, "deadletters")->valueint, 0);
	cJSON_Delete(doc);
	codec_buf_free(&buf);
}

/* The MessagePack form decodes to the same fields, numbers as integers. */
static void test_msgpack(void)
{
	struct status st;
	struct status_counts counts = { .agents = 3 };
	struct codec_buf buf;
	msgpack_unpacked up;
	msgpack_object_map *map;
	int seen = 0;

	status_init(&st, "box");
	REQUIRE(status_encode(&st, false, &counts, &(struct status_totals){ 0 }, ENCODING_MSGPACK,
			      &buf) == 0);
	CHECK_STR(buf.content_type, "application/msgpack");
	msgpack_unpacked_init(&up);
	REQUIRE(msgpack_unpack_next(&up, buf.data, buf.len, NULL) == MSGPACK_UNPACK_SUCCESS);
	REQUIRE(up.data.type == MSGPACK_OBJECT_MAP);
	map = &up.data.via.map;
	CHECK_INT(map->size, 12);
	for (uint32_t i = 0; i < map->size; i++) {
		msgpack_object_str k = map->ptr[i].key.via.str;
		msgpack_object *v = &map->ptr[i].val;

		if (k.size == 5 && memcmp(k.ptr, "state", 5) == 0) {
			CHECK(v->type == MSGPACK_OBJECT_STR && v->via.str.size == 7 &&
			      memcmp(v->via.str.ptr, "offline", 7) == 0);
			seen++;
		} else if (k.size == 6 && memcmp(k.ptr, "agents", 6) == 0) {
			CHECK(v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == 3);
			seen++;
		}
	}
	CHECK_INT(seen, 2);
	msgpack_unpacked_destroy(&up);
	codec_buf_free(&buf);
}

static void test_refresh_policy(void)
{
	struct status st;
	struct status_counts zero = { 0 }, busy = { .agents = 1, .queued = 4, .running = 1 };
	int64_t t0 = 100000;

	status_init(&st, "box");
	status_published(&st, &zero, t0);
	CHECK(!status_due(&st, &zero, t0 + 60000));	/* nothing changed: never */
	CHECK_INT(status_timeout_ms(&st, &zero, t0 + 1), -1);
	CHECK(!status_due(&st, &busy, t0 + 1));	/* changed, but too soon */
	CHECK_INT(status_timeout_ms(&st, &busy, t0 + 1), STATUS_REFRESH_MS - 1);
	CHECK(status_due(&st, &busy, t0 + STATUS_REFRESH_MS));
	status_published(&st, &busy, t0 + STATUS_REFRESH_MS);
	CHECK(!status_due(&st, &busy, t0 + 3 * STATUS_REFRESH_MS));
	/* A counter moved (a turn ended, a dead letter): the totals are due. */
	busy.metrics_generation++;
	CHECK(status_due(&st, &busy, t0 + 3 * STATUS_REFRESH_MS));
}

int main(void)
{
	RUN(test_json);
	RUN(test_msgpack);
	RUN(test_refresh_policy);
	return check_summary();
}
