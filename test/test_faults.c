/* test_faults: the broker dies under load, with and without its own
 * persistence, and comes back; the gate engine holds the turns so that two
 * of them end while the broker is away and two after. agentbus reconnects,
 * subscribes again, sends what the broker never acknowledged, and every
 * message it had accepted ends in exactly one reply; the thread note counted
 * each turn once. The truth is
 * read from the embedded store's notes.db once agentbus has stopped. A stop
 * while the broker reads nothing still ends, and loses nothing. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test/check.h"
#include "test/rig.h"

#define WRITE "parachute/vault/default/write"
#define N_MESSAGES 4

/* One integer from notes.db. */
static long query(sqlite3 *db, const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	long v = -1;

	REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void check_store(const char *state_dir)
{
	char path[4096], id[32];
	sqlite3 *db;

	snprintf(path, sizeof path, "%s/notes.db", state_dir);
	REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	for (int i = 0; i < N_MESSAGES; i++) {
		snprintf(id, sizeof id, "m-%d", i);
		CHECK_INT(query(db, "SELECT count(*) FROM notes WHERE "
				"json_extract(metadata, '$.in_reply_to') = ?", id), 1);
		CHECK_INT(query(db, "SELECT count(*) FROM notes WHERE id = ? AND "
				"json_extract(metadata, '$.agentbus_rendered_at') IS NOT NULL", id), 1);
	}
	CHECK_INT(query(db, "SELECT json_extract(metadata, '$.turn_count') FROM notes WHERE "
			"path = 'Threads/eng/eng'", NULL), N_MESSAGES);
	CHECK_INT(query(db, "SELECT count(*) FROM notes WHERE content LIKE '%the turn failed%'",
			NULL), 0);
	sqlite3_close(db);
}

static void broker_dies(bool persistence)
{
	const char *extra[] = { "--gate", NULL, "-v", "--reconnect-max", "1", NULL };
	struct rig r = { .id = "faults", .persistence = persistence };
	char w[512], line[96], *gate = rig_start_gated(&r, extra);
	struct th_msg *m;

	rig_define_meta(&r, "eng", ",\"engine\":\"gate\"");
	rig_define(&r, "probe");
	for (int i = 0; i < N_MESSAGES; i++) {
		snprintf(w, sizeof w, "{\"op\":\"create\",\"request_id\":\"in-%d\",\"note\":{\"id\":"
			 "\"m-%d\",\"content\":\"job %d\",\"tags\":[\"agent/message/inbound\"],"
			 "\"metadata\":{\"agent\":\"eng\"}}}", i, i, i);
		th_client_publish_text(&r.client, WRITE, w);
	}
	/* All accepted (one runs, held by the gate; the others wait): now the
	 * broker goes. */
	for (int i = 0; i < N_MESSAGES; i++) {
		snprintf(line, sizeof line, "trigger inbound fired: note.created of note m-%d", i);
		CHECK(th_daemon_wait_output(&r.daemon, false, line, TH_TIMEOUT_MS));
	}
	th_client_close(&r.client);
	if (persistence)
		th_broker_stop(&r.broker);
	else
		th_broker_kill(&r.broker);
	CHECK(th_daemon_wait_output(&r.daemon, false, "lost the broker", TH_TIMEOUT_MS));
	/* Two turns end while the broker is away: their writes wait. */
	th_gate_release(gate, "11");
	CHECK(th_daemon_wait_output(&r.daemon, false, "m-0 on eng done", TH_TIMEOUT_MS));
	CHECK(th_daemon_wait_output(&r.daemon, false, "m-1 on eng done", TH_TIMEOUT_MS));
	th_broker_restart(&r.broker);
	th_client_open(&r.client, r.broker.child.port, "#");
	/* agentbus subscribes before it says it is online: once the status is
	 * here (a stale retained one only where the session, and so the
	 * subscriptions, survived), nothing published from now on misses it. */
	cJSON_Delete(rig_expect(&r, "parachute/agentbus/status/faults", NULL, "online"));
	/* And two after it is back. */
	th_gate_release(gate, "11");
	for (int i = 2; i < N_MESSAGES; i++) {
		snprintf(line, sizeof line, "m-%d on eng done", i);
		CHECK(th_daemon_wait_output(&r.daemon, false, line, 3 * TH_TIMEOUT_MS));
	}
	/* A fence through agentbus's own connection: its note write follows
	 * every write agentbus sent before it. */
	th_client_publish_text(&r.client, "parachute/agent/probe/inbox", "fence");
	m = th_client_wait_for(&r.client, "parachute/vault/default/event/note.created",
			       "\"content\":\"fence\"", TH_TIMEOUT_MS);
	CHECK(m != NULL);
	th_msg_free(m);
	CHECK(th_daemon_stop_cleanly(&r.daemon, SIGTERM));
	check_store(r.state);
	th_daemon_free(&r.daemon);
	th_client_close(&r.client);
	th_broker_free(&r.broker);
	free(r.state);
	free(gate);
}

static void test_broker_killed_without_persistence(void)
{
	broker_dies(false);
}

static void test_broker_restarted_with_persistence(void)
{
	broker_dies(true);
}

/* A stop is bounded even when the broker stops reading: with more written
 * than the sockets hold, the offline status is never acknowledged and the
 * DISCONNECT waits behind the rest; after the grace agentbus drops the
 * connection and exits 0. Nothing is lost: what it had not sent goes out
 * from the outbox after the restart. */
static void test_stop_while_broker_reads_nothing(void)
{
	enum { TURNS = 20, BYTES = 300 * 1024 };
	const char *extra[] = { "--gate", NULL, "--max-turns", "20", NULL };
	struct rig r = { .id = "frozen" };
	char *gate = rig_start_gated(&r, extra), *ev = malloc(BYTES + 512), want[64];
	int status;

	rig_define_meta(&r, "big", ",\"engine\":\"gate\",\"mode\":\"multi-threaded\"");
	for (int i = 0; i < TURNS; i++) {
		int n = sprintf(ev, "{\"event\":\"note.created\",\"note\":{\"id\":\"f-%d\","
				"\"tags\":[\"agent/message/inbound\"],\"metadata\":{\"agent\":\"big\","
				"\"subject\":\"s%d\"},\"content\":\"", i, i);

		memset(ev + n, 'a' + i % 26, BYTES);
		strcpy(ev + n + BYTES, "\"}}");
		th_client_publish_text(&r.client, "parachute/vault/default/event/note.created", ev);
	}
	for (int i = 0; i < TURNS; i++) {
		snprintf(want, sizeof want, "\"inbound_id\":\"f-%d\"", i);
		cJSON_Delete(rig_expect(&r, "parachute/agent/big/events", NULL, want));
	}
	/* Every turn running; the broker stops reading; each ends with ~1 MB. */
	REQUIRE(kill(r.broker.child.pid, SIGSTOP) == 0);
	th_gate_release(gate, "11111111111111111111");
	for (int i = 0; i < TURNS; i++) {
		snprintf(want, sizeof want, ": f-%d on big ", i);
		CHECK_MSG(th_daemon_wait_output(&r.daemon, false, want, TH_TIMEOUT_MS),
			  "turn f-%d ended", i);
	}
	status = th_daemon_stop(&r.daemon, SIGTERM);
	CHECK_MSG(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "agentbus stopped by itself (status %d)", status);
	CHECK_CONTAINS(r.daemon.err, "did not take our DISCONNECT");
	th_daemon_free(&r.daemon);
	REQUIRE(kill(r.broker.child.pid, SIGCONT) == 0);

	rig_start_daemon(&r, extra);
	for (int i = 0; i < TURNS; i++) {
		snprintf(want, sizeof want, "\"in_reply_to\":\"f-%d\"", i);
		cJSON_Delete(rig_expect(&r, "parachute/agent/big/reply", NULL, want));
	}
	rig_stop(&r);
	free(ev);
	free(gate);
}

int main(void)
{
	RUN(test_broker_killed_without_persistence);
	RUN(test_broker_restarted_with_persistence);
	RUN(test_stop_while_broker_reads_nothing);
	return check_summary();
}
