/* test_queues: the drain queues alone: FIFO per key, one running per key,
 * keys served in the order they became ready, a turn put back at the head,
 * and accepted items moved in order. */
#include <stdlib.h>
#include <string.h>

#include "handlers/queues.h"
#include "test/check.h"

static struct queued *item(const char *id, const char *key)
{
	struct queued *it = queued_new(id, key);

	REQUIRE(it != NULL);
	return it;
}

static void expect_next(struct queues *q, const char *id)
{
	struct queued *it = queues_next(q);

	CHECK_MSG(it && strcmp(it->inbound_id, id) == 0, "expected %s, got %s", id,
		  it ? it->inbound_id : "nothing");
	queued_free(it);
}

static void test_fifo_per_key(void)
{
	struct queues q = { 0 };

	REQUIRE(queues_push(&q, item("a1", "a")) == 0);
	REQUIRE(queues_push(&q, item("a2", "a")) == 0);
	REQUIRE(queues_push(&q, item("b1", "b")) == 0);
	CHECK_INT(queues_waiting(&q, "a"), 2);
	expect_next(&q, "a1");
	expect_next(&q, "b1");	/* a is running: b goes next */
	CHECK(queues_next(&q) == NULL);	/* one at a time per key */
	CHECK_INT(q.running, 2);
	CHECK_INT(q.queued, 1);
	queues_done(&q, "a");
	REQUIRE(queues_push(&q, item("c1", "c")) == 0);
	expect_next(&q, "a2");	/* FIFO, and a was ready before c */
	expect_next(&q, "c1");
	queues_done(&q, "a");
	queues_done(&q, "b");
	queues_done(&q, "c");
	CHECK_INT(q.running, 0);
	CHECK_INT(q.keys.used, 0);	/* idle keys leave nothing behind */
	REQUIRE(queues_push(&q, item("d1", "d")) == 0);
	queues_free(&q);
}

static void test_push_front(void)
{
	struct queues q = { 0 };
	struct queued *it;

	REQUIRE(queues_push(&q, item("a1", "a")) == 0);
	REQUIRE(queues_push(&q, item("a2", "a")) == 0);
	it = queues_next(&q);
	REQUIRE(it != NULL);
	/* The running turn could not record its end: it goes first again. */
	queues_done(&q, "a");
	REQUIRE(queues_push_front(&q, it) == 0);
	expect_next(&q, "a1");
	queues_done(&q, "a");
	expect_next(&q, "a2");
	queues_done(&q, "a");
	CHECK_INT(q.keys.used, 0);
	queues_free(&q);
}

static void test_move_all(void)
{
	struct queues accepted = { 0 }, q = { 0 };

	REQUIRE(queues_push(&q, item("x0", "x")) == 0);
	REQUIRE(queues_push(&accepted, item("x1", "x")) == 0);
	REQUIRE(queues_push(&accepted, item("y1", "y")) == 0);
	REQUIRE(queues_push(&accepted, item("x2", "x")) == 0);
	REQUIRE(queues_move_all(&q, &accepted) == 0);
	CHECK_INT(accepted.queued, 0);
	CHECK_INT(accepted.keys.used, 0);
	CHECK_INT(q.queued, 4);
	expect_next(&q, "x0");
	expect_next(&q, "y1");
	queues_done(&q, "x");
	expect_next(&q, "x1");
	queues_done(&q, "x");
	expect_next(&q, "x2");
	queues_done(&q, "x");
	queues_done(&q, "y");
	queues_free(&q);
	queues_free(&accepted);
}

int main(void)
{
	RUN(test_fifo_per_key);
	RUN(test_push_front);
	RUN(test_move_all);
	return check_summary();
}
