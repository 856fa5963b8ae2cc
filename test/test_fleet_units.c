/* test_fleet_units: what a fleet's instances agree on without talking: an
 * agent's partition, each partition's owner by rendezvous hashing (spread,
 * and moving only what must move when a member joins or leaves), and the
 * member record both ways. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

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

int main(void)
{
	RUN(test_partition_of);
	RUN(test_owner_ignores_order);
	RUN(test_spread);
	RUN(test_join_moves_only_to_newcomer);
	RUN(test_leave_moves_only_its_own);
	RUN(test_member_record);
	return check_summary();
}
