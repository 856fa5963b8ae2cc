/* handlers/runtime: the agent runtime's one context: the registry, the turn
 * queues, the running turns, the engine pool and what they publish through.
 * Everything here runs on the main thread; the engine pool's workers see only
 * the requests handed to them. */
#ifndef AB_HANDLERS_RUNTIME_H
#define AB_HANDLERS_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/event.h"
#include "bus/message.h"
#include "bus/sink.h"
#include "bus/topics.h"
#include "bus/trigger.h"
#include "engines/engine.h"
#include "handlers/agentdef.h"
#include "handlers/queues.h"
#include "util/strmap.h"
#include "util/ulid.h"

struct state;
struct turn;

/* The module name agentbus writes as `origin` and recognises in events. */
#define AGENTBUS_ORIGIN "agentbus"

struct runtime_options {
	const char *vault;
	struct agentdef_defaults defaults;	/* engine, timeout */
	int max_running;	/* turns running at once, all agents */
	int queue_limit;	/* waiting turns per drain key */
	int max_queued;		/* waiting turns, all keys */
	size_t max_payload;
	struct engine_options engine;
};

struct agent_runtime {
	struct runtime_options opt;
	struct state *state;		/* borrowed */
	const struct topics *topics;	/* borrowed */
	struct bus_sink sink;
	struct ulid_gen ids;		/* request ids, note ids, turn ids */
	struct strmap agents;		/* name -> struct agent_spec */
	struct strmap definitions;	/* definition note id -> struct agent_spec (same) */
	struct queues queues;
	struct turn *running;		/* list of running turns */
	uint64_t next_turn;
	struct engine_pool *pool;
};

/* Loads the registry and the accepted turns from the state and starts the
 * engine workers. Returns 0, or -1 after logging. */
int runtime_open(struct agent_runtime *rt, const struct runtime_options *opt,
		 struct state *state, const struct topics *topics, const struct bus_sink *sink);
void runtime_close(struct agent_runtime *rt);

/* A trigger fired for `ev` (arrived as `msg`): the trigger's action. */
void runtime_trigger_fired(struct agent_runtime *rt, const struct trigger *t,
			   const struct vault_event *ev, const struct bus_message *msg);
/* Every decoded vault event, fired or not: definitions that lose their tag. */
void runtime_observe(struct agent_runtime *rt, const struct vault_event *ev);
/* A direct message on R/agent/<agent>/inbox. */
void runtime_inbox(struct agent_runtime *rt, const struct bus_message *msg, const char *agent,
		   size_t agent_len);

/* Event loop plumbing: the fd that says engine results are ready, the time
 * until the nearest turn deadline (-1: none), and serving both. */
int runtime_fd(const struct agent_runtime *rt);
int runtime_timeout_ms(const struct agent_runtime *rt, int64_t now_ms);
void runtime_tick(struct agent_runtime *rt, int64_t now_ms);

/* For the status message. */
int runtime_agents(const struct agent_runtime *rt);
int runtime_queued(const struct agent_runtime *rt);
int runtime_running(const struct agent_runtime *rt);

/* Helpers the handler files share. */
/* A fresh ULID into `out`; on the impossible failure, a time-ordered fallback. */
void runtime_new_id(struct agent_runtime *rt, char out[ULID_LEN + 1]);
/* Publishes at QoS 1 through the outbox: recorded now (in the current state
 * transaction, if any), sent by runtime_flush(). */
void runtime_send(struct agent_runtime *rt, const struct bus_publish *pub);
/* The same for a document, in the configured encoding. */
void runtime_send_doc(struct agent_runtime *rt, const char *topic, const struct cJSON *doc,
		      bool retain);
/* A note write (taken) on R/vault/V/write, through the outbox. */
void runtime_write(struct agent_runtime *rt, struct cJSON *write);
/* Sends what the outbox holds; call after every commit that recorded sends,
 * and once connected. */
void runtime_flush(struct agent_runtime *rt);
/* The broker acknowledged message `mid`; runtime_settle() forgets the
 * acknowledged publishes, once per loop iteration. */
void runtime_acked(struct agent_runtime *rt, int mid);
void runtime_settle(struct agent_runtime *rt);
/* Starts as many waiting turns as the global cap allows. */
void runtime_schedule(struct agent_runtime *rt);

#endif
