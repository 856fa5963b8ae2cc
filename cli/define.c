/* cli/define: `agentbus define FILE.md...` writes each file as a definition
 * note (upsert by path Agents/<name>) through the vault write topic, then
 * waits for the agent's registry entry and prints what it says. */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/frontmatter.h"
#include "util/clock.h"
#include "util/text.h"
#include "util/ulid.h"

struct define {
	int timeout_s;
};

enum { DEFINE_TIMEOUT = 4000 };

static const struct option define_options[] = {
	{ "timeout", required_argument, NULL, DEFINE_TIMEOUT },
	{ NULL, 0, NULL, 0 },
};

static const char define_usage[] =
	"usage: agentbus define FILE.md... [--timeout SECS]\n"
	"                       [-h HOST] [-p PORT] [-u USER] [-P PASSWORD] [--password-file FILE]\n"
	"                       [--root R] [--vault V] [-c FILE]\n"
	"Defines an agent from each markdown file: its YAML front matter (name, mode, engine,\n"
	"model, timeout, ...) becomes the definition's metadata, its body the system prompt;\n"
	"- reads stdin. Prints enabled or the validation error; exit 0 when all are enabled.\n";

static int define_option(void *ctx, int val, const char *arg)
{
	struct define *d = ctx;
	long n;

	if (val != DEFINE_TIMEOUT)
		return -1;
	if (text_parse_long(arg, 1, 86400 * 7, &n) != 0)
		return -1;
	d->timeout_s = (int)n;
	return 0;
}

/* The name: front matter `name`, else the file's name without ".md". */
static char *agent_name(cJSON *md, const char *path)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	char *copy, *base, *dot, *out;

	if (name)
		return strdup(name);
	if (strcmp(path, "-") == 0 || !(copy = strdup(path)))
		return NULL;
	base = basename(copy);
	dot = strrchr(base, '.');
	if (dot && strcmp(dot, ".md") == 0)
		*dot = '\0';
	out = strdup(base);
	free(copy);
	if (out && !cJSON_AddStringToObject(md, "name", out)) {
		free(out);
		return NULL;
	}
	return out;
}

static char *definition_write(cJSON *md, const char *name, const char *body)
{
	cJSON *w = cJSON_CreateObject(), *note = cJSON_CreateObject(), *tags;
	char rid[128], id[ULID_LEN + 1], path[128], *out = NULL;

	if (ulid_next(&(struct ulid_gen){ 0 }, id) != 0)
		return NULL;
	snprintf(rid, sizeof rid, "define-%s-%s", name, id);
	snprintf(path, sizeof path, "Agents/%s", name);
	if (w && note && cJSON_AddNumberToObject(w, "v", 1) && cJSON_AddStringToObject(w, "op", "upsert") &&
	    cJSON_AddStringToObject(w, "request_id", rid) &&
	    cJSON_AddStringToObject(w, "origin", "agentbus-define") &&
	    cJSON_AddStringToObject(note, "path", path) &&
	    cJSON_AddStringToObject(note, "content", body) &&
	    (tags = cJSON_AddArrayToObject(note, "tags")) &&
	    cJSON_AddItemToArray(tags, cJSON_CreateString("agent/definition"))) {
		cJSON_AddItemReferenceToObject(note, "metadata", md);
		cJSON_AddItemToObject(w, "note", note);
		note = NULL;
		out = cJSON_PrintUnformatted(w);
	}
	cJSON_Delete(note);
	cJSON_Delete(w);
	return out;
}

/* Waits for `name`'s registry entry published after the write (a retained
 * one is the entry from before). An unchanged definition is not registered
 * again: after the timeout, the entry from before answers. */
static int await_entry(struct bus_client *c, const char *topic, int timeout_s, const char *file)
{
	int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
	char *before = NULL;
	int rc = CLI_FAILED;

	for (;;) {
		struct bus_client_msg m;
		int64_t left = deadline - clock_mono_ms();
		int got = left > 0 ? bus_client_next(c, &m, (int)left) : 0;
		cJSON *entry;
		const char *status, *error;

		if (got <= 0)
			break;
		if (strcmp(m.topic, topic) != 0) {	/* an earlier file's agent */
			bus_client_msg_free(&m);
			continue;
		}
		if (m.retain || m.len == 0) {
			free(before);
			before = m.len ? strdup(m.payload) : NULL;
			bus_client_msg_free(&m);
			continue;
		}
		entry = cJSON_Parse(m.payload);
		status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "status"));
		error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "error"));
		if (status && strcmp(status, "enabled") == 0) {
			printf("%s: enabled\n", file);
			rc = CLI_OK;
		} else {
			printf("%s: %s\n", file, error ? error : m.payload);
			rc = CLI_FAILED;
		}
		cJSON_Delete(entry);
		bus_client_msg_free(&m);
		free(before);
		return rc;
	}
	if (before && strstr(before, "\"status\":\"enabled\"")) {
		printf("%s: enabled (unchanged)\n", file);
		rc = CLI_OK;
	} else {
		fprintf(stderr, "%s: no registry entry within %d s (is agentbus running?)\n", file,
			timeout_s);
	}
	free(before);
	return rc;
}

static int define_one(struct bus_client *c, const struct config *cfg, const char *file,
		      int timeout_s)
{
	char err[512], topic[512], write_topic[512];
	size_t len;
	char *text = cli_read_file(file, &len), *body = NULL, *name = NULL, *w = NULL;
	cJSON *md = NULL;
	int rc = CLI_FAILED;

	if (!text) {
		fprintf(stderr, "%s: cannot read it\n", file);
		return CLI_FAILED;
	}
	if (frontmatter_parse(text, len, &md, &body, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", file, err);
		goto out;
	}
	name = agent_name(md, file);
	if (!name || !*name || strpbrk(name, "/+#")) {
		fprintf(stderr, "%s: the agent needs a name (front matter 'name:')\n", file);
		goto out;
	}
	snprintf(topic, sizeof topic, "%s/agent/%s/definition", cfg->root, name);
	snprintf(write_topic, sizeof write_topic, "%s/vault/%s/write", cfg->root, cfg->vault);
	w = definition_write(md, name, body);
	if (!w || bus_client_subscribe(c, topic, err, sizeof err) != 0 ||
	    bus_client_publish(c, write_topic, w, strlen(w), NULL, NULL, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", file, w ? err : "out of memory");
		goto out;
	}
	rc = await_entry(c, topic, timeout_s, file);
out:
	free(w);
	free(name);
	free(body);
	cJSON_Delete(md);
	free(text);
	return rc;
}

int cli_define(int argc, char **argv)
{
	struct define d = { .timeout_s = 5 };
	struct config cfg;
	struct bus_client *c;
	int first = cli_parse(argc, argv, define_options, define_option, &d, &cfg, define_usage);
	int rc = CLI_OK;

	if (first < 0 || first >= argc) {
		if (first >= 0)
			fprintf(stderr, "%s", define_usage);
		config_free(&cfg);
		return first == -2 ? CLI_OK : CLI_USAGE;
	}
	c = cli_connect(&cfg);
	if (!c) {
		config_free(&cfg);
		return CLI_FAILED;
	}
	for (int i = first; i < argc; i++) {
		if (define_one(c, &cfg, argv[i], d.timeout_s) != CLI_OK)
			rc = CLI_FAILED;
	}
	bus_client_close(c);
	config_free(&cfg);
	return rc;
}
