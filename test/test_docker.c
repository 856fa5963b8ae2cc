/* test_docker: what can be checked of the images and the compose stack on a
 * machine without a Docker engine: the compose file is valid
 * (docker-compose config), each runtime stage installs the package of every
 * library its binary needs (readelf NEEDED, resolved by ldd, owned per
 * dpkg), and the agentbus image's entrypoint runs the daemon as the image
 * would. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/check.h"
#include "test/rig.h"

static void test_compose_config(void)
{
	char *out, *err;
	const char *argv[] = { "/usr/bin/docker-compose", "-f", SOURCE_DIR "/docker/compose.yaml",
			       "config", NULL };
	int status;

	/* scripts/bootstrap installs it: a missing one is a failure, not a pass. */
	REQUIRE(access(argv[0], X_OK) == 0);
	status = th_run(argv, &out, &err);
	CHECK_MSG(status == 0, "docker-compose config: %s", err);
	CHECK_CONTAINS(out, "target: broker");
	CHECK_CONTAINS(out, "healthz");
	CHECK_CONTAINS(out, "restart: unless-stopped");
	free(out);
	free(err);
}

/* The packages listed between "# NAME runtime packages (begin)" and "(end)". */
static char *runtime_packages(const char *dockerfile, const char *name)
{
	char *begin = rig_fmt("# %s runtime packages (begin)", name);
	char *end = rig_fmt("# %s runtime packages (end)", name);
	const char *b = strstr(dockerfile, begin), *e = b ? strstr(b, end) : NULL;
	char *list = NULL;

	if (b && e)
		list = strndup(b + strlen(begin), (size_t)(e - b - strlen(begin)));
	free(begin);
	free(end);
	return list;
}

/* Every NEEDED library of `binary` comes from a package in `list` (libc6,
 * in every image, and the sanitizer runtimes aside). */
static void check_needed(const char *binary, const char *list)
{
	const char *readelf[] = { "/usr/bin/readelf", "-d", binary, NULL };
	const char *ldd[] = { "/usr/bin/ldd", binary, NULL };
	char *dyn, *resolved, *err, *line;

	REQUIRE(th_run(readelf, &dyn, &err) == 0);
	free(err);
	REQUIRE(th_run(ldd, &resolved, &err) == 0);
	free(err);
	for (line = strstr(dyn, "Shared library: ["); line; line = strstr(line + 1, "Shared library: [")) {
		char lib[128], *want, *path, *owner, *pkg;
		const char *at;
		const char *dpkg[] = { "/usr/bin/dpkg", "-S", NULL, NULL };
		char full[512];

		if (sscanf(line, "Shared library: [%127[^]]", lib) != 1)
			continue;
		want = rig_fmt("\t%s => ", lib);
		at = strstr(resolved, want);
		REQUIRE(at != NULL);
		REQUIRE(sscanf(at + strlen(want), "%511s", full) == 1);
		/* dpkg knows a file by the path its package installed: ldd's (the
		 * usrmerge /lib) or the resolved one, depending on the package. */
		path = realpath(full, NULL);
		REQUIRE(path != NULL);
		dpkg[2] = full;
		if (th_run(dpkg, &owner, &err) != 0) {
			free(owner);
			free(err);
			dpkg[2] = path;
			REQUIRE(th_run(dpkg, &owner, &err) == 0);
		}
		pkg = strndup(owner, strcspn(owner, ":"));
		/* The sanitizer build's runtimes are not the images' (built Release). */
		CHECK_MSG(strcmp(pkg, "libc6") == 0 || strncmp(pkg, "libasan", 7) == 0 ||
				  strncmp(pkg, "libubsan", 8) == 0 || strstr(list, pkg) != NULL,
			  "%s needs %s (package %s), which the image does not install", binary, lib,
			  pkg);
		free(pkg);
		free(owner);
		free(err);
		free(path);
		free(want);
	}
	free(dyn);
	free(resolved);
}

static void test_runtime_packages(void)
{
	char *dockerfile = th_read_file(SOURCE_DIR "/docker/Dockerfile");
	char *agentbus = runtime_packages(dockerfile, "agentbus");
	char *broker = runtime_packages(dockerfile, "broker");

	REQUIRE(agentbus && broker);
	check_needed(th_agentbus_bin(), agentbus);
	check_needed(PLUGIN_PATH, broker);
	free(agentbus);
	free(broker);
	free(dockerfile);
}

/* The entrypoint as the image runs it: state dir, /healthz, the token file. */
static void test_entrypoint(void)
{
	struct th_broker b;
	struct th_daemon d;
	struct th_client c;
	struct th_msg *m;
	char *state = th_tmpdir("entry-state"), *dir = th_tmpdir("entry");
	char *token = th_write_file(dir, "token", "not-checked-by-an-open-broker\n"), port[16];
	const char *argv[] = { SOURCE_DIR "/docker/entrypoint.sh", "-p", port, "--id", "ep", NULL };

	th_broker_start(&b, "entry-broker", false);
	snprintf(port, sizeof port, "%d", b.child.port);
	th_client_open(&c, b.child.port, "parachute/agentbus/status/ep");
	setenv("AGENTBUS_BIN", th_agentbus_bin(), 1);
	setenv("AGENTBUS_STATE_DIR", state, 1);
	setenv("AGENTBUS_HTTP", "127.0.0.1:0", 1);
	setenv("AGENTBUS_TOKEN_FILE", token, 1);
	th_process_start(&d, argv);
	m = th_client_wait_for(&c, "parachute/agentbus/status/ep", "online", TH_TIMEOUT_MS);
	CHECK_MSG(m != NULL, "the daemon the entrypoint started came online");
	th_msg_free(m);
	CHECK(th_daemon_wait_output(&d, false, "http: serving /metrics", TH_TIMEOUT_MS));
	CHECK_CONTAINS(d.err, state);
	CHECK(th_daemon_stop_cleanly(&d, SIGTERM));
	th_daemon_free(&d);
	th_client_close(&c);
	th_broker_free(&b);
	free(token);
	free(dir);
	free(state);
}

int main(void)
{
	RUN(test_compose_config);
	RUN(test_runtime_packages);
	RUN(test_entrypoint);
	return check_summary();
}
