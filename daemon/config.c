/* config: one table of options drives the command line, the config file and
 * --help, so the three can never disagree about a name, a default or a rule.
 * A config file holds `key value` lines whose keys are the long option names;
 * lines starting with '#' and blank lines are ignored. */
#include "daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engines/defs.h"
#include "engines/engine.h"
#include "util/text.h"

enum option_kind {
	OPT_STRING,		/* any non-empty text */
	OPT_TOPIC_LEVEL,	/* one MQTT topic level */
	OPT_TOPIC_PREFIX,	/* one or more topic levels */
	OPT_INT,		/* integer in [min, max] */
	OPT_BOOL,		/* flag; "true"/"false" etc. in a file */
	OPT_CHOICE,		/* one of `choices`, stored as its index */
	OPT_ENGINE,		/* a known turn engine name */
	OPT_TRIGGER,		/* a trigger spec, appended to a list; repeatable */
	OPT_ENGINE_DEF,		/* an engine instance spec, appended; repeatable */
	OPT_PATH_LIST,		/* an absolute path, appended; repeatable */
};

struct option_def {
	const char *name;	/* long option and config key */
	char short_name;	/* 0: long only */
	const char *arg;	/* argument name in --help; NULL for flags */
	enum option_kind kind;
	size_t offset;		/* field in struct config */
	long min, max;		/* OPT_INT */
	const char *const *choices;	/* OPT_CHOICE, NULL-terminated */
	const char *def;	/* default, applied through the same parser */
	const char *help;
};

static const char *const encoding_choices[] = { "json", "msgpack", NULL };
static const char *const embedded_choices[] = { "auto", "yes", "no", NULL };
static const char *const on_off_choices[] = { "on", "off", NULL };

#define FIELD(f) offsetof(struct config, f)

static const struct option_def options[] = {
	{ "config", 'c', "FILE", OPT_STRING, FIELD(config_file), 0, 0, NULL, NULL,
	  "read settings from FILE (`key value` lines); options given here win" },
	{ "host", 'h', "HOST", OPT_STRING, FIELD(host), 0, 0, NULL, "127.0.0.1",
	  "broker host" },
	{ "port", 'p', "PORT", OPT_INT, FIELD(port), 1, 65535, NULL, "1883",
	  "broker port" },
	{ "username", 'u', "USER", OPT_STRING, FIELD(username), 0, 0, NULL, NULL,
	  "MQTT username (a hub JWT goes in the password)" },
	{ "password", 'P', "PASSWORD", OPT_STRING, FIELD(password), 0, 0, NULL, NULL,
	  "MQTT password (visible in ps: prefer --password-file)" },
	{ "password-file", 0, "FILE", OPT_STRING, FIELD(password_file), 0, 0, NULL, NULL,
	  "read the MQTT password from FILE before every connection attempt, so a rotated "
	  "token is used at the next reconnect" },
	{ "root", 0, "R", OPT_TOPIC_PREFIX, FIELD(root), 0, 0, NULL, "parachute",
	  "topic root" },
	{ "vault", 0, "V", OPT_TOPIC_LEVEL, FIELD(vault), 0, 0, NULL, "default",
	  "vault name" },
	{ "engine", 0, "NAME", OPT_ENGINE, FIELD(engine), 0, 0, NULL, "echo",
	  "default turn engine: an engine-def name, or a kind (echo, exec, openai, anthropic)" },
	{ "engine-def", 0, "SPEC", OPT_ENGINE_DEF, FIELD(engine_defs), 0, 0, NULL, NULL,
	  "declare an engine instance: 'NAME KIND key=value ...' (values with spaces in double "
	  "quotes); repeatable" },
	{ "state-dir", 0, "DIR", OPT_STRING, FIELD(state_dir), 0, 0, NULL, "./agentbus-state",
	  "directory of the SQLite state (created if missing)" },
	{ "id", 0, "INSTANCE", OPT_TOPIC_LEVEL, FIELD(id), 0, 0, NULL, NULL,
	  "instance id, in the client id and status topic (default: host name)" },
	{ "encoding", 0, "json|msgpack", OPT_CHOICE, FIELD(encoding), 0, 0, encoding_choices,
	  "json", "encoding of the payloads agentbus publishes" },
	{ "no-store", 0, NULL, OPT_BOOL, FIELD(no_store), 0, 0, NULL, "false",
	  "do not run the embedded note store (a real vault serves V)" },
	{ "vault-url", 0, "URL", OPT_STRING, FIELD(vault_url), 0, 0, NULL, NULL,
	  "bridge a real Parachute vault (http://HOST:PORT/vault/V) instead of the embedded "
	  "store" },
	{ "vault-token-file", 0, "FILE", OPT_STRING, FIELD(vault_token_file), 0, 0, NULL, NULL,
	  "the vault's token (vault:V:write; vault:V:admin also registers the triggers); "
	  "read again when it changes" },
	{ "hook-token-file", 0, "FILE", OPT_STRING, FIELD(hook_token_file), 0, 0, NULL, NULL,
	  "the bearer the vault's webhooks must carry (without it, only loopback may call)" },
	{ "hook-url", 0, "URL", OPT_STRING, FIELD(hook_url), 0, 0, NULL, NULL,
	  "the webhook URL the vault calls (default: http://<--http>/vault/V/hook)" },
	{ "vault-feed", 0, "on|off", OPT_CHOICE, FIELD(vault_feed), 0, 0, on_off_choices, "on",
	  "follow the vault's change feed (WebSocket) besides its webhooks" },
	{ "register-triggers", 0, NULL, OPT_BOOL, FIELD(register_triggers), 0, 0, NULL, "false",
	  "register the vault triggers agentbus needs (admin token), then exit" },
	{ "http", 0, "[ADDR:]PORT", OPT_STRING, FIELD(http), 0, 0, NULL, NULL,
	  "serve the console (/), /metrics, /healthz and /readyz (ADDR defaults to 127.0.0.1)" },
	{ "http-token-file", 0, "FILE", OPT_STRING, FIELD(http_token_file), 0, 0, NULL, NULL,
	  "the console's token (needed when --http is not on 127.0.0.1): pages open /?token=..." },
	{ "console-send", 0, NULL, OPT_BOOL, FIELD(console_send), 0, 0, NULL, "false",
	  "let the console's page send messages to agents' inboxes" },
	{ "no-demo", 0, NULL, OPT_BOOL, FIELD(no_demo), 0, 0, NULL, "false",
	  "on a first start with the private broker, do not define the demo agent eng" },
	{ "keepalive", 0, "SECS", OPT_INT, FIELD(keepalive), 5, 65535, NULL, "60",
	  "MQTT keepalive" },
	{ "session-expiry", 0, "SECS", OPT_INT, FIELD(session_expiry), 0, INT_MAX, NULL,
	  "86400", "how long the broker keeps our session while we are away" },
	{ "reconnect-max", 0, "SECS", OPT_INT, FIELD(reconnect_max), 1, 3600, NULL, "30",
	  "cap of the exponential reconnect backoff" },
	{ "embedded-broker", 0, "auto|yes|no", OPT_CHOICE, FIELD(embedded_broker), 0, 0,
	  embedded_choices, "auto",
	  "run a private mosquitto on a free loopback port; auto: only when no host or port is set" },
	{ "mosquitto", 0, "PATH", OPT_STRING, FIELD(mosquitto), 0, 0, NULL, "mosquitto",
	  "broker binary for the embedded broker (PATH, then /usr/sbin)" },
	{ "max-payload", 0, "BYTES", OPT_INT, FIELD(max_payload), 64, 256 * 1024 * 1024, NULL,
	  "1048576", "largest payload accepted; larger ones are dead letters" },
	{ "max-turns", 0, "N", OPT_INT, FIELD(max_turns), 1, 1024, NULL, "4",
	  "turns running at once, across all agents" },
	{ "queue-limit", 0, "N", OPT_INT, FIELD(queue_limit), 1, 1000000, NULL, "100",
	  "turns waiting per drain key; more are refused (queue_full)" },
	{ "max-queued", 0, "N", OPT_INT, FIELD(max_queued), 1, 10000000, NULL, "10000",
	  "turns waiting across all agents; more are refused (queue_full)" },
	{ "turn-timeout", 0, "SECS", OPT_INT, FIELD(turn_timeout), 1, 86400, NULL, "300",
	  "a turn's time limit unless its definition sets metadata.timeout" },
	{ "echo-delay", 0, "MS", OPT_INT, FIELD(echo_delay), 0, 600000, NULL, "0",
	  "the echo engine waits this long before it answers (for trying queues by hand)" },
	{ "gate", 0, "FIFO", OPT_STRING, FIELD(gate), 0, 0, NULL, NULL,
	  "for tests: the FIFO of the 'gate' engine, whose turns wait for a byte each" },
	{ "sandbox", 0, "on|off", OPT_CHOICE, FIELD(sandbox), 0, 0, on_off_choices, "on",
	  "confine exec turns with bubblewrap (off: they run as the daemon, unconfined)" },
	{ "sandbox-bwrap", 0, "PATH", OPT_STRING, FIELD(sandbox_bwrap), 0, 0, NULL, "bwrap",
	  "the bubblewrap program (searched in PATH)" },
	{ "sandbox-user", 0, "USER", OPT_STRING, FIELD(sandbox_user), 0, 0, NULL, "nobody",
	  "who sandboxed turns run as when the daemon runs as root" },
	{ "sandbox-pids", 0, "N", OPT_INT, FIELD(sandbox_pids), 8, 1 << 20, NULL, "512",
	  "processes and threads one sandboxed turn may have at once" },
	{ "sandbox-bind", 0, "PATH", OPT_PATH_LIST, FIELD(sandbox_binds), 0, 0, NULL, NULL,
	  "a host path every sandbox sees read-only at the same place (e.g. a CLI installed "
	  "outside /usr); repeatable" },
	{ "trigger", 0, "SPEC", OPT_TRIGGER, FIELD(triggers), 0, 0, NULL, NULL,
	  "add or replace a trigger: 'NAME definition|inbound [events=..] [tags=..] "
	  "[has_metadata=..] [missing_metadata=..] [has_content=true|false]'; repeatable" },
	{ "store-only", 0, NULL, OPT_BOOL, FIELD(store_only), 0, 0, NULL, "false",
	  "run the embedded note store alone, no agents: the vault a fleet shares when there is "
	  "no real one" },
	{ "fleet", 0, "NAME", OPT_TOPIC_LEVEL, FIELD(fleet), 0, 0, NULL, NULL,
	  "join fleet NAME: the instances of a fleet share its agents, partition by partition "
	  "(docs/SCALE.md)" },
	{ "partitions", 0, "N", OPT_INT, FIELD(partitions), 1, 1024, NULL, "16",
	  "the fleet's partition count; every instance of a fleet must say the same" },
	{ "drain-timeout", 0, "SECS", OPT_INT, FIELD(drain_timeout), 0, 3600, NULL, "30",
	  "a partition handed over waits this long for its turns to finish; the rest run again "
	  "at the next owner" },
	{ "fleet-partition", 0, "N", OPT_INT, FIELD(fleet_partition), -1, 1023, NULL, "-1",
	  "internal: set by a fleet instance on the process it runs for partition N" },
	{ "test-config", 0, NULL, OPT_BOOL, FIELD(test_config), 0, 0, NULL, "false",
	  "check the configuration, print it and exit" },
	{ "verbose", 'v', NULL, OPT_BOOL, FIELD(verbose), 0, 0, NULL, "false",
	  "log debug lines too" },
};

#define N_OPTIONS (sizeof options / sizeof options[0])

/* Options that make no sense in a file. */
static bool option_is_cli_only(const struct option_def *opt)
{
	return strcmp(opt->name, "config") == 0 || strcmp(opt->name, "test-config") == 0;
}

static const struct option_def *option_find(const char *name)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

static int parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcmp(value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int choice_index(const char *const *choices, const char *value)
{
	for (int i = 0; choices[i]; i++)
		if (strcmp(choices[i], value) == 0)
			return i;
	return -1;
}

static int str_list_append(struct str_list *list, const char *value, char *msg, size_t msglen)
{
	char **v = realloc(list->v, (list->n + 1) * sizeof *v);
	char *copy = strdup(value);

	if (v)
		list->v = v;
	if (!v || !copy) {
		free(copy);
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	list->v[list->n++] = copy;
	return 0;
}

/* Checks an engine-def spec and keeps its text; the engines parse it again. */
static int engine_def_append(struct str_list *list, const char *value, char *msg, size_t msglen)
{
	struct engine_def d;

	if (engine_def_parse(value, &d, msg, msglen) != 0)
		return -1;
	engine_def_free(&d);
	if (list->n >= ENGINE_DEFS_MAX) {
		snprintf(msg, msglen, "more than %d engine-def lines", ENGINE_DEFS_MAX);
		return -1;
	}
	return str_list_append(list, value, msg, msglen);
}

/* Whether `name` is an engine: a kind or a declared instance (the specs
 * were checked as they were read, so each parses). */
static bool engine_declared(const struct config *cfg, const char *name)
{
	bool found = engine_kind_known(name);
	char msg[256];

	for (size_t i = 0; !found && i < cfg->engine_defs.n; i++) {
		struct engine_def d;

		if (engine_def_parse(cfg->engine_defs.v[i], &d, msg, sizeof msg) == 0) {
			found = strcmp(d.name, name) == 0;
			engine_def_free(&d);
		}
	}
	return found;
}

/* Checks a trigger spec and keeps its text; the daemon builds the set. */
static int trigger_spec_append(struct str_list *list, const char *value, char *msg,
			       size_t msglen)
{
	struct trigger t;

	if (trigger_parse(value, &t, msg, msglen) != 0)
		return -1;
	trigger_free(&t);
	if (list->n >= TRIGGER_SET_MAX) {
		snprintf(msg, msglen, "more than %d triggers", TRIGGER_SET_MAX);
		return -1;
	}
	return str_list_append(list, value, msg, msglen);
}

/* Stores `value` into the field `opt` names. Returns 0, or -1 with a message
 * (without location) in `msg`. */
static int option_apply(struct config *cfg, const struct option_def *opt, const char *value,
			char *msg, size_t msglen)
{
	char *field = (char *)cfg + opt->offset;
	long n;
	bool b;
	int idx;

	if (*value == '\0') {
		snprintf(msg, msglen, "needs a value");
		return -1;
	}
	switch (opt->kind) {
	case OPT_STRING:
	case OPT_TOPIC_LEVEL:
	case OPT_TOPIC_PREFIX:
	case OPT_ENGINE:
		if (opt->kind == OPT_TOPIC_LEVEL && !text_is_topic_level(value)) {
			snprintf(msg, msglen, "'%s' must be one topic level (no '/', '+' or '#')",
				 value);
			return -1;
		}
		if (opt->kind == OPT_ENGINE &&
		    (!*value || strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					      "0123456789_-") != strlen(value))) {
			snprintf(msg, msglen, "'%s' is not an engine name (A-Z a-z 0-9 _ -)", value);
			return -1;
		}
		if (opt->kind == OPT_TOPIC_PREFIX && !text_is_topic_prefix(value)) {
			snprintf(msg, msglen,
				 "'%s' must be topic levels joined by '/' (none empty, no '+' or '#')",
				 value);
			return -1;
		}
		{
			char **slot = (char **)field;
			char *copy = strdup(value);

			if (!copy) {
				snprintf(msg, msglen, "out of memory");
				return -1;
			}
			free(*slot);
			*slot = copy;
		}
		return 0;
	case OPT_TRIGGER:
		return trigger_spec_append((struct str_list *)field, value, msg, msglen);
	case OPT_ENGINE_DEF:
		return engine_def_append((struct str_list *)field, value, msg, msglen);
	case OPT_PATH_LIST:
		if (value[0] != '/') {
			snprintf(msg, msglen, "'%s' is not an absolute path", value);
			return -1;
		}
		return str_list_append((struct str_list *)field, value, msg, msglen);
	case OPT_INT:
		if (text_parse_long(value, opt->min, opt->max, &n) != 0) {
			snprintf(msg, msglen, "'%s' is not a whole number from %ld to %ld", value,
				 opt->min, opt->max);
			return -1;
		}
		*(int *)field = (int)n;
		return 0;
	case OPT_BOOL:
		if (parse_bool(value, &b) != 0) {
			snprintf(msg, msglen, "'%s' is not true or false", value);
			return -1;
		}
		*(bool *)field = b;
		return 0;
	case OPT_CHOICE:
		idx = choice_index(opt->choices, value);
		if (idx < 0) {
			snprintf(msg, msglen, "'%s' is not one of %s", value, opt->arg);
			return -1;
		}
		/* The enums in config.h list their values in the order of `choices`. */
		*(int *)field = idx;
		return 0;
	}
	snprintf(msg, msglen, "internal error: unknown option kind");
	return -1;
}

void config_defaults(struct config *cfg)
{
	char msg[256];

	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (options[i].def && option_apply(cfg, &options[i], options[i].def, msg,
						   sizeof msg) != 0) {
			/* Defaults are ours; a bad one is a bug caught by the tests. */
			fprintf(stderr, "agentbus: default of --%s: %s\n", options[i].name, msg);
			abort();
		}
	}
}

/* Records that host or port was given, which turns the embedded broker off in
 * auto mode. */
static void note_explicit(struct config *cfg, const struct option_def *opt)
{
	if (strcmp(opt->name, "host") == 0)
		cfg->host_set = true;
	else if (strcmp(opt->name, "port") == 0)
		cfg->port_set = true;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int config_set(struct config *cfg, const char *name, const char *value, char *msg,
	       size_t msglen)
{
	const struct option_def *opt = option_find(name);

	if (!opt) {
		snprintf(msg, msglen, "unknown option '%s'", name);
		return -1;
	}
	return option_apply(cfg, opt, value, msg, msglen);
}

int config_load_file(struct config *cfg, const char *path, FILE *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = 0;

	if (!f) {
		fprintf(err, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && getline(&line, &cap, f) != -1) {
		char *key, *value, msg[256];
		const struct option_def *opt;

		lineno++;
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		value = key + strcspn(key, " \t");
		if (*value)
			*value++ = '\0';
		value = trim(value);
		opt = option_find(key);
		if (!opt || option_is_cli_only(opt)) {
			fprintf(err, "%s:%u: unknown option '%s'\n", path, lineno, key);
			rc = -1;
		} else if (*value == '\0' && opt->kind == OPT_BOOL) {
			*(bool *)((char *)cfg + opt->offset) = true;	/* a bare flag */
		} else if (option_apply(cfg, opt, value, msg, sizeof msg) != 0) {
			fprintf(err, "%s:%u: %s: %s\n", path, lineno, key, msg);
			rc = -1;
		} else {
			note_explicit(cfg, opt);
		}
	}
	if (rc == 0 && ferror(f)) {
		fprintf(err, "%s: read error: %s\n", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

/* getopt_long tables built from `options`; long options report their index
 * in `options` as val + 256 so they never collide with a short letter. */
struct getopt_tables {
	struct option longopts[N_OPTIONS + 3];
	char shortopts[2 * N_OPTIONS + 2];
};

enum { VAL_HELP = 1, VAL_VERSION = 2, VAL_BASE = 256 };

static void getopt_tables_build(struct getopt_tables *t)
{
	size_t s = 0, i;

	t->shortopts[s++] = ':';	/* report a missing argument as ':' */
	for (i = 0; i < N_OPTIONS; i++) {
		t->longopts[i] = (struct option){ options[i].name,
			options[i].arg ? required_argument : no_argument, NULL, (int)(VAL_BASE + i) };
		if (options[i].short_name) {
			t->shortopts[s++] = options[i].short_name;
			if (options[i].arg)
				t->shortopts[s++] = ':';
		}
	}
	t->shortopts[s] = '\0';
	t->longopts[i++] = (struct option){ "help", no_argument, NULL, VAL_HELP };
	t->longopts[i++] = (struct option){ "version", no_argument, NULL, VAL_VERSION };
	t->longopts[i] = (struct option){ NULL, 0, NULL, 0 };
}

static const struct option_def *option_by_getopt_val(int val)
{
	if (val >= VAL_BASE && val < VAL_BASE + (int)N_OPTIONS)
		return &options[val - VAL_BASE];
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].short_name && options[i].short_name == val)
			return &options[i];
	return NULL;
}

/* One option seen on the command line, applied after the config file. */
struct cli_setting {
	const struct option_def *opt;
	const char *value;	/* points into argv; NULL for a flag */
};

static void print_bad_option(FILE *err, char **argv, int missing, int val)
{
	const struct option_def *opt = val > 0 ? option_by_getopt_val(val) : NULL;

	if (missing && opt)
		fprintf(err, "agentbus: --%s: needs a value\n", opt->name);
	else if (val > 0 && val < VAL_BASE)
		fprintf(err, "agentbus: -%c: unknown option\n", val);
	else
		fprintf(err, "agentbus: %s: unknown option\n", argv[optind - 1]);
	fprintf(err, "Try 'agentbus --help'.\n");
}

enum config_action config_parse_args(struct config *cfg, int argc, char **argv, FILE *err)
{
	struct getopt_tables t;
	struct cli_setting *seen;
	size_t n_seen = 0;
	enum config_action action = CONFIG_RUN;
	char msg[256];
	int c;

	config_defaults(cfg);
	getopt_tables_build(&t);
	seen = calloc((size_t)argc + 1, sizeof *seen);
	if (!seen) {
		fprintf(err, "agentbus: out of memory\n");
		return CONFIG_ERROR;
	}
	opterr = 0;
	optind = 1;
	while (action == CONFIG_RUN &&
	       (c = getopt_long(argc, argv, t.shortopts, t.longopts, NULL)) != -1) {
		const struct option_def *opt;

		if (c == VAL_HELP) {
			action = CONFIG_HELP;
		} else if (c == VAL_VERSION) {
			action = CONFIG_VERSION;
		} else if (c == '?' || c == ':') {
			print_bad_option(err, argv, c == ':', optopt);
			action = CONFIG_ERROR;
		} else if ((opt = option_by_getopt_val(c)) != NULL) {
			seen[n_seen++] = (struct cli_setting){ opt, optarg };
		}
	}
	if (action == CONFIG_RUN && optind < argc) {
		fprintf(err, "agentbus: unexpected argument '%s'\nTry 'agentbus --help'.\n",
			argv[optind]);
		action = CONFIG_ERROR;
	}
	/* The file first, so that every command-line option overrides it. */
	for (size_t i = 0; action == CONFIG_RUN && i < n_seen; i++) {
		if (strcmp(seen[i].opt->name, "config") == 0 &&
		    (option_apply(cfg, seen[i].opt, seen[i].value, msg, sizeof msg) != 0 ||
		     config_load_file(cfg, cfg->config_file, err) != 0))
			action = CONFIG_ERROR;
	}
	for (size_t i = 0; action == CONFIG_RUN && i < n_seen; i++) {
		const struct option_def *opt = seen[i].opt;

		if (strcmp(opt->name, "config") == 0)
			continue;
		if (option_apply(cfg, opt, seen[i].value ? seen[i].value : "true", msg,
				 sizeof msg) != 0) {
			fprintf(err, "agentbus: --%s: %s\n", opt->name, msg);
			action = CONFIG_ERROR;
		}
		note_explicit(cfg, opt);
	}
	free(seen);
	if (action == CONFIG_RUN && config_resolve(cfg, err) != 0)
		action = CONFIG_ERROR;
	return action;
}

int config_resolve(struct config *cfg, FILE *err)
{
	char host[256];

	if (cfg->embedded_broker == EMBEDDED_YES && (cfg->host_set || cfg->port_set)) {
		fprintf(err, "agentbus: --embedded-broker yes cannot be combined with --host or --port\n");
		return -1;
	}
	if (cfg->fleet && config_wants_embedded_broker(cfg)) {
		fprintf(err, "agentbus: --fleet needs the broker the fleet shares (--host, --port); "
			"a private broker serves one instance\n");
		return -1;
	}
	if (cfg->fleet && cfg->vault_url) {
		fprintf(err, "agentbus: --fleet cannot be combined with --vault-url: a fleet's "
			"instances share a vault bridged once, by an agentbus of its own "
			"(--store-only --vault-url URL)\n");
		return -1;
	}
	if (cfg->fleet_partition >= 0 && (!cfg->fleet || cfg->fleet_partition > cfg->partitions)) {
		fprintf(err, "agentbus: --fleet-partition is set by a fleet instance on its own "
			"processes\n");
		return -1;
	}
	if (cfg->store_only && cfg->fleet) {
		fprintf(err, "agentbus: --store-only runs no agents, so it joins no fleet\n");
		return -1;
	}
	/* Checked only now: engine-def lines may come after the engine line. */
	if (!engine_declared(cfg, cfg->engine)) {
		fprintf(err, "agentbus: --engine: unknown engine '%s' (an engine-def name, or echo, "
			"exec, openai, anthropic)\n", cfg->engine);
		return -1;
	}
	if (cfg->id)
		return 0;
	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		snprintf(host, sizeof host, "agentbus");
	host[sizeof host - 1] = '\0';
	text_safe_name(host);
	cfg->id = strdup(host);
	if (!cfg->id) {
		fprintf(err, "agentbus: out of memory\n");
		return -1;
	}
	return 0;
}

int config_fleet_child(struct config *cfg)
{
	char *id = NULL, *dir = NULL;

	if (asprintf(&id, "%s-p%d", cfg->id, cfg->fleet_partition) < 0)
		return -1;
	if (asprintf(&dir, "%s/fleet/p%d", cfg->state_dir, cfg->fleet_partition) < 0) {
		free(id);
		return -1;
	}
	free(cfg->fleet_instance);
	cfg->fleet_instance = cfg->id;
	cfg->id = id;
	free(cfg->state_dir);
	cfg->state_dir = dir;
	free(cfg->http);
	cfg->http = NULL;
	cfg->no_store = true;
	cfg->no_demo = true;
	return 0;
}

bool config_wants_embedded_broker(const struct config *cfg)
{
	switch (cfg->embedded_broker) {
	case EMBEDDED_YES:
		return true;
	case EMBEDDED_NO:
		return false;
	case EMBEDDED_AUTO:
		break;
	}
	return !cfg->host_set && !cfg->port_set;
}

void config_print_help(FILE *out)
{
	fprintf(out,
		"Usage: agentbus [options]\n"
		"Runs vault agents on an MQTT bus. Options may also be set in a config file\n"
		"(-c FILE) as `key value` lines, with the long option names as keys.\n\n");
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct option_def *o = &options[i];
		char left[64];

		if (o->short_name)
			snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof left, "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		fprintf(out, "  %-34s %s", left, o->help);
		if (o->def && o->kind != OPT_BOOL)
			fprintf(out, " (default: %s)", o->def);
		fputc('\n', out);
	}
	fprintf(out, "  %-34s %s\n", "    --help", "print this help and exit");
	fprintf(out, "  %-34s %s\n", "    --version", "print the version and exit");
	fprintf(out, "\nExit status: 0 after a clean stop, 1 on a runtime error, 2 on a bad\n"
		     "option or config line.\n");
	fprintf(out, "\nSubcommands (each with its own --help):\n"
		     "  agentbus define FILE.md...   define agents from markdown with front matter\n"
		     "  agentbus ask AGENT [TEXT|-]  ask an agent; prints the reply as it streams\n"
		     "  agentbus tail [AGENT...]     follow turns live\n"
		     "  agentbus agents              list the registered agents\n"
		     "  agentbus status              list the agentbus instances\n"
		     "  agentbus token               mint an HS256 development token\n");
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		enum option_kind k = options[i].kind;

		if (k == OPT_TRIGGER || k == OPT_ENGINE_DEF || k == OPT_PATH_LIST) {
			struct str_list *list = (struct str_list *)((char *)cfg + options[i].offset);

			for (size_t j = 0; j < list->n; j++)
				free(list->v[j]);
			free(list->v);
			list->v = NULL;
			list->n = 0;
		} else if (k == OPT_STRING || k == OPT_TOPIC_LEVEL || k == OPT_TOPIC_PREFIX ||
		    k == OPT_ENGINE) {
			char **slot = (char **)((char *)cfg + options[i].offset);

			free(*slot);
			*slot = NULL;
		}
	}
	free(cfg->fleet_instance);
	cfg->fleet_instance = NULL;
}
