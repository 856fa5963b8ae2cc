/* test_cli: the agentbus binary as a user runs it: --help, --version, exit
 * codes and messages for bad options and config lines, --test-config. */
#include <stdlib.h>
#include <sys/wait.h>

#include "test/check.h"
#include "test/harness.h"

static char *dir;

static int run(const char *const *args, char **out, char **err)
{
	const char *argv[16] = { th_agentbus_bin() };
	int n = 1, status;

	while (*args)
		argv[n++] = *args++;
	argv[n] = NULL;
	status = th_run(argv, out, err);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_help_lists_every_option(void)
{
	static const char *const expected[] = {
		"-c, --config FILE", "-h, --host HOST", "-p, --port PORT", "-u, --username USER",
		"-P, --password PASSWORD", "--root R", "--vault V", "--engine NAME",
		"--state-dir DIR", "--id INSTANCE", "--encoding json|msgpack", "--no-store",
		"-v, --verbose", "--help", "--version", "--test-config",
		"(default: 127.0.0.1)", "(default: 1883)", "(default: parachute)",
		"(default: default)", "(default: echo)", "(default: ./agentbus-state)",
		"(default: host name)", "(default: json)",
	};
	char *out, *err;

	CHECK_INT(run((const char *[]){ "--help", NULL }, &out, &err), 0);
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
		CHECK_CONTAINS(out, expected[i]);
	CHECK_STR(err, "");
	free(out);
	free(err);
}

static void test_version(void)
{
	char *out, *err;

	CHECK_INT(run((const char *[]){ "--version", NULL }, &out, &err), 0);
	CHECK(strncmp(out, "agentbus " AGENTBUS_VERSION "\n", strlen("agentbus " AGENTBUS_VERSION) + 1) == 0);
	/* And the libraries it runs with. */
	CHECK_CONTAINS(out, "libmosquitto 2.0.");
	CHECK_CONTAINS(out, ", SQLite 3.");
	CHECK_CONTAINS(out, ", libcurl ");
	CHECK_CONTAINS(out, ", libyaml 0.");
	CHECK_CONTAINS(out, "cJSON ");
	free(out);
	free(err);
}

static void test_bad_option_exits_2(void)
{
	char *out, *err;

	CHECK_INT(run((const char *[]){ "--port", "http", NULL }, &out, &err), 2);
	CHECK_CONTAINS(err, "--port: 'http' is not a whole number");
	CHECK_STR(out, "");
	free(out);
	free(err);
	CHECK_INT(run((const char *[]){ "--nope", NULL }, &out, &err), 2);
	CHECK_CONTAINS(err, "--nope: unknown option");
	free(out);
	free(err);
}

static void test_bad_config_line_exits_2(void)
{
	char *path = th_write_file(dir, "bad.conf", "vault notes\n\nencoding yaml\n");
	char *out, *err, *want;

	CHECK_INT(run((const char *[]){ "-c", path, NULL }, &out, &err), 2);
	if (asprintf(&want, "%s:3: encoding: 'yaml' is not one of json|msgpack\n", path) < 0)
		abort();
	CHECK_STR(err, want);
	free(want);
	free(out);
	free(err);
	free(path);
}

static void test_test_config(void)
{
	char *path = th_write_file(dir, "ok.conf", "host 10.1.2.3\nvault notes\nid box\n");
	char *out, *err;

	CHECK_INT(run((const char *[]){ "-c", path, "--vault", "cli", "--test-config", NULL }, &out,
		      &err),
		  0);
	CHECK_CONTAINS(out, "configuration OK");
	CHECK_CONTAINS(out, "broker     10.1.2.3");
	CHECK_CONTAINS(out, "vault      cli");
	CHECK_CONTAINS(out, "id         box");
	free(out);
	free(err);
	free(path);
}

int main(void)
{
	dir = th_tmpdir("cli");
	RUN(test_help_lists_every_option);
	RUN(test_version);
	RUN(test_bad_option_exits_2);
	RUN(test_bad_config_line_exits_2);
	RUN(test_test_config);
	free(dir);
	return check_summary();
}
