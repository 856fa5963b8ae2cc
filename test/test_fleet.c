/* test_fleet: three instances of one fleet share 16 partitions of 50 agents
 * on one mosquitto (which gives a clustered broker's session and takeover
 * semantics), with an embedded store (--store-only) as their vault. Under
 * traffic to every agent (single-threaded agents, multi-threaded ones with
 * two subjects each, and agents whose messages come on their inbox topic),
 * one instance is killed with SIGKILL and a fourth joins. Afterwards: every inbound has exactly one reply note, each
 * thread's replies are in inbound order, each thread note counts every turn
 * once, no partition was served by two instances at once (from the
 * instances' logs), and rebalancing moved only the partitions it had to.
 * Also: a clean stop hands its partitions over with nothing run twice, and
 * an instance with another partition count is refused. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "fleet/partition.h"
#include "test/check.h"
#include "test/harness.h"
#include "test/httpd.h"
#include "test/llm_server.h"
#include "test/rig.h"

#define PARTS 16
#define UNITS (PARTS + 1)	/* the partitions, then the router (unit PARTS) */
#define AGENTS 50
#define MULTI_FROM 40		/* agents from here on are multi-threaded */
#define INBOX_FROM 20		/* these get their messages on their inbox topic */
#define INBOX_TO 30
#define ROUNDS 8
#define MEMBERS 4
#define WAIT_MS 60000
#define EVENTS "parachute/vault/default/event/note."

struct fleet_rig {
	struct th_broker broker;
	struct th_daemon store;
	struct th_daemon inst[MEMBERS];
	bool up[MEMBERS];
	bool killed[MEMBERS];
	bool stopped[MEMBERS];		/* exited on its own or by SIGTERM */
	char killed_at[MEMBERS][32];	/* ISO time of the SIGKILL */
	char *dir[MEMBERS];
	const char *const *extra;	/* more arguments for every instance */
	struct th_client client;
	char port[16];
};

static const char *const names[MEMBERS] = { "i1", "i2", "i3", "i4" };

static void iso_now(char out[32])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, (int)(ts.tv_nsec / 1000000) % 1000);
}

static void start_instance(struct fleet_rig *r, int i, const char *partitions)
{
	const char *args[32] = { "--host", "127.0.0.1", "--port", r->port, "--fleet", "t",
				 "--partitions", partitions, "--id", names[i], "--state-dir",
				 r->dir[i], "--echo-delay", "200", "--drain-timeout", "20",
				 "--sandbox", "off", "--http", "0" };
	int n = 20;

	for (const char *const *e = r->extra; e && *e && n < 31; e++)
		args[n++] = *e;
	args[n] = NULL;
	th_daemon_start_in_group(&r->inst[i], args);
	r->up[i] = true;
}

static void rig_http_addr_of(struct th_daemon *d, char addr[64])
{
	const char *line, *on;

	REQUIRE(th_daemon_wait_output(d, false, "http: serving", TH_TIMEOUT_MS));
	pthread_mutex_lock(&d->lock);
	line = strstr(d->err, "http: serving");
	on = line ? strstr(line, " on ") : NULL;
	REQUIRE(on && sscanf(on + 4, "%63s", addr) == 1);
	pthread_mutex_unlock(&d->lock);
}

static void rig_up(struct fleet_rig *r, const char *name)
{
	char *store_dir = th_tmpdir("fleet-store");
	const char *store[] = { "--host", "127.0.0.1", "--port", r->port, "--store-only", "--id",
				"store", "--state-dir", store_dir, NULL };

	memset(r, 0, sizeof *r);
	th_broker_start_with(&r->broker, name, "max_queued_messages 100000\n");
	snprintf(r->port, sizeof r->port, "%d", r->broker.child.port);
	th_client_open(&r->client, r->broker.child.port, "parachute/vault/default/event/#");
	th_client_subscribe(&r->client, "parachute/agentbus/fleet/t/member/+");
	th_client_subscribe(&r->client, "parachute/agent/+/definition");
	for (int i = 0; i < MEMBERS; i++)
		r->dir[i] = th_tmpdir(names[i]);
	th_daemon_start(&r->store, store);
	REQUIRE(th_daemon_wait_output(&r->store, false, "subscriptions confirmed", TH_TIMEOUT_MS));
	free(store_dir);
}

static void rig_down(struct fleet_rig *r)
{
	for (int i = 0; i < MEMBERS; i++) {
		if (r->up[i])
			CHECK_MSG(th_daemon_stop_cleanly(&r->inst[i], SIGTERM), "%s stopped cleanly",
				  names[i]);
		if (r->up[i] || r->killed[i] || r->stopped[i])
			th_daemon_free(&r->inst[i]);
		free(r->dir[i]);
	}
	CHECK(th_daemon_stop_cleanly(&r->store, SIGTERM));
	th_daemon_free(&r->store);
	th_client_close(&r->client);
	th_broker_stop(&r->broker);
	th_broker_free(&r->broker);
}

/* --- what the client saw ---------------------------------------------------- */

/* Waits until `done(r, arg)`, evaluated under the client's lock each time
 * a message arrives. */
static bool wait_until(struct fleet_rig *r, bool (*done)(struct fleet_rig *, void *), void *arg,
		       int timeout_ms)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	pthread_mutex_lock(&r->client.lock);
	while (!(ok = done(r, arg)))
		if (pthread_cond_timedwait(&r->client.changed, &r->client.lock, &until) == ETIMEDOUT) {
			ok = done(r, arg);
			break;
		}
	pthread_mutex_unlock(&r->client.lock);
	return ok;
}

/* The latest member record of each instance (NULL: none, or removed). */
static void latest_records(struct fleet_rig *r, cJSON *out[MEMBERS])
{
	for (int i = 0; i < MEMBERS; i++)
		out[i] = NULL;
	for (struct th_msg *m = r->client.head; m; m = m->next) {
		const char *leaf = strrchr(m->topic, '/');

		if (strncmp(m->topic, "parachute/agentbus/fleet/t/member/", 34) != 0 || !leaf)
			continue;
		for (int i = 0; i < MEMBERS; i++)
			if (strcmp(leaf + 1, names[i]) == 0) {
				cJSON_Delete(out[i]);
				out[i] = m->len ? cJSON_Parse(m->payload) : NULL;
			}
	}
}

struct ownership {
	bool members[MEMBERS];	/* the active members */
	int owner[UNITS];	/* index into names */
};

static void expect_ownership(const bool members[MEMBERS], struct ownership *o)
{
	const char *active[MEMBERS];
	int idx[MEMBERS], n = 0;

	memcpy(o->members, members, sizeof o->members);
	for (int i = 0; i < MEMBERS; i++)
		if (members[i]) {
			idx[n] = i;
			active[n++] = names[i];
		}
	for (int p = 0; p < UNITS; p++)
		o->owner[p] = idx[fleet_owner(active, (size_t)n, p)];
}

/* Every partition owned and served by its expected owner alone, and no
 * record from a member that is not active. */
static bool ownership_reached(struct fleet_rig *r, void *arg)
{
	const struct ownership *o = arg;
	cJSON *rec[MEMBERS];
	bool ok = true;

	latest_records(r, rec);
	for (int i = 0; i < MEMBERS; i++) {
		static const char *const lists[] = { "owned", "serving" };

		if (!o->members[i] && rec[i])
			ok = false;
		for (int l = 0; l < 2; l++) {
			const cJSON *p;
			bool listed[UNITS] = { false };

			cJSON_ArrayForEach(p, cJSON_GetObjectItem(rec[i], lists[l]))
				if (p->valueint >= 0 && p->valueint < UNITS)
					listed[p->valueint] = true;
			for (int k = 0; k < UNITS; k++)
				if (listed[k] != (o->members[i] && o->owner[k] == i))
					ok = false;
		}
		cJSON_Delete(rec[i]);
	}
	return ok;
}

static void require_ownership(struct fleet_rig *r, const bool members[MEMBERS])
{
	struct ownership o;
	cJSON *rec[MEMBERS];

	expect_ownership(members, &o);
	if (wait_until(r, ownership_reached, &o, WAIT_MS))
		return;
	/* Say what the records said instead. */
	pthread_mutex_lock(&r->client.lock);
	latest_records(r, rec);
	pthread_mutex_unlock(&r->client.lock);
	for (int i = 0; i < MEMBERS; i++) {
		char *text = rec[i] ? cJSON_PrintUnformatted(rec[i]) : NULL;

		printf("%s (expected %s): %s\n", names[i], members[i] ? "active" : "absent",
		       text ? text : "no record");
		free(text);
		cJSON_Delete(rec[i]);
	}
	REQUIRE(!"the expected ownership");
}

static bool n_definitions(struct fleet_rig *r, void *arg)
{
	int n = 0;

	for (struct th_msg *m = r->client.head; m; m = m->next)
		n += strstr(m->topic, "/definition") && strstr(m->payload, "\"enabled\"");
	return n >= *(int *)arg;
}

/* --- traffic ----------------------------------------------------------------- */

static void send_round(struct fleet_rig *r, int round)
{
	for (int a = 0; a < AGENTS; a++) {
		if (a >= INBOX_FROM && a < INBOX_TO) {
			char *topic = rig_fmt("parachute/agent/a%02d/inbox", a);
			char *text = rig_fmt("a%02d-m%d", a, round);

			th_client_publish_text(&r->client, topic, text);
			free(topic);
			free(text);
			continue;
		}
		char *subject = a >= MULTI_FROM ? rig_fmt(",\"subject\":\"s%d\"", round % 2)
						: rig_fmt("%s", "");
		char *w = rig_fmt("{\"v\":1,\"op\":\"create\",\"request_id\":\"in-a%02d-m%d\","
				  "\"note\":{\"id\":\"a%02d-m%d\",\"path\":\"channel/a%02d/m%d\","
				  "\"content\":\"a%02d-m%d\",\"tags\":[\"agent/message\","
				  "\"agent/message/inbound\"],\"metadata\":{\"agent\":\"a%02d\","
				  "\"sender\":\"operator\"%s}}}",
				  a, round, a, round, a, round, a, round, a, subject);

		th_client_publish_text(&r->client, "parachute/vault/default/write", w);
		free(w);
		free(subject);
	}
}

static void define_agents(struct fleet_rig *r)
{
	int n = AGENTS;

	for (int a = 0; a < AGENTS; a++) {
		char *w = rig_fmt("{\"op\":\"upsert\",\"request_id\":\"def-a%02d\",\"note\":{\"id\":"
				  "\"d-a%02d\",\"path\":\"Agents/a%02d\",\"tags\":"
				  "[\"agent/definition\"],\"metadata\":{\"name\":\"a%02d\"%s}}}",
				  a, a, a, a, a >= MULTI_FROM ? ",\"mode\":\"multi-threaded\"" : "");

		th_client_publish_text(&r->client, "parachute/vault/default/write", w);
		free(w);
	}
	REQUIRE(wait_until(r, n_definitions, &n, WAIT_MS));
}

/* The reply notes created so far, by the message they answer ("echo:
 * aNN-mK"), and the inbound notes. */
struct replies {
	int count[AGENTS][ROUNDS + 1];
	int inbound[AGENTS][ROUNDS + 1];
	int total, distinct;
	int order_errors;
	int last[AGENTS][2];			/* the latest round per thread */
};

static void tally_replies(struct fleet_rig *r, struct replies *out)
{
	memset(out, 0, sizeof *out);
	for (struct th_msg *m = r->client.head; m; m = m->next) {
		cJSON *ev;
		const char *content;
		int a, k;
		bool reply;

		if (strcmp(m->topic, EVENTS "created") != 0 || !strstr(m->payload, "agent/message"))
			continue;
		reply = strstr(m->payload, "outbound") != NULL;
		ev = cJSON_Parse(m->payload);
		content = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "note"),
								   "content"));
		if (content && sscanf(content, reply ? "echo: a%d-m%d" : "a%d-m%d", &a, &k) == 2 &&
		    a >= 0 && a < AGENTS && k >= 1 && k <= ROUNDS && !reply) {
			out->inbound[a][k]++;
		} else if (content && sscanf(content, "echo: a%d-m%d", &a, &k) == 2 && a >= 0 &&
			   a < AGENTS && k >= 1 && k <= ROUNDS) {
			int lane = a >= MULTI_FROM ? k % 2 : 0;

			out->total++;
			out->distinct += out->count[a][k]++ == 0;
			if (k <= out->last[a][lane])
				out->order_errors++;
			else
				out->last[a][lane] = k;
		}
		cJSON_Delete(ev);
	}
}

/* A reply from an agent of a partition that i2 owns. */
static bool replied_on(struct fleet_rig *r, void *arg)
{
	const struct ownership *o = arg;
	struct replies rep;
	char name[8];

	tally_replies(r, &rep);
	for (int a = 0; a < AGENTS; a++) {
		int n = snprintf(name, sizeof name, "a%02d", a);

		for (int k = 1; k <= ROUNDS; k++)
			if (rep.count[a][k] && o->owner[fleet_partition_of(name, (size_t)n, PARTS)] == 1)
				return true;
	}
	return false;
}

static bool some_replied(struct fleet_rig *r, void *arg)
{
	struct replies rep;

	tally_replies(r, &rep);
	return rep.distinct >= *(int *)arg;
}

/* Once `rounds` rounds are answered: every message has exactly one inbound
 * and one reply note, and each thread's replies came in inbound order. */
static void check_one_each(struct fleet_rig *r, int rounds)
{
	struct replies rep;

	wait_until(r, some_replied, (int[]){ AGENTS * rounds }, WAIT_MS);
	pthread_mutex_lock(&r->client.lock);
	tally_replies(r, &rep);
	pthread_mutex_unlock(&r->client.lock);
	for (int a = 0; a < AGENTS; a++)
		for (int k = 1; k <= rounds; k++)
			CHECK_MSG(rep.count[a][k] == 1 && rep.inbound[a][k] == 1,
				  "a%02d-m%d has %d inbound and %d reply notes", a, k,
				  rep.inbound[a][k], rep.count[a][k]);
	CHECK_INT(rep.distinct, AGENTS * rounds);
	CHECK_INT(rep.total, AGENTS * rounds);	/* exactly one reply note each */
	CHECK_INT(rep.order_errors, 0);
}

/* The highest turn_count each thread note reached. */
static int max_turn_count(struct fleet_rig *r, const char *path)
{
	int best = 0;
	char *want = rig_fmt("\"path\":\"%s\"", path);

	pthread_mutex_lock(&r->client.lock);
	for (struct th_msg *m = r->client.head; m; m = m->next) {
		cJSON *ev;
		const char *n;

		if (strncmp(m->topic, EVENTS, strlen(EVENTS)) != 0 || !strstr(m->payload, want))
			continue;
		ev = cJSON_Parse(m->payload);
		n = cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "note"), "metadata"),
			"turn_count"));
		if (n && atoi(n) > best)
			best = atoi(n);
		cJSON_Delete(ev);
	}
	pthread_mutex_unlock(&r->client.lock);
	free(want);
	return best;
}

/* --- the instances' logs --------------------------------------------------- */

static char *log_copy(struct th_daemon *d)
{
	char *s;

	pthread_mutex_lock(&d->lock);
	s = strndup(d->err ? d->err : "", d->err_len);
	pthread_mutex_unlock(&d->lock);
	REQUIRE(s != NULL);
	return s;
}

/* Calls `fn` for each line of instance i's log from byte `from` holding
 * "partition N: <what>". */
static void each_partition_line(struct fleet_rig *r, int i, size_t from, const char *what,
				void (*fn)(void *, int, const char *line), void *arg)
{
	char *log = log_copy(&r->inst[i]), *line = log + (from < strlen(log) ? from : strlen(log));

	for (char *end; *line; line = end + 1) {
		const char *at;
		int p;

		end = strchr(line, '\n');
		if (!end)
			break;
		*end = '\0';
		at = strstr(line, "partition ");
		if (at && sscanf(at, "partition %d:", &p) == 1 && p >= 0 && p < PARTS &&
		    strstr(at, what))
			fn(arg, p, line);
		else if ((at = strstr(line, " router: ")) && strstr(at, what))
			fn(arg, PARTS, line);
	}
	free(log);
}

static void mark(void *arg, int p, const char *line)
{
	(void)line;
	((bool *)arg)[p] = true;
}

struct interval {
	char from[32], to[32];
	int member;
};

struct intervals {
	struct interval v[512];
	int n;
	int member;		/* whose log is being read */
	int partition;
};

/* "serving" opens an interval of the member's; "released" or "lost its
 * session" closes its open one. */
static void serving_line(void *arg, int p, const char *line)
{
	struct intervals *iv = arg;
	bool opens = strstr(line, ": serving") != NULL;

	if (p != iv->partition)
		return;
	if (opens && iv->n < 512) {
		snprintf(iv->v[iv->n].from, sizeof iv->v[iv->n].from, "%.24s", line);
		snprintf(iv->v[iv->n].to, sizeof iv->v[iv->n].to, "~");	/* open */
		iv->v[iv->n++].member = iv->member;
		return;
	}
	if (!strstr(line, ": released") && !strstr(line, ": lost its session"))
		return;
	for (int k = iv->n - 1; k >= 0; k--)
		if (iv->v[k].member == iv->member && strcmp(iv->v[k].to, "~") == 0) {
			snprintf(iv->v[k].to, sizeof iv->v[k].to, "%.24s", line);
			return;
		}
}

static int by_start(const void *a, const void *b)
{
	return strcmp(((const struct interval *)a)->from, ((const struct interval *)b)->from);
}

/* Per partition: the intervals during which each instance served it, from
 * "serving" to "released" or "lost" (or the SIGKILL), never overlap. The
 * log lines' times come from one clock: the processes share the machine. */
static void check_never_served_twice(struct fleet_rig *r)
{
	static struct intervals iv;

	for (int p = 0; p < UNITS; p++) {
		iv.n = 0;
		iv.partition = p;
		for (int i = 0; i < MEMBERS; i++) {
			if (!r->up[i] && !r->killed[i])
				continue;
			iv.member = i;
			each_partition_line(r, i, 0, ": ", serving_line, &iv);
		}
		for (int k = 0; k < iv.n; k++)
			if (!strcmp(iv.v[k].to, "~") && r->killed[iv.v[k].member])
				snprintf(iv.v[k].to, sizeof iv.v[k].to, "%s",
					 r->killed_at[iv.v[k].member]);
		CHECK_MSG(iv.n > 0, "partition %d was never served", p);
		qsort(iv.v, (size_t)iv.n, sizeof iv.v[0], by_start);
		for (int k = 1; k < iv.n; k++)
			CHECK_MSG(strcmp(iv.v[k].from, iv.v[k - 1].to) >= 0,
				  "partition %d: %s served it from %s while %s did until %s", p,
				  names[iv.v[k].member], iv.v[k].from, names[iv.v[k - 1].member],
				  iv.v[k - 1].to);
	}
}

/* What each instance's log says it took and handed over since `from`. */
static void moves_since(struct fleet_rig *r, const size_t from[MEMBERS], bool taken[MEMBERS][UNITS],
			bool handed[MEMBERS][UNITS])
{
	memset(taken, 0, sizeof(bool) * MEMBERS * UNITS);
	memset(handed, 0, sizeof(bool) * MEMBERS * UNITS);
	for (int i = 0; i < MEMBERS; i++) {
		if (!r->up[i])
			continue;
		each_partition_line(r, i, from[i], ": taken", mark, taken[i]);
		each_partition_line(r, i, from[i], "handing over", mark, handed[i]);
	}
}

static void log_offsets(struct fleet_rig *r, size_t out[MEMBERS])
{
	for (int i = 0; i < MEMBERS; i++) {
		out[i] = 0;
		if (r->up[i]) {
			pthread_mutex_lock(&r->inst[i].lock);
			out[i] = r->inst[i].err_len;
			pthread_mutex_unlock(&r->inst[i].lock);
		}
	}
}

static void kill_instance(struct fleet_rig *r, int i)
{
	iso_now(r->killed_at[i]);
	REQUIRE(kill(-r->inst[i].pid, SIGKILL) == 0);
	th_daemon_wait_exit(&r->inst[i], TH_TIMEOUT_MS);
	r->up[i] = false;
	r->killed[i] = true;
}

/* --- the tests --------------------------------------------------------------- */

static void test_kill_and_join(void)
{
	struct fleet_rig r;
	struct ownership before, after;
	bool members[MEMBERS] = { true, true, true, false };
	bool taken[MEMBERS][UNITS], handed[MEMBERS][UNITS];
	size_t offsets[MEMBERS];
	struct replies rep;

	rig_up(&r, "fleet");
	for (int i = 0; i < 3; i++)
		start_instance(&r, i, "16");
	require_ownership(&r, members);
	define_agents(&r);
	expect_ownership(members, &before);
	/* i2 is killed below: the router goes with it, mid-load. */
	CHECK_MSG(before.owner[PARTS] == 1, "the router is on i2");

	for (int k = 1; k <= 3; k++)
		send_round(&r, k);
	/* Mid-load: i2 has answered one message and has most of its turns
	 * (200 ms each, one at a time per agent) still to run. */
	REQUIRE(wait_until(&r, replied_on, &before, WAIT_MS));
	log_offsets(&r, offsets);
	kill_instance(&r, 1);
	pthread_mutex_lock(&r.client.lock);
	tally_replies(&r, &rep);
	pthread_mutex_unlock(&r.client.lock);
	CHECK_MSG(rep.distinct < AGENTS * 3, "every message was answered before the kill");
	members[1] = false;
	require_ownership(&r, members);
	expect_ownership(members, &after);
	moves_since(&r, offsets, taken, handed);
	for (int p = 0; p < UNITS; p++) {
		bool must = before.owner[p] == 1;

		CHECK_MSG(taken[after.owner[p]][p] == must, "partition %d %s taken by %s", p,
			  must ? "not" : "also", names[after.owner[p]]);
		CHECK_MSG(!handed[0][p] && !handed[2][p], "partition %d handed over", p);
	}

	for (int k = 4; k <= 5; k++)
		send_round(&r, k);
	log_offsets(&r, offsets);
	start_instance(&r, 3, "16");
	for (int k = 6; k <= ROUNDS; k++)
		send_round(&r, k);
	members[3] = true;
	require_ownership(&r, members);
	expect_ownership(members, &before);
	moves_since(&r, offsets, taken, handed);
	for (int p = 0; p < UNITS; p++) {
		bool must = before.owner[p] == 3;

		CHECK_MSG(handed[after.owner[p]][p] == must, "partition %d handed over: %d", p,
			  handed[after.owner[p]][p]);
		CHECK_MSG(taken[3][p] == must, "partition %d taken by i4: %d", p, taken[3][p]);
		CHECK_MSG(!taken[0][p] && !taken[2][p], "partition %d taken by another", p);
	}

	check_one_each(&r, ROUNDS);
	for (int a = 0; a < AGENTS; a++) {
		char *path = a < MULTI_FROM ? rig_fmt("Threads/a%02d/a%02d", a, a)
					    : rig_fmt("Threads/a%02d/a%02d--s1", a, a);

		CHECK_MSG(max_turn_count(&r, path) == (a < MULTI_FROM ? ROUNDS : ROUNDS / 2),
			  "%s counted %d turns", path, max_turn_count(&r, path));
		free(path);
	}
	check_never_served_twice(&r);
	rig_down(&r);
}

/* How many "turn ...: <inbound> on <agent> done" lines the logs hold for
 * each inbound of the first `agents` agents. */
static int turns_run_twice(struct fleet_rig *r, int agents, int rounds)
{
	int twice = 0;

	for (int a = 0; a < agents; a++)
		for (int k = 1; k <= rounds && (a < INBOX_FROM || a >= INBOX_TO); k++) {
			char *want = rig_fmt(": a%02d-m%d on a%02d done", a, k, a);
			int n = 0;

			for (int i = 0; i < MEMBERS; i++) {
				char *log;

				if (!r->up[i] && !r->stopped[i])
					continue;
				log = log_copy(&r->inst[i]);
				for (const char *at = log; (at = strstr(at, want)); at++)
					n++;
				free(log);
			}
			CHECK_MSG(n >= 1, "a%02d-m%d never ran", a, k);
			twice += n > 1;
			free(want);
		}
	return twice;
}

/* SIGTERM of an instance with turns queued and running: its partitions
 * drain, every message it took is done and acknowledged before it lets
 * go, so the next owner runs nothing again. The instance's --http says who
 * serves what; `agentbus status` lists the fleet. */
static void test_clean_stop_hands_over(void)
{
	struct fleet_rig r;
	bool members[MEMBERS] = { true, true, false, false };
	struct ownership o;
	char addr[64], *text = NULL, *out = NULL, *err = NULL;
	const char *status[] = { th_agentbus_bin(), "status", "-h", "127.0.0.1", "-p", NULL, NULL };

	rig_up(&r, "fleet-stop");
	start_instance(&r, 0, "16");
	start_instance(&r, 1, "16");
	members[0] = members[1] = true;
	require_ownership(&r, members);
	define_agents(&r);
	expect_ownership(members, &o);
	for (int k = 1; k <= 3; k++)
		send_round(&r, k);
	REQUIRE(wait_until(&r, replied_on, &o, WAIT_MS));
	CHECK(th_daemon_stop_cleanly(&r.inst[1], SIGTERM));
	r.up[1] = false;
	r.stopped[1] = true;
	members[1] = false;
	require_ownership(&r, members);
	check_one_each(&r, 3);
	CHECK_INT(turns_run_twice(&r, AGENTS, 3), 0);
	CHECK(th_daemon_wait_output(&r.inst[1], false, "handing over to i1", 0));
	CHECK(!th_daemon_wait_output(&r.inst[1], false, "after the drain timeout", 0));

	status[5] = r.port;
	CHECK_INT(th_run(status, &out, &err), 0);
	CHECK_CONTAINS(out, "FLEET");
	CHECK_CONTAINS(out, "i1                   active           16  0-15,router (0-15,router)");
	free(out);
	free(err);
	rig_http_addr_of(&r.inst[0], addr);
	CHECK_INT(th_http_get(addr, "/metrics", &text), 200);
	CHECK_CONTAINS(text, "agentbus_fleet_partition{partition=\"15\",state=\"serving\"} 1");
	CHECK_CONTAINS(text, "agentbus_fleet_partition{partition=\"router\",state=\"serving\"} 1");
	CHECK_CONTAINS(text, "agentbus_fleet_members 1");
	free(text);
	rig_down(&r);
}

/* Every instance of a fleet says the same --partitions: a newcomer that
 * does not is refused and exits 2, and the fleet goes on. */
static void test_partition_count_mismatch(void)
{
	struct fleet_rig r;
	bool members[MEMBERS] = { true, false, false, false };

	rig_up(&r, "fleet-count");
	start_instance(&r, 0, "16");
	require_ownership(&r, members);
	start_instance(&r, 1, "8");
	CHECK_INT(WEXITSTATUS(th_daemon_wait_exit(&r.inst[1], TH_TIMEOUT_MS)), 2);
	r.up[1] = false;
	r.stopped[1] = true;
	CHECK(th_daemon_wait_output(&r.inst[1], false, "fleet t runs 16 partitions (instance i1)", 0));
	require_ownership(&r, members);
	rig_down(&r);
}

/* The first name `<prefix><i>` whose partition goes to member `owner` of
 * {i1, i2}. */
static void pick_agent(const char *prefix, int owner, char name[8])
{
	const char *both[] = { "i1", "i2" };

	for (int i = 0; i < 100; i++) {
		int len = snprintf(name, 8, "%s%d", prefix, i);

		if (fleet_owner(both, 2, fleet_partition_of(name, (size_t)len, PARTS)) == owner)
			return;
	}
	REQUIRE(!"an agent name for that owner");
}

/* Defines agent `name` (`meta`: more metadata) and waits for its entry. */
static void define_one(struct fleet_rig *r, const char *name, const char *meta)
{
	char *w = rig_fmt("{\"op\":\"upsert\",\"request_id\":\"def-%s\",\"note\":{\"id\":"
			  "\"d-%s\",\"path\":\"Agents/%s\",\"tags\":[\"agent/definition\"],"
			  "\"metadata\":{\"name\":\"%s\"%s}}}", name, name, name, name, meta);

	th_client_publish_text(&r->client, "parachute/vault/default/write", w);
	free(w);
	REQUIRE(wait_until(r, n_definitions, (int[]){ 1 }, WAIT_MS));
}

static bool n_replies_to_h(struct fleet_rig *r, void *arg)
{
	int n = 0;

	for (struct th_msg *m = r->client.head; m; m = m->next)
		n += strcmp(m->topic, EVENTS "created") == 0 && strstr(m->payload, "outbound") &&
		     strstr(m->payload, "\"in_reply_to\":\"h");
	return n >= *(int *)arg;
}

/* An agent of an API engine: its thread's history (what the engine is sent
 * of earlier exchanges) is the partition's, so the new owner after a join
 * sends the exchanges the old owner had. */
static void test_history_follows_the_partition(void)
{
	struct fleet_rig r;
	struct llm_server *llm = llm_start();
	char *def = rig_fmt("oa openai base_url=http://127.0.0.1:%d/v1", llm_port(llm));
	const char *extra[] = { "--engine-def", def, NULL };
	bool members[MEMBERS] = { true, false, false, false };
	char name[8], *w, *sent;

	pick_agent("o", 1, name);	/* i2 wins its partition once it joins */
	rig_up(&r, "fleet-history");
	r.extra = extra;
	start_instance(&r, 0, "16");
	require_ownership(&r, members);
	define_one(&r, name, ",\"engine\":\"oa\"");
	for (int k = 1; k <= 3; k++) {
		if (k == 3) {
			members[1] = true;
			start_instance(&r, 1, "16");
			require_ownership(&r, members);
		}
		w = rig_fmt("{\"op\":\"create\",\"request_id\":\"in-h%d\",\"note\":{\"id\":"
			    "\"h%d\",\"content\":\"question number %d\",\"tags\":[\"agent/message\","
			    "\"agent/message/inbound\"],\"metadata\":{\"agent\":\"%s\"}}}", k, k, k,
			    name);
		th_client_publish_text(&r.client, "parachute/vault/default/write", w);
		free(w);
		REQUIRE(llm_wait(llm, "question number", k, WAIT_MS));
		REQUIRE(wait_until(&r, n_replies_to_h, (int[]){ k }, WAIT_MS));
	}
	sent = llm_body(llm, "question number 3");
	REQUIRE(sent != NULL);
	CHECK_CONTAINS(sent, "question number 1");
	CHECK_CONTAINS(sent, "question number 2");
	CHECK(th_daemon_wait_output(&r.inst[1], false, "2 exchanges", 0));
	free(sent);
	rig_down(&r);
	llm_stop(llm);
	free(def);
}

/* A message on an inbox with a response topic whose turn has not ended
 * when its partition's owner dies: the next owner answers on that topic. */
static void test_answer_survives_a_death(void)
{
	struct fleet_rig r;
	bool members[MEMBERS] = { true, true, false, false };
	char name[8], *inbox;
	struct th_msg *m;

	pick_agent("q", 0, name);	/* i1's of the two */
	rig_up(&r, "fleet-answer");
	start_instance(&r, 0, "16");
	start_instance(&r, 1, "16");
	require_ownership(&r, members);
	th_client_subscribe(&r.client, "me/answer");
	define_one(&r, name, "");
	inbox = rig_fmt("parachute/agent/%s/inbox", name);
	th_client_publish(&r.client, inbox, "ask-1", SIZE_MAX, NULL, "me/answer", "c-1");
	/* The note is made; its turn (200 ms) runs on i1. */
	m = th_client_wait_for(&r.client, EVENTS "created", "\"content\":\"ask-1\"", WAIT_MS);
	REQUIRE(m != NULL);
	th_msg_free(m);
	kill_instance(&r, 0);
	m = th_client_wait_for(&r.client, "me/answer", "echo: ask-1", WAIT_MS);
	CHECK_MSG(m != NULL, "the answer came on the response topic");
	if (m)
		CHECK_STR(m->correlation, "c-1");
	th_msg_free(m);
	free(inbox);
	rig_down(&r);
}

int main(void)
{
	RUN(test_kill_and_join);
	RUN(test_clean_stop_hands_over);
	RUN(test_partition_count_mismatch);
	RUN(test_history_follows_the_partition);
	RUN(test_answer_survives_a_death);
	return check_summary();
}
