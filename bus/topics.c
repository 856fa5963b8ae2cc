/* bus/topics: topic names are built once at start-up; recognising a topic is
 * a prefix comparison, never a parse of the whole string. */
#include "bus/topics.h"

#include <mosquitto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a + b + c, malloc'd. */
static char *join(const char *a, const char *b, const char *c)
{
	char *t;

	return asprintf(&t, "%s%s%s", a, b, c) < 0 ? NULL : t;
}

int topics_init(struct topics *t, const char *root, const char *vault, const char *instance)
{
	char *base = join(root, "/vault/", vault);	/* R/vault/V */

	memset(t, 0, sizeof *t);
	if (base) {
		t->vault_events = join(base, "/event/", "+");
		t->vault_event_prefix = join(base, "/event/", "");
		t->vault_write = join(base, "/write", "");
		free(base);
	}
	t->agent_prefix = join(root, "/agent/", "");
	t->inboxes = join(root, "/agent/+/", "inbox");
	t->cancels = join(root, "/agent/+/", "cancel");
	t->deadletter = join(root, "/agentbus/", "deadletter");
	t->status = join(root, "/agentbus/status/", instance);
	if (t->vault_events && t->vault_event_prefix && t->vault_write && t->agent_prefix &&
	    t->inboxes && t->cancels && t->deadletter && t->status)
		return 0;
	topics_free(t);
	return -1;
}

void topics_free(struct topics *t)
{
	free(t->vault_events);
	free(t->vault_event_prefix);
	free(t->vault_write);
	free(t->agent_prefix);
	free(t->inboxes);
	free(t->cancels);
	free(t->deadletter);
	free(t->status);
	memset(t, 0, sizeof *t);
}

static bool has_prefix(const char *s, const char *prefix, size_t *len)
{
	*len = strlen(prefix);
	return strncmp(s, prefix, *len) == 0;
}

enum topic_kind topics_classify(const struct topics *t, const char *topic, const char **level,
				size_t *level_len)
{
	size_t n;

	*level = NULL;
	*level_len = 0;
	if (strcmp(topic, t->vault_write) == 0)
		return TOPIC_VAULT_WRITE;
	if (has_prefix(topic, t->vault_event_prefix, &n) && topic[n] && !strchr(topic + n, '/')) {
		*level = topic + n;
		*level_len = strlen(topic + n);
		return TOPIC_VAULT_EVENT;
	}
	if (strcmp(topic, t->deadletter) == 0)
		return TOPIC_DEADLETTER;
	if (strcmp(topic, t->status) == 0)
		return TOPIC_STATUS;
	if (has_prefix(topic, t->agent_prefix, &n)) {
		static const struct {
			const char *leaf;
			enum topic_kind kind;
		} leaves[] = { { "/inbox", TOPIC_AGENT_INBOX }, { "/cancel", TOPIC_AGENT_CANCEL },
			       { "/events", TOPIC_AGENT_EVENTS },
			       { "/definition", TOPIC_AGENT_DEFINITION } };
		const char *agent = topic + n, *slash = strchr(agent, '/');

		for (size_t i = 0; slash && slash > agent && i < sizeof leaves / sizeof leaves[0]; i++)
			if (strcmp(slash, leaves[i].leaf) == 0) {
				*level = agent;
				*level_len = (size_t)(slash - agent);
				return leaves[i].kind;
			}
	}
	return TOPIC_OTHER;
}

bool topics_publishable(const char *topic)
{
	size_t n = strlen(topic);

	return n > 0 && n <= 65535 && mosquitto_validate_utf8(topic, (int)n) == MOSQ_ERR_SUCCESS &&
	       mosquitto_pub_topic_check2(topic, n) == MOSQ_ERR_SUCCESS;
}

char *topics_vault_event(const struct topics *t, const char *event)
{
	return join(t->vault_event_prefix, event, "");
}

char *topics_agent(const struct topics *t, const char *agent, const char *leaf)
{
	char *s;

	return asprintf(&s, "%s%s/%s", t->agent_prefix, agent, leaf) < 0 ? NULL : s;
}
