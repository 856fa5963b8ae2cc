/* test_crash: agentbus killed (as kill -9 would) at each named point of a
 * message's life, on each input path (a note write, a vault event, an inbox
 * message), then restarted: the work is finished, and nothing is written
 * twice: one inbound note, one reply note, one callback, a thread
 * turn_count of 1.
 * The crash points exist only in Debug builds; elsewhere this test reports
 * itself skipped (exit 77). */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "test/check.h"
#include "test/rig.h"

#ifdef AGENTBUS_CRASH_POINTS
#define WRITE "parachute/vault/default/write"
#define CREATED "parachute/vault/default/event/note.created"
#define UPDATED "parachute/vault/default/event/note.updated"

/* Distinct note ids among the queued note.created events holding `text`. */
static int distinct_created(struct rig *r, const char *text, const char *also)
{
	char ids[16][64];
	int n = 0;
	struct th_msg *m;

	while ((m = th_client_wait_for(&r->client, CREATED, text, 0)) != NULL) {
		cJSON *ev = cJSON_Parse(m->payload);
		const char *id = rig_str(cJSON_GetObjectItem(ev, "note"), "id", NULL);
		bool seen = false;

		if (id && (!also || strstr(m->payload, also))) {
			for (int i = 0; i < n; i++)
				seen |= strcmp(ids[i], id) == 0;
			if (!seen && n < 16)
				snprintf(ids[n++], sizeof ids[0], "%s", id);
		}
		cJSON_Delete(ev);
		th_msg_free(m);
	}
	return n;
}

/* Everything published before this is queued in the client once it returns. */
static void fence(struct rig *r)
{
	th_client_publish_text(&r->client, WRITE, "{\"op\":\"create\",\"request_id\":\"fence\","
			       "\"note\":{\"id\":\"fence\"}}");
	th_msg_free(th_client_wait_for(&r->client, CREATED, "\"fence\"", TH_TIMEOUT_MS));
}

static void crash_at(const char *point, const char *skip);

/* How the delegated message comes in. */
enum path { BY_WRITE, BY_INBOX };

/* Kills agentbus at `point` (after `skip` earlier hits) while it handles one
 * delegated message that came in by `path`, restarts it, and checks the
 * outcome. */
static void crash_on(enum path path, const char *point, const char *skip)
{
	struct rig r = { .id = "crash" };
	char id[64], w[512], want[96];
	struct th_msg *m;
	cJSON *ev;
	int status;

	printf("   crash at %s%s%s (%s)\n", point, skip ? " after hits: " : "", skip ? skip : "",
	       path == BY_INBOX ? "inbox" : "write");
	snprintf(id, sizeof id, "c-%s", point);
	rig_start(&r, NULL);
	rig_define(&r, "eng");
	rig_define(&r, "boss");

	setenv("AGENTBUS_CRASH_AT", point, 1);
	if (skip)
		setenv("AGENTBUS_CRASH_SKIP", skip, 1);
	rig_restart_daemon(&r, NULL);
	unsetenv("AGENTBUS_CRASH_AT");
	unsetenv("AGENTBUS_CRASH_SKIP");

	snprintf(w, sizeof w, "{\"op\":\"create\",\"request_id\":\"in-%s\",\"origin\":\"tester\","
		 "\"note\":{\"id\":\"%s\",\"content\":\"work\",\"tags\":[\"agent/message\","
		 "\"agent/message/inbound\"],\"metadata\":{\"agent\":\"eng\",\"reply_to\":\"boss\"}}}",
		 id, id);
	if (path == BY_INBOX)
		snprintf(w, sizeof w, "{\"content\":\"work\",\"reply_to\":\"boss\"}");
	th_client_publish_text(&r.client, path == BY_INBOX ? "parachute/agent/eng/inbox" : WRITE, w);
	status = th_daemon_wait_exit(&r.daemon, TH_TIMEOUT_MS);
	CHECK_MSG(status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "agentbus did not die at %s", point);
	th_daemon_free(&r.daemon);

	rig_start_daemon(&r, NULL);
	if (path == BY_INBOX) {
		/* The inbound note agentbus wrote for the message: one, whatever
		 * the broker delivered again. */
		th_msg_free(th_client_wait_for(&r.client, "parachute/agent/eng/reply", "echo: work",
					       TH_TIMEOUT_MS));
		fence(&r);
		CHECK_INT(distinct_created(&r, "\"content\":\"work\"", "agent/message/inbound"), 1);
		rig_stop(&r);
		return;
	}
	/* The marker is the turn's last write: then all of it is in. */
	snprintf(want, sizeof want, "\"id\":\"%s\"", id);
	m = th_client_wait_for(&r.client, UPDATED, want, TH_TIMEOUT_MS);
	CHECK_MSG(m && strstr(m->payload, "agentbus_rendered_at"), "no marker on %s", id);
	th_msg_free(m);
	/* And the callback woke boss, whose own turn then ended. */
	m = th_client_wait_for(&r.client, "parachute/agent/boss/reply", "[callback] eng",
			       TH_TIMEOUT_MS);
	CHECK_MSG(m != NULL, "boss was not woken after a crash at %s", point);
	th_msg_free(m);

	snprintf(want, sizeof want, "\"in_reply_to\":\"%s\"", id);
	CHECK_INT(distinct_created(&r, want, NULL), 1);
	/* One callback note. The thread note counted one turn. */
	fence(&r);
	CHECK_INT(distinct_created(&r, "\"callback\":\"true\"", "\"source_channel\":\"eng\""), 1);
	ev = NULL;
	while ((m = th_client_wait_for(&r.client, UPDATED, "\"path\":\"Threads/eng/eng\"", 0))) {
		cJSON_Delete(ev);
		ev = cJSON_Parse(m->payload);
		th_msg_free(m);
	}
	REQUIRE(ev != NULL);
	CHECK_STR(rig_str(cJSON_GetObjectItem(ev, "note"), "metadata", "turn_count"), "1");
	CHECK_STR(rig_str(cJSON_GetObjectItem(ev, "note"), "metadata", "status"), "ok");
	cJSON_Delete(ev);
	rig_stop(&r);
}

static void crash_at(const char *point, const char *skip)
{
	crash_on(BY_WRITE, point, skip);
}

static void crash_inbox_at(const char *point)
{
	crash_on(BY_INBOX, point, NULL);
}

#endif

int main(void)
{
#ifndef AGENTBUS_CRASH_POINTS
	printf("crash points are compiled only into Debug builds: skipped\n");
	return 77;
#else
	/* Receiving: the write arrived, nothing of it is done or acknowledged. */
	RUN2(crash_at, "message-received", NULL);
	/* The store applied the write and recorded its event in the open group
	 * of writes (daemon/run.c commits once per loop iteration), uncommitted. */
	RUN2(crash_at, "store-committed", NULL);
	/* The turn is accepted (in the group), not yet queued. */
	RUN2(crash_at, "inbound-accepted", NULL);
	/* While the turn runs. */
	RUN2(crash_at, "turn-running", NULL);
	/* Between the thread note and the reply: nothing of the end recorded. */
	RUN2(crash_at, "turn-finishing", NULL);
	/* The end recorded in the group, nothing of it published. */
	RUN2(crash_at, "turn-finished", NULL);
	/* While publishing: the start write and the thread end are out. */
	RUN2(crash_at, "published", "2");
	/* Every input path, killed after its handler and before the group
	 * commit: nothing of it is durable or acknowledged. */
	RUN2(crash_at, "message-handled", NULL);	/* a note write, to the store */
	RUN2(crash_at, "message-handled", "1");	/* the inbound note's event */
	RUN2(crash_inbox_at, "message-handled");	/* an inbox message */
	RUN2(crash_inbox_at, "message-received");
	/* After a group commit, before its PUBACKs and publishes went out: the
	 * broker delivers again what the state already holds, and the dedupe
	 * keys, request ids and inbox packet ids make it a no-op. The first
	 * commits after the write: the store's, the runtime's accept, the start. */
	RUN2(crash_at, "group-committed", NULL);
	RUN2(crash_at, "group-committed", "1");
	RUN2(crash_at, "group-committed", "2");
	RUN2(crash_inbox_at, "group-committed");
	return check_summary();
#endif
}
