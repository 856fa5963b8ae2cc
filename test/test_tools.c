/* test_tools: the subcommands people type, against a real broker and a
 * running agentbus: agentbus agents and status (tables and --json), and
 * agentbus ask with the echo engine, with a failing engine, with a timeout,
 * for an unknown agent, and against a broker that is not there. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test/check.h"
#include "test/rig.h"

/* Runs agentbus with `args` to the end; returns its exit status. */
static int run_tool(const char *const *args, char **out, char **err)
{
	const char *argv[16] = { th_agentbus_bin() };
	int n = 1, status;

	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	status = th_run(argv, out, err);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_listings(struct rig *r)
{
	const char *agents[] = { "agents", "-p", r->port, NULL };
	const char *json[] = { "agents", "--json", "-p", r->port, NULL };
	const char *status[] = { "status", "-p", r->port, NULL };
	char *out, *err;
	cJSON *list;

	CHECK_INT(run_tool(agents, &out, &err), 0);
	CHECK_CONTAINS(out, "NAME ");
	CHECK_CONTAINS(out, "eng                  enabled  single-threaded  echo");
	CHECK_CONTAINS(out, "mode must be \"single-threaded\" or \"multi-threaded\"");
	free(out);
	free(err);
	CHECK_INT(run_tool(json, &out, &err), 0);
	list = cJSON_Parse(out);
	CHECK(cJSON_IsArray(list) && cJSON_GetArraySize(list) == 3);
	cJSON_Delete(list);
	free(out);
	free(err);
	CHECK_INT(run_tool(status, &out, &err), 0);
	CHECK_CONTAINS(out, "rig                  online");
	free(out);
	free(err);
	{
		const char *status_json[] = { "status", "--json", "-p", r->port, NULL };

		CHECK_INT(run_tool(status_json, &out, &err), 0);
		list = cJSON_Parse(out);
		CHECK(cJSON_IsArray(list) && cJSON_GetArraySize(list) == 1);
		CHECK_STR(rig_str(cJSON_GetArrayItem(list, 0), "instance", NULL), "rig");
		CHECK_STR(rig_str(cJSON_GetArrayItem(list, 0), "state", NULL), "online");
		cJSON_Delete(list);
		free(out);
		free(err);
	}
}

static void test_ask(struct rig *r, const char *gate)
{
	const char *echo[] = { "ask", "eng", "hello there", "-p", r->port, NULL };
	const char *json[] = { "ask", "eng", "as json", "--json", "--subject", "plans", "-p",
			       r->port, NULL };
	const char *ghost[] = { "ask", "ghost", "anyone?", "-p", r->port, NULL };
	const char *fail[] = { "ask", "slow", "fail me", "-p", r->port, NULL };
	const char *late[] = { "ask", "slow", "too slow", "--timeout", "1", "-p", r->port, NULL };
	struct th_daemon d;
	char *out, *err;
	cJSON *note;

	CHECK_INT(run_tool(echo, &out, &err), 0);
	CHECK_STR(out, "echo: hello there\n");
	free(out);
	free(err);
	CHECK_INT(run_tool(json, &out, &err), 0);
	note = cJSON_Parse(out);
	CHECK_STR(rig_str(note, "content", NULL), "echo: as json");
	CHECK_STR(rig_str(note, "metadata", "agent"), "eng");
	cJSON_Delete(note);
	free(out);
	free(err);
	CHECK_INT(run_tool(ghost, &out, &err), 1);
	CHECK_CONTAINS(err, "no agent named \"ghost\" is registered");
	free(out);
	free(err);

	/* A failing engine: exit 1 with the failure note's text. */
	th_daemon_start(&d, fail);
	cJSON_Delete(rig_expect(r, "parachute/agent/slow/events", NULL, "\"start\""));
	th_gate_release(gate, "!");
	CHECK_INT(WEXITSTATUS(th_daemon_wait_exit(&d, TH_TIMEOUT_MS)), 1);
	CHECK_CONTAINS(d.err, "the turn failed: the gate failed this turn");
	th_daemon_free(&d);

	/* No answer in time: exit 3. */
	CHECK_INT(run_tool(late, &out, &err), 3);
	CHECK_CONTAINS(err, "no answer from slow within 1 s");
	free(out);
	free(err);
	th_gate_release(gate, "1");
}

/* define: front matter to metadata, body to prompt, the registry's verdict. */
static void test_define(struct rig *r)
{
	char *dir = th_tmpdir("define");
	char *good = th_write_file(dir, "helper.md", "---\nmode: multi-threaded\ntimeout: 60\n"
				   "wants:\n  - vault:default:read\n---\n\nYou help.\n");
	char *bad = th_write_file(dir, "worse.md", "---\nname: worse\nmode: sideways\n---\nNo.\n");
	char *none = th_write_file(dir, "none.md", "just text\n");
	const char *one[] = { "define", good, "-p", r->port, NULL };
	const char *two[] = { "define", bad, none, "-p", r->port, NULL };
	char *out, *err;
	cJSON *ev;

	CHECK_INT(run_tool(one, &out, &err), 0);
	CHECK_CONTAINS(out, "helper.md: enabled");
	free(out);
	free(err);
	/* The note, as written through the store: path, prompt, metadata. */
	ev = rig_latest(r, "parachute/vault/default/event/note.created", "\"path\":\"Agents/helper\"");
	REQUIRE(ev != NULL);
	CHECK_STR(rig_str(ev, "note", "content"), "You help.\n");
	CHECK_STR(rig_meta(ev, "mode"), "multi-threaded");
	CHECK_STR(rig_meta(ev, "name"), "helper");
	cJSON_Delete(ev);
	CHECK_INT(run_tool(two, &out, &err), 1);
	CHECK_CONTAINS(out, "worse.md: #agent/definition note");
	CHECK_CONTAINS(out, "mode must be \"single-threaded\" or \"multi-threaded\"");
	CHECK_CONTAINS(err, "none.md: no front matter");
	free(out);
	free(err);
	free(good);
	free(bad);
	free(none);
	free(dir);
}

/* tail follows the turns as they happen, dead letters too. */
static void test_tail(struct rig *r)
{
	const char *args[] = { "tail", "--deadletters", "-p", r->port, NULL };
	const char *json[] = { "tail", "eng", "--json", "--count", "3", "-p", r->port, NULL };
	struct th_daemon d, j;
	int status;

	th_daemon_start(&d, args);
	REQUIRE(th_daemon_wait_output(&d, false, "following turns of every agent", TH_TIMEOUT_MS));
	th_daemon_start(&j, json);
	REQUIRE(th_daemon_wait_output(&j, false, "following turns of the agents named", TH_TIMEOUT_MS));
	rig_send_inbound(r, "tail-1", "eng", "watched", "");
	rig_wait_turn_end(r, "tail-1");
	CHECK(th_daemon_wait_output(&d, true, "eng          start turn", TH_TIMEOUT_MS));
	CHECK(th_daemon_wait_output(&d, true, "eng          text  echo: watched", TH_TIMEOUT_MS));
	CHECK(th_daemon_wait_output(&d, true, "eng          done  in ", TH_TIMEOUT_MS));
	CHECK(th_daemon_wait_output(&d, true, " in / ", TH_TIMEOUT_MS));
	rig_send_inbound(r, "tail-2", "nobody", "lost", "");
	CHECK(th_daemon_wait_output(&d, true, "dead  unknown_agent: ", TH_TIMEOUT_MS));
	status = th_daemon_stop(&d, SIGINT);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(strstr(d.out, "\033[") == NULL);	/* not a terminal: no colours */
	/* --json --count 3: start, text, done as they came, then it ends. */
	CHECK_INT(WEXITSTATUS(th_daemon_wait_exit(&j, TH_TIMEOUT_MS)), 0);
	CHECK_CONTAINS(j.out, "\"kind\":\"start\"");
	CHECK_CONTAINS(j.out, "\"kind\":\"done\"");
	th_daemon_free(&d);
	th_daemon_free(&j);
}

static void test_no_broker(void)
{
	const char *agents[] = { "agents", "-p", "1", NULL };
	const char *ask[] = { "ask", "eng", "hi", "-p", "1", NULL };
	const char *bad[] = { "ask", NULL };
	char *out, *err;

	CHECK_INT(run_tool(agents, &out, &err), 1);
	CHECK_CONTAINS(err, "cannot connect to 127.0.0.1:1");
	free(out);
	free(err);
	CHECK_INT(run_tool(ask, &out, &err), 1);
	free(out);
	free(err);
	CHECK_INT(run_tool(bad, &out, &err), 2);
	CHECK_CONTAINS(err, "usage: agentbus ask");
	free(out);
	free(err);
	{
		/* The daemon's own checks apply to the shared options. */
		const char *port0[] = { "agents", "-p", "0", NULL };

		CHECK_INT(run_tool(port0, &out, &err), 2);
		CHECK_CONTAINS(err, "--port: '0' is not a whole number from 1 to 65535");
		free(out);
		free(err);
	}
	{
		/* Numbers past what the option can hold are usage errors, not
		 * wrapped into something that looks valid. */
		const char *huge[] = { "ask", "eng", "hi", "--timeout", "99999999999", NULL };
		const char *count[] = { "tail", "--count", "5x", NULL };

		CHECK_INT(run_tool(huge, &out, &err), 2);
		CHECK_CONTAINS(err, "usage: agentbus ask");
		free(out);
		free(err);
		CHECK_INT(run_tool(count, &out, &err), 2);
		CHECK_CONTAINS(err, "usage: agentbus tail");
		free(out);
		free(err);
	}
}

int main(void)
{
	const char *extra[] = { "--gate", NULL, NULL };
	struct rig r = { 0 };
	char *gate = rig_start_gated(&r, extra);

	rig_define(&r, "eng");
	rig_define_meta(&r, "slow", ",\"engine\":\"gate\"");
	th_client_publish_text(&r.client, "parachute/vault/default/write",
			       "{\"op\":\"upsert\",\"request_id\":\"def-bad\",\"note\":{\"id\":\"d-bad\","
			       "\"path\":\"Agents/bad\",\"tags\":[\"agent/definition\"],"
			       "\"metadata\":{\"name\":\"bad\",\"mode\":\"sideways\"}}}");
	cJSON_Delete(rig_expect(&r, "parachute/agent/bad/definition", NULL, "error"));
	RUN2(test_listings, &r);
	RUN2(test_define, &r);
	RUN2(test_ask, &r, gate);
	RUN2(test_tail, &r);
	RUN(test_no_broker);
	rig_stop(&r);
	free(gate);
	return check_summary();
}
