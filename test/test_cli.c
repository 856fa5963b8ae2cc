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

/* The long option names in `text` (each "--name" once, in order). */
static int long_options(const char *text, char names[][40], int max)
{
	int n = 0;

	for (const char *p = strstr(text, "--"); p && n < max; p = strstr(p + 2, "--")) {
		size_t len = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
		bool dup = false;

		if (len == 0 || len >= 38 || p[2] < 'a' || p[2] > 'z' || (p > text && p[-1] == '-'))
			continue;
		for (int i = 0; i < n; i++)
			dup = dup || (strncmp(names[i], p + 2, len) == 0 && names[i][len] == '\0');
		if (!dup) {
			memcpy(names[n], p + 2, len);
			names[n++][len] = '\0';
		}
	}
	return n;
}

static bool listed(char names[][40], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* The README's configuration table and --help name the same options. */
static void test_readme_table_matches_help(void)
{
	char help_names[64][40], readme_names[64][40], *out, *err, *readme, *table, *end;
	FILE *f = fopen(SOURCE_DIR "/README.md", "r");
	size_t len = 0;
	int nh, nr;

	REQUIRE(f != NULL);
	REQUIRE(getdelim(&readme, &len, '\0', f) > 0);
	fclose(f);
	table = strstr(readme, "\n## Configuration\n");
	REQUIRE(table != NULL);
	end = strstr(table + 1, "\n## ");
	if (end)
		*end = '\0';
	end = strstr(table, "\nAn example file");
	if (end)
		*end = '\0';
	nr = long_options(table, readme_names, 64);
	CHECK_INT(run((const char *[]){ "--help", NULL }, &out, &err), 0);
	end = strstr(out, "\nSubcommands");
	if (end)
		*end = '\0';
	nh = long_options(out, help_names, 64);
	CHECK_MSG(nr > 25 && nh > 25, "both lists were read (%d, %d)", nr, nh);
	for (int i = 0; i < nh; i++)
		if (strcmp(help_names[i], "help") != 0 && strcmp(help_names[i], "version") != 0)
			CHECK_MSG(listed(readme_names, nr, help_names[i]),
				  "--%s is in --help and not in the README's table", help_names[i]);
	for (int i = 0; i < nr; i++)
		CHECK_MSG(listed(help_names, nh, readme_names[i]),
			  "--%s is in the README's table and not in --help", readme_names[i]);
	free(out);
	free(err);
	free(readme);
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
	RUN(test_readme_table_matches_help);
	RUN(test_bad_option_exits_2);
	RUN(test_bad_config_line_exits_2);
	RUN(test_test_config);
	free(dir);
	return check_summary();
}
