/* test_agents: the agent pipeline end to end on a real broker with the
 * embedded store and the echo engine: definitions (lifecycle, errors,
 * restarts), routing and ignore rules, one turn per note id, FIFO per drain
 * key and concurrency across keys, thread notes across three turns in each
 * mode of the reference's matrix, failure notes, callbacks and the depth
 * limit, delegation through the vault, and the inbox with mosquitto_rr's
 * request/response. Every payload checked is validated against schemas/. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "test/check.h"
#include "test/rig.h"
#include "util/hash.h"

#define WRITE "parachute/vault/default/write"
#define CREATED "parachute/vault/default/event/note.created"
#define UPDATED "parachute/vault/default/event/note.updated"
#define DEADLETTER "parachute/agentbus/deadletter"

/* Writes a definition note through the store; `meta` is extra JSON members
 * of its metadata (may be ""). Waits for the registry entry it causes. */
static cJSON *define(struct rig *r, const char *id, const char *name, const char *meta,
		     const char *schema_status)
{
	static int n;
	char *w = rig_fmt("{\"v\":1,\"op\":\"upsert\",\"request_id\":\"def-%d\",\"origin\":\"tester\","
		      "\"note\":{\"id\":\"%s\",\"path\":\"Agents/%s\",\"content\":\"You are %s.\","
		      "\"tags\":[\"agent/definition\"],\"metadata\":{\"name\":\"%s\"%s}}}",
		      ++n, id, id, name, name, meta);
	char *topic = rig_fmt("parachute/agent/%s/definition", name);
	char *want = rig_fmt("\"status\":\"%s\"", schema_status);
	cJSON *entry;

	th_client_publish_text(&r->client, WRITE, w);
	entry = rig_expect(r, topic, "registry-entry", want);
	free(w);
	free(topic);
	free(want);
	return entry;
}


/* --- definitions ----------------------------------------------------------- */

/* metadata.engine names a configured instance or a bare kind; anything else
 * is a definition error, not a failed turn later. */
static void test_engine_names(void)
{
	const char *const extra[] = { "--engine-def", "house echo timeout=30", NULL };
	struct rig r = { 0 };
	cJSON *e, *reply;

	rig_start(&r, extra);
	e = define(&r, "d-house", "house", ",\"engine\":\"house\"", "enabled");
	CHECK_STR(rig_str(e, "engine", NULL), "house");
	cJSON_Delete(e);
	rig_send_inbound(&r, "h-1", "house", "through an instance", "");
	reply = rig_expect(&r, "parachute/agent/house/reply", "message-note", "h-1");
	CHECK_STR(rig_str(reply, "content", NULL), "echo: through an instance");
	cJSON_Delete(reply);
	rig_wait_turn_end(&r, "h-1");
	cJSON_Delete(define(&r, "d-kind", "kind", ",\"engine\":\"echo\"", "enabled"));
	e = define(&r, "d-ghost", "ghost", ",\"engine\":\"ghost\"", "error");
	CHECK_STR(rig_str(e, "error", NULL), "#agent/definition note d-ghost: engine \"ghost\" is not "
		  "configured (an engine-def name, or \"echo\", \"exec\", \"openai\", \"anthropic\")");
	cJSON_Delete(e);
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "invalid_definition"));
	rig_stop(&r);
}

static void test_definition_lifecycle(void)
{
	struct rig r = { 0 };
	cJSON *e, *ev;
	struct th_msg *m;

	rig_start(&r, NULL);
	e = define(&r, "d-eng", "eng", "", "enabled");
	CHECK_STR(rig_str(e, "definition", NULL), "d-eng");
	CHECK_STR(rig_str(e, "path", NULL), "Agents/d-eng");
	CHECK_STR(rig_str(e, "mode", NULL), "single-threaded");
	CHECK_STR(rig_str(e, "engine", NULL), "echo");
	cJSON_Delete(e);
	/* The status stamp, written with agentbus's origin, through the vault. */
	ev = rig_expect(&r, UPDATED, "vault-event", "\"id\":\"d-eng\"");
	CHECK_STR(rig_str(ev, "origin", NULL), "agentbus");
	CHECK_STR(rig_meta(ev, "status"), "enabled");
	cJSON_Delete(ev);

	/* A bad edit: error published, the previous registration keeps running. */
	e = define(&r, "d-eng", "eng", ",\"mode\":\"sideways\"", "error");
	CHECK_STR(rig_str(e, "error", NULL), "#agent/definition note d-eng: mode must be "
		  "\"single-threaded\" or \"multi-threaded\"");
	cJSON_Delete(e);
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "invalid_definition"));
	ev = rig_expect(&r, UPDATED, "vault-event", "\"status\":\"error\"");
	CHECK_STR(rig_meta(ev, "error"), "#agent/definition note d-eng: mode must be "
		  "\"single-threaded\" or \"multi-threaded\"");
	cJSON_Delete(ev);
	rig_send_inbound(&r, "l-1", "eng", "still there?", "");
	cJSON_Delete(rig_expect(&r, "parachute/agent/eng/reply", "message-note", "l-1"));
	rig_wait_turn_end(&r, "l-1");

	/* Fixed: enabled again, multi-threaded now. An edit that changes nothing
	 * the agent is made of is not a re-registration. */
	e = define(&r, "d-eng", "eng", ",\"mode\":\"multi-threaded\"", "enabled");
	CHECK_STR(rig_str(e, "mode", NULL), "multi-threaded");
	cJSON_Delete(e);
	th_client_publish_text(&r.client, WRITE, "{\"op\":\"patch\",\"request_id\":\"colour\","
			       "\"origin\":\"tester\",\"note\":{\"id\":\"d-eng\",\"metadata\":"
			       "{\"colour\":\"blue\"}}}");
	cJSON_Delete(rig_expect(&r, UPDATED, "vault-event", "\"colour\":\"blue\""));
	/* Renamed in place: the old name is cleared (empty retained message). */
	e = define(&r, "d-eng", "eng2", ",\"mode\":\"multi-threaded\"", "enabled");
	cJSON_Delete(e);
	m = th_client_next(&r.client, "parachute/agent/eng/definition", TH_TIMEOUT_MS);
	CHECK(m && m->len == 0 && m->retain == false);	/* live delivery of the clear */
	th_msg_free(m);
	/* Nothing else on eng: replacing a definition in place clears nothing
	 * (fenced: another registration, handled after it, has come back). */
	cJSON_Delete(define(&r, "d-later", "later", "", "enabled"));
	CHECK_INT(th_client_count(&r.client, "parachute/agent/eng/definition", NULL), 0);

	/* The vault says the tag is gone: unregistered. */
	th_client_publish_text(&r.client, UPDATED, "{\"event\":\"note.updated\",\"event_id\":\"untag\","
			       "\"note\":{\"id\":\"d-eng\",\"tags\":[],\"metadata\":{\"name\":\"eng2\"}}}");
	m = th_client_next(&r.client, "parachute/agent/eng2/definition", TH_TIMEOUT_MS);
	CHECK(m && m->len == 0);
	th_msg_free(m);
	rig_send_inbound(&r, "l-2", "eng2", "anyone?", "");
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "unknown_agent"));

	/* Another note may not take a name in use, nor one that differs only in
	 * case (their thread notes would share a path); the refusal is the
	 * impostor's, and the retained entry stays the owner's. */
	cJSON_Delete(define(&r, "d-ops", "ops", "", "enabled"));
	th_client_publish_text(&r.client, WRITE, "{\"op\":\"upsert\",\"request_id\":\"imp\","
			       "\"note\":{\"id\":\"d-ops2\",\"path\":\"Agents/d-ops2\",\"tags\":"
			       "[\"agent/definition\"],\"metadata\":{\"name\":\"ops\"}}}");
	e = rig_expect(&r, DEADLETTER, "deadletter", "already exists");
	CHECK_CONTAINS(rig_str(e, "error", NULL), "an agent named \"ops\" already exists (note d-ops)");
	cJSON_Delete(e);
	th_client_publish_text(&r.client, WRITE, "{\"op\":\"upsert\",\"request_id\":\"imp2\","
			       "\"note\":{\"id\":\"d-ops3\",\"path\":\"Agents/d-ops3\",\"tags\":"
			       "[\"agent/definition\"],\"metadata\":{\"name\":\"OPS\"}}}");
	e = rig_expect(&r, DEADLETTER, "deadletter", "without regard to case");
	CHECK_CONTAINS(rig_str(e, "error", NULL), "an agent named \"ops\" already exists");
	cJSON_Delete(e);
	/* The impostors deleted: ops is still registered, its entry untouched. */
	th_client_publish_text(&r.client, WRITE, "{\"op\":\"delete\",\"request_id\":\"del2\","
			       "\"note\":{\"id\":\"d-ops2\"}}");
	th_client_publish_text(&r.client, WRITE, "{\"op\":\"delete\",\"request_id\":\"del3\","
			       "\"note\":{\"id\":\"d-ops3\"}}");
	cJSON_Delete(define(&r, "d-fence", "fence", "", "enabled"));	/* fences the deletes */
	CHECK_INT(th_client_count(&r.client, "parachute/agent/ops/definition", ""), 0);
	CHECK_INT(th_client_count(&r.client, "parachute/agent/OPS/definition", ""), 0);
	CHECK(th_retained_contains(r.broker.child.port, "parachute/agent/ops/definition",
				   "\"status\":\"enabled\""));
	rig_send_inbound(&r, "l-3", "ops", "still there?", "");
	cJSON_Delete(rig_expect(&r, "parachute/agent/ops/reply", NULL, "echo: still there?"));
	/* Deleted: unregistered. */
	th_client_publish_text(&r.client, WRITE, "{\"op\":\"delete\",\"request_id\":\"del\","
			       "\"note\":{\"id\":\"d-ops\"}}");
	m = th_client_wait_for(&r.client, "parachute/agent/ops/definition", NULL, TH_TIMEOUT_MS);
	CHECK(m && m->len == 0);
	th_msg_free(m);
	rig_stop(&r);
}

static void test_registry_survives_restart(void)
{
	struct rig r = { 0 };

	rig_start(&r, NULL);
	cJSON_Delete(define(&r, "d-keep", "keep", "", "enabled"));
	rig_restart_daemon(&r, NULL);
	rig_send_inbound(&r, "k-1", "keep", "after a restart", "");
	cJSON_Delete(rig_expect(&r, "parachute/agent/keep/reply", "message-note",
				"echo: after a restart"));
	rig_stop(&r);
}

/* --- routing ----------------------------------------------------------------- */

static void test_routing_and_ignore_rules(void)
{
	struct rig r = { 0 };
	cJSON *reply;

	rig_start(&r, NULL);
	cJSON_Delete(define(&r, "d-eng", "eng", "", "enabled"));
	/* Legacy channel key. */
	th_client_publish_text(&r.client, WRITE, "{\"op\":\"create\",\"request_id\":\"c1\",\"note\":"
			       "{\"id\":\"r-1\",\"content\":\"legacy\",\"tags\":"
			       "[\"agent/message/inbound\"],\"metadata\":{\"channel\":\"eng\"}}}");
	reply = rig_expect(&r, "parachute/agent/eng/reply", "message-note", "r-1");
	CHECK_STR(rig_str(reply, "content", NULL), "echo: legacy");
	CHECK_STR(rig_str(reply, "metadata", "in_reply_to"), "r-1");
	CHECK_STR(rig_str(reply, "metadata", "direction"), "outbound");
	CHECK_STR(rig_str(reply, "metadata", "sender"), "session");
	cJSON_Delete(reply);
	/* Outbound notes are never turns, whichever way they say so. */
	rig_send_inbound(&r, "r-2", "eng", "x", ",\"direction\":\"outbound\"");
	th_client_publish_text(&r.client, WRITE, "{\"op\":\"create\",\"request_id\":\"c3\",\"note\":"
			       "{\"id\":\"r-3\",\"content\":\"x\",\"tags\":[\"agent/message/inbound\","
			       "\"agent/message/outbound\"],\"metadata\":{\"agent\":\"eng\"}}}");
	/* No route, unknown agent. */
	th_client_publish_text(&r.client, WRITE, "{\"op\":\"create\",\"request_id\":\"c4\",\"note\":"
			       "{\"id\":\"r-4\",\"tags\":[\"agent/message/inbound\"],\"metadata\":"
			       "{\"agent\":\"\",\"sender\":\"a\"}}}");
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "no_route"));
	rig_send_inbound(&r, "r-5", "nobody", "x", "");
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "unknown_agent"));
	/* A turn after them all: only r-1 and r-6 ever had one. */
	rig_send_inbound(&r, "r-6", "eng", "last", "");
	rig_wait_turn_end(&r, "r-6");
	CHECK_INT(th_client_count(&r.client, "parachute/agent/eng/reply", "r-6"), 1);
	CHECK_INT(th_client_count(&r.client, "parachute/agent/eng/reply", NULL), 0);
	rig_stop(&r);
}

/* The same note arriving again (a QoS 1 redelivery, a replay with a new
 * event id, a restart) runs once. */
/* The vault event of note "once", published as the vault would. */
static void publish_once(struct rig *r, const char *event_id)
{
	char *e = rig_fmt("{\"event\":\"note.created\",\"event_id\":\"%s\",\"note\":{\"id\":\"once\","
		      "\"content\":\"hi\",\"tags\":[\"agent/message/inbound\"],\"metadata\":"
		      "{\"agent\":\"eng\"}}}", event_id);

	th_client_publish_text(&r->client, CREATED, e);
	free(e);
}

static void test_one_turn_per_note(void)
{
	struct rig r = { 0 };

	rig_start(&r, NULL);
	cJSON_Delete(define(&r, "d-eng", "eng", "", "enabled"));
	publish_once(&r, "e0");
	publish_once(&r, "e0");	/* a QoS 1 redelivery */
	publish_once(&r, "e1");	/* the same note, a new event id */
	rig_restart_daemon(&r, NULL);
	publish_once(&r, "e2");
	rig_send_inbound(&r, "after", "eng", "after", "");
	cJSON_Delete(rig_expect(&r, "parachute/agent/eng/reply", NULL, "\"in_reply_to\":\"after\""));
	CHECK_INT(th_client_count(&r.client, "parachute/agent/eng/reply", "\"in_reply_to\":\"once\""), 1);
	rig_stop(&r);
}

/* Every id a turn writes follows from its inbound note: the same turn run
 * again (after a crash, by another instance) proposes the same notes. */
static void test_step_ids(void)
{
	static const char *const steps[] = { "reply-write", "marker", "thread-start",
					     "thread-end" };
	struct rig r = { 0 };
	char want[27], *text;
	cJSON *reply, *ev;
	struct th_msg *m;

	rig_start(&r, NULL);
	cJSON_Delete(define(&r, "d-eng", "eng", "", "enabled"));
	rig_send_inbound(&r, "r-1", "eng", "hello", "");
	reply = rig_reply(&r, "eng", "r-1");
	hash_id_join("r-1", "reply", want);
	CHECK_STR(rig_str(reply, "id", NULL), want);
	cJSON_Delete(reply);
	ev = rig_expect(&r, "parachute/agent/eng/events", NULL, "\"kind\":\"start\"");
	hash_id_join("r-1", "turn", want);
	CHECK_STR(rig_str(ev, "turn_id", NULL), want);
	cJSON_Delete(ev);
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
		hash_id_join("r-1", steps[i], want);
		text = rig_fmt("\"request_id\":\"%s\"", want);
		m = th_client_wait_for(&r.client, WRITE, text, TH_TIMEOUT_MS);
		CHECK_MSG(m != NULL, "the %s write has request id %s", steps[i], want);
		th_msg_free(m);
		free(text);
	}
	/* A ULID message's notes keep its time, so they sort with it. */
	rig_send_inbound(&r, "01M8SRJB40NYVRNRYQZEXFQD55", "eng", "timed", "");
	reply = rig_reply(&r, "eng", "01M8SRJB40NYVRNRYQZEXFQD55");
	hash_id_join("01M8SRJB40NYVRNRYQZEXFQD55", "reply", want);
	memcpy(want, "01M8SRJB40", 10);
	CHECK_STR(rig_str(reply, "id", NULL), want);
	cJSON_Delete(reply);
	rig_stop(&r);
}

/* --- queues ------------------------------------------------------------------ */

/* The next turn event on `agent` that is not streamed text, as
 * "<kind>:<inbound id>". */
static char *next_turn_event(struct rig *r, const char *agent)
{
	char *topic = rig_fmt("parachute/agent/%s/events", agent), *out = NULL;

	while (!out) {
		cJSON *ev = rig_expect(r, topic, NULL, NULL);

		if (strcmp(rig_str(ev, "kind", NULL), "text") != 0)
			out = rig_fmt("%s:%s", rig_str(ev, "kind", NULL), rig_str(ev, "inbound_id", NULL));
		cJSON_Delete(ev);
	}
	free(topic);
	return out;
}

static void expect_turn_event(struct rig *r, const char *agent, const char *want)
{
	char *got = next_turn_event(r, agent);

	CHECK_STR(got, want);
	free(got);
}

static void test_fifo_per_key_and_concurrency(void)
{
	const char *extra[] = { "--gate", NULL, "--max-turns", "4", NULL };
	struct rig r = { 0 };
	char *gate = rig_start_gated(&r, extra);

	cJSON_Delete(define(&r, "d-a", "alpha", ",\"engine\":\"gate\"", "enabled"));
	cJSON_Delete(define(&r, "d-b", "beta", ",\"engine\":\"gate\"", "enabled"));
	rig_send_inbound(&r, "q-1", "alpha", "1", "");
	rig_send_inbound(&r, "q-2", "alpha", "2", "");
	rig_send_inbound(&r, "q-3", "alpha", "3", "");
	rig_send_inbound(&r, "q-4", "beta", "4", "");
	/* Both keys run at once; alpha's later turns wait behind q-1, which
	 * cannot end while the gate is shut. */
	expect_turn_event(&r, "alpha", "start:q-1");
	expect_turn_event(&r, "beta", "start:q-4");
	CHECK_INT(th_client_count(&r.client, "parachute/agent/alpha/events", "q-2"), 0);
	/* Released one by one, oldest job first: alpha strictly in order. */
	th_gate_release(gate, "1");
	expect_turn_event(&r, "alpha", "done:q-1");
	expect_turn_event(&r, "alpha", "start:q-2");
	th_gate_release(gate, "1");
	expect_turn_event(&r, "beta", "done:q-4");
	th_gate_release(gate, "1");
	expect_turn_event(&r, "alpha", "done:q-2");
	expect_turn_event(&r, "alpha", "start:q-3");
	th_gate_release(gate, "1");
	expect_turn_event(&r, "alpha", "done:q-3");
	rig_stop(&r);
	free(gate);
}

static void test_queue_limit(void)
{
	const char *extra[] = { "--gate", NULL, "--queue-limit", "1", NULL };
	struct rig r = { 0 };
	char *gate = rig_start_gated(&r, extra);
	cJSON *dl, *fail;

	cJSON_Delete(define(&r, "d-a", "alpha", ",\"engine\":\"gate\"", "enabled"));
	rig_send_inbound(&r, "f-1", "alpha", "runs", "");	/* running, held by the gate */
	expect_turn_event(&r, "alpha", "start:f-1");
	rig_send_inbound(&r, "f-2", "alpha", "waits", "");	/* waiting: the limit */
	rig_send_inbound(&r, "f-3", "alpha", "refused", "");
	dl = rig_expect(&r, DEADLETTER, "deadletter", "queue_full");
	CHECK_CONTAINS(rig_str(dl, "error", NULL), "queue full: 1 turns already waiting for alpha");
	cJSON_Delete(dl);
	fail = rig_expect(&r, "parachute/agent/alpha/reply", "message-note", "f-3");
	CHECK_CONTAINS(rig_str(fail, "content", NULL), "the turn failed: queue full");
	cJSON_Delete(fail);
	th_gate_release(&*gate, "11");
	rig_wait_turn_end(&r, "f-1");
	rig_wait_turn_end(&r, "f-2");
	rig_stop(&r);
	free(gate);
}

/* --- thread notes ------------------------------------------------------------ */

/* Runs three turns and checks the thread note after each. */
static void three_turns(struct rig *r, const char *agent, const char *subject_meta,
			const char *path, bool per_fire)
{
	char *first_path = NULL, *started = NULL, *session = NULL;

	for (int i = 1; i <= 3; i++) {
		char *id = rig_fmt("%s-%s-%d", agent, subject_meta[0] ? "s" : "n", i);
		char *want = rig_fmt("\"path\":\"%s%s", path, per_fire ? "" : "\"");
		cJSON *t;
		long tokens;

		rig_send_inbound(r, id, agent, "hello", subject_meta);
		rig_wait_turn_end(r, id);
		t = rig_latest(r, UPDATED, want);
		REQUIRE(t != NULL);
		CHECK_STR(rig_meta(t, "status"), "ok");
		CHECK_STR(rig_meta(t, "agent"), agent);
		CHECK_STR(rig_meta(t, "backend"), "programmatic");
		CHECK(rig_meta(t, "last_turn_at") != NULL);
		CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "note"),
								 "tags")), 1);
		tokens = strtol(rig_meta(t, "input_tokens"), NULL, 10);
		if (per_fire) {
			CHECK_STR(rig_meta(t, "turn_count"), "1");
			CHECK_INT(tokens, 5);	/* this turn's only */
			if (first_path)
				CHECK(strcmp(first_path, rig_str(t, "note", "path")) != 0);
		} else {
			CHECK_INT(strtol(rig_meta(t, "turn_count"), NULL, 10), i);
			CHECK_INT(tokens, 5 * i);	/* cumulative */
			CHECK_STR(rig_str(t, "note", "path"), path);
			if (started)
				CHECK_STR(rig_meta(t, "started_at"), started);
			if (session)	/* resumed */
				CHECK_STR(rig_meta(t, "session"), session);
		}
		if (!first_path) {
			first_path = strdup(rig_str(t, "note", "path"));
			started = strdup(rig_meta(t, "started_at"));
			session = strdup(rig_meta(t, "session"));
		}
		cJSON_Delete(t);
		free(want);
		free(id);
	}
	free(first_path);
	free(started);
	free(session);
}

static void test_thread_matrix(void)
{
	struct rig r = { 0 };

	rig_start(&r, NULL);
	cJSON_Delete(define(&r, "d-s", "solo", "", "enabled"));
	cJSON_Delete(define(&r, "d-m", "multi", ",\"mode\":\"multi-threaded\"", "enabled"));
	three_turns(&r, "solo", "", "Threads/solo/solo", false);
	three_turns(&r, "solo", ",\"subject\":\" Q3 plan/x \"", "Threads/solo/solo--Q3-plan-x",
		    false);
	three_turns(&r, "multi", "", "Threads/multi/", true);
	three_turns(&r, "multi", ",\"subject\":\"Q3 plan\"", "Threads/multi/multi--Q3-plan", false);
	rig_stop(&r);
}

/* --- failure notes and callbacks ---------------------------------------------- */

/* A turn past its timeout fails with a failure note, and its engine job is
 * gone at once: with one turn at a time, the next turn runs right after. */
static void test_failure_note(void)
{
	const char *extra[] = { "--gate", NULL, "--max-turns", "1", NULL };
	struct rig r = { 0 };
	char *gate = rig_start_gated(&r, extra);
	cJSON *fail, *ev;

	cJSON_Delete(define(&r, "d-slow", "slow", ",\"timeout\":\"1\",\"engine\":\"gate\"",
			    "enabled"));
	cJSON_Delete(define(&r, "d-next", "next", ",\"engine\":\"gate\"", "enabled"));
	rig_send_inbound(&r, "x-1", "slow", "take your time", "");	/* the gate never lets it */
	expect_turn_event(&r, "slow", "start:x-1");
	rig_send_inbound(&r, "x-2", "next", "waits for the slot", "");
	fail = rig_expect(&r, "parachute/agent/slow/reply", "message-note", "x-1");
	CHECK_STR(rig_str(fail, "content", NULL), "⚠️ I couldn't complete that — the turn failed: "
		  "timed out after 1 s\n\nThis is often temporary; please try again in a moment.");
	cJSON_Delete(fail);
	ev = rig_expect(&r, "parachute/agent/slow/events", "turn-event", "\"error\"");
	CHECK_STR(rig_str(ev, "error", NULL), "timed out after 1 s");
	cJSON_Delete(ev);
	rig_wait_turn_end(&r, "x-1");
	ev = rig_latest(&r, UPDATED, "\"path\":\"Threads/slow/slow\"");
	REQUIRE(ev != NULL);
	CHECK_STR(rig_meta(ev, "status"), "error");
	cJSON_Delete(ev);
	/* The timed-out job left the gate: this one token is x-2's. */
	expect_turn_event(&r, "next", "start:x-2");
	th_gate_release(gate, "1");
	expect_turn_event(&r, "next", "done:x-2");
	/* An engine that fails: the failure note says why. */
	rig_send_inbound(&r, "x-3", "next", "fail me", "");
	expect_turn_event(&r, "next", "start:x-3");
	th_gate_release(gate, "!");
	fail = rig_expect(&r, "parachute/agent/next/reply", "message-note", "x-3");
	CHECK_CONTAINS(rig_str(fail, "content", NULL), "the turn failed: the gate failed this turn");
	cJSON_Delete(fail);
	/* Cancelled by the sender: ended at once, its engine job with it. */
	expect_turn_event(&r, "next", "error:x-3");
	rig_send_inbound(&r, "x-4", "next", "never mind", "");
	expect_turn_event(&r, "next", "start:x-4");
	th_client_publish_text(&r.client, "parachute/agent/next/cancel", "x-4");
	fail = rig_expect(&r, "parachute/agent/next/reply", "message-note", "x-4");
	CHECK_CONTAINS(rig_str(fail, "content", NULL), "the turn failed: cancelled");
	cJSON_Delete(fail);
	/* The cancelled job left the gate: the next token is the next turn's. */
	rig_send_inbound(&r, "x-5", "next", "go", "");
	expect_turn_event(&r, "next", "error:x-4");
	expect_turn_event(&r, "next", "start:x-5");
	th_gate_release(gate, "1");
	expect_turn_event(&r, "next", "done:x-5");
	rig_stop(&r);
	free(gate);
}

/* The callback that `depth` produces, or NULL. */
static cJSON *delegate(struct rig *r, const char *id, const char *depth)
{
	char *meta = rig_fmt(",\"reply_to\":\"orch\",\"correlation_id\":\"corr-%s\",\"delegation_depth\":"
			 "\"%s\"", id, depth);
	char *want = rig_fmt("corr-%s", id);
	cJSON *cb;

	rig_send_inbound(r, id, "worker", "do the sub-task", meta);
	rig_wait_turn_end(r, id);
	/* The callback's write goes out before the marker's: it is here, or it
	 * never comes. */
	cb = rig_latest_with(r, CREATED, "\"sender\":\"callback:worker\"", want, 0);
	free(meta);
	free(want);
	return cb;
}

static void test_callbacks(void)
{
	struct rig r = { 0 };
	cJSON *cb, *reply, *note;
	char *want;

	rig_start(&r, NULL);
	cJSON_Delete(define(&r, "d-o", "orch", "", "enabled"));
	cJSON_Delete(define(&r, "d-w", "worker", ",\"mode\":\"multi-threaded\"", "enabled"));

	cb = delegate(&r, "w-7", "7");
	REQUIRE(cb != NULL);
	note = cJSON_GetObjectItem(cb, "note");
	CHECK_STR(rig_str(note, "metadata", "delegation_depth"), "8");
	CHECK_STR(rig_str(note, "metadata", "callback"), "true");
	CHECK_STR(rig_str(note, "metadata", "status"), "ok");
	CHECK_STR(rig_str(note, "metadata", "source_channel"), "worker");
	CHECK_STR(rig_str(note, "metadata", "agent"), "orch");
	CHECK_STR(rig_str(note, "metadata", "direction"), "inbound");
	CHECK_STR(rig_str(note, "metadata", "sender"), "callback:worker");
	CHECK(rig_str(note, "metadata", "source_thread") != NULL);
	CHECK(rig_str(note, "metadata", "source_message") != NULL);
	CHECK(rig_str(note, "metadata", "reply_to") == NULL);
	CHECK_STR(rig_str(note, "content", NULL), "[callback] worker finished (ok) — see "
		  "source_message / source_thread in this note's metadata to pull the full result.");
	CHECK_CONTAINS(rig_str(note, "path", NULL), "channel/orch/");
	/* The callback wakes the orchestrator, whose turn calls nobody back. */
	want = rig_fmt("\"in_reply_to\":\"%s\"", rig_str(note, "id", NULL));
	reply = rig_expect(&r, "parachute/agent/orch/reply", "message-note", want);
	CHECK_CONTAINS(rig_str(reply, "content", NULL), "echo: [callback] worker finished (ok)");
	cJSON_Delete(reply);
	free(want);
	cJSON_Delete(cb);

	/* Every note write agentbus published so far (thread upserts, reply and
	 * callback creates, the marker and status patches) is a valid write. */
	{
		struct th_msg *w;
		int n = 0;

		while ((w = th_client_wait_for(&r.client, WRITE, "\"origin\":\"agentbus\"", 0))) {
			CHECK_MSG(th_schema_valid("note-write", w->payload), "%s", w->payload);
			th_msg_free(w);
			n++;
		}
		CHECK(n >= 8);
	}
	cb = delegate(&r, "w-8", "8");
	CHECK(cb == NULL);	/* at the limit: no callback */
	cb = delegate(&r, "w-abc", "abc");
	REQUIRE(cb != NULL);
	CHECK_STR(rig_str(cJSON_GetObjectItem(cb, "note"), "metadata", "delegation_depth"), "1");
	cJSON_Delete(cb);
	rig_stop(&r);
}

/* --- the inbox ---------------------------------------------------------------- */

static void test_inbox(void)
{
	struct rig r = { 0 };
	struct th_msg *m;
	cJSON *ans, *ev;
	char *out = NULL, *err = NULL;
	int status;

	rig_start(&r, NULL);
	cJSON_Delete(define(&r, "d-eng", "eng", "", "enabled"));
	/* Text in, text out, on the response topic with the correlation data. */
	th_client_publish(&r.client, "parachute/agent/eng/inbox", "hi", SIZE_MAX, NULL, "me/t",
			  "c-text");
	m = th_client_next(&r.client, "me/t", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	CHECK_STR(m->payload, "echo: hi");
	CHECK_STR(m->correlation, "c-text");
	th_msg_free(m);
	ev = rig_expect(&r, CREATED, "vault-event", "\"content\":\"hi\"");
	CHECK_STR(rig_meta(ev, "sender"), "mqtt");
	CHECK_STR(rig_meta(ev, "direction"), "inbound");
	CHECK_CONTAINS(rig_str(ev, "note", "path"), "channel/eng/");
	cJSON_Delete(ev);

	/* JSON in, the reply note out. */
	th_client_publish(&r.client, "parachute/agent/eng/inbox",
			  "{\"content\":\"json hi\",\"sender\":\"ops\",\"subject\":\"s1\","
			  "\"metadata\":{\"n\":2,\"agent\":\"ignored\"}}", SIZE_MAX, NULL, "me/j",
			  "c-json");
	m = th_client_next(&r.client, "me/j", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	CHECK_STR(m->correlation, "c-json");
	CHECK(th_schema_valid("message-note", m->payload));
	ans = cJSON_Parse(m->payload);
	CHECK_STR(rig_str(ans, "content", NULL), "echo: json hi");
	cJSON_Delete(ans);
	th_msg_free(m);
	ev = rig_expect(&r, CREATED, "vault-event", "\"content\":\"json hi\"");
	CHECK_STR(rig_meta(ev, "sender"), "ops");
	CHECK_STR(rig_meta(ev, "subject"), "s1");
	CHECK_STR(rig_meta(ev, "n"), "2");
	CHECK_STR(rig_meta(ev, "agent"), "eng");
	cJSON_Delete(ev);

	/* Unknown agent: dead letter, and the asker is not left waiting. */
	th_client_publish(&r.client, "parachute/agent/ghost/inbox", "hello?", SIZE_MAX, NULL,
			  "me/g", NULL);
	m = th_client_next(&r.client, "me/g", TH_TIMEOUT_MS);
	CHECK(m && strstr(m->payload, "no agent named \"ghost\""));
	th_msg_free(m);
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "unknown_agent"));

	/* The README's command, as a person types it. */
	{
		const char *argv[] = { "/usr/bin/mosquitto_rr", "-p", r.port,
				       "-t", "parachute/agent/eng/inbox", "-e", "me/answer",
				       "-m", "hi", "-W", "10", NULL };

		status = th_run(argv, &out, &err);
		CHECK_INT(status, 0);
		CHECK_STR(out, "echo: hi\n");
		free(out);
		free(err);
	}
	rig_stop(&r);
}

int main(void)
{
	RUN(test_definition_lifecycle);
	RUN(test_engine_names);
	RUN(test_registry_survives_restart);
	RUN(test_routing_and_ignore_rules);
	RUN(test_one_turn_per_note);
	RUN(test_step_ids);
	RUN(test_fifo_per_key_and_concurrency);
	RUN(test_queue_limit);
	RUN(test_thread_matrix);
	RUN(test_failure_note);
	RUN(test_callbacks);
	RUN(test_inbox);
	return check_summary();
}
