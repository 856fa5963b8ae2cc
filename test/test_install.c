/* test_install: what `cmake --install` lays out, in a temporary prefix (the
 * binary, the broker plugin, agentbus(1), the example configuration, the
 * systemd unit, checked with systemd-analyze verify where it exists), and
 * the unit's Type=notify protocol: READY=1 once agentbus is up, STOPPING=1
 * when it stops. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/check.h"
#include "test/harness.h"

static bool exists(const char *prefix, const char *path)
{
	char full[4096];
	struct stat st;

	snprintf(full, sizeof full, "%s/%s", prefix, path);
	return stat(full, &st) == 0 && st.st_size > 0;
}

static void test_install_tree(void)
{
	char *prefix = th_tmpdir("install"), *out, *err, unit[4096];
	const char *install[] = { CMAKE_COMMAND, "--install", BUILD_DIR, "--prefix", prefix, NULL };
	FILE *f;
	char text[8192];
	size_t n;

	REQUIRE(th_run(install, &out, &err) == 0);
	free(out);
	free(err);
	CHECK(exists(prefix, "bin/agentbus"));
	CHECK(exists(prefix, "lib/agentbus_auth.so") ||
	      exists(prefix, "lib/x86_64-linux-gnu/agentbus_auth.so"));
	CHECK(exists(prefix, "share/man/man1/agentbus.1"));
	CHECK(exists(prefix, "etc/agentbus/agentbus.conf"));
	CHECK(exists(prefix, "share/agentbus/schemas/turn-event.schema.json"));
	CHECK(exists(prefix, "lib/systemd/system/agentbus.service"));
	snprintf(unit, sizeof unit, "%s/lib/systemd/system/agentbus.service", prefix);
	f = fopen(unit, "r");
	REQUIRE(f != NULL);
	n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	CHECK_CONTAINS(text, "Type=notify");
	CHECK_CONTAINS(text, "Restart=on-failure");
	{
		char *exec;

		REQUIRE(asprintf(&exec, "ExecStart=%s/bin/agentbus -c ", prefix) > 0);
		CHECK_CONTAINS(text, exec);	/* this prefix's binary */
		free(exec);
	}
	if (access("/usr/bin/systemd-analyze", X_OK) == 0) {
		const char *verify[] = { "/usr/bin/systemd-analyze", "verify", unit, NULL };
		int status = th_run(verify, &out, &err);

		/* The man page reference is checked against the system's manual,
		 * which this prefix is not part of; nothing else may be wrong. */
		CHECK_MSG(status == 0 || (strstr(err, "man agentbus(1)") &&
					  !strstr(err, "is not executable") && !strstr(err, "Unknown")),
			  "systemd-analyze verify: %s", err);
		free(out);
		free(err);
	}
	free(prefix);
}

/* A socket standing in for systemd's: what agentbus sends, in order. */
static void test_notify(void)
{
	char *dir = th_tmpdir("notify"), *state = th_tmpdir("state"), path[256], port[16];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct th_broker b;
	struct th_daemon d;
	char msg[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/notify.sock", dir);
	REQUIRE(strlen(path) < sizeof sa.sun_path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	{
		struct timeval tv = { 10, 0 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	}
	th_broker_start(&b, "notify-broker", false);
	snprintf(port, sizeof port, "%d", b.child.port);
	setenv("NOTIFY_SOCKET", path, 1);
	{
		const char *args[] = { "-p", port, "--id", "n1", "--state-dir", state, NULL };

		th_daemon_start(&d, args);
	}
	unsetenv("NOTIFY_SOCKET");
	n = recv(fd, msg, sizeof msg - 1, 0);
	CHECK(n > 0);
	msg[n > 0 ? n : 0] = '\0';
	CHECK_STR(msg, "READY=1");
	CHECK(th_daemon_stop_cleanly(&d, SIGTERM));
	n = recv(fd, msg, sizeof msg - 1, 0);
	CHECK(n > 0);
	msg[n > 0 ? n : 0] = '\0';
	CHECK_STR(msg, "STOPPING=1");
	th_daemon_free(&d);
	th_broker_free(&b);
	close(fd);
	unlink(path);
	free(dir);
	free(state);
}

int main(void)
{
	RUN(test_install_tree);
	RUN(test_notify);
	return check_summary();
}
