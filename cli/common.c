/* cli/common: the connection options every subcommand shares, connecting,
 * and reading retained messages to their end. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_TIMEOUT_MS 10000

enum { OPT_PASSWORD_FILE = 1000, OPT_ROOT, OPT_VAULT, OPT_HELP };

static const struct option conn_options[] = {
	{ "host", required_argument, NULL, 'h' },
	{ "port", required_argument, NULL, 'p' },
	{ "username", required_argument, NULL, 'u' },
	{ "password", required_argument, NULL, 'P' },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "vault", required_argument, NULL, OPT_VAULT },
	{ "config", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, OPT_HELP },
};

#define N_CONN (sizeof conn_options / sizeof conn_options[0])

/* The daemon's own option, by its long name: the same checks and defaults. */
static const char *conn_option_name(int c)
{
	switch (c) {
	case 'h': return "host";
	case 'p': return "port";
	case 'u': return "username";
	case 'P': return "password";
	case OPT_PASSWORD_FILE: return "password-file";
	case OPT_ROOT: return "root";
	case OPT_VAULT: return "vault";
	}
	return NULL;
}

int cli_parse(int argc, char **argv, const struct option *own, cli_option_fn *fn, void *ctx,
	      struct config *cfg, const char *usage)
{
	struct option all[64];
	struct setting {
		int c;
		const char *arg;
	} seen[64];
	size_t n = 0, n_seen = 0;
	const char *file = NULL;
	int c;

	config_defaults(cfg);
	for (size_t i = 0; i < N_CONN; i++)
		all[n++] = conn_options[i];
	for (; own && own->name && n < 63; own++)
		all[n++] = *own;
	memset(&all[n], 0, sizeof all[n]);
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "h:p:u:P:c:", all, NULL)) != -1) {
		if (c == '?' || c == ':') {
			fprintf(stderr, "%s", usage);
			return -1;
		}
		if (c == OPT_HELP) {
			printf("%s", usage);
			return -2;
		}
		if (c == 'c')
			file = optarg;
		else if (n_seen < 64)
			seen[n_seen++] = (struct setting){ c, optarg };
	}
	if (file && config_load_file(cfg, file, stderr) != 0)
		return -1;
	for (size_t i = 0; i < n_seen; i++) {
		const char *name = conn_option_name(seen[i].c);
		char msg[256] = "";

		if (name && config_set(cfg, name, seen[i].arg, msg, sizeof msg) != 0) {
			fprintf(stderr, "agentbus %s: --%s: %s\n%s", argv[0], name, msg, usage);
			return -1;
		}
		if (!name && fn(ctx, seen[i].c, seen[i].arg) != 0) {
			fprintf(stderr, "agentbus %s: bad value '%s'\n%s", argv[0],
				seen[i].arg ? seen[i].arg : "", usage);
			return -1;
		}
	}
	return optind;
}

struct bus_client *cli_connect(const struct config *cfg)
{
	struct bus_client_options o = {
		.host = cfg->host, .port = cfg->port, .username = cfg->username,
		.password = cfg->password, .password_file = cfg->password_file,
		.timeout_ms = CLI_TIMEOUT_MS,
	};
	struct bus_client *c;
	char err[512];

	if (bus_client_connect(&o, &c, err, sizeof err) != 0) {
		fprintf(stderr, "agentbus: %s\n", err);
		return NULL;
	}
	return c;
}

int cli_retained(struct bus_client *c, const char *filter, const char *fence,
		 void (*fn)(void *arg, const struct bus_client_msg *m), void *arg)
{
	struct bus_client_msg m;
	char err[512];

	if (bus_client_subscribe(c, filter, err, sizeof err) != 0 ||
	    bus_client_subscribe(c, fence, err, sizeof err) != 0) {
		fprintf(stderr, "agentbus: %s\n", err);
		return -1;
	}
	/* Everything retained on `filter` is queued now; the fence's own
	 * retained messages are not ours. */
	while (bus_client_next(c, &m, 0) == 1) {
		if (m.retain && m.len > 0 && bus_topic_matches(filter, m.topic))
			fn(arg, &m);
		bus_client_msg_free(&m);
	}
	return 0;
}

char *cli_read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 4096, n;
	char *buf = f ? malloc(cap) : NULL;

	*len = 0;
	while (buf && (n = fread(buf + *len, 1, cap - *len - 1, f)) > 0) {
		*len += n;
		if (cap - *len < 2) {
			char *grown = realloc(buf, cap *= 2);

			if (!grown) {
				free(buf);
				buf = NULL;
			} else {
				buf = grown;
			}
		}
	}
	if (buf)
		buf[*len] = '\0';
	if (f && f != stdin)
		fclose(f);
	return buf;
}
