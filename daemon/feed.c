/* feed: topics to console events, classified by topics_classify():
 * R/agent/A/definition -> "agent" (an empty payload -> "removed"),
 * R/agent/A/events -> "turn", the dead-letter topic -> "deadletter", our
 * status topic -> "status". */
#include "daemon/feed.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bus/payload.h"
#include "daemon/console.h"

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
	const char *level;
	char agent[128];
	size_t len;
	enum topic_kind kind;

	if (!c)
		return;
	kind = topics_classify(t, pub->topic, &level, &len);
	if (level && len < sizeof agent) {
		memcpy(agent, level, len);
		agent[len] = '\0';
	} else {
		agent[0] = '\0';
	}
	switch (kind) {
	case TOPIC_DEADLETTER:
		show(c, "deadletter", NULL, pub);
		break;
	case TOPIC_STATUS:
		show(c, "status", NULL, pub);
		break;
	case TOPIC_AGENT_EVENTS:
		show(c, "turn", agent, pub);
		break;
	case TOPIC_AGENT_DEFINITION:
		if (!agent[0])
			break;
		if (pub->len == 0)
			console_forget_agent(c, agent);
		else
			show(c, "agent", agent, pub);
		break;
	default:
		break;
	}
}
