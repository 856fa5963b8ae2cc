/* soak: mixed traffic for a bounded time while agentbus is killed (kill -9)
 * and the broker restarted at random, then the invariants, read from the
 * embedded store's notes.db:
 *   - every message sent became an inbound note;
 *   - every inbound note has exactly one reply or failure note;
 *   - every inbox message became exactly one inbound note;
 *   - every answer names a thread note that exists;
 *   - every delegated message (reply_to) has at most one callback, and one
 *     when its depth allowed it;
 *   - every deterministic thread note's turn_count equals the turns that
 *     answered on it;
 *   - agentbus's resident memory stayed under a bound in every life.
 *
 *   soak [SECONDS [SEED]]     default 30 s; loopback only, ~40 messages/s.
 *   soak --fleet [SECONDS [SEED]]
 *                             the same against a fleet of three instances
 *                             (16 partitions, 12 agents) sharing one store
 *                             (--store-only), killed with SIGKILL and
 *                             started again at random instead of agentbus.
 *
 * The broker is restarted with SIGTERM and keeps its state (persistence):
 * a broker killed with SIGKILL loses what it acknowledged and had not saved,
 * which no client can prevent; test_faults covers agentbus's side of that. */
#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/check.h"
#include "test/harness.h"
#include "util/clock.h"

#define WRITE "parachute/vault/default/write"
#define RSS_LIMIT_KB (96 * 1024)
#define FLEET_SIZE 3

struct soak {
	struct th_broker broker;
	struct th_daemon daemon;
	bool daemon_up;
	char *state;
	char port[16];
	struct th_client pub;		/* publishes the traffic; reconnects by itself */
	unsigned seed;			/* the random state */
	unsigned first_seed;		/* to run the same soak again */
	long max_rss_kb;
	int kills, broker_restarts, sent, inbox_sent;
	bool fleet;			/* `daemon` is the store; `inst` the fleet */
	struct th_daemon inst[FLEET_SIZE];
	bool inst_up[FLEET_SIZE];
	char *inst_dir[FLEET_SIZE];
};

static const char *const lone_agents[] = { "alpha", "beta", "gamma" };
static const char *const fleet_agents[] = { "alpha", "beta", "gamma", "delta", "eps", "zeta",
					    "eta", "theta", "iota", "kappa", "lambda", "mu" };

static const char *random_agent(struct soak *s)
{
	return s->fleet ? fleet_agents[rand_r(&s->seed) % 12] : lone_agents[rand_r(&s->seed) % 3];
}

static void daemon_up(struct soak *s)
{
	const char *args[] = { "-p", s->port, "--id", "soak", "--state-dir", s->state,
			       "--reconnect-max", "1", "--max-turns", "3",
			       s->fleet ? "--store-only" : NULL, NULL };

	int64_t t0 = clock_mono_ms();

	th_daemon_start(&s->daemon, args);
	if (!CHECK(th_daemon_wait_output(&s->daemon, false, "subscriptions confirmed",
					 TH_TIMEOUT_MS))) {
		/* Which it was: a slow start, or a daemon that is gone. */
		int st = th_daemon_wait_exit(&s->daemon, 0);

		fprintf(stderr, "soak: no subscriptions after %lld ms; the daemon %s (status %d)\n",
			(long long)(clock_mono_ms() - t0), st == -1 ? "still runs" : "exited", st);
	}
	s->daemon_up = true;
}

static void daemon_kill(struct soak *s)
{
	long kb = th_rss_kb(s->daemon.pid);

	if (kb > s->max_rss_kb)
		s->max_rss_kb = kb;
	th_daemon_stop(&s->daemon, SIGKILL);
	th_daemon_free(&s->daemon);
	s->daemon_up = false;
	s->kills++;
}

/* QoS 1, queued by libmosquitto while the broker is away. */
static void publish_on(struct soak *s, const char *topic, const char *text)
{
	int rc = mosquitto_publish_v5(s->pub.mosq, NULL, topic, (int)strlen(text), text, 1, false,
				      NULL);

	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
		fprintf(stderr, "soak: publish: %s\n", mosquitto_strerror(rc));
}

static void publish(struct soak *s, const char *text)
{
	publish_on(s, WRITE, text);
}

static void define(struct soak *s, const char *name, const char *mode)
{
	char w[512];

	snprintf(w, sizeof w, "{\"op\":\"upsert\",\"request_id\":\"def-%s\",\"note\":{\"id\":\"d-%s\","
		 "\"path\":\"Agents/%s\",\"tags\":[\"agent/definition\"],\"metadata\":{\"name\":"
		 "\"%s\",\"mode\":\"%s\"}}}", name, name, name, name, mode);
	publish(s, w);
}

/* One message: to a random agent, sometimes with a subject, sometimes
 * delegated with a depth near the limit. */
static void send_one(struct soak *s)
{
	const char *agent = random_agent(s);
	int kind = rand_r(&s->seed) % 5;
	char w[768], extra[256] = "", topic[64];

	if (kind == 4) {
		/* Straight to the inbox: agentbus writes the inbound note. */
		snprintf(topic, sizeof topic, "parachute/agent/%s/inbox", agent);
		snprintf(w, sizeof w, "{\"content\":\"inbox %d\",\"sender\":\"soak\"}", s->sent);
		publish_on(s, topic, w);
		s->sent++;
		s->inbox_sent++;
		return;
	}
	if (kind == 1)
		snprintf(extra, sizeof extra, ",\"subject\":\"s%u\"", rand_r(&s->seed) % 3);
	else if (kind == 2)
		snprintf(extra, sizeof extra, ",\"reply_to\":\"%s\",\"correlation_id\":\"m-%d\","
			 "\"delegation_depth\":\"%u\"", random_agent(s), s->sent,
			 6 + rand_r(&s->seed) % 4);
	snprintf(w, sizeof w, "{\"op\":\"create\",\"request_id\":\"in-%d\",\"note\":{\"id\":\"m-%d\","
		 "\"content\":\"work %d\",\"tags\":[\"agent/message\",\"agent/message/inbound\"],"
		 "\"metadata\":{\"agent\":\"%s\",\"sender\":\"soak\"%s}}}", s->sent, s->sent, s->sent,
		 agent, extra);
	publish(s, w);
	s->sent++;
}

/* --- the fleet ------------------------------------------------------------------ */

static void instance_up(struct soak *s, int i)
{
	char id[16];
	const char *args[] = { "-p", s->port, "--fleet", "soak", "--partitions", "16", "--id", id,
			       "--state-dir", s->inst_dir[i], "--reconnect-max", "1",
			       "--max-turns", "3", "--drain-timeout", "10", "--sandbox", "off",
			       NULL };

	snprintf(id, sizeof id, "i%d", i + 1);
	th_daemon_start_in_group(&s->inst[i], args);
	s->inst_up[i] = true;
}

/* SIGKILL of the instance and its partitions' processes. */
static void instance_kill(struct soak *s, int i)
{
	kill(-s->inst[i].pid, SIGKILL);
	th_daemon_wait_exit(&s->inst[i], TH_TIMEOUT_MS);
	th_daemon_free(&s->inst[i]);
	s->inst_up[i] = false;
	s->kills++;
}

/* Every partition and the router (unit 16) served: the latest member
 * records' "serving" lists cover them all (a new session misses what is
 * published before it subscribed). */
static bool all_served(struct th_client *c)
{
	unsigned served[FLEET_SIZE] = { 0 }, all = 0;

	for (struct th_msg *m = c->head; m; m = m->next) {
		const char *leaf = strrchr(m->topic, '/');
		cJSON *doc = cJSON_Parse(m->payload), *p;
		int i = leaf && leaf[1] == 'i' ? atoi(leaf + 2) - 1 : -1;

		if (i >= 0 && i < FLEET_SIZE) {
			served[i] = 0;
			cJSON_ArrayForEach(p, cJSON_GetObjectItem(doc, "serving"))
				if (p->valueint >= 0 && p->valueint <= 16)
					served[i] |= 1u << p->valueint;
		}
		cJSON_Delete(doc);
	}
	for (int i = 0; i < FLEET_SIZE; i++)
		all |= served[i];
	return all == 0x1ffff;
}

static void wait_fleet_serving(struct soak *s)
{
	struct th_client c;
	struct timespec until;
	bool ok;

	th_client_open(&c, s->broker.child.port, "parachute/agentbus/fleet/soak/member/+");
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += TH_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&c.lock);
	while (!(ok = all_served(&c)) &&
	       pthread_cond_timedwait(&c.changed, &c.lock, &until) == 0)
		;
	ok = ok || all_served(&c);
	pthread_mutex_unlock(&c.lock);
	CHECK_MSG(ok, "the fleet never served all 16 partitions");
	th_client_close(&c);
}

static void fleet_kill_one(struct soak *s)
{
	int i = (int)(rand_r(&s->seed) % FLEET_SIZE);

	instance_kill(s, i);
	instance_up(s, i);
}

static void traffic(struct soak *s, int seconds)
{
	int64_t end = clock_mono_ms() + seconds * 1000LL, next_kill, next_broker;
	struct timespec gap = { 0, 25 * 1000000 };

	next_kill = clock_mono_ms() + 1000 + rand_r(&s->seed) % 3000;
	next_broker = clock_mono_ms() + 4000 + rand_r(&s->seed) % 6000;
	while (clock_mono_ms() < end) {
		int64_t now = clock_mono_ms();

		send_one(s);
		if (now >= next_kill && s->fleet) {
			fleet_kill_one(s);
			next_kill = now + 1000 + rand_r(&s->seed) % 3000;
		} else if (now >= next_kill) {
			daemon_kill(s);
			daemon_up(s);
			next_kill = now + 1000 + rand_r(&s->seed) % 3000;
		}
		if (now >= next_broker) {
			th_broker_stop(&s->broker);
			th_broker_restart(&s->broker);
			s->broker_restarts++;
			next_broker = now + 4000 + rand_r(&s->seed) % 6000;
		}
		nanosleep(&gap, NULL);
	}
}

static long one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		fprintf(stderr, "soak: %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

static long count_in(const char *dir, const char *file, const char *sql)
{
	char path[4096];
	sqlite3 *db;
	long n;

	snprintf(path, sizeof path, "%s/%s", dir, file);
	REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	n = one(db, sql);
	sqlite3_close(db);
	return n;
}

/* A fence note written through the traffic's own connection: its event
 * comes back once the broker delivered, and the store applied, everything
 * the traffic sent before it. */
static void fence(struct soak *s, struct th_client *c, int round)
{
	char w[160], want[64];
	struct th_msg *m;

	snprintf(w, sizeof w, "{\"op\":\"create\",\"request_id\":\"fence-%d\",\"note\":"
		 "{\"id\":\"fence-%d\",\"content\":\"fence\"}}", round, round);
	snprintf(want, sizeof want, "\"id\":\"fence-%d\"", round);
	publish(s, w);
	m = th_client_wait_for(c, "parachute/vault/default/event/note.created", want, 30000);
	CHECK_MSG(m != NULL, "fence %d never came back", round);
	th_msg_free(m);
}

/* Quiet, decided from the state rather than by waiting: a fence note written
 * through the traffic's own connection comes back as an event only once the
 * broker has delivered, and the store applied, everything it received
 * before it; agentbus is then stopped, and the state says whether turns or
 * unacknowledged publishes are left. Two quiet rounds in a row: the second
 * fence follows everything agentbus published in the first, so nothing is
 * left in flight anywhere. */
static void settle(struct soak *s)
{
	struct th_client c;
	int quiet_rounds = 0;

	th_client_open(&c, s->broker.child.port, "parachute/vault/default/event/note.created");
	for (int round = 0; round < 20 && quiet_rounds < 2; round++) {
		bool quiet;

		fence(s, &c, round);
		if (th_rss_kb(s->daemon.pid) > s->max_rss_kb)
			s->max_rss_kb = th_rss_kb(s->daemon.pid);
		CHECK(th_daemon_stop_cleanly(&s->daemon, SIGTERM));
		th_daemon_free(&s->daemon);
		s->daemon_up = false;
		quiet = count_in(s->state, "agentbus.db", "SELECT (SELECT count(*) FROM turns) + "
				 "(SELECT count(*) FROM outbox)") == 0 &&
			count_in(s->state, "notes.db", "SELECT count(*) FROM outbox") == 0;
		quiet_rounds = quiet ? quiet_rounds + 1 : 0;
		if (quiet_rounds < 2)
			daemon_up(s);
	}
	CHECK_MSG(quiet_rounds == 2, "agentbus never came to rest");
	th_client_close(&c);
}

/* A fleet is quiet when a fence note came back twice in a row with every
 * inbound note answered and the store's outbox empty (a partition's
 * unfinished work lives in its session, not in a state dir to look into).
 * Then its instances stop cleanly. */
static long unanswered(struct soak *s)
{
	return count_in(s->state, "notes.db",
			"WITH a AS (SELECT DISTINCT json_extract(metadata, '$.in_reply_to') r FROM "
			"notes WHERE tags LIKE '%agent/message/outbound%') SELECT count(*) FROM "
			"notes i LEFT JOIN a ON a.r = i.id WHERE i.tags LIKE '%agent/message/inbound%' "
			"AND i.content <> 'fence' AND a.r IS NULL") +
	       count_in(s->state, "notes.db", "SELECT count(*) FROM outbox");
}

static void settle_fleet(struct soak *s)
{
	struct th_client c;
	int quiet_rounds = 0;

	th_client_open(&c, s->broker.child.port, "parachute/vault/default/event/note.created");
	for (int round = 0; round < 200 && quiet_rounds < 2; round++) {
		fence(s, &c, round);
		quiet_rounds = unanswered(s) == 0 ? quiet_rounds + 1 : 0;
	}
	CHECK_MSG(quiet_rounds == 2, "the fleet never came to rest (%ld unanswered)", unanswered(s));
	for (int i = 0; i < FLEET_SIZE; i++) {
		CHECK_MSG(th_daemon_stop_cleanly(&s->inst[i], SIGTERM), "i%d stopped cleanly", i + 1);
		th_daemon_free(&s->inst[i]);
		s->inst_up[i] = false;
	}
	s->max_rss_kb = th_rss_kb(s->daemon.pid);
	CHECK(th_daemon_stop_cleanly(&s->daemon, SIGTERM));
	th_daemon_free(&s->daemon);
	s->daemon_up = false;
	th_client_close(&c);
}

static void check_invariants(struct soak *s)
{
	char path[4096];
	sqlite3 *db;
	long inbound, bad, callbacks_over, threads_bad, answered, orphans, inbox_notes, doubled;
	long arrived;

	snprintf(path, sizeof path, "%s/notes.db", s->state);
	REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	/* Inbound notes (callbacks included) and their answers. The fence's turn
	 * may still be running: it is not counted. */
	inbound = one(db, "SELECT count(*) FROM notes WHERE tags LIKE '%agent/message/inbound%' "
		      "AND content <> 'fence'");
	/* Grouped first and joined after: correlated subqueries over json_extract
	 * would be quadratic in the number of notes. */
	bad = one(db, "WITH a AS (SELECT json_extract(metadata, '$.in_reply_to') r, count(*) n "
		  "FROM notes WHERE tags LIKE '%agent/message/outbound%' GROUP BY r) "
		  "SELECT count(*) FROM notes i LEFT JOIN a ON a.r = i.id WHERE i.tags LIKE "
		  "'%agent/message/inbound%' AND i.content <> 'fence' AND coalesce(a.n, 0) <> 1");
	answered = one(db, "SELECT count(*) FROM notes WHERE tags LIKE '%agent/message/outbound%'");
	callbacks_over = one(db, "SELECT count(*) FROM (SELECT json_extract(metadata, "
			     "'$.correlation_id') c, count(*) n FROM notes WHERE json_extract(metadata,"
			     " '$.callback') = 'true' GROUP BY c HAVING n > 1)");
	/* Delegated below depth 8 (and not a callback itself): exactly one callback. */
	bad += one(db, "WITH c AS (SELECT json_extract(metadata, '$.correlation_id') id, count(*) n "
		   "FROM notes WHERE json_extract(metadata, '$.callback') = 'true' GROUP BY id) "
		   "SELECT count(*) FROM notes i LEFT JOIN c ON c.id = i.id WHERE "
		   "json_extract(i.metadata, '$.reply_to') IS NOT NULL AND CAST(json_extract("
		   "i.metadata, '$.delegation_depth') AS INTEGER) < 8 AND coalesce(c.n, 0) <> 1");
	threads_bad = one(db, "WITH o AS (SELECT json_extract(metadata, '$.thread') t, count(*) n "
			  "FROM notes WHERE tags LIKE '%agent/message/outbound%' GROUP BY t) "
			  "SELECT count(*) FROM notes t LEFT JOIN o ON o.t = t.id WHERE t.tags LIKE "
			  "'%agent/thread%' AND t.path <> 'Threads/probe/probe' AND "
			  "CAST(json_extract(t.metadata, '$.turn_count') AS INTEGER) <> coalesce(o.n, 0)");
	/* Every message sent arrived: its inbound note exists. */
	arrived = one(db, "SELECT count(DISTINCT content) FROM notes WHERE tags LIKE "
		      "'%agent/message/inbound%' AND (content LIKE 'work %' OR content LIKE 'inbox %')");
	/* One inbound note per inbox message, however often it was delivered. */
	inbox_notes = one(db, "SELECT count(DISTINCT content) FROM notes WHERE tags LIKE "
			  "'%agent/message/inbound%' AND content LIKE 'inbox %'");
	doubled = one(db, "SELECT count(*) FROM (SELECT content, count(*) n FROM notes WHERE tags "
		      "LIKE '%agent/message/inbound%' AND content LIKE 'inbox %' GROUP BY content "
		      "HAVING n > 1)");
	/* Every answer names a thread note the vault holds. */
	orphans = one(db, "SELECT count(*) FROM notes o WHERE o.tags LIKE '%agent/message/outbound%' "
		      "AND json_extract(o.metadata, '$.thread') IS NOT NULL AND NOT EXISTS (SELECT 1 "
		      "FROM notes t WHERE t.id = json_extract(o.metadata, '$.thread'))");
	sqlite3_close(db);
	printf("soak%s: %d messages sent (%d to inboxes), %ld inbound notes (callbacks included), "
	       "%ld answers, %d %s kills, %d broker restarts, max RSS %ld kB, seed %u\n",
	       s->fleet ? " --fleet" : "", s->sent, s->inbox_sent, inbound, answered, s->kills,
	       s->fleet ? "instance" : "agentbus", s->broker_restarts, s->max_rss_kb,
	       s->first_seed);
	CHECK_MSG(bad == 0, "%ld inbound notes without exactly one answer or callback", bad);
	CHECK_INT(callbacks_over, 0);
	CHECK_MSG(threads_bad == 0, "%ld thread notes whose turn_count is off", threads_bad);
	CHECK_MSG(orphans == 0, "%ld answers name a thread note that does not exist", orphans);
	CHECK_MSG(doubled == 0, "%ld inbox messages became more than one note", doubled);
	CHECK_MSG(inbox_notes == s->inbox_sent, "%ld inbox notes for %d inbox messages", inbox_notes,
		  s->inbox_sent);
	CHECK_MSG(arrived == s->sent, "%ld of %d messages arrived", arrived, s->sent);
	/* AddressSanitizer's quarantine keeps freed memory resident: the bound
	 * holds for the release build; LeakSanitizer checks the other. */
#ifndef __SANITIZE_ADDRESS__
	CHECK_MSG(s->max_rss_kb < RSS_LIMIT_KB, "RSS reached %ld kB", s->max_rss_kb);
	/* (--fleet: the store's, measured as it stops.) */
#endif
}

int main(int argc, char **argv)
{
	bool fleet = argc > 1 && strcmp(argv[1], "--fleet") == 0;
	int seconds = argc > 1 + fleet ? atoi(argv[1 + fleet]) : 30;
	struct soak s = { .seed = argc > 2 + fleet ? (unsigned)atol(argv[2 + fleet])
						   : (unsigned)time(NULL),
			  .fleet = fleet };

	s.first_seed = s.seed;
	th_broker_start(&s.broker, "soak-broker", true);
	snprintf(s.port, sizeof s.port, "%d", s.broker.child.port);
	s.state = th_tmpdir("soak-state");
	th_client_open(&s.pub, s.broker.child.port, NULL);
	daemon_up(&s);
	for (int i = 0; fleet && i < FLEET_SIZE; i++) {
		s.inst_dir[i] = th_tmpdir("soak-fleet");
		instance_up(&s, i);
	}
	if (fleet)
		wait_fleet_serving(&s);
	for (size_t i = 0; i < (fleet ? 12 : 3); i++)
		define(&s, fleet ? fleet_agents[i] : lone_agents[i],
		       i == 1 ? "multi-threaded" : "single-threaded");
	define(&s, "probe", "single-threaded");
	{
		struct th_client c;
		struct th_msg *m;

		th_client_open(&c, s.broker.child.port, "parachute/agent/probe/definition");
		m = th_client_wait_for(&c, "parachute/agent/probe/definition", "enabled",
				       TH_TIMEOUT_MS);
		CHECK_MSG(m != NULL, "agent probe never registered");
		th_msg_free(m);
		th_client_close(&c);
	}
	traffic(&s, seconds);
	if (fleet)
		settle_fleet(&s);
	else
		settle(&s);	/* leaves agentbus stopped */
	check_invariants(&s);
	for (int i = 0; i < FLEET_SIZE; i++)
		free(s.inst_dir[i]);
	th_client_close(&s.pub);
	th_broker_free(&s.broker);
	free(s.state);
	return check_summary();
}
