/* test_embedded: `agentbus` with no broker configured starts a private
 * mosquitto, prints the commands a person pastes into another terminal, and
 * those commands work as printed; Ctrl-C (SIGINT) says offline and takes the
 * private broker down with it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/check.h"
#include "test/harness.h"

static const char *topic = "parachute/agentbus/status/e1";

/* The printed command after `label`, up to the end of its line (malloc'd). */
static char *printed_command(const char *out, const char *label)
{
	const char *p = strstr(out, label);
	size_t len;

	if (!p)
		return NULL;
	p += strlen(label);
	while (*p == ' ')
		p++;
	len = strcspn(p, "\n");
	return strndup(p, len);
}

static bool port_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool open = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;

	close(fd);
	return open;
}

static void test_private_broker_lifecycle(void)
{
	char *state = th_tmpdir("state");
	const char *args[] = { "--id", "e1", "--state-dir", state, NULL };
	struct th_daemon d;
	struct th_client c;
	struct th_msg *m;
	char *sub, *rr, *cmd, *out, *err;
	int port = 0, status;

	th_daemon_start_in_group(&d, args);
	REQUIRE(th_daemon_wait_output(&d, true, "Stop with Ctrl-C.", TH_TIMEOUT_MS));
	sub = printed_command(d.out, "watch the bus:");
	rr = printed_command(d.out, "talk to an agent:");
	REQUIRE(sub && rr);
	CHECK_CONTAINS(rr, "mosquitto_rr -h 127.0.0.1 -p ");
	CHECK_CONTAINS(rr, "-t 'parachute/agent/eng/inbox' -e 'me/answer' -m 'hi'");
	REQUIRE(sscanf(strstr(sub, "-p ") ? strstr(sub, "-p ") : "", "-p %d", &port) == 1);

	/* The exact printed line, with a count and a timeout so it ends. */
	if (asprintf(&cmd, "%s -C 1 -W 10", sub) < 0)
		abort();
	{
		const char *argv[] = { "/bin/sh", "-c", cmd, NULL };

		status = th_run(argv, &out, &err);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_CONTAINS(out, "parachute/agentbus/status/e1 {\"state\":\"online\"");
	free(out);
	free(err);
	free(cmd);

	/* The first start defines the demo agent, so the printed mosquitto_rr
	 * line, pasted as is, gets an answer. */
	CHECK(th_daemon_wait_output(&d, false, "defined the demo agent eng", TH_TIMEOUT_MS));
	CHECK(th_daemon_wait_output(&d, false, "agent eng registered", TH_TIMEOUT_MS));
	if (asprintf(&cmd, "%s -W 10", rr) < 0)
		abort();
	{
		const char *argv[] = { "/bin/sh", "-c", cmd, NULL };

		status = th_run(argv, &out, &err);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_STR(out, "echo: hi\n");
	free(out);
	free(err);
	free(cmd);

	th_client_open(&c, port, topic);
	m = th_client_wait_for(&c, topic, "\"online\"", TH_TIMEOUT_MS);
	CHECK(m != NULL);
	th_msg_free(m);
	/* Ctrl-C: SIGINT to the whole process group. Exactly one goodbye, from
	 * agentbus itself, not a second one from the Will of a broker that was
	 * shutting down underneath it. */
	status = th_daemon_stop(&d, SIGINT);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(th_client_wait_disconnect(&c, TH_TIMEOUT_MS));
	CHECK_INT(th_client_count(&c, topic, "\"offline\""), 1);
	th_client_close(&c);
	CHECK(!port_open(port));	/* the private broker is gone */
	CHECK_CONTAINS(d.err, "started a private mosquitto");
	th_daemon_free(&d);

	/* Once ever: the same state dir does not get it again. */
	th_daemon_start_in_group(&d, args);
	REQUIRE(th_daemon_wait_output(&d, true, "Stop with Ctrl-C.", TH_TIMEOUT_MS));
	status = th_daemon_stop(&d, SIGINT);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(strstr(d.err, "demo agent") == NULL);
	th_daemon_free(&d);
	free(sub);
	free(rr);
	free(state);
}

static void test_missing_broker_binary(void)
{
	char *state = th_tmpdir("state");
	const char *args[] = { "--id", "e2", "--state-dir", state, "--mosquitto",
			       "/nonexistent/mosquitto", NULL };
	struct th_daemon d;
	int status;

	th_daemon_start(&d, args);
	CHECK(th_daemon_wait_output(&d, false, "private mosquitto did not start", TH_TIMEOUT_MS));
	status = th_daemon_stop(&d, SIGTERM);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	th_daemon_free(&d);
	free(state);
}

int main(void)
{
	RUN(test_private_broker_lifecycle);
	RUN(test_missing_broker_binary);
	return check_summary();
}
