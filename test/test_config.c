/* test_config: defaults, config files (good and bad) and command-line
 * precedence, through the parser's own API. */
#include <stdio.h>
#include <stdlib.h>

#include "daemon/config.h"
#include "engines/defs.h"
#include "test/check.h"
#include "test/harness.h"

static char *dir;

/* Parses argv; errors go to a memory stream returned in *errs. */
static enum config_action parse(struct config *cfg, char **errs, const char *const *args)
{
	char *argv[32] = { "agentbus" };
	int argc = 1;
	size_t len;
	FILE *err = open_memstream(errs, &len);
	enum config_action a;

	while (*args)
		argv[argc++] = (char *)*args++;
	a = config_parse_args(cfg, argc, argv, err);
	fclose(err);
	return a;
}

static void test_defaults(void)
{
	struct config cfg;
	char *errs;

	CHECK_INT(parse(&cfg, &errs, (const char *[]){ NULL }), CONFIG_RUN);
	CHECK_STR(cfg.host, "127.0.0.1");
	CHECK_INT(cfg.port, 1883);
	CHECK_STR(cfg.root, "parachute");
	CHECK_STR(cfg.vault, "default");
	CHECK_STR(cfg.engine, "echo");
	CHECK_STR(cfg.state_dir, "./agentbus-state");
	CHECK_INT(cfg.encoding, ENCODING_JSON);
	CHECK(!cfg.no_store);
	CHECK(!cfg.verbose);
	CHECK(cfg.username == NULL);
	CHECK(cfg.id != NULL && cfg.id[0] != '\0');	/* from the host name */
	CHECK(config_wants_embedded_broker(&cfg));	/* nothing configured */
	CHECK_INT(cfg.sandbox, 0);	/* on */
	CHECK_STR(cfg.sandbox_bwrap, "bwrap");
	CHECK_STR(cfg.sandbox_user, "nobody");
	CHECK_INT(cfg.sandbox_pids, 512);
	CHECK_INT(cfg.sandbox_binds.n, 0);
	config_free(&cfg);
	free(errs);
}

static void test_good_file(void)
{
	char *path = th_write_file(dir, "good.conf",
				   "# a comment\n"
				   "\n"
				   "host broker.example\n"
				   "  port   1884  \n"
				   "username svc\n"
				   "password p#ss word\n"
				   "root org/parachute\n"
				   "vault notes\n"
				   "engine exec\n"
				   "state-dir /tmp/x\n"
				   "id box-1\n"
				   "encoding msgpack\n"
				   "no-store\n"
				   "verbose false\n"
				   "embedded-broker no\n");
	struct config cfg;
	char *errs;

	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "-c", path, NULL }), CONFIG_RUN);
	CHECK_STR(errs, "");
	CHECK_STR(cfg.host, "broker.example");
	CHECK_INT(cfg.port, 1884);
	CHECK_STR(cfg.username, "svc");
	CHECK_STR(cfg.password, "p#ss word");	/* '#' only starts a comment line */
	CHECK_STR(cfg.root, "org/parachute");
	CHECK_STR(cfg.vault, "notes");
	CHECK_STR(cfg.engine, "exec");
	CHECK_STR(cfg.state_dir, "/tmp/x");
	CHECK_STR(cfg.id, "box-1");
	CHECK_INT(cfg.encoding, ENCODING_MSGPACK);
	CHECK(cfg.no_store);
	CHECK(!cfg.verbose);
	CHECK(!config_wants_embedded_broker(&cfg));
	config_free(&cfg);
	free(errs);
	free(path);
}

static void test_command_line_wins(void)
{
	char *path = th_write_file(dir, "base.conf", "port 1884\nvault notes\nverbose true\n");
	struct config cfg;
	char *errs;

	/* The file comes after the option on the command line, and still loses. */
	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "--vault", "cli", "-c", path, "-p", "2000",
						      NULL }),
		  CONFIG_RUN);
	CHECK_INT(cfg.port, 2000);
	CHECK_STR(cfg.vault, "cli");
	CHECK(cfg.verbose);	/* from the file, not overridden */
	CHECK(!config_wants_embedded_broker(&cfg));	/* a port is configured */
	config_free(&cfg);
	free(errs);
	free(path);
}

/* Each bad file must fail with "path:line: message". */
static void check_bad_file(const char *text, int line, const char *message)
{
	char *path = th_write_file(dir, "bad.conf", text);
	char *want;
	struct config cfg;
	char *errs;

	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "-c", path, NULL }), CONFIG_ERROR);
	if (asprintf(&want, "%s:%d: %s", path, line, message) < 0)
		abort();
	CHECK_CONTAINS(errs, want);
	config_free(&cfg);
	free(want);
	free(errs);
	free(path);
}

static void test_bad_files(void)
{
	check_bad_file("port 1884\nbogus 1\n", 2, "unknown option 'bogus'");
	check_bad_file("# c\n\nport 70000\n", 3, "port: '70000' is not a whole number from 1 to 65535");
	check_bad_file("port\n", 1, "port: needs a value");
	check_bad_file("port 12ab\n", 1, "port: '12ab' is not a whole number");
	check_bad_file("encoding xml\n", 1, "encoding: 'xml' is not one of json|msgpack");
	check_bad_file("engine g/pt\n", 1, "engine: 'g/pt' is not an engine name");
	check_bad_file("engine-def x magic\n", 1, "engine-def: unknown engine kind 'magic'");
	check_bad_file("engine-def x openai colour=blue\n", 1, "engine-def: unknown key 'colour'");
	check_bad_file("engine-def x exec command=\"claude -p\n", 1,
		       "engine-def: unterminated quote");
	check_bad_file("engine-def x openai timeout=0\n", 1,
		       "engine-def: timeout must be a whole number from 1 to 86400");
	check_bad_file("engine-def x openai base_url=ftp://h\n", 1,
		       "engine-def: base_url must start with http:// or https://");
	check_bad_file("engine-def b@d echo\n", 1, "engine-def: engine name 'b@d'");
	check_bad_file("engine-def x openai model\n", 1, "engine-def: 'model' is not key=value");
	check_bad_file("vault a/b\n", 1, "vault: 'a/b' must be one topic level");
	check_bad_file("id +\n", 1, "id: '+' must be one topic level");
	check_bad_file("root /lead\n", 1, "root: '/lead' must be topic levels");
	check_bad_file("root a//b\n", 1, "root: 'a//b' must be topic levels");
	check_bad_file("no-store maybe\n", 1, "no-store: 'maybe' is not true or false");
	check_bad_file("keepalive 2\n", 1, "keepalive: '2' is not a whole number from 5");
	check_bad_file("config other.conf\n", 1, "unknown option 'config'");
	check_bad_file("sandbox maybe\n", 1, "sandbox: 'maybe' is not one of on|off");
	check_bad_file("sandbox-bind opt/claude\n", 1,
		       "sandbox-bind: 'opt/claude' is not an absolute path");
	check_bad_file("sandbox-pids 2\n", 1, "sandbox-pids: '2' is not a whole number from 8");
	check_bad_file("engine-def x exec env=A,9B\n", 1,
		       "engine-def: env must be variable names separated by commas");
	check_bad_file("engine-def x exec env=A,,B\n", 1,
		       "engine-def: env must be variable names separated by commas");
}

static void test_missing_file(void)
{
	struct config cfg;
	char *errs;

	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "-c", "/nonexistent/agentbus.conf", NULL }),
		  CONFIG_ERROR);
	CHECK_CONTAINS(errs, "/nonexistent/agentbus.conf: cannot open");
	config_free(&cfg);
	free(errs);
}

static void test_bad_options(void)
{
	struct config cfg;
	char *errs;

	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "--port", "0", NULL }), CONFIG_ERROR);
	CHECK_CONTAINS(errs, "agentbus: --port: '0' is not a whole number from 1 to 65535");
	config_free(&cfg);
	free(errs);
	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "--frobnicate", NULL }), CONFIG_ERROR);
	CHECK_CONTAINS(errs, "--frobnicate: unknown option");
	config_free(&cfg);
	free(errs);
	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "-h", NULL }), CONFIG_ERROR);
	CHECK_CONTAINS(errs, "--host: needs a value");
	config_free(&cfg);
	free(errs);
	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "stray", NULL }), CONFIG_ERROR);
	CHECK_CONTAINS(errs, "unexpected argument 'stray'");
	config_free(&cfg);
	free(errs);
	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "--embedded-broker", "yes", "-p", "1", NULL }),
		  CONFIG_ERROR);
	CHECK_CONTAINS(errs, "--embedded-broker yes cannot be combined");
	config_free(&cfg);
	free(errs);
}

/* What a fleet cannot be combined with, each refusal saying what to run. */
static void test_fleet_options(void)
{
	static const struct {
		const char *argv[10], *says;
	} refused[] = {
		{ { "-p", "1", "--fleet", "f", "--vault-url", "http://127.0.0.1:1/vault/v", NULL },
		  "by an agentbus of its own (--store-only --vault-url URL)" },
		{ { "-p", "1", "--fleet", "f", "--store-only", NULL }, "so it joins no fleet" },
		{ { "-p", "1", "--fleet-partition", "0", NULL }, "set by a fleet instance" },
		{ { "-p", "1", "--fleet", "f", "--partitions", "4", "--fleet-partition", "5", NULL },
		  "set by a fleet instance" },
		{ { "--fleet", "f", NULL }, "--fleet needs the broker the fleet shares" },
	};
	struct config cfg;
	char *errs;

	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		CHECK_INT(parse(&cfg, &errs, refused[i].argv), CONFIG_ERROR);
		CHECK_CONTAINS(errs, refused[i].says);
		config_free(&cfg);
		free(errs);
	}
	/* The bridge alone, for a fleet on a real vault. */
	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "-p", "1", "--store-only", "--vault-url",
						       "http://127.0.0.1:1/vault/v", NULL }),
		  CONFIG_RUN);
	CHECK(cfg.store_only && cfg.vault_url);
	config_free(&cfg);
	free(errs);
}

/* engine-def lines: instances the --engine option and definitions name. */
static void test_engine_defs(void)
{
	char *path = th_write_file(dir, "engines.conf",
				   "engine claude\n"
				   "engine-def claude exec command=\"claude -p --output-format stream-json "
				   "--verbose\" format=claude-stream-json timeout=600\n"
				   "engine-def local openai base_url=http://127.0.0.1:8080/v1 model=qwen\n");
	struct engine_def d;
	struct config cfg;
	char *errs, err[256];

	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "-c", path, NULL }), CONFIG_RUN);
	CHECK_STR(cfg.engine, "claude");	/* declared after it is named */
	CHECK_INT(cfg.engine_defs.n, 2);
	config_free(&cfg);
	free(errs);
	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "-c", path, "--engine", "local",
						     "--engine-def", "x anthropic", NULL }),
		  CONFIG_RUN);
	CHECK_INT(cfg.engine_defs.n, 3);
	config_free(&cfg);
	free(errs);
	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "--engine", "nope", NULL }), CONFIG_ERROR);
	CHECK_CONTAINS(errs, "--engine: unknown engine 'nope'");
	config_free(&cfg);
	free(errs);
	free(path);

	/* Quoting, escapes inside quotes, and the defaults of the keys not given. */
	CHECK(engine_def_parse("c exec command=\"my tool --flag \\\"x\\\" \\\\ y\" format=text "
			       "price_in=0.5", &d, err, sizeof err) == 0);
	CHECK_STR(d.name, "c");
	CHECK_STR(d.kind, "exec");
	CHECK_STR(d.command, "my tool --flag \"x\" \\ y");
	CHECK_INT(d.format, ENGINE_FORMAT_TEXT);
	CHECK(d.price_in == 0.5 && d.price_out == 0);
	CHECK_INT(d.max_output, 1024 * 1024);
	CHECK_INT(d.idle_timeout, 120);
	CHECK_INT(d.history_turns, 20);
	CHECK_INT(d.attempts, 3);
	CHECK_INT(d.n_env, 0);
	engine_def_free(&d);
	CHECK(engine_def_parse("c exec env=CLAUDE_CODE_OAUTH_TOKEN,LANG", &d, err, sizeof err) == 0);
	REQUIRE(d.n_env == 2);
	CHECK_STR(d.env[0], "CLAUDE_CODE_OAUTH_TOKEN");
	CHECK_STR(d.env[1], "LANG");
	engine_def_free(&d);
	CHECK(engine_def_parse("o openai", &d, err, sizeof err) == 0);
	CHECK_STR(d.base_url, "https://api.openai.com/v1");
	CHECK_STR(d.api_key_env, "OPENAI_API_KEY");
	engine_def_free(&d);
}

static void test_help_and_version(void)
{
	struct config cfg;
	char *errs;

	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "--help", NULL }), CONFIG_HELP);
	config_free(&cfg);
	free(errs);
	CHECK_INT(parse(&cfg, &errs, (const char *[]){ "--version", NULL }), CONFIG_VERSION);
	config_free(&cfg);
	free(errs);
}

int main(void)
{
	dir = th_tmpdir("config");
	RUN(test_defaults);
	RUN(test_good_file);
	RUN(test_command_line_wins);
	RUN(test_bad_files);
	RUN(test_missing_file);
	RUN(test_bad_options);
	RUN(test_fleet_options);
	RUN(test_engine_defs);
	RUN(test_help_and_version);
	free(dir);
	return check_summary();
}
