/* bench_engines: what a streamed API turn costs in agentbus, against the
 * same call made directly with libcurl in the same run.
 *
 *   direct    a POST to a local OpenAI-compatible server (test/llm_server.c,
 *             answering at once: three text chunks, usage, [DONE]), read to
 *             the end: the floor any client pays. CPU: this thread's.
 *   echo      a turn on the echo engine (event in -> reply out): agentbus's
 *             own cost per turn without an engine call.
 *   openai    the same turn on the openai engine against that server:
 *             request, SSE parsing, text events, usage and cost, history.
 *
 * Loopback only; every loop is bounded by -n. The engine's overhead is the
 * openai row less the echo row; the direct row says what the call itself
 * costs. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/measure.h"
#include "test/harness.h"
#include "test/llm_server.h"

#define EVENTS "parachute/vault/default/event/note.created"

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void direct(int port, int n, struct result *r)
{
	static const char body[] = "{\"model\":\"test\",\"stream\":true,\"stream_options\":"
				   "{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
				   "\"content\":\"hello\"}]}";
	int64_t *lat = calloc((size_t)n, sizeof *lat), cpu0 = thread_cpu_ns();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char url[128];
	CURL *c = curl_easy_init();

	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	for (int i = 0; i < n; i++) {
		int64_t t0 = now_ns();

		if (curl_easy_perform(c) != CURLE_OK) {
			fprintf(stderr, "bench: the direct call failed\n");
			exit(1);
		}
		lat[i] = now_ns() - t0;
	}
	summarise(r, lat, n, thread_cpu_ns() - cpu0);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(lat);
}

static void define(struct th_client *c, const char *name, const char *engine)
{
	char ev[512];

	snprintf(ev, sizeof ev, "{\"event\":\"note.created\",\"note\":{\"id\":\"def-%s\","
		 "\"content\":\"bench\",\"tags\":[\"agent/definition\"],\"metadata\":"
		 "{\"name\":\"%s\",\"engine\":\"%s\",\"mode\":\"multi-threaded\"}}}", name, name,
		 engine);
	th_client_publish_text(c, EVENTS, ev);
}

/* `n` sequential turns on `agent`, each its own thread (no history). */
static void turns(struct th_client *c, pid_t daemon, const char *agent, int n, int *seq,
		  struct result *r)
{
	int64_t *lat = calloc((size_t)n, sizeof *lat), cpu0 = cpu_ns(daemon);
	char ev[512], want[64], topic[96];

	snprintf(topic, sizeof topic, "parachute/agent/%s/reply", agent);
	for (int i = 0; i < n; i++, (*seq)++) {
		int64_t t0 = now_ns();
		struct th_msg *m;

		snprintf(ev, sizeof ev, "{\"event\":\"note.created\",\"note\":{\"id\":\"in-%d\","
			 "\"content\":\"hello\",\"tags\":[\"agent/message\",\"agent/message/inbound\"],"
			 "\"metadata\":{\"agent\":\"%s\",\"sender\":\"bench\"}}}", *seq, agent);
		snprintf(want, sizeof want, "\"in_reply_to\":\"in-%d\"", *seq);
		th_client_publish_text(c, EVENTS, ev);
		m = th_client_wait_for(c, topic, want, TH_TIMEOUT_MS);
		need(m, "reply");
		lat[i] = now_ns() - t0;
		th_msg_free(m);
	}
	summarise(r, lat, n, cpu_ns(daemon) - cpu0);
	free(lat);
}

int main(int argc, char **argv)
{
	int n = argc > 2 && strcmp(argv[1], "-n") == 0 ? atoi(argv[2]) : 1000, seq = 0;
	struct result res[3] = { { .name = "direct curl of the server" },
				 { .name = "turn, echo engine" },
				 { .name = "turn, openai engine (streamed)" } }, warm;
	char *state = th_tmpdir("bench-engines"), port[16], def[160];
	struct llm_server *llm = llm_start();
	struct th_broker b;
	struct th_client c;
	struct th_daemon d;

	if (n < 100)
		n = 100;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	direct(llm_port(llm), n / 10, &warm);
	direct(llm_port(llm), n, &res[0]);

	th_broker_start(&b, "bench-broker", false);
	th_client_open(&c, b.child.port, "parachute/agent/+/reply");
	th_client_subscribe(&c, "parachute/agent/+/definition");
	snprintf(port, sizeof port, "%d", b.child.port);
	snprintf(def, sizeof def, "oa openai base_url=http://127.0.0.1:%d/v1 model=test "
		 "price_in=1 price_out=2", llm_port(llm));
	{
		const char *args[] = { "-p", port, "--id", "bench", "--state-dir", state,
				       "--no-store", "--engine-def", def, NULL };

		th_daemon_start(&d, args);
	}
	need((void *)(intptr_t)th_daemon_wait_output(&d, false, "subscriptions confirmed",
						     TH_TIMEOUT_MS), "subscriptions");
	define(&c, "eng", "echo");
	define(&c, "llm", "oa");
	need(th_client_wait_for(&c, "parachute/agent/llm/definition", "enabled", TH_TIMEOUT_MS),
	     "registration");
	turns(&c, d.pid, "eng", n / 10, &seq, &warm);
	turns(&c, d.pid, "eng", n, &seq, &res[1]);
	turns(&c, d.pid, "llm", n / 10, &seq, &warm);
	turns(&c, d.pid, "llm", n, &seq, &res[2]);
	th_daemon_stop(&d, SIGTERM);
	th_daemon_free(&d);

	printf("%-34s %9s %9s %9s %11s %9s\n", "", "mean us", "p50 us", "p99 us", "CPU us/item",
	       "x direct");
	for (int i = 0; i < 3; i++)
		printf("%-34s %9.1f %9.1f %9.1f %11.1f %9.2f\n", res[i].name, res[i].mean_us,
		       res[i].p50_us, res[i].p99_us, res[i].cpu_us, res[i].mean_us / res[0].mean_us);
	printf("engine overhead per streamed turn (openai - echo): %.1f us latency, %.1f us "
	       "agentbus CPU; the direct call: %.1f us, %.1f us client CPU\n",
	       res[2].mean_us - res[1].mean_us, res[2].cpu_us - res[1].cpu_us, res[0].mean_us,
	       res[0].cpu_us);
	printf("(n = %d per row, loopback; the server answers at once)\n", n);
	th_client_close(&c);
	th_broker_free(&b);
	llm_stop(llm);
	curl_global_cleanup();
	free(state);
	return 0;
}
