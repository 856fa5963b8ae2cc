/* cli/listing: `agentbus agents` and `agentbus status`, read from the
 * retained registry entries, instance statuses and fleet member records. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "fleet/member.h"

struct listing {
	bool json;
	cJSON *all;		/* --json: the array printed at the end */
	int count;
	cJSON *members;		/* status: fleet member records */
};

static int listing_option(void *ctx, int val, const char *arg)
{
	struct listing *l = ctx;

	(void)arg;
	if (val != 'j')
		return -1;
	l->json = true;
	return 0;
}

static const struct option listing_options[] = { { "json", no_argument, NULL, 'j' },
						 { NULL, 0, NULL, 0 } };

static const char *str(const cJSON *doc, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, key));

	return s ? s : "-";
}

/* Appends the object in `m` to `*into` (made on the first). 1 when it did. */
static int collect_into(cJSON **into, const struct bus_client_msg *m)
{
	cJSON *doc = cJSON_Parse(m->payload);

	if (!cJSON_IsObject(doc) || (!*into && !(*into = cJSON_CreateArray()))) {
		cJSON_Delete(doc);
		return 0;
	}
	cJSON_AddItemToArray(*into, doc);
	return 1;
}

static void collect(void *arg, const struct bus_client_msg *m)
{
	struct listing *l = arg;

	l->count += collect_into(&l->all, m);
}

static void collect_member(void *arg, const struct bus_client_msg *m)
{
	struct listing *l = arg;

	collect_into(&l->members, m);
}

/* The partitions in `bits`, then the router when it is there: "0-3,router". */
static void units_text(const uint64_t *bits, int partitions, char *out, size_t len)
{
	size_t used;

	fleet_bits_text(bits, partitions, out, len);
	used = strlen(out);
	if (fleet_bit_get(bits, FLEET_ROUTER(partitions)))
		snprintf(out + used, len - used, "%srouter", used ? "," : "");
}

static void member_rows(const cJSON *members)
{
	const cJSON *m;

	if (!cJSON_GetArraySize(members))
		return;
	printf("\nFLEET        INSTANCE             STATE    PARTITIONS  OWNED (SERVING)\n");
	cJSON_ArrayForEach(m, members) {
		struct fleet_member fm;
		char owned[512], serving[512], why[128], *text = cJSON_PrintUnformatted(m);

		if (text && fleet_member_decode(text, strlen(text), &fm, why, sizeof why) == 0) {
			units_text(fm.owned, fm.partitions, owned, sizeof owned);
			units_text(fm.serving, fm.partitions, serving, sizeof serving);
			printf("%-12s %-20s %-8s %10d  %s (%s)\n", str(m, "fleet"), fm.id,
			       fm.leaving ? "leaving" : "active", fm.partitions, owned[0] ? owned : "-",
			       serving[0] ? serving : "-");
		}
		cJSON_free(text);
	}
}

static void agent_row(const cJSON *doc)
{
	printf("%-20s %-8s %-16s %-12s %-20s %s\n", str(doc, "name"), str(doc, "status"),
	       str(doc, "mode"), str(doc, "engine"), str(doc, "model"),
	       strcmp(str(doc, "status"), "error") == 0 ? str(doc, "error") : "");
}

static long num(const cJSON *doc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

	return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static void status_row(const cJSON *doc)
{
	const cJSON *vault = cJSON_GetObjectItemCaseSensitive(doc, "vault");

	printf("%-20s %-8s %-8s %6ld %6ld %7ld  %s\n", str(doc, "instance"), str(doc, "state"),
	       str(doc, "version"), num(doc, "agents"), num(doc, "queued"), num(doc, "running"),
	       str(doc, "started_at"));
	/* A bridge: the vault it serves, and how that goes. */
	if (cJSON_IsObject(vault))
		printf("  vault %s: %s, feed %s, triggers %s, %ld writes pending%s%s\n",
		       str(vault, "url"), str(vault, "mode"), str(vault, "feed"),
		       str(vault, "triggers"), num(vault, "writes_pending"),
		       cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(vault, "vault_reachable"))
			       ? "; not reachable: " : "",
		       cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(vault, "vault_reachable"))
			       ? str(vault, "last_error") : "");
}

static int list(int argc, char **argv, const char *what, const char *usage,
		void (*row)(const cJSON *), const char *header)
{
	struct listing l = { 0 };
	struct config cfg;
	struct bus_client *c = NULL;
	char filter[256], fence[256];
	int first = cli_parse(argc, argv, listing_options, listing_option, &l, &cfg, usage);
	int rc = CLI_FAILED;

	if (first < 0) {
		rc = first == -2 ? CLI_OK : CLI_USAGE;
		goto out;
	}
	if (first != argc) {
		fprintf(stderr, "%s", usage);
		rc = CLI_USAGE;
		goto out;
	}
	/* Each listing's fence is the other's topic: readable with agent:read. */
	snprintf(filter, sizeof filter, "%s/%s", cfg.root,
		 strcmp(what, "agents") == 0 ? "agent/+/definition" : "agentbus/status/+");
	snprintf(fence, sizeof fence, "%s/%s", cfg.root,
		 strcmp(what, "agents") == 0 ? "agentbus/status/+" : "agent/+/definition");
	c = cli_connect(&cfg);
	if (!c || cli_retained(c, filter, fence, collect, &l) != 0)
		goto out;
	if (row == status_row) {
		snprintf(filter, sizeof filter, "%s/agentbus/fleet/+/member/+", cfg.root);
		if (cli_retained(c, filter, fence, collect_member, &l) != 0)
			goto out;
	}
	if (l.json) {
		char *text;

		if (!l.all)
			l.all = cJSON_CreateArray();
		/* Fleet member records follow the statuses: the ones with "fleet". */
		while (l.members && cJSON_GetArraySize(l.members) > 0)
			cJSON_AddItemToArray(l.all, cJSON_DetachItemFromArray(l.members, 0));
		text = cJSON_PrintUnformatted(l.all);
		if (text)
			printf("%s\n", text);
		free(text);
	} else if (l.count > 0) {
		const cJSON *doc;

		printf("%s", header);
		cJSON_ArrayForEach(doc, l.all)
			row(doc);
		member_rows(l.members);
	} else {
		printf("no %s on %s:%d (root %s)\n", what, cfg.host, cfg.port, cfg.root);
	}
	rc = CLI_OK;
out:
	bus_client_close(c);
	cJSON_Delete(l.all);
	cJSON_Delete(l.members);
	config_free(&cfg);
	return rc;
}

int cli_agents(int argc, char **argv)
{
	return list(argc, argv, "agents",
		    "usage: agentbus agents [--json] [-h HOST] [-p PORT] [-u USER] [-P PASSWORD]\n"
		    "                       [--password-file FILE] [--root R] [-c FILE]\n"
		    "Lists the registered agents from their retained registry entries.\n",
		    agent_row, "NAME                 STATUS   MODE             ENGINE       MODEL                ERROR\n");
}

int cli_status(int argc, char **argv)
{
	return list(argc, argv, "instances",
		    "usage: agentbus status [--json] [-h HOST] [-p PORT] [-u USER] [-P PASSWORD]\n"
		    "                       [--password-file FILE] [--root R] [-c FILE]\n"
		    "Lists every agentbus instance from its retained status.\n",
		    status_row, "INSTANCE             STATE    VERSION  AGENTS QUEUED RUNNING  STARTED\n");
}
