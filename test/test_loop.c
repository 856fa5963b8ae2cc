/* test_loop: the event loop and the engine jobs that run on it. Timers fire
 * in order and never inside the call that adds them; cancelled ones never
 * fire; fds are served by mask; hooks run before each wait. Jobs report
 * from the loop, never during engine_start(); a cancelled job reports
 * nothing and holds nothing; the gate releases jobs by token, in order. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engines/engine.h"
#include "test/check.h"
#include "test/harness.h"
#include "util/loop.h"

static char trace[256];

static void note(const char *what)
{
	strncat(trace, what, sizeof trace - strlen(trace) - 1);
}

static void timer_a(void *arg)
{
	(void)arg;
	note("a");
}

static void timer_b(void *arg)
{
	(void)arg;
	note("b");
}

static void hook(void *arg)
{
	++*(int *)arg;
}

static void on_pipe(void *arg, int fd, int mask)
{
	char c;

	(void)arg;
	if ((mask & LOOP_READ) && read(fd, &c, 1) == 1)
		note("r");
}

static void run_until(struct loop *l, const char *want)
{
	for (int i = 0; i < 1000 && strcmp(trace, want) != 0; i++)
		REQUIRE(loop_run_once(l) == 0);
	CHECK_STR(trace, want);
}

static void test_loop(void)
{
	struct loop *l = loop_new();
	int hooks = 0, p[2];
	uint64_t dead;

	REQUIRE(l != NULL && pipe(p) == 0);
	trace[0] = '\0';
	REQUIRE(loop_before_sleep(l, hook, &hooks) == 0);
	REQUIRE(loop_timer(l, 20, timer_b, NULL) != 0);
	REQUIRE(loop_timer(l, 0, timer_a, NULL) != 0);
	dead = loop_timer(l, 5, timer_b, NULL);
	loop_timer_cancel(l, dead);
	CHECK_STR(trace, "");	/* nothing runs inside loop_timer() */
	run_until(l, "ab");
	CHECK(hooks >= 2);
	REQUIRE(loop_watch(l, p[0], LOOP_READ, on_pipe, NULL) == 0);
	REQUIRE(write(p[1], "x", 1) == 1);
	run_until(l, "abr");
	loop_set_mask(l, p[0], 0);	/* idle: not served */
	REQUIRE(write(p[1], "y", 1) == 1);
	REQUIRE(loop_timer(l, 10, timer_a, NULL) != 0);
	run_until(l, "abra");
	loop_unwatch(l, p[0]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

struct job_seen {
	int deltas;
	int done;
	char reply[128];
	char error[128];
	char order[32];
};

static void job_delta(void *arg, const char *text, size_t len)
{
	struct job_seen *s = arg;

	(void)text;
	(void)len;
	s->deltas++;
}

static void job_done(void *arg, struct engine_result *res)
{
	struct job_seen *s = arg;

	s->done++;
	snprintf(s->reply, sizeof s->reply, "%s", res->reply ? res->reply : "");
	snprintf(s->error, sizeof s->error, "%s", res->error ? res->error : "");
	engine_result_free(res);
}

static const struct engine_events events = { job_delta, job_done };

static struct engine_request *request(const char *engine, const char *message)
{
	struct engine_request *r = calloc(1, sizeof *r);

	REQUIRE(r != NULL);
	r->turn = 1;
	r->engine = strdup(engine);
	r->agent = strdup("a");
	r->message = strdup(message);
	REQUIRE(r->engine && r->agent && r->message);
	return r;
}

static void run_while(struct loop *l, const int *flag, int until)
{
	for (int i = 0; i < 1000 && *flag != until; i++)
		REQUIRE(loop_run_once(l) == 0);
}

static void test_jobs(void)
{
	char *dir = th_tmpdir("jobs"), *gate = th_gate_new(dir);
	struct engine_options opt = { .gate_path = gate };
	struct loop *l = loop_new();
	struct engines *e;
	struct job_seen s1 = { 0 }, s2 = { 0 }, s3 = { 0 }, s4 = { 0 };
	struct engine_job *j;

	REQUIRE(l && engines_open(l, &opt, &e) == 0);
	/* echo: the result comes from the loop, never inside engine_start(). */
	REQUIRE(engine_start(e, request("echo", "hi"), &events, &s1) != NULL);
	CHECK_INT(s1.done, 0);
	run_while(l, &s1.done, 1);
	CHECK_STR(s1.reply, "echo: hi");
	CHECK_INT(s1.deltas, 1);
	/* An engine nobody declared fails, also later, never inside engine_start(). */
	REQUIRE(engine_start(e, request("nonesuch", "hi"), &events, &s2) != NULL);
	CHECK_INT(s2.done, 0);
	run_while(l, &s2.done, 1);
	CHECK_STR(s2.error, "no engine named 'nonesuch'");
	/* Cancelled: nothing reported, nothing held. */
	j = engine_start(e, request("gate", "held"), &events, &s3);
	REQUIRE(j != NULL);
	CHECK_INT(engines_running(e), 1);
	engine_cancel(j);
	CHECK_INT(engines_running(e), 0);
	/* The gate: the token written now goes to the job waiting now. */
	REQUIRE(engine_start(e, request("gate", "second"), &events, &s4) != NULL);
	th_gate_release(gate, "1");
	run_while(l, &s4.done, 1);
	CHECK_STR(s4.reply, "echo: second");
	CHECK_INT(s3.done, 0);
	/* A token that comes first waits for the next job; '!' fails it. */
	th_gate_release(gate, "!");
	REQUIRE(loop_timer(l, 0, timer_a, NULL) != 0);	/* the wait returns at once */
	REQUIRE(loop_run_once(l) == 0);
	memset(&s4, 0, sizeof s4);
	REQUIRE(engine_start(e, request("gate", "third"), &events, &s4) != NULL);
	CHECK_INT(s4.done, 0);
	run_while(l, &s4.done, 1);
	CHECK_STR(s4.error, "the gate failed this turn");
	engines_close(e);
	loop_free(l);
	free(gate);
	free(dir);
}

int main(void)
{
	RUN(test_loop);
	RUN(test_jobs);
	return check_summary();
}
