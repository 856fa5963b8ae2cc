/* test_reconnect: the broker goes away and comes back; the daemon reconnects
 * with backoff and says it is online again, whether the broker kept its
 * state (persistence) or forgot everything. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "test/check.h"
#include "test/harness.h"

static const char *topic = "parachute/agentbus/status/r1";

static void start_daemon(struct th_daemon *d, int port, const char *state_dir)
{
	char p[16];
	const char *args[] = { "-p", p, "--id", "r1", "--state-dir", state_dir,
			       "--reconnect-max", "1", NULL };

	snprintf(p, sizeof p, "%d", port);
	th_daemon_start(d, args);
}

/* The status is retained, so subscribing after the fact sees it; a fresh
 * broker without persistence has it only if agentbus published it again. */
static void expect_online(struct th_broker *b)
{
	struct th_client c;
	struct th_msg *m;

	th_client_open(&c, b->child.port, topic);
	m = th_client_wait_for(&c, topic, "\"online\"", TH_TIMEOUT_MS);
	CHECK(m != NULL);
	th_msg_free(m);
	th_client_close(&c);
}

static void restart_cycle(bool persistence, bool kill_hard)
{
	struct th_broker b;
	struct th_daemon d;
	char *state = th_tmpdir("state");

	th_broker_start(&b, "broker", persistence);
	start_daemon(&d, b.child.port, state);
	expect_online(&b);
	if (kill_hard)
		th_broker_kill(&b);
	else
		th_broker_stop(&b);
	CHECK(th_daemon_wait_output(&d, false, "lost the broker", TH_TIMEOUT_MS));
	th_broker_restart(&b);
	expect_online(&b);
	/* Over the life of one daemon: two connections, the second one resumed
	 * when the broker persisted the session. */
	if (persistence && !kill_hard)
		CHECK(th_daemon_wait_output(&d, false, "(session resumed)", TH_TIMEOUT_MS));
	CHECK(th_daemon_stop_cleanly(&d, SIGTERM));
	th_daemon_free(&d);
	th_broker_free(&b);
	free(state);
}

static void test_broker_killed_without_persistence(void)
{
	restart_cycle(false, true);
}

static void test_broker_restarted_with_persistence(void)
{
	restart_cycle(true, false);
}

static void test_broker_comes_up_after_daemon(void)
{
	struct th_broker b;
	struct th_daemon d;
	char *state = th_tmpdir("state");

	th_broker_start(&b, "broker", false);
	th_broker_stop(&b);	/* now the port is known and nobody listens */
	start_daemon(&d, b.child.port, state);
	CHECK(th_daemon_wait_output(&d, false, "retrying in", TH_TIMEOUT_MS));
	th_broker_restart(&b);
	expect_online(&b);
	CHECK(th_daemon_stop_cleanly(&d, SIGTERM));
	th_daemon_free(&d);
	th_broker_free(&b);
	free(state);
}

static void test_stop_while_broker_down(void)
{
	struct th_broker b;
	struct th_daemon d;
	char *state = th_tmpdir("state");

	th_broker_start(&b, "broker", false);
	start_daemon(&d, b.child.port, state);
	expect_online(&b);
	th_broker_kill(&b);
	CHECK(th_daemon_wait_output(&d, false, "lost the broker", TH_TIMEOUT_MS));
	/* No broker to say goodbye to: it must still stop, promptly and cleanly. */
	CHECK(th_daemon_stop_cleanly(&d, SIGTERM));
	CHECK_CONTAINS(d.err, "stopped cleanly");
	th_daemon_free(&d);
	th_broker_free(&b);
	free(state);
}

int main(void)
{
	RUN(test_broker_killed_without_persistence);
	RUN(test_broker_restarted_with_persistence);
	RUN(test_broker_comes_up_after_daemon);
	RUN(test_stop_while_broker_down);
	return check_summary();
}
