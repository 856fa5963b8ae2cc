/* test_sandbox: exec turns confined by bubblewrap, end to end. What a turn
 * can and cannot reach is asked of the sandbox itself: each agent's command
 * prints what it finds, and the reply note says it. Files it leaves are
 * checked on the host. Runaway processes are looked for in the host's /proc
 * by a marker in their command line. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test/check.h"
#include "test/httpd.h"
#include "test/rig.h"
#include "util/clock.h"

/* An engine running `script` (double quotes in it must be escaped as \"). */
static char *engine(const char *name, const char *script)
{
	return rig_fmt("%s exec format=text command=\"%s\"", name, script);
}

/* The reply's content of a turn of `agent` given `text`. malloc'd. */
static char *ask(struct rig *r, const char *agent, const char *id, const char *text)
{
	cJSON *reply;
	char *content;

	rig_send_inbound(r, id, agent, text, "");
	reply = rig_reply(r, agent, id);
	content = strdup(rig_str(reply, "content", NULL));
	cJSON_Delete(reply);
	return content;
}

static char *public_dir(const char *name, mode_t mode)
{
	char *dir = th_tmpdir(name);

	chmod(dir, mode);
	return dir;
}

/* A directory anyone may read under /var/tmp, which `full` sandboxes see. */
static char *var_tmp_dir(void)
{
	char *dir = strdup("/var/tmp/agentbus-test-XXXXXX");

	REQUIRE(dir && mkdtemp(dir));
	chmod(dir, 0755);
	return dir;
}

static void test_filesystem(void)
{
	/* Not under the build dir, which may be under /tmp: every sandbox has a
	 * /tmp of its own, so a `full` one sees nothing of the host's. */
	char *outside = var_tmp_dir(), *shared = public_dir("shared", 0777);
	char *secret = th_write_file(outside, "secret.txt", "the host's secret");
	char *probe = rig_fmt(
		"echo hi > note.txt && cat note.txt; "
		"cat %s 2>/dev/null || echo NO-SECRET; "
		"echo x > %s/new.txt 2>/dev/null && echo WROTE-HOST || echo HOST-READONLY; "
		"echo y > /rw/out.txt && echo WROTE-MOUNT; "
		"echo z > /ro/out.txt 2>/dev/null && echo WROTE-RO || echo RO-READONLY; "
		"ls $AGENTBUS_STATE_DIR_UNDER_TEST 2>&1; "
		"test -e $AGENTBUS_STATE_DIR_UNDER_TEST/state.db && echo STATE-SEEN || echo STATE-HIDDEN; "
		"ls $AGENTBUS_STATE_DIR_UNDER_TEST/workspaces; "
		"unshare -U true 2>/dev/null && echo USERNS || echo NO-USERNS",
		secret, outside);
	char *spec, *mounts, *text, *host_note;
	struct rig r = { 0 };
	const char *extra[] = { "--engine-def", NULL, NULL };

	/* The state dir is told through the message: the command reads stdin. */
	spec = rig_fmt("probe exec format=text command=\"read AGENTBUS_STATE_DIR_UNDER_TEST; "
		       "%s\"", probe);
	extra[1] = spec;
	rig_start(&r, extra);
	mounts = rig_fmt(",\"engine\":\"probe\",\"mounts\":\"[{\\\"hostPath\\\":\\\"%s\\\","
			 "\\\"mountPath\\\":\\\"/rw\\\",\\\"mode\\\":\\\"rw\\\"},{\\\"hostPath\\\":"
			 "\\\"%s\\\",\\\"mountPath\\\":\\\"/ro\\\",\\\"mode\\\":\\\"ro\\\"}]\"",
			 shared, shared);
	rig_define_meta(&r, "alpha", mounts);
	free(mounts);
	mounts = rig_fmt(",\"engine\":\"probe\",\"filesystem\":\"full\",\"mounts\":\"[{\\\""
			 "hostPath\\\":\\\"%s\\\",\\\"mountPath\\\":\\\"/rw\\\",\\\"mode\\\":"
			 "\\\"rw\\\"},{\\\"hostPath\\\":\\\"%s\\\",\\\"mountPath\\\":\\\"/ro\\\"}]\"",
			 shared, shared);
	rig_define_meta(&r, "beta", mounts);
	free(mounts);
	CHECK_MSG(th_retained_contains(atoi(r.port), "parachute/agent/alpha/definition",
				       "\"sandbox\":\"bwrap\""),
		  "the registry entry says the agent is confined");

	/* filesystem: workspace */
	text = ask(&r, "alpha", "a-1", r.state);
	CHECK_CONTAINS(text, "hi");
	CHECK_CONTAINS(text, "NO-SECRET");
	CHECK_CONTAINS(text, "HOST-READONLY");
	CHECK_CONTAINS(text, "WROTE-MOUNT");
	CHECK_CONTAINS(text, "RO-READONLY");
	CHECK_CONTAINS(text, "STATE-HIDDEN");
	CHECK_CONTAINS(text, "NO-USERNS");
	CHECK_MSG(!strstr(text, "state.db"), "the state dir's files are not listed: %s", text);
	free(text);
	host_note = rig_fmt("%s/workspaces/alpha/note.txt", r.state);
	text = th_read_file(host_note);
	CHECK_STR(text, "hi\n");
	free(text);
	free(host_note);

	/* filesystem: full — the host reads, still not writes, nor the state dir. */
	text = ask(&r, "beta", "b-1", r.state);
	CHECK_CONTAINS(text, "the host's secret");
	CHECK_CONTAINS(text, "HOST-READONLY");
	CHECK_CONTAINS(text, "WROTE-MOUNT");
	CHECK_CONTAINS(text, "RO-READONLY");
	CHECK_CONTAINS(text, "STATE-HIDDEN");
	/* Another agent's workspace is not there: only beta's own. */
	CHECK_MSG(!strstr(text, "alpha"), "alpha's workspace is hidden from beta: %s", text);
	CHECK_CONTAINS(text, "beta");
	free(text);
	{
		char *path = rig_fmt("%s/new.txt", outside);

		CHECK_MSG(access(path, F_OK) != 0, "nothing was written outside the mounts");
		free(path);
		path = rig_fmt("%s/out.txt", shared);
		text = th_read_file(path);
		CHECK_STR(text, "y\n");
		free(text);
		free(path);
	}
	/* A mount may not bring the state dir (other agents' workspaces) back. */
	mounts = rig_fmt(",\"engine\":\"probe\",\"mounts\":[{\"hostPath\":\"%s/workspaces\","
			 "\"mountPath\":\"/peek\"}]", r.state);
	rig_define_meta(&r, "peek", mounts);
	free(mounts);
	text = ask(&r, "peek", "p-1", r.state);
	CHECK_CONTAINS(text, "the turn failed: the mount of ");
	CHECK_CONTAINS(text, "which no sandbox sees");
	free(text);
	rig_stop(&r);
	free(spec);
	free(probe);
	unlink(secret);
	rmdir(outside);
	free(secret);
	free(outside);
	free(shared);
}

/* The engine's named variables reach the command; nothing else of ours. */
static void test_environment(void)
{
	const char *const extra[] = {
		"--engine-def", "envy exec format=text env=TEST_PASSED command=\"env\"", NULL };
	struct rig r = { 0 };
	char *text;

	setenv("TEST_PASSED", "p4ss", 1);
	setenv("TEST_SECRET", "s3cret", 1);
	rig_start(&r, extra);
	rig_define_meta(&r, "envy", ",\"engine\":\"envy\"");
	text = ask(&r, "envy", "e-1", "x");
	CHECK_CONTAINS(text, "TEST_PASSED=p4ss");
	CHECK_CONTAINS(text, "AGENTBUS_AGENT=envy");
	CHECK_CONTAINS(text, "HOME=");
	CHECK_MSG(!strstr(text, "s3cret"), "a variable not named stays out: %s", text);
	free(text);
	rig_stop(&r);
	unsetenv("TEST_PASSED");
	unsetenv("TEST_SECRET");
}

static void test_restricted_network(void)
{
	struct th_httpd *allowed = th_httpd_start(), *other = th_httpd_start();
	char *script = rig_fmt(
		"curl -sS -p http://127.0.0.1:%d/hello 2>&1; echo; "
		"curl -sS -p http://127.0.0.1:%d/hello 2>&1; echo; "
		"curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:%d/hello 2>&1 || echo NO-NETWORK",
		th_httpd_port(allowed), th_httpd_port(other), th_httpd_port(allowed));
	char *spec = engine("net", script), *meta;
	const char *const extra[] = { "--engine-def", spec, NULL };
	struct rig r = { 0 };
	char *text, *refused;

	th_httpd_set(allowed, "/hello", 200, "{\"from\":\"allowed\"}");
	th_httpd_set(other, "/hello", 200, "{\"from\":\"other\"}");
	rig_start(&r, extra);
	meta = rig_fmt(",\"engine\":\"net\",\"network\":\"restricted\",\"egress\":"
		       "\"127.0.0.1:%d, example.invalid\"", th_httpd_port(allowed));
	rig_define_meta(&r, "net", meta);
	text = ask(&r, "net", "n-1", "x");
	CHECK_CONTAINS(text, "{\"from\":\"allowed\"}");
	CHECK_MSG(!strstr(text, "{\"from\":\"other\"}"), "the host not allowed is not reached: %s",
		  text);
	CHECK_CONTAINS(text, "CONNECT tunnel failed, response 403");
	CHECK_CONTAINS(text, "NO-NETWORK");
	CHECK(th_httpd_requests(other, "/hello") == 0);
	refused = rig_fmt("CONNECT 127.0.0.1:%d refused", th_httpd_port(other));
	CHECK_MSG(th_daemon_wait_output(&r.daemon, false, refused, TH_TIMEOUT_MS),
		  "the refusal is logged");
	free(refused);
	free(text);
	rig_stop(&r);
	th_httpd_stop(allowed);
	th_httpd_stop(other);
	free(meta);
	free(spec);
	free(script);
}

/* Host processes but `except` whose command line holds `marker`: their
 * pids in `pids` (at most `cap`), their number returned. */
static int marked(const char *marker, pid_t except, pid_t *pids, int cap)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) != NULL) {
		char path[300], buf[4096];
		FILE *f;
		size_t len;

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || atol(e->d_name) == (long)except)
			continue;
		snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, marker) && n < cap)
			pids[n++] = (pid_t)atol(e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

/* Waits, up to 10 s in all, until no process but `except` (the daemon,
 * whose arguments hold the engine's command) holds `marker`: each one found
 * is awaited on its pidfd, then /proc is read again for any it forked
 * meanwhile. The kernel tears a pid namespace down as its init dies, a
 * moment after the turn has ended. */
static bool marked_gone(const char *marker, pid_t except)
{
	int64_t deadline = clock_mono_ms() + TH_TIMEOUT_MS;
	pid_t pids[512];
	int n;

	while ((n = marked(marker, except, pids, 512)) > 0) {
		struct pollfd p[512];
		int open = 0;

		for (int i = 0; i < n; i++)
			if ((p[open].fd = pidfd_open(pids[i], 0)) >= 0)
				p[open++].events = POLLIN;
		for (int ready = 0; ready < open;) {
			int64_t left = deadline - clock_mono_ms();

			if (left <= 0 || poll(p, (nfds_t)open, (int)left) <= 0)
				break;
			ready = 0;
			for (int i = 0; i < open; i++)
				if (p[i].revents & POLLIN) {
					ready++;
					p[i].events = 0;
				}
		}
		for (int i = 0; i < open; i++)
			close(p[i].fd);
		if (clock_mono_ms() >= deadline)
			return marked(marker, except, pids, 512) == 0;
	}
	return true;
}

static void test_runaway(void)
{
	/* A fork bomb, and a process that left the group and ignores SIGTERM:
	 * the ignored signals pass through its exec, and it needs no fork once
	 * it runs, so the bomb cannot starve it. The shell waits for it, so the
	 * turn can only end by its timeout. The sleep's marker, 900077, is made
	 * by the shell: the daemon's own arguments do not hold it. */
	const char *bomb = "bomb exec format=text command=\"echo started; "
			   "setsid sh -c 'trap \\\"\\\" TERM HUP; exec sleep $((900000+77))' & "
			   "b() { b | b & }; b; wait\"";
	/* 200 children asked for, each sleeping; it prints how many it got. */
	static const char forks[] =
		"import os, time\n"
		"n = 0\n"
		"for i in range(200):\n"
		"    try:\n"
		"        if os.fork() == 0:\n"
		"            time.sleep(30)\n"
		"            os._exit(0)\n"
		"        n += 1\n"
		"    except OSError:\n"
		"        pass\n"
		"print(n)\n";
	char *tools = public_dir("tools", 0755), *script = th_write_file(tools, "forks.py", forks);
	const char *const extra[] = { "--engine-def", bomb, "--engine-def",
				      "count exec format=text command=\"python3 /tools/forks.py\"",
				      "--sandbox-pids", "64", "--max-turns", "8", NULL };
	struct rig r = { 0 };
	char *text, *meta;
	long n;

	chmod(script, 0644);
	rig_start(&r, extra);
	rig_define_meta(&r, "bomb", ",\"engine\":\"bomb\",\"timeout\":\"2\"");
	meta = rig_fmt(",\"engine\":\"count\",\"mounts\":[{\"hostPath\":\"%s\",\"mountPath\":"
		       "\"/tools\"}]", tools);
	rig_define_meta(&r, "count", meta);
	free(meta);
	text = ask(&r, "bomb", "r-1", "x");
	CHECK_CONTAINS(text, "the turn failed: timed out after 2 s");
	free(text);
	CHECK_MSG(marked_gone("sleep 900077", r.daemon.pid),
		  "the process that ignored SIGTERM is gone");
	CHECK_MSG(marked_gone("b | b", r.daemon.pid), "the fork bomb is gone");
	/* At most the limit at once: the rest of the 200 were refused. */
	text = ask(&r, "count", "r-2", "x");
	n = strtol(text, NULL, 10);
	CHECK_MSG(n > 8 && n < 64, "children the sandbox let it have: %ld (limit 64): %s", n, text);
	free(text);
	rig_stop(&r);
	free(script);
	free(tools);
}

/* The daemon killed by SIGKILL takes its sandboxes with it (bwrap's
 * parent-death signal, set by bwrap after the change to the sandbox user
 * cleared ours). The marker is made by the shell, so only the python's
 * command line holds it. */
static void test_daemon_killed(void)
{
	/* The marked process says "up" itself, so it exists when "up" comes. */
	const char *const extra[] = {
		"--engine-def", "hang exec format=text command=\"m=$((987000+1)); exec python3 -c "
				"'import time; print(\\\"up\\\", flush=True); time.sleep(600)' marker-$m\"",
		NULL };
	struct rig r = { 0 };
	struct th_msg *m;
	pid_t pid;

	rig_start(&r, extra);
	rig_define_meta(&r, "hang", ",\"engine\":\"hang\"");
	rig_send_inbound(&r, "k-1", "hang", "x", "");
	m = th_client_wait_for(&r.client, "parachute/agent/hang/events", "\"text\":\"up",
			       TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	th_msg_free(m);
	CHECK(marked("marker-987001", 0, &pid, 1) == 1);
	th_daemon_stop(&r.daemon, SIGKILL);
	CHECK_MSG(marked_gone("marker-987001", 0), "the sandbox died with the daemon");
	th_daemon_free(&r.daemon);
	th_client_close(&r.client);
	th_broker_free(&r.broker);
	free(r.state);
}

/* Two agents' turns are in their sandboxes at the same moment: each waits
 * for the other's mark in a directory both mount. */
static void test_concurrent(void)
{
	char *meet = public_dir("meet", 0777);
	const char *script = "touch /meet/$AGENTBUS_AGENT; other=one; "
			     "[ $AGENTBUS_AGENT = one ] && other=two; i=0; "
			     "while [ ! -e /meet/$other ] && [ $i -lt 500 ]; do sleep 0.02; "
			     "i=$((i+1)); done; [ -e /meet/$other ] && echo met || echo alone";
	char *spec = engine("meet", script), *meta;
	const char *const extra[] = { "--engine-def", spec, NULL };
	struct rig r = { 0 };
	cJSON *one, *two;

	rig_start(&r, extra);
	meta = rig_fmt(",\"engine\":\"meet\",\"mounts\":[{\"hostPath\":\"%s\",\"mountPath\":"
		       "\"/meet\",\"mode\":\"rw\"}]", meet);
	rig_define_meta(&r, "one", meta);
	rig_define_meta(&r, "two", meta);
	rig_send_inbound(&r, "c-1", "one", "x", "");
	rig_send_inbound(&r, "c-2", "two", "x", "");
	one = rig_reply(&r, "one", "c-1");
	two = rig_reply(&r, "two", "c-2");
	CHECK_STR(rig_str(one, "content", NULL), "met\n");
	CHECK_STR(rig_str(two, "content", NULL), "met\n");
	cJSON_Delete(one);
	cJSON_Delete(two);
	rig_stop(&r);
	free(meta);
	free(spec);
	free(meet);
}

/* Whether a registry entry of `agent` saying `text` comes (taking it and
 * those before it off the queue). */
static bool entry_says(struct rig *r, const char *agent, const char *text)
{
	char *topic = rig_fmt("parachute/agent/%s/definition", agent);
	struct th_msg *m = th_client_wait_for(&r->client, topic, text, TH_TIMEOUT_MS);

	free(topic);
	th_msg_free(m);
	return m != NULL;
}

/* Writes definition note d-NAME for an exec agent without waiting for it
 * to be enabled (rig_define_meta would). */
static void define_unchecked(struct rig *r, const char *name)
{
	char *payload = rig_fmt(
		"{\"op\":\"upsert\",\"request_id\":\"def-%s\",\"note\":{\"id\":\"d-%s\",\"path\":\"Agents/%s\","
		"\"tags\":[\"agent/definition\"],\"metadata\":{\"name\":\"%s\",\"engine\":"
		"\"exec\"}}}", name, name, name, name);

	th_client_publish_text(&r->client, "parachute/vault/default/write", payload);
	free(payload);
}

static void test_unavailable(void)
{
	char *dir = public_dir("fake-bwrap", 0755);
	char *fake = th_write_file(dir, "bwrap", "#!/bin/sh\necho 'bwrap: setting up uid map: "
				   "Permission denied' >&2\nexit 1\n");
	const char *const missing[] = { "--sandbox-bwrap", "/nonexistent/bwrap", NULL };
	const char *const refused[] = { "--sandbox-bwrap", fake, NULL };
	const char *const off[] = { "--sandbox", "off", "--sandbox-bwrap", "/nonexistent/bwrap",
				    NULL };
	struct rig r = { 0 };

	chmod(fake, 0755);
	rig_start(&r, missing);
	define_unchecked(&r, "lost");
	CHECK_MSG(entry_says(&r, "lost", "bubblewrap is not installed (no /nonexistent/bwrap)"),
		  "a missing bwrap is the registry's error");
	CHECK(th_retained_contains(atoi(r.port), "parachute/agent/lost/definition",
				   "\"status\":\"error\""));
	/* Agents whose engines run no process are not concerned. */
	rig_define(&r, "plain");
	rig_stop(&r);

	memset(&r, 0, sizeof r);
	rig_start(&r, refused);
	define_unchecked(&r, "lost");
	CHECK_MSG(entry_says(&r, "lost", "setting up uid map: Permission denied"),
		  "bwrap's own words are in the registry's error");
	rig_stop(&r);

	memset(&r, 0, sizeof r);
	rig_start(&r, off);
	define_unchecked(&r, "free");
	CHECK_MSG(entry_says(&r, "free", "\"sandbox\":\"off\""),
		  "the registry says the agent runs unconfined");
	CHECK(th_retained_contains(atoi(r.port), "parachute/agent/free/definition",
				   "\"status\":\"enabled\""));
	CHECK(th_daemon_wait_output(&r.daemon, false, "sandbox off: exec turns run unconfined",
				    TH_TIMEOUT_MS));
	rig_stop(&r);

	/* Registered while a sandbox could be made; then bwrap is gone. The
	 * agent stays, and its turn fails with the reason: never unconfined. */
	memset(&r, 0, sizeof r);
	rig_start(&r, NULL);
	rig_define_meta(&r, "later", ",\"engine\":\"exec\"");
	rig_restart_daemon(&r, missing);
	CHECK(th_daemon_wait_output(&r.daemon, false, "agent later: its turns fail until a sandbox "
				    "can be made: bubblewrap is not installed", TH_TIMEOUT_MS));
	{
		char *text = ask(&r, "later", "l-1", "x");

		CHECK_CONTAINS(text, "the turn failed: bubblewrap is not installed");
		free(text);
	}
	rig_stop(&r);
	free(fake);
	free(dir);
}

/* The trial sandbox runs in a process group of its own, its output kept
 * from the daemon's: a signal to the daemon's group (a whole service
 * stopped) once killed bwrap between its clone and its child's release,
 * and that child, waiting forever, held the daemon's stdout open. A fake
 * bwrap says its group, its parent's, and where its stdout goes. */
static void test_probe_apart(void)
{
	char *dir = public_dir("fake-bwrap", 0755);
	char *fake = th_write_file(dir, "bwrap", "#!/bin/sh\n"
				   "echo \"group $(cut -d' ' -f5 /proc/$$/stat) daemon "
				   "$(cut -d' ' -f5 /proc/$PPID/stat) stdout "
				   "$(readlink /proc/$$/fd/1) end\" >&2\nexit 1\n");
	const char *const args[] = { "--sandbox-bwrap", fake, NULL };
	char path[64], own_out[256] = "", line[256] = "";
	long group = 0, daemon_group = 0;
	struct rig r = { 0 };
	const char *said;
	ssize_t n;

	chmod(fake, 0755);
	rig_start(&r, args);
	CHECK(th_daemon_wait_output(&r.daemon, false, " end", TH_TIMEOUT_MS));
	pthread_mutex_lock(&r.daemon.lock);
	said = strstr(r.daemon.err, "group ");
	CHECK(said && sscanf(said, "group %ld daemon %ld stdout %255s", &group, &daemon_group,
			     line) == 3);
	pthread_mutex_unlock(&r.daemon.lock);
	CHECK_MSG(group > 0 && group != daemon_group, "the trial has a process group of its own");
	snprintf(path, sizeof path, "/proc/%d/fd/1", (int)r.daemon.pid);
	n = readlink(path, own_out, sizeof own_out - 1);
	REQUIRE(n > 0);
	own_out[n] = '\0';
	CHECK_MSG(line[0] && strcmp(line, own_out) != 0,
		  "the trial does not write to the daemon's stdout");
	rig_stop(&r);
	free(fake);
	free(dir);
}

int main(void)
{
	RUN(test_filesystem);
	RUN(test_environment);
	RUN(test_restricted_network);
	RUN(test_runaway);
	RUN(test_daemon_killed);
	RUN(test_concurrent);
	RUN(test_unavailable);
	RUN(test_probe_apart);
	return check_summary();
}
