/* test_api: the openai and anthropic engines against a local server that
 * speaks both streaming protocols (test/llm_server.c): streamed text equal
 * to the reply, usage and cost summed on the thread, the thread's history
 * sent along (also after a restart), retries as the SDKs make them
 * (retry-after honoured, 500 three times, a reset, overloaded before and
 * after text), every failure one failure note, an idle stream ended while
 * another agent answers, cancel, and 200 streamed turns at once on one
 * thread. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/check.h"
#include "test/llm_server.h"
#include "test/rig.h"

#define UPDATED "parachute/vault/default/event/note.updated"
#define KEY "sk-test-secret-key-0123456789"

static struct llm_server *llm;

static const char *content(const cJSON *note)
{
	return rig_str(note, "content", NULL);
}


static double meta_number(const cJSON *ev, const char *key)
{
	const char *v = rig_meta(ev, key);

	return v ? strtod(v, NULL) : -1;
}

static cJSON *thread_of(struct rig *r, const char *agent)
{
	char *want = rig_fmt("\"path\":\"Threads/%s/%s\"", agent, agent);
	cJSON *ev = rig_latest(r, UPDATED, want);

	free(want);
	return ev;
}

static const char *args[32];
static char *defs[4];

static void start(struct rig *r, const char *const *more)
{
	char *oa = rig_fmt("oa openai base_url=http://127.0.0.1:%d/v1 model=test-model price_in=1 "
			   "price_out=2 idle_timeout=1", llm_port(llm));
	char *an = rig_fmt("an anthropic base_url=http://127.0.0.1:%d api_key_env=TEST_ANTHROPIC_KEY "
			   "model=claude-test price_in=3 price_out=15 idle_timeout=1", llm_port(llm));
	char *nokey = rig_fmt("nokey anthropic base_url=http://127.0.0.1:%d api_key_env=NO_SUCH_KEY",
			      llm_port(llm));
	char *patient = rig_fmt("patient openai base_url=http://127.0.0.1:%d/v1 idle_timeout=60",
				llm_port(llm));
	int n = 8;

	for (int i = 0; i < 4; i++)
		free(defs[i]);
	defs[0] = oa;
	defs[1] = an;
	defs[2] = nokey;
	defs[3] = patient;
	for (int i = 0; i < 4; i++) {
		args[2 * i] = "--engine-def";
		args[2 * i + 1] = defs[i];
	}
	while (more && *more)
		args[n++] = *more++;
	args[n] = NULL;
	rig_start(r, args);
}

static void expect_reply(struct rig *r, const char *agent, const char *id, const char *text,
			 const char *want)
{
	cJSON *reply;

	rig_send_inbound(r, id, agent, text, "");
	reply = rig_reply(r, agent, id);
	CHECK_STR(content(reply), want);
	cJSON_Delete(reply);
}

static void expect_failure(struct rig *r, const char *agent, const char *id, const char *text,
			   const char *why)
{
	char *topic = rig_fmt("parachute/agent/%s/reply", agent);
	cJSON *reply;

	rig_send_inbound(r, id, agent, text, "");
	reply = rig_reply(r, agent, id);
	CHECK_CONTAINS(content(reply), why);
	CHECK_CONTAINS(content(reply), "the turn failed");
	cJSON_Delete(reply);
	CHECK_INT(th_client_count(&r->client, topic, id), 0);	/* exactly one */
	free(topic);
	/* The thread note says error, unless the turn was refused before it began. */
	if (!strstr(why, "daily budget")) {
		cJSON *thread = thread_of(r, agent);

		CHECK_MSG(thread && rig_meta(thread, "status") &&
			  strcmp(rig_meta(thread, "status"), "error") == 0,
			  "the thread note of %s says error", agent);
		cJSON_Delete(thread);
	}
}

static void test_openai(void)
{
	struct rig r = { 0 };
	cJSON *thread, *body, *messages;
	char *text, *sent;

	start(&r, NULL);
	rig_define_meta(&r, "o1", ",\"engine\":\"oa\"");
	expect_reply(&r, "o1", "o-1", "first question", "Hello from the test");
	text = rig_streamed_text(&r, "o1", "o-1");
	CHECK_STR(text, "Hello from the test");
	free(text);
	thread = thread_of(&r, "o1");
	REQUIRE(thread != NULL);
	CHECK(meta_number(thread, "input_tokens") == 12);
	CHECK(meta_number(thread, "output_tokens") == 3);
	CHECK(meta_number(thread, "total_cost_usd") > 0.0000179 &&
	      meta_number(thread, "total_cost_usd") < 0.0000181);
	cJSON_Delete(thread);
	sent = llm_body(llm, "first question");
	REQUIRE(sent != NULL);
	body = cJSON_Parse(sent);
	CHECK_STR(rig_str(body, "model", NULL), "test-model");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "stream")));
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(body, "stream_options"), "include_usage")));
	cJSON_Delete(body);
	free(sent);

	/* The second and third turns carry the thread's history. */
	expect_reply(&r, "o1", "o-2", "second question", "Hello from the test");
	expect_reply(&r, "o1", "o-3", "third question", "Hello from the test");
	sent = llm_body(llm, "third question");
	body = cJSON_Parse(sent);
	messages = cJSON_GetObjectItemCaseSensitive(body, "messages");
	REQUIRE(cJSON_GetArraySize(messages) == 5);
	CHECK_STR(rig_str(cJSON_GetArrayItem(messages, 0), "content", NULL), "first question");
	CHECK_STR(rig_str(cJSON_GetArrayItem(messages, 1), "role", NULL), "assistant");
	CHECK_STR(rig_str(cJSON_GetArrayItem(messages, 1), "content", NULL), "Hello from the test");
	CHECK_STR(rig_str(cJSON_GetArrayItem(messages, 2), "content", NULL), "second question");
	CHECK_STR(rig_str(cJSON_GetArrayItem(messages, 4), "content", NULL), "third question");
	cJSON_Delete(body);
	free(sent);
	thread = thread_of(&r, "o1");
	CHECK(meta_number(thread, "input_tokens") == 36);
	CHECK(meta_number(thread, "output_tokens") == 9);
	cJSON_Delete(thread);

	/* The history is in the state: a restarted agentbus still sends it. */
	rig_restart_daemon(&r, args);
	expect_reply(&r, "o1", "o-4", "fourth question", "Hello from the test");
	sent = llm_body(llm, "fourth question");
	CHECK_CONTAINS(sent, "first question");
	CHECK_CONTAINS(sent, "third question");
	free(sent);

	/* Events split anywhere, CRLF, comments, llama.cpp's extras. */
	rig_define_meta(&r, "o2", ",\"engine\":\"oa\"");
	expect_reply(&r, "o2", "o-5", "chunky please", "Hello from the test");
	thread = thread_of(&r, "o2");
	CHECK(meta_number(thread, "input_tokens") == 7);
	cJSON_Delete(thread);
	rig_define_meta(&r, "o3", ",\"engine\":\"oa\"");
	expect_reply(&r, "o3", "o-6", "nousage please", "Hello from the test");
	rig_stop(&r);
}

static void test_retries_and_failures(void)
{
	struct rig r = { 0 };
	long long gap;

	start(&r, NULL);
	rig_define_meta(&r, "r1", ",\"engine\":\"oa\"");
	expect_reply(&r, "r1", "r-1", "retry429 please", "Hello from the test");
	CHECK_INT(llm_count(llm, "retry429"), 2);
	gap = llm_arrival_ms(llm, "retry429", 2) - llm_arrival_ms(llm, "retry429", 1);
	CHECK_MSG(gap >= 1500, "the retry waited the 1500 ms the server asked for (%lld ms)", gap);
	CHECK(th_daemon_wait_output(&r.daemon, false, "attempt 1 of 3 failed: HTTP 429: Rate limit "
				    "reached; retrying in 1500 ms", TH_TIMEOUT_MS));

	rig_define_meta(&r, "r2", ",\"engine\":\"oa\"");
	expect_failure(&r, "r2", "r-2", "fail500 please",
		       "HTTP 500: Internal server error (after 3 attempts)");
	CHECK_INT(llm_count(llm, "fail500"), 3);

	rig_define_meta(&r, "r3", ",\"engine\":\"oa\"");
	expect_failure(&r, "r3", "r-3", "malformed please", "a chunk that is not JSON");
	rig_define_meta(&r, "r4", ",\"engine\":\"oa\"");
	expect_failure(&r, "r4", "r-4", "errorchunk please",
		       "the server sent an error: the model crashed");
	CHECK_INT(llm_count(llm, "errorchunk please"), 1);	/* text had streamed: no retry */
	rig_define_meta(&r, "r5", ",\"engine\":\"oa\"");
	expect_reply(&r, "r5", "r-5", "reset please", "Hello from the test");
	CHECK_INT(llm_count(llm, "reset please"), 2);

	/* A stream that goes quiet ends by the idle timeout; another agent's
	 * turn completes meanwhile. */
	rig_define_meta(&r, "r6", ",\"engine\":\"oa\"");
	rig_define(&r, "quick");
	rig_send_inbound(&r, "r-6", "r6", "stall please", "");
	REQUIRE(llm_wait(llm, "stall please", 1, TH_TIMEOUT_MS));
	expect_reply(&r, "quick", "q-1", "meanwhile", "echo: meanwhile");
	{
		cJSON *reply = rig_reply(&r, "r6", "r-6");

		CHECK_CONTAINS(content(reply), "the stream sent nothing for 1 s");
		cJSON_Delete(reply);
	}
	CHECK_INT(llm_count(llm, "stall please"), 1);

	/* Cancel ends a streaming turn at once. */
	rig_define_meta(&r, "r7", ",\"engine\":\"patient\"");
	rig_send_inbound(&r, "r-7", "r7", "stall and cancel", "");
	REQUIRE(llm_wait(llm, "stall and cancel", 1, TH_TIMEOUT_MS));
	th_client_publish_text(&r.client, "parachute/agent/r7/cancel", "r-7");
	{
		cJSON *reply = rig_reply(&r, "r7", "r-7");

		CHECK_CONTAINS(content(reply), "the turn failed: cancelled");
		cJSON_Delete(reply);
	}
	rig_stop(&r);
}

static void test_anthropic(void)
{
	struct rig r = { 0 };
	cJSON *thread, *body;
	char *sent, *text;

	start(&r, NULL);
	rig_define_meta(&r, "a1", ",\"engine\":\"an\"");
	expect_reply(&r, "a1", "a-1", "hello claude", "Hello from the test");
	text = rig_streamed_text(&r, "a1", "a-1");
	CHECK_STR(text, "Hello from the test");
	free(text);
	thread = thread_of(&r, "a1");
	REQUIRE(thread != NULL);
	CHECK(meta_number(thread, "input_tokens") == 21);
	CHECK(meta_number(thread, "output_tokens") == 9);
	CHECK(meta_number(thread, "total_cost_usd") > 0.0001979 &&
	      meta_number(thread, "total_cost_usd") < 0.0001981);
	cJSON_Delete(thread);
	sent = llm_body(llm, "hello claude");
	body = cJSON_Parse(sent);
	CHECK_STR(rig_str(body, "model", NULL), "claude-test");
	CHECK(cJSON_GetObjectItemCaseSensitive(body, "max_tokens") != NULL);
	cJSON_Delete(body);
	free(sent);
	expect_reply(&r, "a1", "a-2", "and again", "Hello from the test");
	sent = llm_body(llm, "and again");
	CHECK_CONTAINS(sent, "hello claude");	/* the history */
	free(sent);

	rig_define_meta(&r, "a2", ",\"engine\":\"an\"");
	expect_reply(&r, "a2", "a-3", "errorchunk for claude", "Hello from the test");
	CHECK_INT(llm_count(llm, "errorchunk for claude"), 2);	/* overloaded first: retried */
	rig_define_meta(&r, "a3", ",\"engine\":\"an\"");
	expect_failure(&r, "a3", "a-4", "latefail for claude",
		       "the API sent an error: overloaded_error: Overloaded");
	CHECK_INT(llm_count(llm, "latefail for claude"), 1);
	/* retry-after in seconds, from an HTTP error (Anthropic's 503 body). */
	rig_define_meta(&r, "a6", ",\"engine\":\"an\"");
	expect_reply(&r, "a6", "a-7", "retry503 for claude", "Hello from the test");
	CHECK_INT(llm_count(llm, "retry503 for claude"), 2);
	{
		long long gap = llm_arrival_ms(llm, "retry503 for claude", 2) -
				llm_arrival_ms(llm, "retry503 for claude", 1);

		CHECK_MSG(gap >= 1000, "the retry waited the 1 s the server asked for (%lld ms)", gap);
	}
	rig_define_meta(&r, "a4", ",\"engine\":\"an\"");
	expect_failure(&r, "a4", "a-5", "malformed for claude", "an event that is not JSON");
	rig_define_meta(&r, "a5", ",\"engine\":\"nokey\"");
	expect_failure(&r, "a5", "a-6", "no key", "the API key variable NO_SUCH_KEY is not set");
	/* The key went in a header and nowhere else. */
	CHECK(strstr(r.daemon.err, KEY) == NULL);
	rig_stop(&r);
}

/* Budgets: a turn over max_turn_cost_usd fails (and its request asked for
 * no more tokens than the budget buys); once a day's max_daily_cost_usd is
 * spent, turns are refused with a failure note. */
static void test_budgets(void)
{
	struct rig r = { 0 };
	cJSON *body;
	char *sent;

	start(&r, NULL);
	/* One turn here costs 12 x $1/M + 3 x $2/M = $0.000018. */
	rig_define_meta(&r, "b1", ",\"engine\":\"oa\",\"max_turn_cost_usd\":\"0.00001\"");
	expect_failure(&r, "b1", "b-1", "budget one",
		       "the turn cost $1.8e-05, more than its budget (max_turn_cost_usd $1e-05)");
	sent = llm_body(llm, "budget one");
	body = cJSON_Parse(sent);
	CHECK_INT(cJSON_GetObjectItemCaseSensitive(body, "max_tokens")->valueint, 5);
	cJSON_Delete(body);
	free(sent);
	rig_define_meta(&r, "b2", ",\"engine\":\"oa\",\"max_daily_cost_usd\":\"0.00003\"");
	expect_reply(&r, "b2", "b-2", "budget two", "Hello from the test");
	expect_reply(&r, "b2", "b-3", "budget three", "Hello from the test");
	expect_failure(&r, "b2", "b-4", "budget four",
		       "the daily budget of b2 (max_daily_cost_usd $3e-05) is spent: $3.6e-05 today");
	CHECK_INT(llm_count(llm, "budget four"), 0);	/* refused before any call */
	{
		cJSON *e;

		th_client_publish_text(&r.client, "parachute/vault/default/write",
				       "{\"op\":\"upsert\",\"request_id\":\"def-b3\",\"note\":{\"id\":\"d-b3\","
				       "\"path\":\"Agents/b3\",\"tags\":[\"agent/definition\"],"
				       "\"metadata\":{\"name\":\"b3\",\"max_daily_cost_usd\":\"lots\"}}}");
		e = rig_expect(&r, "parachute/agent/b3/definition", NULL, "error");
		CHECK_STR(rig_str(e, "error", NULL), "#agent/definition note d-b3: max_daily_cost_usd "
			  "must be an amount of US dollars above 0");
		cJSON_Delete(e);
	}
	rig_stop(&r);
}

/* 200 streams at once, one thread (subjects are drain keys of their own). */
static void test_many_at_once(void)
{
	const char *const more[] = { "--max-turns", "500", NULL };
	struct rig r = { 0 };
	long rss0, rss1, threads;
	int i, ok = 0;

	start(&r, more);
	rig_define_meta(&r, "many", ",\"engine\":\"patient\",\"mode\":\"multi-threaded\"");
	rss0 = th_rss_kb(r.daemon.pid);
	for (i = 0; i < 200; i++) {
		char id[16], meta[64], text[32];

		snprintf(id, sizeof id, "m-%03d", i);
		snprintf(meta, sizeof meta, ",\"subject\":\"s%03d\"", i);
		snprintf(text, sizeof text, "stall many-%03d", i);
		rig_send_inbound(&r, id, "many", text, meta);
	}
	REQUIRE(llm_wait(llm, "stall many-", 200, 30000));
	rss1 = th_rss_kb(r.daemon.pid);
	threads = (long)th_proc_field(r.daemon.pid, "status", "Threads");
	printf("200 streamed turns in flight: %ld threads in agentbus, RSS %ld kB -> %ld kB "
	       "(%.1f kB per turn)\n", threads, rss0, rss1, (double)(rss1 - rss0) / 200);
	CHECK_MSG(threads <= 4, "bounded threads (%ld)", threads);
	llm_release(llm);
	for (i = 0; i < 200; i++) {
		char id[16];
		cJSON *reply;

		snprintf(id, sizeof id, "m-%03d", i);
		reply = rig_expect(&r, "parachute/agent/many/reply", NULL, id);
		ok += strcmp(content(reply), "Hello from the test") == 0;
		cJSON_Delete(reply);
	}
	CHECK_INT(ok, 200);
	rig_stop(&r);
}

int main(void)
{
	setenv("TEST_ANTHROPIC_KEY", KEY, 1);
	llm = llm_start();
	RUN(test_openai);
	RUN(test_retries_and_failures);
	RUN(test_anthropic);
	RUN(test_budgets);
	RUN(test_many_at_once);
	llm_release(llm);
	llm_stop(llm);
	for (int i = 0; i < 4; i++)
		free(defs[i]);
	return check_summary();
}
