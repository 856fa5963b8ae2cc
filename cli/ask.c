/* cli/ask: `agentbus ask AGENT [TEXT|-]`. The message goes to the agent's
 * inbox with a response topic under R/agent/A/reply/ (which a locked-down
 * broker lets an agent:read token read) and a correlation id, which the
 * turn's events carry: the reply is printed as it streams, and the answer
 * on the response topic decides the exit status. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/clock.h"
#include "util/text.h"
#include "util/ulid.h"

struct ask {
	const char *subject;
	const char *sender;
	bool json;
	int timeout_s;
};

enum { ASK_SUBJECT = 2000, ASK_SENDER, ASK_JSON, ASK_TIMEOUT };

static const struct option ask_options[] = {
	{ "subject", required_argument, NULL, ASK_SUBJECT },
	{ "sender", required_argument, NULL, ASK_SENDER },
	{ "json", no_argument, NULL, ASK_JSON },
	{ "timeout", required_argument, NULL, ASK_TIMEOUT },
	{ NULL, 0, NULL, 0 },
};

static const char ask_usage[] =
	"usage: agentbus ask AGENT [TEXT|-] [--subject S] [--sender S] [--json] [--timeout SECS]\n"
	"                    [-h HOST] [-p PORT] [-u USER] [-P PASSWORD] [--password-file FILE]\n"
	"                    [--root R] [-c FILE]\n"
	"Sends TEXT (or stdin with -, or when no TEXT is given) to AGENT and prints the reply as\n"
	"it streams. --json prints the reply note. Exit status: 0 a reply, 1 a failure note\n"
	"(or no broker), 2 usage, 3 no answer within --timeout (default 300 s).\n";

static int ask_option(void *ctx, int val, const char *arg)
{
	struct ask *a = ctx;
	long n;

	switch (val) {
	case ASK_SUBJECT: a->subject = arg; return 0;
	case ASK_SENDER: a->sender = arg; return 0;
	case ASK_JSON: a->json = true; return 0;
	case ASK_TIMEOUT:
		if (text_parse_long(arg, 1, 86400 * 7, &n) != 0)
			return -1;
		a->timeout_s = (int)n;
		return 0;
	}
	return -1;
}

/* The message as the inbox takes it: JSON, so it can carry the correlation. */
static char *message(const struct ask *a, const char *text, const char *corr)
{
	cJSON *m = cJSON_CreateObject();
	char *out = NULL;

	if (m && cJSON_AddStringToObject(m, "content", text) &&
	    cJSON_AddStringToObject(m, "correlation_id", corr) &&
	    (!a->subject || cJSON_AddStringToObject(m, "subject", a->subject)) &&
	    cJSON_AddStringToObject(m, "sender", a->sender ? a->sender : "agentbus-ask"))
		out = cJSON_PrintUnformatted(m);
	cJSON_Delete(m);
	return out;
}

/* One turn event: streamed text of our turn goes to stdout. */
static void on_event(const struct ask *a, const char *payload, const char *corr, bool *streamed)
{
	cJSON *ev = cJSON_Parse(payload);
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "kind"));
	const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "correlation_id"));
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "text"));

	if (!a->json && kind && strcmp(kind, "text") == 0 && c && strcmp(c, corr) == 0 && text) {
		fputs(text, stdout);
		fflush(stdout);
		*streamed = true;
	}
	cJSON_Delete(ev);
}

/* The answer: the reply or failure note. Returns the exit status. */
static int on_answer(const struct ask *a, const char *payload, bool streamed)
{
	cJSON *note = cJSON_Parse(payload);
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(note, "metadata");
	const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(note, "content"));
	const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "status"));
	bool failed = (status && strcmp(status, "error") == 0) ||
		      cJSON_GetObjectItemCaseSensitive(md, "error") != NULL;
	int rc = failed ? CLI_FAILED : CLI_OK;

	if (!cJSON_IsObject(note)) {
		/* A question in JSON is answered with a note; text is a refusal
		 * (no such agent, a message too large, ...). */
		fprintf(stderr, "%s\n", payload);
		cJSON_Delete(note);
		return CLI_FAILED;
	}
	if (a->json)
		printf("%s\n", payload);
	else if (failed)
		fprintf(stderr, "%s%s\n", streamed ? "\n" : "", content ? content : payload);
	else if (!streamed)
		printf("%s\n", content ? content : "");
	else
		printf("\n");
	cJSON_Delete(note);
	return rc;
}

static int run(const struct ask *a, const struct config *cfg, const char *agent, const char *text)
{
	char corr[ULID_LEN + 1], topic[512], reply_topic[512], events[512], err[512];
	char *msg;
	struct bus_client *c = cli_connect(cfg);
	int64_t deadline = clock_mono_ms() + (int64_t)a->timeout_s * 1000;
	bool streamed = false;
	int rc = CLI_FAILED;

	if (!c)
		return CLI_FAILED;
	if (ulid_next(&(struct ulid_gen){ 0 }, corr) != 0) {
		bus_client_close(c);
		return CLI_FAILED;
	}
	snprintf(topic, sizeof topic, "%s/agent/%s/inbox", cfg->root, agent);
	snprintf(reply_topic, sizeof reply_topic, "%s/agent/%s/reply/ask-%s", cfg->root, agent, corr);
	snprintf(events, sizeof events, "%s/agent/%s/events", cfg->root, agent);
	msg = message(a, text, corr);
	if (!msg || bus_client_subscribe(c, reply_topic, err, sizeof err) != 0 ||
	    (!a->json && bus_client_subscribe(c, events, err, sizeof err) != 0) ||
	    bus_client_publish(c, topic, msg, strlen(msg), reply_topic, corr, err, sizeof err) != 0) {
		fprintf(stderr, "agentbus ask: %s\n", msg ? err : "out of memory");
		goto out;
	}
	for (;;) {
		struct bus_client_msg m;
		int64_t left = deadline - clock_mono_ms();
		int got = left > 0 ? bus_client_next(c, &m, (int)left) : 0;

		if (got == 0) {
			fprintf(stderr, "%sagentbus ask: no answer from %s within %d s\n",
				streamed ? "\n" : "", agent, a->timeout_s);
			rc = CLI_TIMEOUT;
			break;
		}
		if (got < 0) {
			fprintf(stderr, "agentbus ask: lost the broker\n");
			break;
		}
		if (strcmp(m.topic, reply_topic) == 0) {
			rc = on_answer(a, m.payload, streamed);
			bus_client_msg_free(&m);
			break;
		}
		on_event(a, m.payload, corr, &streamed);
		bus_client_msg_free(&m);
	}
out:
	free(msg);
	bus_client_close(c);
	return rc;
}

int cli_ask(int argc, char **argv)
{
	struct ask a = { .timeout_s = 300 };
	struct config cfg;
	char *text = NULL;
	size_t len;
	int first = cli_parse(argc, argv, ask_options, ask_option, &a, &cfg, ask_usage), rc;

	if (first < 0 || first >= argc || argc - first > 2) {
		if (first >= 0)
			fprintf(stderr, "%s", ask_usage);
		config_free(&cfg);
		return first == -2 ? CLI_OK : CLI_USAGE;
	}
	if (first + 1 == argc || strcmp(argv[first + 1], "-") == 0)
		text = cli_read_file("-", &len);
	else
		text = strdup(argv[first + 1]);
	rc = text && *text ? run(&a, &cfg, argv[first], text) : CLI_USAGE;
	if (text && !*text)
		fprintf(stderr, "agentbus ask: the message is empty\n");
	free(text);
	config_free(&cfg);
	return rc;
}
