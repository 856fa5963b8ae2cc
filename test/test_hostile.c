/* test_hostile: the inputs and events that once broke "nothing lost, nothing
 * doubled", each end to end against a real broker and agentbus: a kill
 * while a new thread's turn runs, messages that grow past the limit when
 * escaped, retained inbox messages, subjects that differ in case or run
 * long, trigger markers smuggled into an inbox message, NUL in JSON, long
 * correlation data, wildcard response topics, numbers as agent names, a
 * failed turn's callback, and two daemons with one --id. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test/check.h"
#include "test/rig.h"

#define CREATED "parachute/vault/default/event/note.created"
#define DEADLETTER "parachute/agentbus/deadletter"

/* A turn on a brand-new thread, killed after the vault created the thread
 * note, runs again after the restart: every reply names the note the vault
 * holds. */
static void test_thread_identity_after_kill(void)
{
	const char *extra[] = { "--gate", NULL, NULL };
	struct rig r = { .id = "ident" };
	char *gate = rig_start_gated(&r, extra), *thread_id;
	int writes = 0;
	cJSON *ev;

	rig_define_meta(&r, "eng", ",\"engine\":\"gate\"");
	rig_send_inbound(&r, "t-1", "eng", "first", "");
	ev = rig_expect(&r, CREATED, "vault-event", "\"path\":\"Threads/eng/eng\"");
	thread_id = strdup(rig_str(ev, "note", "id"));
	cJSON_Delete(ev);
	CHECK(th_daemon_stop(&r.daemon, SIGKILL) >= 0);
	th_daemon_free(&r.daemon);
	rig_start_daemon(&r, extra);
	th_gate_release(gate, "1");
	rig_wait_turn_end(&r, "t-1");
	rig_send_inbound(&r, "t-2", "eng", "second", "");
	th_gate_release(gate, "1");
	rig_wait_turn_end(&r, "t-2");
	ev = rig_latest(&r, CREATED, "\"in_reply_to\":\"t-1\"");
	REQUIRE(ev != NULL);
	CHECK_STR(rig_meta(ev, "thread"), thread_id);
	cJSON_Delete(ev);
	ev = rig_latest(&r, CREATED, "\"in_reply_to\":\"t-2\"");
	REQUIRE(ev != NULL);
	CHECK_STR(rig_meta(ev, "thread"), thread_id);
	cJSON_Delete(ev);
	/* Every write of the thread note, before the kill and after, proposed
	 * the id the vault holds. */
	for (struct th_msg *w; (w = th_client_wait_for(&r.client, "parachute/vault/default/write",
						      "\"path\":\"Threads/eng/eng\"", 0)); ) {
		cJSON *doc = cJSON_Parse(w->payload);

		CHECK_STR(rig_str(cJSON_GetObjectItem(doc, "note"), "id", NULL), thread_id);
		cJSON_Delete(doc);
		th_msg_free(w);
		writes++;
	}
	CHECK(writes >= 4);	/* start and end of each turn, the interrupted start too */
	free(thread_id);
	rig_stop(&r);
	free(gate);
}

/* Text under the limit that escaping makes a note over it is refused, and
 * the asker hears so. */
static void test_inbox_growth_past_limit(void)
{
	const char *extra[] = { "--max-payload", "65536", NULL };
	struct rig r = { 0 };
	char *controls = malloc(30001), *quotes = malloc(40001);
	struct th_msg *m;

	rig_start(&r, extra);
	rig_define(&r, "eng");
	memset(controls, 1, 30000);
	controls[30000] = '\0';
	memset(quotes, '"', 40000);
	quotes[40000] = '\0';
	th_client_publish(&r.client, "parachute/agent/eng/inbox", controls, SIZE_MAX, NULL, "me/c",
			  "c1");
	m = th_client_next(&r.client, "me/c", TH_TIMEOUT_MS);
	CHECK(m && strstr(m->payload, "larger than the largest note"));
	th_msg_free(m);
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "too_large"));
	th_client_publish(&r.client, "parachute/agent/eng/inbox", quotes, SIZE_MAX, NULL, "me/q",
			  "c2");
	m = th_client_next(&r.client, "me/q", TH_TIMEOUT_MS);
	CHECK(m && strstr(m->payload, "larger than the largest note"));
	th_msg_free(m);
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "too_large"));
	/* A reply that would be over the limit becomes a failure note. */
	memset(controls, 'x', 30000);
	th_client_publish(&r.client, "parachute/agent/eng/inbox", controls, SIZE_MAX, NULL, "me/x",
			  "c3");
	m = th_client_next(&r.client, "me/x", TH_TIMEOUT_MS);
	CHECK(m && strstr(m->payload, "echo: xxx"));
	th_msg_free(m);
	free(controls);
	free(quotes);
	rig_stop(&r);
}

static void mosquitto_pub(struct rig *r, const char *topic, const char *const *more)
{
	const char *argv[16] = { "/usr/bin/mosquitto_pub", "-p", r->port, "-q", "1", "-t", topic };
	size_t n = 7;
	char *out = NULL, *err = NULL;

	while (*more && n < 15)
		argv[n++] = *more++;
	argv[n] = NULL;
	CHECK_INT(th_run(argv, &out, &err), 0);
	free(out);
	free(err);
}

/* A retained inbox message runs once, when published, never again at a
 * restart's subscribe. */
static void test_retained_inbox_runs_once(void)
{
	const char *retain[] = { "-r", "-m", "kept", NULL }, *clear[] = { "-r", "-n", NULL };
	struct rig r = { .id = "retained", .persistence = true };

	rig_start(&r, NULL);
	rig_define(&r, "eng");
	mosquitto_pub(&r, "parachute/agent/eng/inbox", retain);
	cJSON_Delete(rig_expect(&r, "parachute/agent/eng/reply", NULL, "echo: kept"));
	for (int i = 0; i < 3; i++)
		rig_restart_daemon(&r, NULL);
	th_client_publish_text(&r.client, "parachute/agent/eng/inbox", "fence");
	cJSON_Delete(rig_expect(&r, "parachute/agent/eng/reply", NULL, "echo: fence"));
	CHECK_INT(th_client_count(&r.client, CREATED, "\"content\":\"kept\""), 1);
	CHECK_INT(th_client_count(&r.client, "parachute/agent/eng/reply", "echo: kept"), 0);
	/* Clearing it delivers an empty message: refused, not run. */
	mosquitto_pub(&r, "parachute/agent/eng/inbox", clear);
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "empty message"));
	rig_stop(&r);
}

/* Subjects that differ only in case are one thread, counted once each;
 * a subject over 1 KB still names a thread note the vault accepts. */
static void test_subjects(void)
{
	struct rig r = { 0 };
	char *long_subject = malloc(1501), *meta;
	const char *thread;
	cJSON *ev, *reply;

	rig_start(&r, NULL);
	rig_define_meta(&r, "m", ",\"mode\":\"multi-threaded\"");
	rig_send_inbound(&r, "s-1", "m", "one", ",\"subject\":\"Budget\"");
	rig_wait_turn_end(&r, "s-1");
	rig_send_inbound(&r, "s-2", "m", "two", ",\"subject\":\"budget\"");
	rig_wait_turn_end(&r, "s-2");
	ev = rig_latest(&r, "parachute/vault/default/event/note.updated", "Threads/m/m--");
	REQUIRE(ev != NULL);
	CHECK_STR(rig_str(ev, "note", "path"), "Threads/m/m--Budget");
	CHECK_STR(rig_meta(ev, "turn_count"), "2");
	cJSON_Delete(ev);
	memset(long_subject, 'a', 1500);
	long_subject[1500] = '\0';
	meta = rig_fmt(",\"subject\":\"%s\"", long_subject);
	rig_send_inbound(&r, "s-3", "m", "long", meta);
	rig_wait_turn_end(&r, "s-3");
	reply = rig_latest(&r, CREATED, "\"in_reply_to\":\"s-3\"");
	REQUIRE(reply != NULL);
	CHECK_CONTAINS(rig_str(reply, "note", "content"), "echo: long");
	thread = rig_meta(reply, "thread");
	ev = rig_latest(&r, CREATED, "\"path\":\"Threads/m/m--aaaa");
	REQUIRE(ev != NULL);
	CHECK_STR(rig_str(ev, "note", "id"), thread);
	CHECK(strlen(rig_str(ev, "note", "path")) <= 1024);
	cJSON_Delete(ev);
	cJSON_Delete(reply);
	free(meta);
	free(long_subject);
	rig_stop(&r);
}

/* Hostile fields of inbox messages and notes. */
static void test_hostile_fields(void)
{
	char corr[601], *db;
	struct rig r = { .id = "fields" };
	struct th_msg *m;

	rig_start(&r, NULL);
	rig_define(&r, "eng");
	rig_define(&r, "42");
	/* A trigger's own markers in the metadata would stop the turn forever. */
	th_client_publish(&r.client, "parachute/agent/eng/inbox",
			  "{\"content\":\"marked\",\"metadata\":{\"channel_inbound_rendered_at\":\"x\","
			  "\"inbound_pending_at\":\"y\",\"agentbus_rendered_at\":\"z\"}}", SIZE_MAX,
			  NULL, "me/m", NULL);
	m = th_client_next(&r.client, "me/m", TH_TIMEOUT_MS);
	CHECK(m && strstr(m->payload, "echo: marked"));
	th_msg_free(m);
	/* NUL inside a JSON string: refused, not cut short. */
	th_client_publish_text(&r.client, "parachute/vault/default/write",
			       "{\"op\":\"create\",\"request_id\":\"nul\",\"note\":{\"id\":\"RT\\u0000x\"}}");
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "contains NUL"));
	th_client_publish(&r.client, "parachute/agent/eng/inbox", "{\"content\":\"a\\u0000b\"}",
			  SIZE_MAX, NULL, "me/n", NULL);
	m = th_client_next(&r.client, "me/n", TH_TIMEOUT_MS);
	CHECK(m && strstr(m->payload, "contains NUL"));
	th_msg_free(m);
	/* Correlation data comes back whole. */
	memset(corr, 'k', 600);
	corr[600] = '\0';
	th_client_publish(&r.client, "parachute/agent/eng/inbox", "corr", SIZE_MAX, NULL, "me/k",
			  corr);
	m = th_client_next(&r.client, "me/k", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	CHECK_STR(m->correlation, corr);
	th_msg_free(m);
	/* A response topic with wildcards: refused, nothing left to send. */
	th_client_publish(&r.client, "parachute/agent/eng/inbox", "wild", SIZE_MAX, NULL,
			  "me/+/x", NULL);
	cJSON_Delete(rig_expect(&r, DEADLETTER, "deadletter", "response topic"));
	/* A number in metadata.agent routes like the string it reads as. */
	th_client_publish_text(&r.client, "parachute/vault/default/write",
			       "{\"op\":\"create\",\"request_id\":\"num\",\"note\":{\"id\":\"n-42\","
			       "\"content\":\"by number\",\"tags\":[\"agent/message/inbound\"],"
			       "\"metadata\":{\"agent\":42}}}");
	cJSON_Delete(rig_expect(&r, "parachute/agent/42/reply", NULL, "echo: by number"));
	db = rig_fmt("%s/agentbus.db", r.state);
	rig_stop(&r);
	{
		sqlite3 *h;
		sqlite3_stmt *st;

		REQUIRE(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
		REQUIRE(sqlite3_prepare_v2(h, "SELECT count(*) FROM outbox", -1, &st, NULL) ==
			SQLITE_OK);
		REQUIRE(sqlite3_step(st) == SQLITE_ROW);
		CHECK_INT(sqlite3_column_int(st, 0), 0);
		sqlite3_finalize(st);
		sqlite3_close(h);
		free(db);
	}
}

/* The callback of a failed turn names no reply (there is none to read). */
static void test_failed_callback(void)
{
	const char *extra[] = { "--gate", NULL, NULL };
	struct rig r = { 0 };
	char *gate = rig_start_gated(&r, extra);
	cJSON *cb;

	rig_define_meta(&r, "boss", "");
	rig_define_meta(&r, "w", ",\"engine\":\"gate\"");
	rig_send_inbound(&r, "cb-1", "w", "try", ",\"reply_to\":\"boss\"");
	th_gate_release(gate, "!");
	cb = rig_expect(&r, CREATED, "vault-event", "\"callback\":\"true\"");
	CHECK_STR(rig_meta(cb, "status"), "error");
	CHECK(rig_meta(cb, "source_message") == NULL);
	CHECK(rig_meta(cb, "source_thread") != NULL);
	cJSON_Delete(cb);
	rig_stop(&r);
	free(gate);
}

/* Two daemons with the same --id take the client id from each other: one
 * of them says why and exits with status 1; the other keeps serving. */
static void test_same_id(void)
{
	struct rig r = { .id = "twin" };
	struct th_daemon second, *gone, *kept;
	char *other = th_tmpdir("twin-state");
	const char *args[] = { "-p", NULL, "--id", "twin", "--state-dir", other, NULL };
	int status;

	rig_start(&r, NULL);
	rig_define(&r, "eng");
	args[1] = r.port;
	th_daemon_start(&second, args);
	/* Whichever sees its sessions cut short first gives way. */
	gone = NULL;
	for (int i = 0; !gone && i < TH_TIMEOUT_MS / 200; i++) {
		if (th_daemon_wait_output(&r.daemon, false, "must not share --id", 100))
			gone = &r.daemon;
		else if (th_daemon_wait_output(&second, false, "must not share --id", 100))
			gone = &second;
	}
	REQUIRE(gone != NULL);
	kept = gone == &r.daemon ? &second : &r.daemon;
	status = th_daemon_wait_exit(gone, TH_TIMEOUT_MS);
	CHECK(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 1);
	CHECK(th_daemon_wait_output(kept, false, "subscriptions confirmed", TH_TIMEOUT_MS));
	CHECK(th_daemon_stop_cleanly(kept, SIGTERM));
	th_daemon_free(&second);
	th_daemon_free(&r.daemon);
	th_client_close(&r.client);
	th_broker_free(&r.broker);
	free(r.state);
	free(other);
}

int main(void)
{
	RUN(test_thread_identity_after_kill);
	RUN(test_inbox_growth_past_limit);
	RUN(test_retained_inbox_runs_once);
	RUN(test_subjects);
	RUN(test_hostile_fields);
	RUN(test_failed_callback);
	RUN(test_same_id);
	return check_summary();
}
