/* bridge/triggers: the vault triggers that deliver what agentbus's own
 * trigger set (bus/trigger.h) acts on, as the vault's trigger API takes
 * them (parachute-vault-events-and-hub-jwt.md 2.2) and as config.yaml
 * lines for a vault without that API; and the change feed's query that
 * matches the same notes. Pure. */
#ifndef AB_BRIDGE_TRIGGERS_H
#define AB_BRIDGE_TRIGGERS_H

#include "bus/trigger.h"

struct cJSON;

/* The name agentbus registers trigger `t` under. */
#define BRIDGE_TRIGGER_PREFIX "agentbus-"

/* An array of trigger objects {name, events, when, action: {webhook, send,
 * auth?}}; `bearer` NULL leaves auth out. Triggers that fire only on
 * deletes are left out (the vault has no delete triggers). NULL when out
 * of memory. */
struct cJSON *bridge_triggers_build(const struct trigger_set *set, const char *hook_url,
				    const char *bearer);

/* The same as a config.yaml `triggers:` block (malloc'd), bearer left out. */
char *bridge_triggers_yaml(const struct cJSON *triggers);

/* The feed's query: every tag the triggers name, any of them, matched
 * exactly; "" when some trigger names no tag (then every note matters).
 * malloc'd. */
char *bridge_feed_query(const struct trigger_set *set);

#endif
