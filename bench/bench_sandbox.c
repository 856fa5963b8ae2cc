/* bench_sandbox: what confinement adds to an exec turn, against the same
 * turn unconfined, in the same run. The command is `cat`: an instant CLI, so
 * the difference is the sandbox (bwrap, namespaces, the seccomp filter, the
 * helper, the proxy's socket) and nothing else.
 *
 *   latency     sequential turns of one agent: unconfined (a daemon with
 *               `sandbox off`), confined with the network open, confined
 *               with it restricted (the egress proxy), confined `full`.
 *   throughput  a burst of turns over 8 agents with --max-turns 1, 2 and 4,
 *               confined, and unconfined at 4: sandboxes of different
 *               agents start concurrently, with no lock among them.
 *
 * Loopback only; every load is bounded by -n (turns per latency row, and
 * the burst size). The reference's sandbox costs ~105 ms per turn under a
 * process-wide lock (mqtt-field-notes.md, the reference's measurements). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/measure.h"
#include "test/harness.h"

#define EVENTS "parachute/vault/default/event/note.created"
#define BURST_AGENTS 8

struct bench {
	struct th_broker broker;
	struct th_client client;
	int seq;
};

static void define(struct bench *b, const char *name, const char *meta)
{
	char ev[768], topic[96];

	snprintf(ev, sizeof ev, "{\"event\":\"note.created\",\"note\":{\"id\":\"def-%s\","
		 "\"content\":\"bench\",\"tags\":[\"agent/definition\"],\"metadata\":"
		 "{\"name\":\"%s\",\"engine\":\"cat\",\"mode\":\"multi-threaded\"%s}}}", name, name,
		 meta);
	th_client_publish_text(&b->client, EVENTS, ev);
	snprintf(topic, sizeof topic, "parachute/agent/%s/definition", name);
	need(th_client_wait_for(&b->client, topic, "enabled", TH_TIMEOUT_MS), "registration");
}

static void send_turn(struct bench *b, const char *agent, int id)
{
	char ev[512];

	snprintf(ev, sizeof ev, "{\"event\":\"note.created\",\"note\":{\"id\":\"in-%d\","
		 "\"content\":\"hello\",\"tags\":[\"agent/message\",\"agent/message/inbound\"],"
		 "\"metadata\":{\"agent\":\"%s\",\"sender\":\"bench\"}}}", id, agent);
	th_client_publish_text(&b->client, EVENTS, ev);
}

/* The reply of turn `id`; a failure note ends the run: nothing is timed
 * that did not work. */
static void await_reply(struct bench *b, const char *agent, int id)
{
	char want[64], topic[96];
	struct th_msg *m;

	snprintf(topic, sizeof topic, "parachute/agent/%s/reply", agent);
	snprintf(want, sizeof want, "\"in_reply_to\":\"in-%d\"", id);
	m = th_client_wait_for(&b->client, topic, want, 30000);
	need(m, "reply");
	if (!strstr(m->payload, "hello")) {
		fprintf(stderr, "bench_sandbox: turn in-%d failed: %s\n", id, m->payload);
		exit(1);
	}
	th_msg_free(m);
}

static void sequential(struct bench *b, pid_t daemon, const char *agent, int n,
		       struct result *r)
{
	int64_t *lat = calloc((size_t)n, sizeof *lat), cpu0 = cpu_ns(daemon);

	for (int i = 0; i < n; i++) {
		int64_t t0 = now_ns();
		int id = b->seq++;

		send_turn(b, agent, id);
		await_reply(b, agent, id);
		lat[i] = now_ns() - t0;
	}
	summarise(r, lat, n, cpu_ns(daemon) - cpu0);
	free(lat);
}

/* Turns per second of `n` turns sent at once over the burst agents. */
static double burst(struct bench *b, const char *prefix, int n)
{
	char agent[32];
	int first = b->seq;
	int64_t t0 = now_ns();

	for (int i = 0; i < n; i++) {
		snprintf(agent, sizeof agent, "%s%d", prefix, i % BURST_AGENTS);
		send_turn(b, agent, b->seq++);
	}
	for (int i = 0; i < n; i++) {
		snprintf(agent, sizeof agent, "%s%d", prefix, i % BURST_AGENTS);
		await_reply(b, agent, first + i);
	}
	return n / ((now_ns() - t0) / 1e9);
}

static void start_daemon(struct bench *b, struct th_daemon *d, const char *sandbox,
			 const char *max_turns)
{
	char port[16], *state = th_tmpdir("bench-sandbox");
	const char *args[] = { "-p", port, "--id", state + strlen(state) - 6, "--state-dir", state,
			       "--no-store", "--engine-def", "cat exec format=text command=cat",
			       "--sandbox", sandbox, "--max-turns", max_turns, NULL };

	snprintf(port, sizeof port, "%d", b->broker.child.port);
	th_daemon_start(d, args);
	need((void *)(intptr_t)th_daemon_wait_output(d, false, "subscriptions confirmed",
						     TH_TIMEOUT_MS), "subscriptions");
	free(state);
}

static void define_burst_agents(struct bench *b, const char *prefix)
{
	char name[32];

	for (int i = 0; i < BURST_AGENTS; i++) {
		snprintf(name, sizeof name, "%s%d", prefix, i);
		define(b, name, "");
	}
}

int main(int argc, char **argv)
{
	int n = argc > 2 && strcmp(argv[1], "-n") == 0 ? atoi(argv[2]) : 500;
	struct result lat[4] = { { .name = "exec, unconfined" },
				 { .name = "exec, confined, network open" },
				 { .name = "exec, confined, network restricted" },
				 { .name = "exec, confined, filesystem full" } }, warm;
	static const char *const max_turns[] = { "1", "2", "4" };
	double confined_tps[3], open_tps;
	struct bench b = { .seq = 0 };
	struct th_daemon d;

	if (n < 20)
		n = 20;
	th_broker_start(&b.broker, "bench-broker", false);
	th_client_open(&b.client, b.broker.child.port, "parachute/agent/+/reply");
	th_client_subscribe(&b.client, "parachute/agent/+/definition");

	/* Unconfined: the baseline, and its burst at --max-turns 4. */
	start_daemon(&b, &d, "off", "4");
	define(&b, "free", "");
	define_burst_agents(&b, "f");
	sequential(&b, d.pid, "free", n / 10, &warm);
	sequential(&b, d.pid, "free", n, &lat[0]);
	open_tps = burst(&b, "f", n);
	th_daemon_stop(&d, SIGTERM);
	th_daemon_free(&d);

	for (size_t m = 0; m < 3; m++) {
		start_daemon(&b, &d, "on", max_turns[m]);
		define_burst_agents(&b, "c");
		if (m == 2) {
			define(&b, "open", "");
			define(&b, "closed", ",\"network\":\"restricted\"");
			define(&b, "full", ",\"filesystem\":\"full\"");
			sequential(&b, d.pid, "open", n / 10, &warm);
			sequential(&b, d.pid, "open", n, &lat[1]);
			sequential(&b, d.pid, "closed", n, &lat[2]);
			sequential(&b, d.pid, "full", n, &lat[3]);
		}
		burst(&b, "c", BURST_AGENTS);	/* warm */
		confined_tps[m] = burst(&b, "c", n);
		th_daemon_stop(&d, SIGTERM);
		th_daemon_free(&d);
	}

	printf("%-36s %9s %9s %9s %9s %13s %11s\n", "", "p50 us", "p90 us", "p99 us", "max us",
	       "added p50 us", "CPU us/turn");
	for (int i = 0; i < 4; i++)
		printf("%-36s %9.0f %9.0f %9.0f %9.0f %13.0f %11.0f\n", lat[i].name, lat[i].p50_us,
		       lat[i].p90_us, lat[i].p99_us, lat[i].max_us, lat[i].p50_us - lat[0].p50_us,
		       lat[i].cpu_us);
	printf("\n%-36s %12s %12s %12s\n", "burst of turns over 8 agents", "max-turns 1",
	       "max-turns 2", "max-turns 4");
	printf("%-36s %12.0f %12.0f %12.0f\n", "confined, turns/s", confined_tps[0],
	       confined_tps[1], confined_tps[2]);
	printf("%-36s %12s %12s %12.0f\n", "unconfined, turns/s", "", "", open_tps);
	printf("scaling (confined, x max-turns 1): %.2f at 2, %.2f at 4; confined / unconfined at "
	       "4: %.2f\n", confined_tps[1] / confined_tps[0], confined_tps[2] / confined_tps[0],
	       confined_tps[2] / open_tps);
	printf("(n = %d per row, loopback; `cat` as the CLI; the reference's sandbox: ~105 ms a "
	       "turn, under one lock; %ld CPUs)\n", n, sysconf(_SC_NPROCESSORS_ONLN));
	th_client_close(&b.client);
	th_broker_free(&b.broker);
	return 0;
}
