/* test_metrics: --http serves /metrics in the Prometheus text format, each
 * counter checked against the traffic sent, and /healthz and /readyz follow
 * the broker going away and coming back. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/check.h"
#include "test/httpd.h"
#include "test/rig.h"

/* The value of one series line "name{labels} value", or -1 when absent. */
static double series(const char *text, const char *name_and_labels)
{
	char *want = rig_fmt("\n%s ", name_and_labels);
	const char *p = strstr(text, want);
	double v = p ? strtod(p + strlen(want), NULL) : -1;

	free(want);
	return v;
}

int main(void)
{
	const char *extra[] = { "--gate", NULL, "--http", "127.0.0.1:0", NULL };
	struct rig r = { 0 };
	char *gate, addr[64] = "", *text;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	gate = rig_start_gated(&r, extra);
	rig_http_addr(&r, addr);

	rig_define(&r, "eng");
	rig_define_meta(&r, "slow", ",\"engine\":\"gate\"");
	for (int i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof id, "m-%d", i);
		rig_send_inbound(&r, id, "eng", "count me", "");
		rig_wait_turn_end(&r, id);
	}
	rig_send_inbound(&r, "m-fail", "slow", "fail me", "");
	cJSON_Delete(rig_expect(&r, "parachute/agent/slow/events", NULL, "\"start\""));
	th_gate_release(gate, "!");
	rig_wait_turn_end(&r, "m-fail");
	rig_send_inbound(&r, "m-lost", "nobody", "lost", "");
	cJSON_Delete(rig_expect(&r, "parachute/agentbus/deadletter", NULL, "unknown_agent"));

	CHECK_INT(th_http_get(addr, "/metrics", &text), 200);
	CHECK_CONTAINS(text, "# TYPE agentbus_turns_total counter");
	CHECK_CONTAINS(text, "# TYPE agentbus_turn_duration_seconds histogram");
	CHECK(series(text, "agentbus_turns_total{agent=\"eng\",outcome=\"ok\"}") == 3);
	CHECK(series(text, "agentbus_turns_total{agent=\"slow\",outcome=\"error\"}") == 1);
	CHECK(series(text, "agentbus_turn_duration_seconds_count{agent=\"eng\"}") == 3);
	CHECK(series(text, "agentbus_turn_duration_seconds_bucket{agent=\"eng\",le=\"+Inf\"}") == 3);
	CHECK(series(text, "agentbus_deadletters_total{reason=\"unknown_agent\"}") == 1);
	CHECK(series(text, "agentbus_engine_requests_total{engine=\"echo\"}") == 3);
	CHECK(series(text, "agentbus_engine_errors_total{engine=\"gate\"}") == 1);
	/* echo counts bytes: "count me" in, "echo: count me" out, three times. */
	CHECK(series(text, "agentbus_tokens_total{agent=\"eng\",direction=\"in\"}") == 24);
	CHECK(series(text, "agentbus_tokens_total{agent=\"eng\",direction=\"out\"}") == 42);
	CHECK(series(text, "agentbus_events_total{type=\"note.created\"}") >= 7);
	CHECK(series(text, "agentbus_agents") == 2);
	/* Two definitions; five inbound notes (m-0..2, m-fail, m-lost). */
	CHECK(series(text, "agentbus_triggers_fired_total{trigger=\"definition\"}") >= 2);
	CHECK(series(text, "agentbus_triggers_fired_total{trigger=\"inbound\"}") == 5);
	CHECK(series(text, "agentbus_connected") == 1);
	free(text);

	CHECK_INT(th_http_get(addr, "/healthz", &text), 200);
	CHECK_STR(text, "ok\n");
	free(text);
	CHECK_INT(th_http_get(addr, "/nope", &text), 404);
	free(text);

	/* The broker goes away: unhealthy, with the reason; back: healthy. */
	th_broker_kill(&r.broker);
	REQUIRE(th_daemon_wait_output(&r.daemon, false, "lost the broker", TH_TIMEOUT_MS));
	CHECK_INT(th_http_get(addr, "/healthz", &text), 503);
	CHECK_CONTAINS(text, "not connected to the broker");
	free(text);
	CHECK_INT(th_http_get(addr, "/readyz", &text), 503);
	free(text);
	th_client_close(&r.client);
	th_broker_restart(&r.broker);
	th_client_open(&r.client, r.broker.child.port, "#");
	cJSON_Delete(rig_expect(&r, "parachute/agentbus/status/rig", NULL, "online"));
	CHECK_INT(th_http_get(addr, "/readyz", &text), 200);
	free(text);
	CHECK_INT(th_http_get(addr, "/metrics", &text), 200);
	CHECK(series(text, "agentbus_reconnects_total") == 1);
	free(text);

	rig_stop(&r);
	free(gate);
	curl_global_cleanup();
	return check_summary();
}
