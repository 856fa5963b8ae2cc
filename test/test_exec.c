/* test_exec: the exec engine end to end: commands run per turn with the
 * message on stdin and the turn in AGENTBUS_* variables, their output
 * streamed as text events and written as the reply; claude's stream-json
 * through a fake claude (sessions resumed, usage and cost summed on the
 * thread); failures, a hung command ended by the timeout while another agent
 * goes on, cancel, and the output cap. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test/check.h"
#include "test/rig.h"

#define UPDATED "parachute/vault/default/event/note.updated"


static void test_text_format(void)
{
	char *big = malloc(200001);
	const char *const extra[] = {
		"--engine-def", "upper exec format=text command=\"tr a-z A-Z\"",
		"--engine-def", "envy exec format=text model=m-1 command=\"printf '%s|%s|%s|%s' "
				"\\\"$AGENTBUS_AGENT\\\" \\\"$AGENTBUS_MODEL\\\" "
				"\\\"$(cat \\\"$AGENTBUS_SYSTEM_PROMPT_FILE\\\")\\\" \\\"$AGENTBUS_THREAD\\\"\"",
		"--engine-def", "count exec format=text command=\"wc -c\"",
		"--engine-def", "sad exec format=text command=\"echo partial; echo oops >&2; exit 3\"",
		NULL };
	struct rig r = { 0 };
	cJSON *reply;
	char *text;

	rig_start(&r, extra);
	rig_define_meta(&r, "shout", ",\"engine\":\"upper\"");
	rig_send_inbound(&r, "t-1", "shout", "hello world", "");
	reply = rig_reply(&r, "shout", "t-1");
	CHECK_STR(rig_str(reply, "content", NULL), "HELLO WORLD");
	cJSON_Delete(reply);
	text = rig_streamed_text(&r, "shout", "t-1");
	CHECK_STR(text, "HELLO WORLD");
	free(text);

	rig_define_meta(&r, "envy", ",\"engine\":\"envy\"");
	rig_send_inbound(&r, "t-2", "envy", "ignored", "");
	reply = rig_reply(&r, "envy", "t-2");
	/* The body of a definition note is its system prompt: rig writes none,
	 * so the file is empty; the thread is the agent's one thread. */
	CHECK_STR(rig_str(reply, "content", NULL), "envy|m-1||Threads/envy/envy");
	cJSON_Delete(reply);

	/* 200 kB through stdin: written as the pipe takes it. */
	memset(big, 'x', 200000);
	big[200000] = '\0';
	rig_define_meta(&r, "count", ",\"engine\":\"count\"");
	rig_send_inbound(&r, "t-3", "count", big, "");
	reply = rig_reply(&r, "count", "t-3");
	CHECK_CONTAINS(rig_str(reply, "content", NULL), "200000");
	cJSON_Delete(reply);

	rig_define_meta(&r, "sad", ",\"engine\":\"sad\"");
	rig_send_inbound(&r, "t-4", "sad", "try", "");
	reply = rig_reply(&r, "sad", "t-4");
	CHECK_CONTAINS(rig_str(reply, "content", NULL),
		       "the turn failed: the command exited with status 3: oops");
	cJSON_Delete(reply);
	free(big);
	rig_stop(&r);
}

static double meta_number(const cJSON *ev, const char *key)
{
	const char *v = rig_meta(ev, key);

	return v ? strtod(v, NULL) : -1;
}

static void test_claude_stream_json(void)
{
	char *spec = rig_fmt("claude exec format=claude-stream-json model=sonnet command=%s",
			     FAKE_CLAUDE);
	/* A CLI installed outside /usr is bound into the sandboxes by the config. */
	const char *const extra[] = { "--engine-def", spec, "--sandbox-bind", FAKE_CLAUDE, NULL };
	struct rig r = { 0 };
	cJSON *reply, *thread;
	char *text;

	rig_start(&r, extra);
	rig_define_meta(&r, "cl", ",\"engine\":\"claude\"");
	rig_send_inbound(&r, "c-1", "cl", "first", "");
	reply = rig_reply(&r, "cl", "c-1");
	CHECK_STR(rig_str(reply, "content", NULL), "Hello. resumed=none prompt=none model=sonnet");
	cJSON_Delete(reply);
	text = rig_streamed_text(&r, "cl", "c-1");
	CHECK_STR(text, "Hello. resumed=none prompt=none model=sonnet");
	free(text);
	thread = rig_latest(&r, UPDATED, "\"path\":\"Threads/cl/cl\"");
	REQUIRE(thread != NULL);
	CHECK_STR(rig_meta(thread, "session"), "sess-new");
	cJSON_Delete(thread);

	/* The thread's session comes back as --resume; sums grow per turn. */
	rig_send_inbound(&r, "c-2", "cl", "second, with a tool", "");
	reply = rig_reply(&r, "cl", "c-2");
	CHECK_STR(rig_str(reply, "content", NULL), "Hello. resumed=sess-new prompt=none model=sonnet");
	cJSON_Delete(reply);
	rig_send_inbound(&r, "c-3", "cl", "third", "");
	cJSON_Delete(rig_reply(&r, "cl", "c-3"));
	thread = rig_latest(&r, UPDATED, "\"path\":\"Threads/cl/cl\"");
	REQUIRE(thread != NULL);
	CHECK(meta_number(thread, "input_tokens") == 30);
	CHECK(meta_number(thread, "output_tokens") == 15);
	CHECK(meta_number(thread, "total_cost_usd") == 0.75);
	CHECK_STR(rig_meta(thread, "turn_count"), "3");
	cJSON_Delete(thread);

	/* Each way claude fails is one failure note. */
	rig_send_inbound(&r, "c-4", "cl", "is_error please", "");
	reply = rig_reply(&r, "cl", "c-4");
	CHECK_CONTAINS(rig_str(reply, "content", NULL),
		       "the turn failed: claude: success (is_error): Credit balance is too low");
	cJSON_Delete(reply);
	rig_send_inbound(&r, "c-5", "cl", "exit please", "");
	reply = rig_reply(&r, "cl", "c-5");
	CHECK_CONTAINS(rig_str(reply, "content", NULL),
		       "the command exited with status 2: fake_claude: API Error: 500 boom");
	cJSON_Delete(reply);
	rig_send_inbound(&r, "c-6", "cl", "no result please", "");
	reply = rig_reply(&r, "cl", "c-6");
	CHECK_CONTAINS(rig_str(reply, "content", NULL), "the command printed no stream-json result");
	cJSON_Delete(reply);
	rig_stop(&r);
	free(spec);
}

/* Whether process `pid` has ended, waiting up to 10 s on its pidfd, which
 * turns readable when it does. */
static bool process_gone(long pid)
{
	int fd = pidfd_open((pid_t)pid, 0);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	bool gone;

	if (fd < 0)
		return errno == ESRCH;	/* gone and reaped already */
	gone = poll(&p, 1, TH_TIMEOUT_MS) == 1;
	close(fd);
	return gone;
}

/* The pid the command printed first: its first streamed text event. */
static long printed_pid(struct rig *r, const char *agent, const char *id)
{
	char *topic = rig_fmt("parachute/agent/%s/events", agent);
	struct th_msg *m;
	long pid = -1;

	while (pid < 0 && (m = th_client_wait_for(&r->client, topic, id, TH_TIMEOUT_MS)) != NULL) {
		cJSON *ev = cJSON_Parse(m->payload);

		if (strcmp(rig_str(ev, "kind", NULL), "text") == 0)
			pid = strtol(rig_str(ev, "text", NULL), NULL, 10);
		cJSON_Delete(ev);
		th_msg_free(m);
	}
	free(topic);
	return pid;
}

static void test_hung_cancel_and_cap(void)
{
	/* Each prints its pid (the shell's, which sleep then takes over). */
	const char *hang = "hang exec format=text command=\"echo $$; exec sleep 600\"";
	const char *wait = "wait exec format=text command=\"echo $$; exec sleep 600\"";
	const char *const extra[] = { "--engine-def", hang, "--engine-def", wait,
				      "--engine-def", "flood exec format=text max_output=1000 command=yes",
				      /* Unconfined, so the pids printed are the host's; the
				       * sandbox's own end of turns is test_sandbox's. */
				      "--max-turns", "8", "--sandbox", "off", NULL };
	struct rig r = { 0 };
	cJSON *reply;
	long pid;

	rig_start(&r, extra);
	rig_define_meta(&r, "stuck", ",\"engine\":\"hang\",\"timeout\":\"2\"");
	rig_define(&r, "quick");
	rig_define_meta(&r, "patient", ",\"engine\":\"wait\"");
	rig_send_inbound(&r, "h-1", "stuck", "never answered", "");
	pid = printed_pid(&r, "stuck", "h-1");
	REQUIRE(pid > 0);
	reply = rig_reply(&r, "stuck", "h-1");
	CHECK_CONTAINS(rig_str(reply, "content", NULL), "the turn failed: timed out after 2 s");
	cJSON_Delete(reply);
	CHECK_MSG(process_gone(pid), "the timed-out command's process is gone");

	/* Without a timeout to race: another agent's turn completes while the
	 * command hangs, which then ends when cancelled. */
	rig_send_inbound(&r, "w-1", "patient", "wait for it", "");
	pid = printed_pid(&r, "patient", "w-1");
	REQUIRE(pid > 0);
	rig_send_inbound(&r, "h-2", "quick", "meanwhile", "");
	reply = rig_reply(&r, "quick", "h-2");
	CHECK_STR(rig_str(reply, "content", NULL), "echo: meanwhile");
	cJSON_Delete(reply);
	{
		char *proc = rig_fmt("/proc/%ld", pid);

		CHECK_MSG(access(proc, F_OK) == 0, "still running meanwhile");
		free(proc);
	}
	th_client_publish_text(&r.client, "parachute/agent/patient/cancel", "w-1");
	reply = rig_reply(&r, "patient", "w-1");
	CHECK_CONTAINS(rig_str(reply, "content", NULL), "the turn failed: cancelled");
	cJSON_Delete(reply);
	CHECK_MSG(process_gone(pid), "the cancelled command's process is gone");

	rig_define_meta(&r, "flood", ",\"engine\":\"flood\"");
	rig_send_inbound(&r, "f-1", "flood", "go", "");
	reply = rig_reply(&r, "flood", "f-1");
	CHECK_CONTAINS(rig_str(reply, "content", NULL),
		       "the command's output passed max_output (1000 bytes)");
	cJSON_Delete(reply);
	rig_stop(&r);

}

int main(void)
{
	RUN(test_text_format);
	RUN(test_claude_stream_json);
	RUN(test_hung_cancel_and_cap);
	return check_summary();
}
