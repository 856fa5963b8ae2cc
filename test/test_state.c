/* test_state: transactions on a real SQLite file: nesting, a failed step
 * failing the whole, a rollback forgetting what the outbox recorded in it,
 * and a state whose files cannot grow (a file-size limit) that says it is
 * failing and recovers once they can. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "state/outbox.h"
#include "state/state.h"
#include "test/check.h"
#include "test/harness.h"

static void count_row(void *arg, const char *const cols[4])
{
	(void)cols;
	++*(int *)arg;
}

static int agents(struct state *st)
{
	int n = 0;

	REQUIRE(state_agents_load(st, count_row, &n) == 0);
	return n;
}

static int sent;

static int count_send(void *arg, const struct bus_publish *pub, bus_publish_done_fn *done,
		      void *done_arg)
{
	(void)arg;
	(void)pub;
	sent++;
	done(done_arg, sent, 0);	/* acknowledged at once */
	return 0;
}

static const struct bus_publish pub = { .topic = "t", .payload = "x", .len = 1, .qos = 1 };

static void test_nesting(void)
{
	char *dir = th_tmpdir("state");
	struct state *st;

	REQUIRE(state_open(dir, &st) == 0);
	/* Inner pairs fold into the outer one. */
	REQUIRE(state_begin(st) == 0);
	REQUIRE(state_begin(st) == 0);
	REQUIRE(state_agent_put(st, "a", "d-a", "{}") == 0);
	CHECK_INT(state_commit(st), 0);
	REQUIRE(state_agent_put(st, "b", "d-b", "{}") == 0);
	CHECK_INT(state_commit(st), 0);
	CHECK_INT(agents(st), 2);
	/* A step that fails inside fails every level, and nothing stays. */
	REQUIRE(state_begin(st) == 0);
	REQUIRE(state_agent_put(st, "c", "d-c", "{}") == 0);
	REQUIRE(state_begin(st) == 0);
	state_fail(st);
	CHECK_INT(state_commit(st), -1);
	CHECK_INT(state_begin(st), -1);	/* a failed transaction takes no more */
	CHECK_INT(state_commit(st), -1);
	CHECK_INT(state_commit(st), -1);
	CHECK_INT(agents(st), 2);
	CHECK_INT(state_commit(st), -1);	/* none open: an error, said so */
	state_close(st);
	free(dir);
}

static void test_outbox_follows_the_transaction(void)
{
	char *dir = th_tmpdir("state");
	struct state *st;

	REQUIRE(state_open(dir, &st) == 0);
	sent = 0;
	REQUIRE(state_begin(st) == 0);
	REQUIRE(state_send(st, &pub) == 0);
	state_fail(st);
	CHECK_INT(state_commit(st), -1);
	outbox_flush(state_outbox(st), 0, count_send, NULL);
	CHECK_INT(sent, 0);	/* rolled back: never sent */
	CHECK_INT(outbox_count(state_outbox(st)), 0);
	REQUIRE(state_begin(st) == 0);
	REQUIRE(state_send(st, &pub) == 0);
	outbox_flush(state_outbox(st), 0, count_send, NULL);
	CHECK_INT(sent, 0);	/* not committed yet: not sent */
	CHECK_INT(state_commit(st), 0);
	outbox_flush(state_outbox(st), 0, count_send, NULL);
	CHECK_INT(sent, 1);
	CHECK_INT(outbox_settle(state_outbox(st)), 0);
	CHECK_INT(outbox_count(state_outbox(st)), 0);
	state_close(st);
	free(dir);
}

static void set_fsize(rlim_t limit)
{
	struct rlimit rl;

	REQUIRE(getrlimit(RLIMIT_FSIZE, &rl) == 0);
	rl.rlim_cur = limit;
	REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0);
}

static void test_failing_and_recovering(void)
{
	char *dir = th_tmpdir("state"), *wal, *big = malloc(256 * 1024);
	struct state *st;
	struct stat sb;
	const char *why;

	memset(big, 'q', 256 * 1024 - 1);
	big[256 * 1024 - 1] = '\0';
	REQUIRE(state_open(dir, &st) == 0);
	REQUIRE(state_agent_put(st, "a", "d-a", "{}") == 0);
	REQUIRE(asprintf(&wal, "%s/agentbus.db-wal", dir) > 0);
	REQUIRE(stat(wal, &sb) == 0);
	/* The files may not grow: a write that needs room fails as a unit. */
	signal(SIGXFSZ, SIG_IGN);
	set_fsize((rlim_t)sb.st_size);
	CHECK(!state_failing(st, NULL));
	REQUIRE(state_begin(st) == 0);
	/* SQLite may hold the step in its cache; the commit cannot hide it. */
	state_agent_put(st, "b", "d-b", big);
	CHECK_INT(state_commit(st), -1);
	CHECK(state_failing(st, &why));
	CHECK_INT(agents(st), 1);
	CHECK(why && *why);
	CHECK_INT(state_probe(st), -1);
	CHECK(state_failing(st, NULL));
	/* Room again: the probe says so, and writes work. */
	set_fsize(RLIM_INFINITY);
	CHECK_INT(state_probe(st), 0);
	CHECK(!state_failing(st, NULL));
	REQUIRE(state_begin(st) == 0);
	CHECK_INT(state_agent_put(st, "b", "d-b", big), 0);
	CHECK_INT(state_commit(st), 0);
	CHECK_INT(agents(st), 2);
	state_close(st);
	free(wal);
	free(big);
	free(dir);
}

int main(void)
{
	RUN(test_nesting);
	RUN(test_outbox_follows_the_transaction);
	RUN(test_failing_and_recovering);
	return check_summary();
}
