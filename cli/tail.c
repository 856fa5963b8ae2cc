/* cli/tail: `agentbus tail [AGENT...]` follows turns as they happen, one
 * readable line per turn event (and per dead letter with --deadletters),
 * coloured only on a terminal; --json prints the events as they come. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/clock.h"
#include "util/text.h"

#define MAX_STARTS 1024

struct tail {
	bool json, deadletters, colour;
	long count;		/* events to print before exiting; 0: for ever */
	struct {
		char turn_id[40];
		int64_t at;
	} starts[MAX_STARTS];	/* when each turn started, for its duration */
	size_t next_start;
};

enum { TAIL_JSON = 3000, TAIL_DEADLETTERS, TAIL_COUNT };

static const struct option tail_options[] = {
	{ "json", no_argument, NULL, TAIL_JSON },
	{ "deadletters", no_argument, NULL, TAIL_DEADLETTERS },
	{ "count", required_argument, NULL, TAIL_COUNT },
	{ NULL, 0, NULL, 0 },
};

static const char tail_usage[] =
	"usage: agentbus tail [AGENT...] [--deadletters] [--json] [--count N]\n"
	"                     [-h HOST] [-p PORT] [-u USER] [-P PASSWORD] [--password-file FILE]\n"
	"                     [--root R] [-c FILE]\n"
	"Follows turns live (all agents, or those named), one line per event; Ctrl-C ends it.\n";

/* Set by the signal handler, the one thing a handler may touch. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int tail_option(void *ctx, int val, const char *arg)
{
	struct tail *t = ctx;

	switch (val) {
	case TAIL_JSON: t->json = true; return 0;
	case TAIL_DEADLETTERS: t->deadletters = true; return 0;
	case TAIL_COUNT:
		return text_parse_long(arg, 1, LONG_MAX, &t->count);
	}
	return -1;
}

static const char *s(const cJSON *doc, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, key));

	return v ? v : "";
}

static double n(const cJSON *doc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* `text` on one line: newlines and tabs shown as \n and \t. */
static void print_flat(const char *text)
{
	for (; *text; text++) {
		if (*text == '\n')
			fputs("\\n", stdout);
		else if (*text == '\t')
			fputs("\\t", stdout);
		else if (*text != '\r')
			fputc(*text, stdout);
	}
}

static void stamp(void)
{
	char iso[CLOCK_ISO_LEN];

	clock_iso8601(iso);
	printf("%.12s ", iso + 11);	/* HH:MM:SS.mmm */
}

static const char *paint(const struct tail *t, const char *kind)
{
	if (!t->colour)
		return "";
	if (strcmp(kind, "error") == 0 || strcmp(kind, "deadletter") == 0)
		return "\033[31m";
	if (strcmp(kind, "done") == 0)
		return "\033[32m";
	return strcmp(kind, "start") == 0 ? "\033[36m" : "";
}

static void remember_start(struct tail *t, const char *turn_id)
{
	size_t i = t->next_start++ % MAX_STARTS;

	snprintf(t->starts[i].turn_id, sizeof t->starts[i].turn_id, "%s", turn_id);
	t->starts[i].at = clock_mono_ms();
}

static double seconds_since_start(const struct tail *t, const char *turn_id)
{
	for (size_t i = 0; i < MAX_STARTS; i++)
		if (strcmp(t->starts[i].turn_id, turn_id) == 0)
			return (double)(clock_mono_ms() - t->starts[i].at) / 1000.0;
	return -1;
}

static void print_event(struct tail *t, const cJSON *ev)
{
	const char *kind = s(ev, "kind");
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(ev, "usage");

	stamp();
	printf("%s%-12s %-5s%s ", paint(t, kind), s(ev, "agent"), kind, t->colour ? "\033[0m" : "");
	if (strcmp(kind, "start") == 0) {
		remember_start(t, s(ev, "turn_id"));
		printf("turn %s for message %s", s(ev, "turn_id"), s(ev, "inbound_id"));
	} else if (strcmp(kind, "text") == 0) {
		print_flat(s(ev, "text"));
	} else if (strcmp(kind, "done") == 0) {
		double took = seconds_since_start(t, s(ev, "turn_id"));

		if (took >= 0)
			printf("in %.2f s, ", took);
		printf("%.0f in / %.0f out tokens, $%g", n(usage, "input_tokens"),
		       n(usage, "output_tokens"), n(ev, "cost_usd"));
	} else if (strcmp(kind, "error") == 0) {
		print_flat(s(ev, "error"));
	}
	putchar('\n');
}

static void print_deadletter(struct tail *t, const cJSON *dl)
{
	stamp();
	printf("%s%-12s %-5s%s %s: ", paint(t, "deadletter"), "-", "dead", t->colour ? "\033[0m" : "",
	       s(dl, "reason"));
	print_flat(s(dl, "error"));
	printf(" (topic %s)\n", s(dl, "topic"));
}

static int follow(struct tail *t, struct bus_client *c, const char *deadletter_topic)
{
	long printed = 0;

	while (!stop_requested && (t->count == 0 || printed < t->count)) {
		struct bus_client_msg m;
		int got = bus_client_next(c, &m, 200);
		cJSON *doc;

		if (got < 0) {
			fprintf(stderr, "agentbus tail: lost the broker\n");
			return CLI_FAILED;
		}
		if (got == 0)
			continue;
		if (t->json) {
			printf("%s\n", m.payload);
		} else if ((doc = cJSON_Parse(m.payload)) != NULL) {
			if (strcmp(m.topic, deadletter_topic) == 0)
				print_deadletter(t, doc);
			else
				print_event(t, doc);
			cJSON_Delete(doc);
		}
		fflush(stdout);
		printed++;
		bus_client_msg_free(&m);
	}
	return CLI_OK;
}

int cli_tail(int argc, char **argv)
{
	struct tail *t = calloc(1, sizeof *t);
	struct config cfg;
	struct bus_client *c = NULL;
	char topic[512], dl[512], err[512];
	int first, rc = CLI_FAILED;
	struct sigaction sa = { .sa_handler = on_signal };

	if (!t)
		return CLI_FAILED;
	first = cli_parse(argc, argv, tail_options, tail_option, t, &cfg, tail_usage);
	if (first < 0) {
		rc = first == -2 ? CLI_OK : CLI_USAGE;
		goto out;
	}
	t->colour = !t->json && isatty(STDOUT_FILENO);
	snprintf(dl, sizeof dl, "%s/agentbus/deadletter", cfg.root);
	c = cli_connect(&cfg);
	if (!c)
		goto out;
	for (int i = first; i < argc || i == first; i++) {
		snprintf(topic, sizeof topic, "%s/agent/%s/events", cfg.root, i < argc ? argv[i] : "+");
		if (bus_client_subscribe(c, topic, err, sizeof err) != 0)
			goto refused;
		if (i >= argc)
			break;
	}
	if (t->deadletters && bus_client_subscribe(c, dl, err, sizeof err) != 0)
		goto refused;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "following turns of %s (Ctrl-C ends)\n",
		first < argc ? "the agents named" : "every agent");
	rc = follow(t, c, dl);
	goto out;
refused:
	fprintf(stderr, "agentbus tail: %s\n", err);
out:
	bus_client_close(c);
	config_free(&cfg);
	free(t);
	return rc;
}
