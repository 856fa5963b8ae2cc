/* feed: topics to console events. R/agent/A/definition -> "agent" (an empty
 * payload -> "removed"), R/agent/A/events -> "turn", the dead-letter topic
 * -> "deadletter", our status topic -> "status". */
#include "daemon/feed.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bus/payload.h"
#include "daemon/console.h"

/* The agent name and leaf of R/agent/<name>/<leaf>, or false. */
static bool agent_topic(const struct topics *t, const char *topic, char *name, size_t cap,
			const char **leaf)
{
	size_t prefix = strlen(t->agent_prefix), n;
	const char *rest = topic + prefix, *slash;

	if (strncmp(topic, t->agent_prefix, prefix) != 0 || !(slash = strchr(rest, '/')))
		return false;
	n = (size_t)(slash - rest);
	if (n == 0 || n >= cap)
		return false;
	memcpy(name, rest, n);
	name[n] = '\0';
	*leaf = slash + 1;
	return true;
}

/* The payload as one line of JSON: as it is when the bus speaks JSON
 * (agentbus's encoder writes no line breaks), else decoded. */
static void show(struct console *c, const char *kind, const char *agent,
		 const struct bus_publish *pub)
{
	struct bus_error err;
	cJSON *doc = NULL;
	char *json;

	if (!payload_is_msgpack(pub->payload, pub->len, pub->content_type)) {
		/* Not strndup: the payload holds exactly len bytes, no NUL. */
		if ((json = malloc(pub->len + 1)) != NULL) {
			memcpy(json, pub->payload, pub->len);
			json[pub->len] = '\0';
		}
	} else {
		if (payload_decode(pub->payload, pub->len, pub->content_type, pub->len + 1, &doc,
				   &err) != 0)
			return;
		json = cJSON_PrintUnformatted(doc);
		cJSON_Delete(doc);
	}
	if (json && !strpbrk(json, "\r\n"))
		console_publish(c, kind, agent, json);
	free(json);
}

void feed_publish(struct console *c, const struct topics *t, const struct bus_publish *pub)
{
	const char *leaf;
	char agent[128];

	if (!c)
		return;
	if (strcmp(pub->topic, t->deadletter) == 0)
		show(c, "deadletter", NULL, pub);
	else if (strcmp(pub->topic, t->status) == 0)
		show(c, "status", NULL, pub);
	else if (agent_topic(t, pub->topic, agent, sizeof agent, &leaf)) {
		if (strcmp(leaf, "events") == 0)
			show(c, "turn", agent, pub);
		else if (strcmp(leaf, "definition") == 0 && pub->len == 0)
			console_forget_agent(c, agent);
		else if (strcmp(leaf, "definition") == 0)
			show(c, "agent", agent, pub);
	}
}
