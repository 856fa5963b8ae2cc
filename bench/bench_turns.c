/* bench_turns: what an echo turn costs, end to end and in agentbus's CPU,
 * against the broker's own cost measured in the same run.
 *
 *   baseline  a QoS 1 publish to a topic the client itself subscribes to:
 *             one broker hop there and back.
 *   turn      an inbound note event published as a vault would, until the
 *             reply arrives on R/agent/A/reply (agentbus: decode, trigger,
 *             dedupe and accept in SQLite, queue, engine thread and back,
 *             thread note start and end, reply, marker, turn events).
 *   turn@10k  the same with 10,000 agents registered.
 *   inbox     mosquitto_rr's path through the embedded store: inbox ->
 *             note write -> store -> event -> turn -> answer.
 *
 * Loopback only; every loop is bounded by -n. Prints per-item latency
 * (mean, p50, p99), agentbus CPU per item (all its threads, from
 * /proc/<pid>/task/<tid>/schedstat), and each as a ratio to the baseline. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/measure.h"
#include "test/harness.h"

#define EVENTS "parachute/vault/default/event/note.created"

static void baseline(struct th_client *c, int n, struct result *r)
{
	int64_t *lat = calloc((size_t)n, sizeof *lat);

	for (int i = 0; i < n; i++) {
		int64_t t0 = now_ns();
		struct th_msg *m;

		th_client_publish_text(c, "bench/echo", "{\"ping\":1}");
		m = th_client_next(c, "bench/echo", TH_TIMEOUT_MS);
		need(m, "echo");
		lat[i] = now_ns() - t0;
		th_msg_free(m);
	}
	summarise(r, lat, n, -1);
	free(lat);
}

static void define(struct th_client *c, const char *name)
{
	char ev[512];

	snprintf(ev, sizeof ev, "{\"event\":\"note.created\",\"note\":{\"id\":\"def-%s\","
		 "\"content\":\"bench\",\"tags\":[\"agent/definition\"],\"metadata\":"
		 "{\"name\":\"%s\"}}}", name, name);
	th_client_publish_text(c, EVENTS, ev);
}

/* `n` sequential turns on agent eng; note ids continue from `*seq`. */
static void turns(struct th_client *c, pid_t daemon, int n, int *seq, struct result *r)
{
	int64_t *lat = calloc((size_t)n, sizeof *lat), cpu0 = cpu_ns(daemon);
	char ev[512], want[64];

	for (int i = 0; i < n; i++, (*seq)++) {
		int64_t t0 = now_ns();
		struct th_msg *m;

		snprintf(ev, sizeof ev, "{\"event\":\"note.created\",\"note\":{\"id\":\"in-%d\","
			 "\"content\":\"hello %d\",\"tags\":[\"agent/message\",\"agent/message/inbound\"],"
			 "\"metadata\":{\"agent\":\"eng\",\"sender\":\"bench\"}}}", *seq, *seq);
		snprintf(want, sizeof want, "\"in_reply_to\":\"in-%d\"", *seq);
		th_client_publish_text(c, EVENTS, ev);
		m = th_client_wait_for(c, "parachute/agent/eng/reply", want, TH_TIMEOUT_MS);
		need(m, "reply");
		lat[i] = now_ns() - t0;
		th_msg_free(m);
	}
	summarise(r, lat, n, cpu_ns(daemon) - cpu0);
	free(lat);
}

/* mosquitto_rr's path: inbox message with a response topic, answer back. */
static void inbox(struct th_client *c, pid_t daemon, int n, struct result *r)
{
	int64_t *lat = calloc((size_t)n, sizeof *lat), cpu0 = cpu_ns(daemon);

	for (int i = 0; i < n; i++) {
		int64_t t0 = now_ns();
		struct th_msg *m;

		th_client_publish(c, "parachute/agent/eng/inbox", "hi", 2, NULL, "bench/answer", NULL);
		m = th_client_next(c, "bench/answer", TH_TIMEOUT_MS);
		need(m, "answer");
		lat[i] = now_ns() - t0;
		th_msg_free(m);
	}
	summarise(r, lat, n, cpu_ns(daemon) - cpu0);
	free(lat);
}

static void start_daemon(struct th_daemon *d, int port, const char *state, bool store)
{
	char p[16];
	const char *args[] = { "-p", p, "--id", "bench", "--state-dir", state,
			       store ? "--max-turns" : "--no-store", "4", NULL };

	snprintf(p, sizeof p, "%d", port);
	if (!store)
		args[7] = NULL;
	th_daemon_start(d, args);
	/* On a new session the broker drops what is published before agentbus's
	 * SUBSCRIBE reached it: wait for the SUBACKs, not the CONNACK. */
	if (!th_daemon_wait_output(d, false, "subscriptions confirmed", TH_TIMEOUT_MS)) {
		fprintf(stderr, "bench: agentbus did not subscribe\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	int n = argc > 2 && strcmp(argv[1], "-n") == 0 ? atoi(argv[2]) : 2000, seq = 0;
	struct result res[4] = { { .name = "baseline: broker round trip" },
				 { .name = "turn, 1 agent" }, { .name = "turn, 10,000 agents" },
				 { .name = "inbox via the store (mosquitto_rr)" } };
	char *state = th_tmpdir("bench-state"), *state2 = th_tmpdir("bench-state");
	struct th_broker b;
	struct th_client c;
	struct th_daemon d;
	struct th_msg *m;
	struct result warm;
	char last[64];

	if (n < 100)
		n = 100;
	th_broker_start(&b, "bench-broker", false);
	/* Only what the bench reads: a client that queues everything would
	 * measure its own list scans. */
	th_client_open(&c, b.child.port, "bench/#");
	th_client_subscribe(&c, "parachute/agent/eng/reply");
	th_client_subscribe(&c, "parachute/agent/eng/definition");
	th_client_subscribe(&c, "parachute/agent/a09999/definition");
	baseline(&c, n / 10, &warm);
	baseline(&c, n, &res[0]);

	start_daemon(&d, b.child.port, state, false);
	define(&c, "eng");
	need(th_client_wait_for(&c, "parachute/agent/eng/definition", "enabled", TH_TIMEOUT_MS),
	     "registration");
	turns(&c, d.pid, n / 10, &seq, &warm);
	turns(&c, d.pid, n, &seq, &res[1]);

	for (int i = 1; i < 10000; i++) {
		snprintf(last, sizeof last, "a%05d", i);
		define(&c, last);
	}
	m = th_client_wait_for(&c, "parachute/agent/a09999/definition", "enabled", 60000);
	need(m, "10,000 registrations");
	th_msg_free(m);
	turns(&c, d.pid, n / 10, &seq, &warm);
	turns(&c, d.pid, n, &seq, &res[2]);
	th_daemon_stop(&d, SIGTERM);
	th_daemon_free(&d);

	start_daemon(&d, b.child.port, state2, true);
	th_client_publish_text(&c, "parachute/vault/default/write",
			       "{\"op\":\"create\",\"request_id\":\"d\",\"note\":{\"id\":\"def-eng\","
			       "\"tags\":[\"agent/definition\"],\"metadata\":{\"name\":\"eng\"}}}");
	need(th_client_wait_for(&c, "parachute/agent/eng/definition", "enabled", TH_TIMEOUT_MS),
	     "registration");
	inbox(&c, d.pid, n / 10, &warm);
	inbox(&c, d.pid, n, &res[3]);
	th_daemon_stop(&d, SIGTERM);
	th_daemon_free(&d);

	printf("%-38s %9s %9s %9s %11s %9s %9s\n", "", "mean us", "p50 us", "p99 us",
	       "CPU us/item", "x mean", "x CPU");
	for (int i = 0; i < 4; i++)
		printf("%-38s %9.1f %9.1f %9.1f %11.1f %9.2f %9.2f\n", res[i].name, res[i].mean_us,
		       res[i].p50_us, res[i].p99_us, res[i].cpu_us, res[i].mean_us / res[0].mean_us,
		       res[i].cpu_us < 0 ? 0 : res[i].cpu_us / res[0].mean_us);
	printf("(n = %d per row; ratios are to the baseline's mean round trip)\n", n);
	th_client_close(&c);
	th_broker_free(&b);
	free(state);
	free(state2);
	return 0;
}
