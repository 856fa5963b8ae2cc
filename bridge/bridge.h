/* bridge: a real Parachute vault on the bus, instead of the embedded store
 * (--vault-url). In: the vault's trigger webhooks (POST /vault/V/hook on
 * the --http server) and its change feed become the contract's vault events
 * on R/vault/V/event/note.*, each recorded in bridge.db's outbox before the
 * webhook is answered. Out: writes on R/vault/V/write are recorded, then
 * acknowledged, then applied through the vault's REST API until it takes
 * them (bridge/writer). At start it registers the triggers agentbus needs
 * through the vault's trigger API, or says which config.yaml lines to add
 * when the vault has none. It talks to the rest of agentbus only through
 * the bus, as the embedded store does. */
#ifndef AB_BRIDGE_BRIDGE_H
#define AB_BRIDGE_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/message.h"
#include "bus/sink.h"
#include "bus/topics.h"
#include "bus/trigger.h"

struct loop;
struct http;
struct metrics;
struct bridge;
struct cJSON;

struct bridge_options {
	const char *url;		/* http://HOST:PORT/vault/V */
	const char *vault;		/* V */
	const char *token_file;		/* the vault token (write; admin registers triggers) */
	const char *hook_token_file;	/* the webhooks' bearer; NULL: loopback only */
	const char *hook_url;		/* where the vault calls us; NULL: no webhooks */
	bool feed;
	const struct topics *topics;
	const struct bus_sink *sink;
	const struct trigger_set *triggers;
	struct metrics *metrics;
	size_t max_payload;
};

/* Opens bridge.db in `state_dir`, loads the writes left waiting, starts the
 * feed and the trigger registration. 0, or -1 after logging. */
int bridge_open(struct loop *l, struct http *http, const char *state_dir,
		const struct bridge_options *o, struct bridge **out);
void bridge_close(struct bridge *b);

/* One message from R/vault/V/write: 0 once recorded (or refused and
 * dead-lettered), -1 when bridge.db could not record it (do not
 * acknowledge). */
int bridge_receive(struct bridge *b, const struct bus_message *msg);

/* A webhook: POST /vault/`vault`/hook with `authorization` (NULL: none)
 * from a peer on loopback or not. Returns the HTTP status to answer;
 * `answer` gets the body (JSON). */
int bridge_hook(struct bridge *b, const char *vault, const char *authorization, bool loopback,
		const char *body, size_t len, char *answer, size_t answer_len);

/* Sends what the outbox holds; `retry_ms` as store_vault_flush(). */
void bridge_flush(struct bridge *b, int64_t now_ms, int *retry_ms);
void bridge_settle(struct bridge *b);
/* True while bridge.db cannot be written, with why. */
bool bridge_failing(const struct bridge *b, const char **why);
int bridge_probe(struct bridge *b);

/* {url, mode, feed, triggers, last_webhook_at, webhooks, writes_pending,
 * last_error?} for the status and /readyz. NULL when out of memory. */
struct cJSON *bridge_status(const struct bridge *b);
/* Sets the gauges read from the bridge's state (writes pending, feed live),
 * as /metrics is rendered. */
void bridge_metrics(const struct bridge *b, struct metrics *m);
/* A number that changes whenever what bridge_status() says does (bar
 * last_webhook_at): cheap, read every loop iteration. */
unsigned long long bridge_version(const struct bridge *b);
/* 0 when the vault takes writes; else -1 with why (for /readyz). */
int bridge_ready(const struct bridge *b, char *why, size_t len);

/* --register-triggers: registers them once on `l` and returns the exit
 * status (0 registered; 1 the vault refused or cannot take them, having
 * printed what to add to its config.yaml when it has no trigger API). */
int bridge_register_once(struct loop *l, struct http *http, const struct bridge_options *o);

#endif
