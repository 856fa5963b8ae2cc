/* bench_bus: agentbus against the bare broker, in one run (`make bench`).
 *
 *   baseline    the broker's QoS 1 rate for this same client: publishes to
 *               a topic it subscribes to, 1,000 in flight.
 *   throughput  echo turns with 1,000 inbound notes in flight, written
 *               through the embedded store as a vault module would (a write
 *               request) or published as raw vault events; messages per turn
 *               from the broker's $SYS counters, CPU of both processes from
 *               /proc, bytes written and fsync/fdatasync calls of agentbus.
 *   latency     sequential inbox turns (mosquitto_rr's path) against a
 *               trivial libmosquitto responder making the same four broker
 *               hops (inbox, write, event, answer).
 *   scale       the same with 10,000 registered agents; RSS per agent; the
 *               time from start to online with them in the state dir; RSS
 *               idle and after 10,000 and 100,000 turns.
 *   encodings   throughput and latency with MessagePack as well.
 *
 * Each figure is the median of -r runs (default 3) with its spread. Loopback
 * only; every load is bounded in count and in time. --short runs a small
 * version that only proves the harness works. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <mqtt_protocol.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/load.h"
#include "bench/measure.h"
#include "bus/client.h"
#include "bus/codec.h"
#include "test/harness.h"

#define ROOT "parachute"
#define EVENTS ROOT "/vault/default/event/note.created"
#define WRITES ROOT "/vault/default/write"
#define WINDOW 1000
#define RUN_TIMEOUT_MS 120000
#define MAX_RUNS 9

struct plan {
	int runs;		/* repetitions per figure */
	const char *only;	/* "store" or "raw": that throughput row alone */
	int only_agents;
	const char *daemon_arg;	/* one more argument for agentbus (profiling) */
	long turns;		/* per throughput run */
	long sequential;	/* per latency run */
	int scale_agents;
	long rss_first, rss_last;	/* turns before the two RSS readings */
};

struct bench {
	struct plan plan;
	struct th_broker broker;
	struct load *l;
	int port;
	long run_id;		/* keeps note ids unique across runs */
};

/* One figure over the runs. */
struct figure {
	double v[MAX_RUNS];
	int n;
};

static void put(struct figure *f, double v)
{
	if (f->n < MAX_RUNS)
		f->v[f->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const struct figure *f)
{
	double s[MAX_RUNS];

	if (f->n == 0)
		return -1;
	memcpy(s, f->v, sizeof s);
	qsort(s, (size_t)f->n, sizeof s[0], cmp_double);
	return f->n % 2 ? s[f->n / 2] : (s[f->n / 2 - 1] + s[f->n / 2]) / 2;
}

/* "median (min–max)", or the median alone for a single run. */
static const char *fmt(const struct figure *f, const char *unit, char *buf, size_t len)
{
	double lo = f->v[0], hi = f->v[0];

	if (f->n == 0 || median(f) < 0)
		return "n/a";
	for (int i = 1; i < f->n; i++) {
		lo = f->v[i] < lo ? f->v[i] : lo;
		hi = f->v[i] > hi ? f->v[i] : hi;
	}
	if (f->n == 1)
		snprintf(buf, len, "%.4g%s", median(f), unit);
	else
		snprintf(buf, len, "%.4g%s (%.4g–%.4g)", median(f), unit, lo, hi);
	return buf;
}

/* --- what the load publishes ------------------------------------------------------ */

enum path { PATH_STORE, PATH_RAW };

struct turn_load {
	struct bench *b;
	enum path path;
	enum payload_encoding enc;
	int agents;
	long run;
};

static int publish_doc(struct load *l, const char *topic, const char *json,
		       enum payload_encoding enc)
{
	struct codec_buf buf;
	cJSON *doc;
	int rc;

	if (enc == ENCODING_JSON)
		return load_publish(l, topic, json, strlen(json), NULL, NULL);
	doc = cJSON_Parse(json);
	if (!doc || codec_encode(doc, enc, &buf) != 0) {
		cJSON_Delete(doc);
		return -1;
	}
	rc = load_publish(l, topic, buf.data, buf.len, buf.content_type, NULL);
	codec_buf_free(&buf);
	cJSON_Delete(doc);
	return rc;
}

static int publish_inbound(struct load *l, long i, void *arg)
{
	struct turn_load *t = arg;
	char note[512], doc[700];

	snprintf(note, sizeof note,
		 "{\"id\":\"in-%ld-%ld\",\"content\":\"hello %ld\",\"tags\":[\"agent/message\","
		 "\"agent/message/inbound\"],\"metadata\":{\"agent\":\"a%05ld\",\"sender\":"
		 "\"s%02ld\"}}", t->run, i, i, i % t->agents, i % 100);
	if (t->path == PATH_STORE)
		snprintf(doc, sizeof doc, "{\"op\":\"create\",\"request_id\":\"r-%ld-%ld\","
			 "\"note\":%s}", t->run, i, note);
	else
		snprintf(doc, sizeof doc, "{\"event\":\"note.created\",\"note\":%s}", note);
	return publish_doc(l, t->path == PATH_STORE ? WRITES : EVENTS, doc, t->enc);
}

static bool is_reply(const struct mosquitto_message *m, const mosquitto_property *p, void *arg)
{
	(void)p;
	(void)arg;
	return bus_topic_matches(ROOT "/agent/+/reply", m->topic);
}

/* Agents a<first>, a<first + 1>, ...: written to the store where there is
 * one (agentbus records their status in the note), else raw events. */
struct definitions {
	long first;
	enum path path;
};

static int publish_definition(struct load *l, long i, void *arg)
{
	const struct definitions *d = arg;
	char note[300], doc[400];

	i += d->first;
	snprintf(note, sizeof note, "{\"id\":\"def-a%05ld\",\"content\":\"bench\",\"tags\":"
		 "[\"agent/definition\"],\"metadata\":{\"name\":\"a%05ld\"}}", i, i);
	if (d->path == PATH_STORE)
		snprintf(doc, sizeof doc, "{\"op\":\"create\",\"request_id\":\"def-%ld\","
			 "\"note\":%s}", i, note);
	else
		snprintf(doc, sizeof doc, "{\"event\":\"note.created\",\"note\":%s}", note);
	return publish_doc(l, d->path == PATH_STORE ? WRITES : EVENTS, doc, ENCODING_JSON);
}

static bool is_definition(const struct mosquitto_message *m, const mosquitto_property *p,
			  void *arg)
{
	(void)p;
	(void)arg;
	return bus_topic_matches(ROOT "/agent/+/definition", m->topic) && m->payloadlen > 0;
}

static int publish_inbox(struct load *l, long i, void *arg)
{
	(void)i;
	(void)arg;
	return load_publish(l, ROOT "/agent/a00000/inbox", "hi", 2, NULL, "bench/answer");
}

static bool is_answer(const struct mosquitto_message *m, const mosquitto_property *p, void *arg)
{
	(void)p;
	(void)arg;
	return strcmp(m->topic, "bench/answer") == 0;
}

static int publish_self(struct load *l, long i, void *arg)
{
	(void)i;
	(void)arg;
	return load_publish(l, "bench/self", "{\"ping\":1}", 10, NULL, NULL);
}

static bool is_self(const struct mosquitto_message *m, const mosquitto_property *p, void *arg)
{
	(void)p;
	(void)arg;
	return strcmp(m->topic, "bench/self") == 0;
}

static void run_all(struct bench *b, long n, int window, load_publish_fn *pub,
		    load_match_fn *match, void *arg, int64_t *lat, const char *what)
{
	long done = load_run(b->l, n, window, pub, match, arg, lat, RUN_TIMEOUT_MS);

	if (done < n) {
		fprintf(stderr, "bench: %s: %ld of %ld done within %d s\n", what, done, n,
			RUN_TIMEOUT_MS / 1000);
		exit(1);
	}
}

/* --- agentbus ---------------------------------------------------------------------- */

struct daemon {
	struct th_daemon d;
	char *state;
	enum payload_encoding enc;
	enum path path;		/* raw events: the vault is elsewhere (--no-store) */
};

static void daemon_start(struct bench *b, struct daemon *a)
{
	char port[16], id[32];
	const char *args[] = { "-p", port, "--id", id, "--state-dir", a->state,
			       "--max-turns", "64", "--queue-limit", "1000000",
			       "--max-queued", "1000000", "--no-demo", "--encoding",
			       a->enc == ENCODING_MSGPACK ? "msgpack" : "json",
			       a->path == PATH_RAW ? "--no-store" : b->plan.daemon_arg,
			       a->path == PATH_RAW ? b->plan.daemon_arg : NULL, NULL };

	snprintf(port, sizeof port, "%d", b->port);
	/* An id per state dir: a session left by an earlier daemon (with its
	 * subscriptions) must not be resumed by another. */
	snprintf(id, sizeof id, "bench-%s", strrchr(a->state, '-') + 1);
	th_daemon_start(&a->d, args);
	/* On a new session the broker drops what is published before agentbus's
	 * SUBSCRIBE reached it: wait for the SUBACKs, not the CONNACK. */
	if (!th_daemon_wait_output(&a->d, false, "subscriptions confirmed", TH_TIMEOUT_MS)) {
		fprintf(stderr, "bench: agentbus did not subscribe\n");
		exit(1);
	}
}

static void daemon_stop(struct daemon *a)
{
	if (!th_daemon_stop_cleanly(&a->d, SIGTERM)) {
		fprintf(stderr, "bench: agentbus did not stop cleanly\n");
		exit(1);
	}
	th_daemon_free(&a->d);
}

static void daemon_open(struct bench *b, struct daemon *a, enum payload_encoding enc,
			enum path path, int agents)
{
	memset(a, 0, sizeof *a);
	a->state = th_tmpdir("bench-state");
	a->enc = enc;
	a->path = path;
	daemon_start(b, a);
	run_all(b, agents, WINDOW, publish_definition, is_definition,
		&(struct definitions){ 0, path }, NULL, "definitions");
}

static void daemon_close(struct daemon *a)
{
	daemon_stop(a);
	free(a->state);
}

/* --- the measurements ------------------------------------------------------------- */

struct rate {
	struct figure per_s, msgs, share, ab_cpu, broker_cpu, disk_kb, syncs;
};

static void throughput_once(struct bench *b, struct daemon *a, int agents, long n,
			    double baseline, struct rate *r)
{
	struct turn_load t = { b, a->path, a->enc, agents, ++b->run_id };
	struct load_sys s0, s1;
	struct sync_counter sc;
	int64_t ab0, br0, t0, t1;
	long long io0;
	long syncs, msgs;

	load_sys_quiet(b->l, &s0);
	io0 = io_write_bytes(a->d.pid);
	sync_count_start(&sc, a->d.pid);
	ab0 = cpu_ns(a->d.pid);
	br0 = cpu_ns(b->broker.child.pid);
	t0 = now_ns();
	run_all(b, n, WINDOW, publish_inbound, is_reply, &t, NULL, "turns");
	t1 = now_ns();
	load_sys_quiet(b->l, &s1);
	syncs = sync_count_stop(&sc);
	msgs = load_sys_messages(&s0, &s1);
	put(&r->per_s, (double)n / ((double)(t1 - t0) / 1e9));
	put(&r->msgs, (double)msgs / (double)n);
	/* No baseline (--only): no share. */
	put(&r->share, baseline <= 0 ? -1 : 100.0 * (double)msgs / ((double)(t1 - t0) / 1e9) /
						    baseline);
	/* Both CPUs over the whole stretch, the quiet tail included. */
	put(&r->ab_cpu, (double)(cpu_ns(a->d.pid) - ab0) / (double)n / 1000.0);
	put(&r->broker_cpu, (double)(cpu_ns(b->broker.child.pid) - br0) / (double)n / 1000.0);
	put(&r->disk_kb, (double)(io_write_bytes(a->d.pid) - io0) / (double)n / 1024.0);
	put(&r->syncs, syncs < 0 ? -1 : (double)syncs / (double)n);
}

struct latency {
	struct figure p50, p90, p99, max;
};

static void latency_once(struct bench *b, long n, struct latency *out)
{
	int64_t *lat = calloc((size_t)n, sizeof *lat);
	struct result r;

	need(lat, "memory");
	run_all(b, n, 1, publish_inbox, is_answer, NULL, lat, "sequential turns");
	summarise(&r, lat, (int)n, -1);
	put(&out->p50, r.p50_us);
	put(&out->p90, r.p90_us);
	put(&out->p99, r.p99_us);
	put(&out->max, r.max_us);
	free(lat);
}

/* The baseline responder makes the hops an inbox turn makes through the
 * broker, with nothing in between: inbox in, a write to itself (agentbus:
 * the inbound note to its store), an event to itself (the store's event
 * back to the runtime), the answer out on the response topic. */
struct responder {
	struct load *l;
	char *response_topic;	/* of the message on its way */
};

static bool answer(const struct mosquitto_message *m, const mosquitto_property *p, void *arg)
{
	struct responder *r = arg;
	char *rt = NULL;

	if (strcmp(m->topic, "bench/hop/write") == 0) {
		load_publish(r->l, "bench/hop/event", m->payload, (size_t)m->payloadlen, NULL, NULL);
	} else if (strcmp(m->topic, "bench/hop/event") == 0) {
		if (r->response_topic)
			load_publish(r->l, r->response_topic, m->payload, (size_t)m->payloadlen,
				     NULL, NULL);
	} else if (mosquitto_property_read_string(p, MQTT_PROP_RESPONSE_TOPIC, &rt, false) && rt) {
		free(r->response_topic);
		r->response_topic = rt;
		load_publish(r->l, "bench/hop/write", m->payload, (size_t)m->payloadlen, NULL, NULL);
	}
	return false;
}

/* Returns once the responder's subscription is confirmed. */
static pid_t responder_start(int port)
{
	int ready[2];
	pid_t pid;
	char c;

	if (pipe(ready) != 0 || (pid = fork()) < 0) {
		perror("bench: responder");
		exit(1);
	}
	if (pid == 0) {
		struct responder r = { load_open(port, "bench-responder"), NULL };

		load_subscribe(r.l, ROOT "/agent/a00000/inbox");
		load_subscribe(r.l, "bench/hop/+");
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		load_run(r.l, 1L << 40, 0, NULL, answer, &r, NULL, 600000);
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "bench: the responder did not start\n");
		exit(1);
	}
	close(ready[0]);
	return pid;
}

static void responder_stop(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/* --- the report ------------------------------------------------------------------- */

static void row(const char *name, const struct figure *f, const char *unit)
{
	char buf[96];

	printf("| %-46s | %-30s |\n", name, fmt(f, unit, buf, sizeof buf));
}

static void target(const char *what, bool met, const char *detail)
{
	printf("| %-46s | %-7s | %s |\n", what, met ? "met" : "NOT met", detail);
}

static void print_rate(const char *name, const struct rate *r)
{
	char b1[64], b2[64], b3[64], b4[64], b5[64], b6[64], b7[64];

	printf("| %-28s | %-22s | %-16s | %-18s | %-18s | %-18s | %-16s | %-16s |\n", name,
	       fmt(&r->per_s, "", b1, sizeof b1), fmt(&r->msgs, "", b2, sizeof b2),
	       fmt(&r->share, "%", b3, sizeof b3), fmt(&r->ab_cpu, "", b4, sizeof b4),
	       fmt(&r->broker_cpu, "", b5, sizeof b5), fmt(&r->disk_kb, "", b6, sizeof b6),
	       fmt(&r->syncs, "", b7, sizeof b7));
}

static void print_latency(const char *name, const struct latency *l)
{
	char b1[64], b2[64], b3[64], b4[64];

	printf("| %-34s | %-20s | %-20s | %-20s | %-20s |\n", name, fmt(&l->p50, "", b1, sizeof b1),
	       fmt(&l->p90, "", b2, sizeof b2), fmt(&l->p99, "", b3, sizeof b3),
	       fmt(&l->max, "", b4, sizeof b4));
}

/* --- main ------------------------------------------------------------------------- */

struct results {
	struct figure base_rate, base_cpu;
	struct rate store[3], raw[3], mp_store, mp_raw, scale_store;
	struct latency resp, lat_json, lat_mp, lat_scale;
	struct figure start_s, rss_per_agent, rss_idle, rss_first, rss_last;
};

static const int agent_counts[3] = { 1, 10, 100 };

static void measure_baseline(struct bench *b, struct results *res)
{
	for (int r = 0; r < b->plan.runs; r++) {
		long n = b->plan.turns * 10;
		struct load_sys s0, s1;
		int64_t br0, t0, t1;

		load_sys_quiet(b->l, &s0);
		br0 = cpu_ns(b->broker.child.pid);
		t0 = now_ns();
		run_all(b, n, WINDOW, publish_self, is_self, NULL, NULL, "baseline");
		t1 = now_ns();
		load_sys_quiet(b->l, &s1);
		put(&res->base_rate, (double)load_sys_messages(&s0, &s1) / ((double)(t1 - t0) / 1e9));
		put(&res->base_cpu, (double)(cpu_ns(b->broker.child.pid) - br0) /
				    (double)load_sys_messages(&s0, &s1) / 1000.0);
	}
}

static void measure_latency(struct bench *b, struct latency *out)
{
	latency_once(b, b->plan.sequential / 10, &(struct latency){ 0 });	/* warm up */
	for (int r = 0; r < b->plan.runs; r++)
		latency_once(b, b->plan.sequential, out);
}

static void measure_rates(struct bench *b, struct daemon *a, int agents, struct rate *out,
			  double baseline)
{
	struct rate warm = { 0 };

	throughput_once(b, a, agents, b->plan.turns / 5, baseline, &warm);
	for (int r = 0; r < b->plan.runs; r++)
		throughput_once(b, a, agents, b->plan.turns, baseline, out);
}

/* A daemon of its own for one row. */
static void measure_row(struct bench *b, enum payload_encoding enc, enum path path, int agents,
			struct rate *out, struct latency *lat, double baseline)
{
	struct daemon a;

	daemon_open(b, &a, enc, path, agents);
	if (lat)
		measure_latency(b, lat);
	measure_rates(b, &a, agents, out, baseline);
	daemon_close(&a);
}

static void measure_scale(struct bench *b, struct results *res, double baseline)
{
	struct daemon a;
	long rss1;

	daemon_open(b, &a, ENCODING_JSON, PATH_STORE, 1);
	rss1 = th_rss_kb(a.d.pid);
	run_all(b, b->plan.scale_agents - 1, WINDOW, publish_definition, is_definition,
		&(struct definitions){ 1, PATH_STORE }, NULL, "definitions");
	put(&res->rss_per_agent, (double)(th_rss_kb(a.d.pid) - rss1) * 1024.0 /
				 (double)(b->plan.scale_agents - 1));
	measure_latency(b, &res->lat_scale);
	measure_rates(b, &a, 10, &res->scale_store, baseline);
	for (int r = 0; r < b->plan.runs; r++) {
		int64_t t0;

		daemon_stop(&a);
		t0 = now_ns();
		daemon_start(b, &a);
		put(&res->start_s, (double)(now_ns() - t0) / 1e9);
	}
	daemon_close(&a);
}

static void measure_rss(struct bench *b, struct results *res, double baseline)
{
	struct daemon a;
	struct rate ignored = { 0 };

	daemon_open(b, &a, ENCODING_JSON, PATH_STORE, 10);
	put(&res->rss_idle, (double)th_rss_kb(a.d.pid));
	throughput_once(b, &a, 10, b->plan.rss_first, baseline, &ignored);
	put(&res->rss_first, (double)th_rss_kb(a.d.pid));
	throughput_once(b, &a, 10, b->plan.rss_last - b->plan.rss_first, baseline, &ignored);
	put(&res->rss_last, (double)th_rss_kb(a.d.pid));
	daemon_close(&a);
}

static void measure(struct bench *b, struct results *res)
{
	pid_t responder;
	double baseline;

	measure_baseline(b, res);
	baseline = median(&res->base_rate);
	responder = responder_start(b->port);
	measure_latency(b, &res->resp);
	responder_stop(responder);

	for (int i = 0; i < 3; i++) {
		measure_row(b, ENCODING_JSON, PATH_STORE, agent_counts[i], &res->store[i],
			    i == 0 ? &res->lat_json : NULL, baseline);
		measure_row(b, ENCODING_JSON, PATH_RAW, agent_counts[i], &res->raw[i], NULL,
			    baseline);
	}
	measure_row(b, ENCODING_MSGPACK, PATH_STORE, 10, &res->mp_store, &res->lat_mp, baseline);
	measure_row(b, ENCODING_MSGPACK, PATH_RAW, 10, &res->mp_raw, NULL, baseline);
	measure_scale(b, res, baseline);
	measure_rss(b, res, baseline);
}

/* The throughput, CPU and disk targets for one row. */
static void rate_targets(const char *path, const struct rate *r)
{
	double share = median(&r->share), ab = median(&r->ab_cpu), br = median(&r->broker_cpu);
	double disk = median(&r->disk_kb);
	char what[96], d[160];

	snprintf(what, sizeof what, "%s: throughput ≥ 50%% of the broker", path);
	snprintf(d, sizeof d, "%.1f%% of the bare broker's QoS 1 rate", share);
	target(what, share >= 50, d);
	snprintf(what, sizeof what, "%s: CPU per turn ≤ the broker's", path);
	snprintf(d, sizeof d, "agentbus %.0f µs, broker %.0f µs per turn", ab, br);
	target(what, ab <= br, d);
	snprintf(what, sizeof what, "%s: disk ≤ 32 KB per turn", path);
	snprintf(d, sizeof d, "%.1f KB per turn", disk);
	target(what, disk <= 32, d);
}

static void report_targets(const struct bench *b, const struct results *res)
{
	double p50 = median(&res->lat_json.p50), rp50 = median(&res->resp.p50);
	double p99 = median(&res->lat_json.p99);
	double lat10k = median(&res->lat_scale.p50) / p50 - 1;
	double thr10k = 1 - median(&res->scale_store.per_s) / median(&res->store[1].per_s);
	double rss = median(&res->rss_per_agent), start = median(&res->start_s);
	double flat = median(&res->rss_last) / median(&res->rss_first) - 1;
	char d[160];

	printf("\n| target (10 agents, JSON)                       | result  | measured |\n"
	       "|---|---|---|\n");
	rate_targets("store", &res->store[1]);
	rate_targets("raw events", &res->raw[1]);
	snprintf(d, sizeof d, "p50 %.0f µs = %.1f× the responder's %.0f µs", p50, p50 / rp50, rp50);
	target("latency p50 ≤ 10× the bare responder", p50 <= 10 * rp50, d);
	snprintf(d, sizeof d, "p99 %.0f µs", p99);
	target("latency p99 ≤ 3 ms", p99 <= 3000, d);
	snprintf(d, sizeof d, "%d agents: p50 latency %+.1f%%, turns/s %+.1f%%",
		 b->plan.scale_agents, 100 * lat10k, -100 * thr10k);
	target("10,000 agents cost ≤ 10%", lat10k <= 0.10 && thr10k <= 0.10, d);
	snprintf(d, sizeof d, "%.0f bytes RSS per agent", rss);
	target("≤ 4 KiB RSS per agent", rss <= 4096, d);
	snprintf(d, sizeof d, "%.2f s from start to online", start);
	target("start with 10,000 agents ≤ 1 s", start <= 1.0, d);
	snprintf(d, sizeof d, "%+.1f%% between %ld and %ld turns", 100 * flat, b->plan.rss_first,
		 b->plan.rss_last);
	target("RSS flat (±5%)", flat <= 0.05 && flat >= -0.05, d);
}

static void report(const struct bench *b, const struct results *res)
{
	static const char *const names[3] = { "1 agent", "10 agents", "100 agents" };
	char name[64];

	printf("\n## Throughput: echo turns, %d inbound in flight, %ld turns per run, "
	       "medians of %d runs (min–max)\n\n", WINDOW, b->plan.turns, b->plan.runs);
	row("baseline: bare broker, QoS 1 messages/s", &res->base_rate, "");
	row("baseline: broker CPU µs per message", &res->base_cpu, "");
	printf("\n| %-28s | %-22s | %-16s | %-18s | %-18s | %-18s | %-16s | %-16s |\n"
	       "|---|---|---|---|---|---|---|---|\n", "path, agents", "turns/s", "msgs/turn",
	       "% of broker", "agentbus CPU µs/turn", "broker CPU µs/turn", "KB written/turn",
	       "fsyncs/turn");
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof name, "store, %s", names[i]);
		print_rate(name, &res->store[i]);
		snprintf(name, sizeof name, "raw events, %s", names[i]);
		print_rate(name, &res->raw[i]);
	}
	print_rate("MessagePack: store, 10 agents", &res->mp_store);
	print_rate("MessagePack: raw, 10 agents", &res->mp_raw);
	snprintf(name, sizeof name, "%d registered: store, 10", b->plan.scale_agents);
	print_rate(name, &res->scale_store);

	printf("\n## Latency: %ld sequential inbox turns (µs), medians of %d runs\n\n"
	       "| %-34s | %-20s | %-20s | %-20s | %-20s |\n|---|---|---|---|---|\n",
	       b->plan.sequential, b->plan.runs, "", "p50", "p90", "p99", "max");
	print_latency("baseline: responder, same 4 hops", &res->resp);
	print_latency("agentbus, JSON", &res->lat_json);
	print_latency("agentbus, MessagePack", &res->lat_mp);
	snprintf(name, sizeof name, "agentbus, %d agents registered", b->plan.scale_agents);
	print_latency(name, &res->lat_scale);

	printf("\n## Scale and memory\n\n| %-46s | %-30s |\n|---|---|\n", "", "");
	snprintf(name, sizeof name, "RSS per registered agent (bytes, %d)", b->plan.scale_agents);
	row(name, &res->rss_per_agent, "");
	snprintf(name, sizeof name, "start to online with %d agents (s)", b->plan.scale_agents);
	row(name, &res->start_s, "");
	row("RSS idle, 10 agents (KiB)", &res->rss_idle, "");
	snprintf(name, sizeof name, "RSS after %ld turns (KiB)", b->plan.rss_first);
	row(name, &res->rss_first, "");
	snprintf(name, sizeof name, "RSS after %ld turns (KiB)", b->plan.rss_last);
	row(name, &res->rss_last, "");
	report_targets(b, res);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_bus [--short] [-r RUNS] [-n TURNS] [--only store|raw AGENTS]"
			" [--daemon-arg ARG]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench b = { .plan = { .runs = 3, .turns = 5000, .sequential = 2000,
				     .scale_agents = 10000, .rss_first = 10000,
				     .rss_last = 100000 } };
	struct results *res = calloc(1, sizeof *res);

	need(res, "memory");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--short") == 0)
			b.plan = (struct plan){ .runs = 1, .turns = 300, .sequential = 200,
						.scale_agents = 200, .rss_first = 500,
						.rss_last = 1500 };
		else if (strcmp(argv[i], "--only") == 0 && i + 2 < argc) {
			b.plan.only = argv[++i];
			b.plan.only_agents = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--daemon-arg") == 0 && i + 1 < argc)
			b.plan.daemon_arg = argv[++i];
		else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
			b.plan.runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			b.plan.turns = atol(argv[++i]);
		else
			usage();
	}
	if (b.plan.runs < 1 || b.plan.runs > MAX_RUNS || b.plan.turns < 100)
		usage();
	/* The broker as the baseline wants it: no in-flight or queue
	 * limit, $SYS every second for the message counts. */
	th_broker_start_with(&b.broker, "bench-broker",
			     "max_inflight_messages 0\nmax_queued_messages 0\nsys_interval 1\n");
	b.port = b.broker.child.port;
	b.l = load_open(b.port, "bench-load");
	load_subscribe(b.l, ROOT "/agent/+/reply");
	load_subscribe(b.l, ROOT "/agent/+/definition");
	load_subscribe(b.l, "bench/self");
	load_subscribe(b.l, "bench/answer");
	if (b.plan.only) {
		struct rate r = { 0 };
		char name[64];

		measure_row(&b, ENCODING_JSON, strcmp(b.plan.only, "raw") == 0 ? PATH_RAW : PATH_STORE,
			    b.plan.only_agents, &r, NULL, 0);
		snprintf(name, sizeof name, "%s, %d agents", b.plan.only, b.plan.only_agents);
		print_rate(name, &r);
	} else {
		measure(&b, res);
		report(&b, res);
	}
	load_close(b.l);
	th_broker_free(&b.broker);
	free(res);
	return 0;
}
