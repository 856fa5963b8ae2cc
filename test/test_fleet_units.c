/* test_fleet_units: what a fleet's instances agree on without talking: an
 * agent's partition, each partition's owner by rendezvous hashing (spread,
 * and moving only what must move when a member joins or leaves), the member
 * record both ways, the router's envelope both ways, and where the router
 * sends each kind of message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bus/trigger.h"
#include "daemon/route.h"
#include "fleet/forward.h"
#include "fleet/member.h"
#include "fleet/partition.h"
#include "test/check.h"

#define N 64

static void owners(const char *const *m, size_t n, int out[N])
{
	for (int p = 0; p < N; p++)
		out[p] = fleet_owner(m, n, p);
}

static void test_partition_of(void)
{
	int count[16] = { 0 };
	char name[32];

	CHECK_INT(fleet_partition_of("eng", 3, 1), 0);
	CHECK_INT(fleet_partition_of("Budget", 6, 64), fleet_partition_of("budget", 6, 64));
	for (int i = 0; i < 1600; i++) {
		int n = snprintf(name, sizeof name, "agent-%d", i);
		int p = fleet_partition_of(name, (size_t)n, 16);

		REQUIRE(p >= 0 && p < 16);
		count[p]++;
	}
	for (int p = 0; p < 16; p++)
		CHECK_MSG(count[p] > 50 && count[p] < 150, "partition %d has %d of 1600", p, count[p]);
}

/* The order members are listed in does not matter: every instance lists
 * them as the records happened to arrive. */
static void test_owner_ignores_order(void)
{
	const char *a[] = { "i1", "i2", "i3" }, *b[] = { "i3", "i1", "i2" };

	CHECK_INT(fleet_owner(a, 0, 5), -1);
	for (int p = 0; p < N; p++)
		CHECK_STR(a[fleet_owner(a, 3, p)], b[fleet_owner(b, 3, p)]);
}

static void test_spread(void)
{
	const char *m[] = { "i1", "i2", "i3", "i4" };
	int own[N], count[4] = { 0 };

	owners(m, 4, own);
	for (int p = 0; p < N; p++)
		count[own[p]]++;
	for (int i = 0; i < 4; i++)
		CHECK_MSG(count[i] >= 8 && count[i] <= 24, "%s owns %d of %d", m[i], count[i], N);
}

/* A newcomer takes only what it now wins; nothing moves between the others. */
static void test_join_moves_only_to_newcomer(void)
{
	const char *before[] = { "i1", "i2", "i3" }, *after[] = { "i1", "i2", "i3", "i4" };
	int was[N], now[N], moved = 0;

	owners(before, 3, was);
	owners(after, 4, now);
	for (int p = 0; p < N; p++) {
		if (now[p] == was[p])
			continue;
		CHECK_MSG(now[p] == 3, "partition %d moved from %s to %s", p, before[was[p]],
			  after[now[p]]);
		moved++;
	}
	CHECK_MSG(moved > 0 && moved < N / 2, "%d of %d partitions moved", moved, N);
}

/* A member gone: only its partitions move. */
static void test_leave_moves_only_its_own(void)
{
	const char *before[] = { "i1", "i2", "i3" }, *after[] = { "i1", "i3" };
	int was[N], now[N];

	owners(before, 3, was);
	owners(after, 2, now);
	for (int p = 0; p < N; p++)
		if (was[p] != 1)
			CHECK_STR(before[was[p]], after[now[p]]);
}

static void test_member_record(void)
{
	struct fleet_member m = { .partitions = 16, .started_at = 1796171255219 }, back;
	char why[128], text[64];
	cJSON *doc;
	char *json;

	snprintf(m.id, sizeof m.id, "i1");
	fleet_member_set(&m, 0, true);
	fleet_member_set(&m, 1, true);
	fleet_member_set(&m, 2, true);
	fleet_member_set(&m, 9, true);
	doc = fleet_member_encode(&m, "t");
	json = cJSON_PrintUnformatted(doc);
	REQUIRE(json != NULL);
	CHECK_CONTAINS(json, "\"owned\":[0,1,2,9]");
	CHECK_INT(fleet_member_decode(json, strlen(json), &back, why, sizeof why), 0);
	CHECK_STR(back.id, "i1");
	CHECK_INT(back.partitions, 16);
	CHECK(!back.leaving);
	CHECK(back.started_at == m.started_at);
	CHECK(memcmp(back.owned, m.owned, sizeof m.owned) == 0);
	fleet_bits_text(back.owned, back.partitions, text, sizeof text);
	CHECK_STR(text, "0-2,9");
	cJSON_free(json);
	cJSON_Delete(doc);

	CHECK_INT(fleet_member_decode("[]", 2, &back, why, sizeof why), -1);
	CHECK_INT(fleet_member_decode("{\"instance\":\"a/b\",\"partitions\":4}", 34, &back, why,
				      sizeof why), -1);
	/* Unit 4 of a fleet of 4 partitions is its router; 5 is nothing. */
	json = "{\"instance\":\"i2\",\"partitions\":4,\"owned\":[4]}";
	CHECK_INT(fleet_member_decode(json, strlen(json), &back, why, sizeof why), 0);
	CHECK(fleet_member_owns(&back, FLEET_ROUTER(4)));
	json = "{\"instance\":\"i2\",\"partitions\":4,\"owned\":[5]}";
	CHECK_INT(fleet_member_decode(json, strlen(json), &back, why, sizeof why), -1);
	CHECK_CONTAINS(why, "outside 0 to 4");
	json = "{\"instance\":\"i2\",\"partitions\":0}";
	CHECK_INT(fleet_member_decode(json, strlen(json), &back, why, sizeof why), -1);
	json = "{\"instance\":\"i2\",\"partitions\":4,\"state\":\"leaving\"}";
	CHECK_INT(fleet_member_decode(json, strlen(json), &back, why, sizeof why), 0);
	CHECK(back.leaving);
}


static void test_forward_envelope(void)
{
	static const char corr[] = { 'c', 0, 'd' }, payload[] = { '{', 0, '}' };
	struct bus_message m = { .topic = "parachute/agent/eng/inbox", .payload = payload,
				 .len = sizeof payload, .qos = 1, .mid = 0xbeef,
				 .content_type = "application/json", .response_topic = "me/answer",
				 .correlation = corr, .correlation_len = sizeof corr }, back;
	char *buf;
	size_t len;

	REQUIRE(fleet_forward_encode(&m, &buf, &len) == 0);
	REQUIRE(fleet_forward_decode(buf, len, &back) == 0);
	CHECK_STR(back.topic, m.topic);
	CHECK_STR(back.response_topic, "me/answer");
	CHECK_STR(back.content_type, "application/json");
	CHECK_INT(back.mid, 0xbeef);
	CHECK_INT(back.qos, 1);
	CHECK(!back.retain);
	CHECK(back.correlation_len == sizeof corr && !memcmp(back.correlation, corr, sizeof corr));
	CHECK(back.len == sizeof payload && !memcmp(back.payload, payload, sizeof payload));
	/* Cut anywhere before the payload: not an envelope. */
	for (size_t cut = 0; cut < len - sizeof payload; cut++)
		CHECK_MSG(fleet_forward_decode(buf, cut, &back) != 0, "cut at %zu", cut);
	buf[0] = 'X';
	CHECK_INT(fleet_forward_decode(buf, len, &back), -1);
	free(buf);

	/* Absent properties stay absent; a retained QoS 0 message stays so. */
	m = (struct bus_message){ .topic = "t", .qos = 0, .retain = true };
	REQUIRE(fleet_forward_encode(&m, &buf, &len) == 0);
	REQUIRE(fleet_forward_decode(buf, len, &back) == 0);
	CHECK(!back.response_topic && !back.content_type && !back.correlation && back.len == 0);
	CHECK(back.retain && back.qos == 0);
	buf[13] = 'x';	/* the topic's NUL: "t" from byte 12 */
	CHECK_INT(fleet_forward_decode(buf, len, &back), -1);
	free(buf);
}

static struct bus_message event(const char *name, const char *note, char *buf, size_t len)
{
	snprintf(buf, len, "{\"v\":1,\"event\":\"note.%s\",\"vault\":\"default\",\"note\":%s}", name,
		 note);
	return (struct bus_message){ .topic = strcmp(name, "created") == 0
						  ? "parachute/vault/default/event/note.created"
					      : strcmp(name, "updated") == 0
						  ? "parachute/vault/default/event/note.updated"
						  : "parachute/vault/default/event/note.deleted",
				     .payload = buf, .len = strlen(buf), .qos = 1 };
}

static void test_route(void)
{
	struct trigger_set triggers = { 0 };
	struct topics topics;
	struct route r;
	char buf[512];
	int eng = fleet_partition_of("eng", 3, 16);
	struct bus_message m;

	REQUIRE(topics_init(&topics, "parachute", "default", "x") == 0);
	REQUIRE(trigger_set_defaults(&triggers) == 0);
	REQUIRE(route_init(&r, "parachute", "f", 16, &topics,
			   &(struct events_decoder){ &triggers, "default", 65536 }) == 0);

	m = (struct bus_message){ .topic = "parachute/agent/eng/inbox", .payload = "hi", .len = 2 };
	CHECK_INT(route_message(&r, &m), eng);
	m.topic = "parachute/agent/eng/cancel";
	CHECK_INT(route_message(&r, &m), eng);
	m = event("created", "{\"id\":\"m1\",\"content\":\"hi\",\"tags\":[\"agent/message\","
		  "\"agent/message/inbound\"],\"metadata\":{\"agent\":\"eng\"}}", buf, sizeof buf);
	CHECK_INT(route_message(&r, &m), eng);
	/* A turn's own writes concern no partition. */
	m = event("created", "{\"id\":\"r1\",\"content\":\"echo: hi\",\"tags\":[\"agent/message\","
		  "\"agent/message/outbound\"],\"metadata\":{\"agent\":\"eng\"}}", buf, sizeof buf);
	CHECK_INT(route_message(&r, &m), ROUTE_NONE);
	/* A definition's events go to every partition, even once its tag is
	 * gone; after its deletion, no more. */
	m = event("created", "{\"id\":\"d1\",\"content\":\"x\",\"tags\":[\"agent/definition\"],"
		  "\"metadata\":{\"name\":\"eng\"}}", buf, sizeof buf);
	CHECK_INT(route_message(&r, &m), ROUTE_ALL);
	m = event("updated", "{\"id\":\"d1\",\"content\":\"x\",\"tags\":[]}", buf, sizeof buf);
	CHECK_INT(route_message(&r, &m), ROUTE_ALL);
	m = event("deleted", "{\"id\":\"d1\",\"path\":\"Agents/eng\"}", buf, sizeof buf);
	CHECK_INT(route_message(&r, &m), ROUTE_ALL);
	m = event("updated", "{\"id\":\"d1\",\"content\":\"x\",\"tags\":[]}", buf, sizeof buf);
	CHECK_INT(route_message(&r, &m), ROUTE_NONE);
	/* Known from its registry entry (a router that started later). */
	m = (struct bus_message){ .topic = "parachute/agent/ops/definition",
				  .payload = "{\"name\":\"ops\",\"definition\":\"d9\"}" };
	m.len = strlen(m.payload);
	route_entry(&r, &m);
	m = event("updated", "{\"id\":\"d9\",\"content\":\"x\",\"tags\":[]}", buf, sizeof buf);
	CHECK_INT(route_message(&r, &m), ROUTE_ALL);
	/* An unusable event is partition 0's, which dead-letters it. */
	m = (struct bus_message){ .topic = "parachute/vault/default/event/note.created",
				  .payload = "not json", .len = 8, .qos = 1 };
	CHECK_INT(route_message(&r, &m), 0);
	m.topic = "parachute/elsewhere";
	CHECK_INT(route_message(&r, &m), ROUTE_NONE);

	route_free(&r);
	trigger_set_free(&triggers);
	topics_free(&topics);
}

int main(void)
{
	RUN(test_partition_of);
	RUN(test_owner_ignores_order);
	RUN(test_spread);
	RUN(test_join_moves_only_to_newcomer);
	RUN(test_leave_moves_only_its_own);
	RUN(test_member_record);
	RUN(test_forward_envelope);
	RUN(test_route);
	return check_summary();
}
