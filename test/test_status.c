/* test_status: against a real mosquitto, the daemon connects, publishes its
 * retained online status, goes offline cleanly on SIGTERM and SIGINT, is
 * declared offline by its Last Will when killed with SIGKILL, resumes its
 * session, and refuses a second daemon on the same state dir. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "test/check.h"
#include "test/harness.h"

static struct th_broker broker;
static char port[16];
static const char *topic = "parachute/agentbus/status/t1";

static void start_daemon(struct th_daemon *d, const char *state_dir)
{
	const char *args[] = { "-p", port, "--id", "t1", "--state-dir", state_dir, NULL };

	th_daemon_start(d, args);
}

static void test_online_then_offline_on_sigterm(void)
{
	char *state = th_tmpdir("state");
	struct th_client c;
	struct th_daemon d;
	struct th_msg *m;

	th_client_open(&c, broker.child.port, "parachute/agentbus/status/+");
	start_daemon(&d, state);
	m = th_client_wait_for(&c, topic, "\"online\"", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	CHECK_CONTAINS(m->payload, "\"instance\":\"t1\"");
	CHECK_CONTAINS(m->payload, "\"version\":\"" AGENTBUS_VERSION "\"");
	CHECK_STR(m->content_type, "application/json");
	CHECK(th_schema_valid("status", m->payload));
	th_msg_free(m);

	/* A late subscriber sees the retained online message. */
	CHECK(th_retained_contains(broker.child.port, topic, "\"online\""));

	CHECK(th_daemon_stop_cleanly(&d, SIGTERM));
	m = th_client_wait_for(&c, topic, "\"offline\"", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	CHECK(th_schema_valid("status", m->payload));
	th_msg_free(m);
	CHECK_CONTAINS(d.err, "stopped cleanly");
	CHECK(!strstr(d.err, "did not stop cleanly"));
	th_daemon_free(&d);

	/* Restarted on the same state dir and broker: the session is resumed
	 * (clean_start=false with a session expiry) and SIGINT stops it too. */
	start_daemon(&d, state);
	CHECK(th_daemon_wait_output(&d, false, "(session resumed)", TH_TIMEOUT_MS));
	m = th_client_wait_for(&c, topic, "\"online\"", TH_TIMEOUT_MS);
	CHECK(m != NULL);
	th_msg_free(m);
	CHECK(th_daemon_stop_cleanly(&d, SIGINT));
	m = th_client_wait_for(&c, topic, "\"offline\"", TH_TIMEOUT_MS);
	CHECK(m != NULL);
	th_msg_free(m);
	th_daemon_free(&d);
	th_client_close(&c);
	free(state);
}

static void test_last_will_on_sigkill(void)
{
	char *state = th_tmpdir("state");
	struct th_client c;
	struct th_daemon d;
	struct th_msg *m;

	th_client_open(&c, broker.child.port, topic);
	start_daemon(&d, state);
	m = th_client_wait_for(&c, topic, "\"online\"", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	th_msg_free(m);

	th_daemon_stop(&d, SIGKILL);
	th_daemon_free(&d);
	/* Only the broker can have said this: the daemon is dead. */
	m = th_client_wait_for(&c, topic, "\"offline\"", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	CHECK_STR(m->content_type, "application/json");
	CHECK(th_schema_valid("status", m->payload));
	th_msg_free(m);
	CHECK(th_retained_contains(broker.child.port, topic, "\"offline\""));

	/* The next daemon on that state dir knows the last one crashed. */
	start_daemon(&d, state);
	CHECK(th_daemon_wait_output(&d, false, "did not stop cleanly", TH_TIMEOUT_MS));
	m = th_client_wait_for(&c, topic, "\"online\"", TH_TIMEOUT_MS);
	CHECK(m != NULL);
	th_msg_free(m);
	CHECK(th_daemon_stop_cleanly(&d, SIGTERM));
	th_daemon_free(&d);
	th_client_close(&c);
	free(state);
}

static void test_second_daemon_on_same_state_dir(void)
{
	char *state = th_tmpdir("state");
	struct th_client c;
	struct th_daemon first, second;
	struct th_msg *m;
	int status;

	th_client_open(&c, broker.child.port, topic);
	start_daemon(&first, state);
	m = th_client_wait_for(&c, topic, "\"online\"", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	th_msg_free(m);
	start_daemon(&second, state);
	CHECK(th_daemon_wait_output(&second, false, "is in use by another agentbus",
				    TH_TIMEOUT_MS));
	/* It gave up on its own; the signal only reaps it. */
	status = th_daemon_stop(&second, SIGTERM);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	th_daemon_free(&second);
	CHECK(th_daemon_stop_cleanly(&first, SIGTERM));
	th_daemon_free(&first);
	th_client_close(&c);
	free(state);
}

static void test_msgpack_status(void)
{
	char *state = th_tmpdir("state");
	const char *args[] = { "-p", port, "--id", "t1", "--state-dir", state, "--encoding",
			       "msgpack", NULL };
	struct th_client c;
	struct th_daemon d;
	struct th_msg *m;

	th_client_open(&c, broker.child.port, topic);
	th_daemon_start(&d, args);
	/* A fixmap of 12 entries whose first key is "state" and value "online". */
	m = th_client_wait_for(&c, topic, "online", TH_TIMEOUT_MS);
	REQUIRE(m != NULL);
	CHECK_STR(m->content_type, "application/msgpack");
	CHECK_INT((unsigned char)m->payload[0], 0x8c);
	CHECK(m->len > 7 && memcmp(m->payload + 1, "\xa5state\xa6online", 13) == 0);
	th_msg_free(m);
	CHECK(th_daemon_stop_cleanly(&d, SIGTERM));
	th_daemon_free(&d);
	th_client_close(&c);
	free(state);
}

int main(void)
{
	th_broker_start(&broker, "broker", false);
	snprintf(port, sizeof port, "%d", broker.child.port);
	RUN(test_online_then_offline_on_sigterm);
	RUN(test_last_will_on_sigkill);
	RUN(test_second_daemon_on_same_state_dir);
	RUN(test_msgpack_status);
	th_broker_free(&broker);
	return check_summary();
}
