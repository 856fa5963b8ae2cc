/* bench_fleet: turns per second through a fleet of 1, 2 and 3 instances on
 * one mosquitto (16 partitions unless told, an embedded store shared as the vault),
 * each as a ratio to a lone agentbus measured in the same run; and how long
 * the three take to serve every partition again after one is killed
 * (SIGKILL) and after it comes back.
 *
 *   bench_fleet [-n TURNS] [-a AGENTS] [-p PARTITIONS (16)] [--short]
 *
 * One machine: the instances share its CPUs with the broker and the store,
 * so the figures say what a fleet costs over a lone instance, not what
 * more machines would add. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/load.h"
#include "bench/measure.h"
#include "bus/client.h"
#include "test/harness.h"

#define ROOT "parachute"
#define WRITES ROOT "/vault/default/write"
#define PARTS_MAX 1024
#define UNITS_MAX (PARTS_MAX + 1)
#define WINDOW 1000
#define RUN_TIMEOUT_MS 120000
#define FLEET_MAX 3

struct bench {
	struct th_broker broker;
	struct th_daemon store;
	struct load *l;
	char port[16];
	long turns;
	int agents;
	int partitions;
	int config;		/* keeps agent names and note ids apart between runs */
};

static int publish_inbound(struct load *l, long i, void *arg)
{
	struct bench *b = arg;
	char doc[600];

	snprintf(doc, sizeof doc,
		 "{\"op\":\"create\",\"request_id\":\"r%d-%ld\",\"note\":{\"id\":\"in%d-%ld\","
		 "\"content\":\"hello %ld\",\"tags\":[\"agent/message\",\"agent/message/inbound\"],"
		 "\"metadata\":{\"agent\":\"c%da%04ld\",\"sender\":\"bench\"}}}",
		 b->config, i, b->config, i, i, b->config, i % b->agents);
	return load_publish(l, WRITES, doc, strlen(doc), NULL, NULL);
}

static bool is_reply(const struct mosquitto_message *m, const mosquitto_property *p, void *arg)
{
	(void)p;
	(void)arg;
	return bus_topic_matches(ROOT "/agent/+/reply", m->topic);
}

static int publish_definition(struct load *l, long i, void *arg)
{
	struct bench *b = arg;
	char doc[400];

	snprintf(doc, sizeof doc,
		 "{\"op\":\"create\",\"request_id\":\"def%d-%ld\",\"note\":{\"id\":\"def%d-%ld\","
		 "\"content\":\"bench\",\"tags\":[\"agent/definition\"],\"metadata\":{\"name\":"
		 "\"c%da%04ld\"}}}", b->config, i, b->config, i, b->config, i);
	return load_publish(l, WRITES, doc, strlen(doc), NULL, NULL);
}

static bool is_definition(const struct mosquitto_message *m, const mosquitto_property *p,
			  void *arg)
{
	(void)p;
	(void)arg;
	return bus_topic_matches(ROOT "/agent/+/definition", m->topic) && m->payloadlen > 0;
}

static void run_all(struct bench *b, long n, load_publish_fn *pub, load_match_fn *match,
		    const char *what)
{
	long done = load_run(b->l, n, WINDOW, pub, match, b, NULL, RUN_TIMEOUT_MS);

	if (done < n) {
		fprintf(stderr, "bench_fleet: %s: %ld of %ld done within %d s\n", what, done, n,
			RUN_TIMEOUT_MS / 1000);
		exit(1);
	}
}

/* CPU time the whole machine has spent busy (every process), in ns: a
 * fleet's partitions are grandchildren of the bench, out of its reach. */
static int64_t machine_busy_ns(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7]) : 0;

	if (f)
		fclose(f);
	if (n != 8)
		return -1;
	/* user nice system (idle iowait) irq softirq steal, in clock ticks */
	return (int64_t)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) *
	       (1000000000 / sysconf(_SC_CLK_TCK));
}

struct rate {
	double turns_s, broker_us, machine_us;	/* CPU per turn */
};

/* Turns per second for `b->turns` turns to this configuration's agents,
 * and what they cost the broker and the machine. */
static struct rate measure_turns(struct bench *b)
{
	int64_t t0, broker0, machine0;
	struct rate r;

	run_all(b, b->agents, publish_definition, is_definition, "definitions");
	t0 = now_ns();
	broker0 = cpu_ns(b->broker.child.pid);
	machine0 = machine_busy_ns();
	run_all(b, b->turns, publish_inbound, is_reply, "turns");
	r.turns_s = (double)b->turns / ((double)(now_ns() - t0) / 1e9);
	r.broker_us = (double)(cpu_ns(b->broker.child.pid) - broker0) / (double)b->turns / 1e3;
	r.machine_us = (double)(machine_busy_ns() - machine0) / (double)b->turns / 1e3;
	return r;
}

/* --- the member records ------------------------------------------------------------- */

/* Every partition and the router (unit `parts`) served by exactly one of
 * `members` instances, and by no other: read from the retained records the
 * client received last. */
static bool served_by(struct th_client *c, int parts, int members)
{
	int count[UNITS_MAX] = { 0 }, serving_members = 0;
	char seen[8][32] = { { 0 } };
	cJSON *latest[8] = { NULL };

	for (struct th_msg *m = c->head; m; m = m->next) {
		const char *leaf = strrchr(m->topic, '/');
		int i;

		for (i = 0; i < 8 && seen[i][0] && strcmp(seen[i], leaf + 1) != 0; i++)
			;
		if (i == 8)
			continue;
		snprintf(seen[i], sizeof seen[i], "%s", leaf + 1);
		cJSON_Delete(latest[i]);
		latest[i] = m->len ? cJSON_Parse(m->payload) : NULL;
	}
	for (int i = 0; i < 8; i++) {
		const cJSON *p;
		int n = 0;

		cJSON_ArrayForEach(p, cJSON_GetObjectItem(latest[i], "serving"))
			if (p->valueint >= 0 && p->valueint <= parts) {
				count[p->valueint]++;
				n++;
			}
		serving_members += n > 0;
		cJSON_Delete(latest[i]);
	}
	for (int p = 0; p <= parts; p++)
		if (count[p] != 1)
			return false;
	return serving_members == members;
}

/* Milliseconds until `members` instances serve the fleet's partitions. */
static double wait_served(struct th_client *c, int parts, int members)
{
	int64_t t0 = now_ns();
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += RUN_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&c->lock);
	while (!(ok = served_by(c, parts, members)) &&
	       pthread_cond_timedwait(&c->changed, &c->lock, &until) == 0)
		;
	ok = ok || served_by(c, parts, members);
	pthread_mutex_unlock(&c->lock);
	if (!ok) {
		fprintf(stderr, "bench_fleet: %d instances never served all %d partitions\n",
			members, parts);
		exit(1);
	}
	return (double)(now_ns() - t0) / 1e6;
}

/* --- the daemons -------------------------------------------------------------------- */

struct fleet {
	struct th_daemon inst[FLEET_MAX];
	char *dir[FLEET_MAX];
	char name[16];
	struct th_client members;	/* the member records */
};

static void instance_start(struct bench *b, struct fleet *f, int i)
{
	char id[16], parts[16];
	const char *args[] = { "-p", b->port, "--fleet", f->name, "--partitions", parts, "--id", id,
			       "--state-dir", f->dir[i], "--max-turns", "64", "--queue-limit",
			       "1000000", "--max-queued", "1000000", NULL };

	snprintf(id, sizeof id, "i%d", i + 1);
	snprintf(parts, sizeof parts, "%d", b->partitions);
	th_daemon_start_in_group(&f->inst[i], args);
}

static void fleet_start(struct bench *b, struct fleet *f, int n)
{
	char filter[96];

	snprintf(f->name, sizeof f->name, "bench%d", b->config);
	snprintf(filter, sizeof filter, ROOT "/agentbus/fleet/%s/member/+", f->name);
	th_client_open(&f->members, b->broker.child.port, filter);
	for (int i = 0; i < n; i++) {
		f->dir[i] = th_tmpdir("bench-fleet");
		instance_start(b, f, i);
	}
	wait_served(&f->members, b->partitions, n);
}

static void fleet_stop(struct fleet *f, int n)
{
	for (int i = 0; i < n; i++) {
		if (!th_daemon_stop_cleanly(&f->inst[i], SIGTERM)) {
			fprintf(stderr, "bench_fleet: an instance did not stop cleanly\n");
			exit(1);
		}
		th_daemon_free(&f->inst[i]);
		free(f->dir[i]);
	}
	th_client_close(&f->members);
}

static struct rate lone_turns(struct bench *b)
{
	struct th_daemon d;
	char *dir = th_tmpdir("bench-lone");
	const char *args[] = { "-p", b->port, "--id", "lone", "--state-dir", dir, "--no-store",
			       "--no-demo", "--max-turns", "64", "--queue-limit", "1000000",
			       "--max-queued", "1000000", NULL };
	struct rate rate;

	th_daemon_start(&d, args);
	if (!th_daemon_wait_output(&d, false, "subscriptions confirmed", TH_TIMEOUT_MS)) {
		fprintf(stderr, "bench_fleet: the lone agentbus did not subscribe\n");
		exit(1);
	}
	rate = measure_turns(b);
	th_daemon_stop_cleanly(&d, SIGTERM);
	th_daemon_free(&d);
	free(dir);
	return rate;
}

int main(int argc, char **argv)
{
	struct bench b = { .turns = 5000, .agents = 64, .partitions = 16 };
	struct rate lone, rate[FLEET_MAX + 1];
	double killed_ms = 0, back_ms = 0;
	struct fleet f;
	char *store_dir;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--short")) {
			b.turns = 300;
			b.agents = 16;
		} else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			b.turns = atol(argv[++i]);
		} else if (!strcmp(argv[i], "-a") && i + 1 < argc) {
			b.agents = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "-p") && i + 1 < argc &&
			   (b.partitions = atoi(argv[i + 1])) >= 1 && b.partitions <= PARTS_MAX) {
			i++;
		} else {
			fprintf(stderr, "usage: bench_fleet [-n TURNS] [-a AGENTS] [-p PARTITIONS] "
				"[--short]\n");
			return 2;
		}
	}
	th_broker_start(&b.broker, "bench-fleet", false);
	snprintf(b.port, sizeof b.port, "%d", b.broker.child.port);
	store_dir = th_tmpdir("bench-fleet-store");
	th_daemon_start(&b.store, (const char *const[]){ "-p", b.port, "--store-only", "--id",
							 "store", "--state-dir", store_dir, NULL });
	if (!th_daemon_wait_output(&b.store, false, "subscriptions confirmed", TH_TIMEOUT_MS))
		return 1;
	b.l = load_open(b.broker.child.port, "bench-fleet");
	load_subscribe(b.l, ROOT "/agent/+/reply");
	load_subscribe(b.l, ROOT "/agent/+/definition");

	/* The lone instance runs the turns against the same store. */
	b.config = 0;
	lone = lone_turns(&b);
	fprintf(stderr, "bench_fleet: one lone agentbus: %.0f turns/s\n", lone.turns_s);
	for (int n = 1; n <= FLEET_MAX; n++) {
		b.config = n;
		fleet_start(&b, &f, n);
		fprintf(stderr, "bench_fleet: a fleet of %d serves every partition\n", n);
		rate[n] = measure_turns(&b);
		fprintf(stderr, "bench_fleet: a fleet of %d: %.0f turns/s\n", n, rate[n].turns_s);
		if (n == FLEET_MAX) {
			int64_t t0;

			kill(-f.inst[1].pid, SIGKILL);
			th_daemon_wait_exit(&f.inst[1], TH_TIMEOUT_MS);
			th_daemon_free(&f.inst[1]);
			t0 = now_ns();
			wait_served(&f.members, b.partitions, FLEET_MAX - 1);
			killed_ms = (double)(now_ns() - t0) / 1e6;
			t0 = now_ns();
			instance_start(&b, &f, 1);
			wait_served(&f.members, b.partitions, FLEET_MAX);
			back_ms = (double)(now_ns() - t0) / 1e6;
		}
		fleet_stop(&f, n);
	}

	printf("| configuration (%ld turns, %d agents, echo engine) | turns/s | vs one lone agentbus "
	       "| broker CPU µs/turn | machine CPU µs/turn |\n|---|---|---|---|---|\n"
	       "| one lone agentbus (baseline) | %.0f | 1.00 | %.0f | %.0f |\n", b.turns, b.agents,
	       lone.turns_s, lone.broker_us, lone.machine_us);
	for (int n = 1; n <= FLEET_MAX; n++)
		printf("| fleet of %d, %d partitions | %.0f | %.2f | %.0f | %.0f |\n", n, b.partitions,
		       rate[n].turns_s, rate[n].turns_s / lone.turns_s, rate[n].broker_us,
		       rate[n].machine_us);
	printf("\n| rebalance (fleet of 3, idle) | ms |\n|---|---|\n"
	       "| SIGKILL of one: every partition served again by the other two | %.0f |\n"
	       "| it starts again: every partition served by its owner among the three | %.0f |\n",
	       killed_ms, back_ms);

	load_close(b.l);
	th_daemon_stop_cleanly(&b.store, SIGTERM);
	th_daemon_free(&b.store);
	free(store_dir);
	th_broker_stop(&b.broker);
	th_broker_free(&b.broker);
	return 0;
}
