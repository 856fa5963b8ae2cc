/* handlers/runtime: the top of handlers/: what the daemon calls. It opens
 * the runtime (registry and accepted turns from the state, the engines on
 * the loop), hands each incoming message to the handler it is for inside
 * one state transaction, starts waiting turns under the global cap, and
 * drives the outbox. Nothing below it calls back up into it. */
#ifndef AB_HANDLERS_RUNTIME_H
#define AB_HANDLERS_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/message.h"
#include "bus/trigger.h"
#include "handlers/context.h"

/* Loads the registry and the accepted turns from the state and opens the
 * engines on `l`. Returns 0, or -1 after logging. */
int runtime_open(struct agent_runtime *rt, const struct runtime_options *opt,
		 struct state *state, const struct topics *topics, const struct bus_sink *sink,
		 struct loop *l);
void runtime_close(struct agent_runtime *rt);

/* One message from R/vault/V/event/<event>, decoded and matched against
 * `triggers`; the event's dedupe key and everything its trigger actions
 * record commit together. Each returns 0 when done with the message (also
 * when it was dead-lettered), -1 when the state could not record it: it must
 * not be acknowledged. */
int runtime_vault_event(struct agent_runtime *rt, const struct trigger_set *triggers,
			const struct bus_message *msg, const char *event_name, size_t name_len);
/* A direct message on R/agent/<agent>/inbox. */
int runtime_inbox(struct agent_runtime *rt, const struct bus_message *msg, const char *agent,
		  size_t agent_len);
/* A fleet router's forward: `payload` published on each of `topics` at QoS 1
 * through the outbox, in one transaction; their PUBACKs are what the router
 * waits for before it acknowledges what it forwarded. */
int runtime_forward(struct agent_runtime *rt, const char *const *topics, size_t n,
		    const void *payload, size_t len);
/* R/agent/<agent>/cancel: the payload names the inbound note, or is empty
 * for whatever runs on the agent. */
int runtime_cancel(struct agent_runtime *rt, const struct bus_message *msg, const char *agent,
		   size_t agent_len);

/* Starts as many waiting turns as the global cap allows (none while
 * paused); the daemon calls it once per loop iteration. */
void runtime_schedule(struct agent_runtime *rt);
/* The state could not be written (a turn could not record a step): start
 * nothing until runtime_resume(). */
bool runtime_paused(const struct agent_runtime *rt);
void runtime_resume(struct agent_runtime *rt);

/* Sends what the outbox holds that is ready or due again; `retry_ms`: time
 * until the next is due, -1 when none. */
void runtime_flush(struct agent_runtime *rt, int64_t now_ms, int *retry_ms);
/* Forgets the acknowledged publishes, once per loop iteration. */
void runtime_settle(struct agent_runtime *rt);
/* The group commit of the state (state_group_commit()): 1 committed, 0
 * nothing to commit, -1 failed, and then the runtime went back to what the
 * state holds and is paused. */
int runtime_commit(struct agent_runtime *rt);
/* Connected; `session_present` false: the broker redelivers nothing. */
void runtime_connected(struct agent_runtime *rt, bool session_present);

/* No turn waits or runs and the broker has answered every publish: what
 * every message handled so far caused is on the bus (a fleet partition may
 * acknowledge them then). */
bool runtime_settled(const struct agent_runtime *rt);
/* In a fleet: agent `name`'s retained registry entry (`payload`, `len`;
 * empty: removed) says whether it is enabled, in whichever partition. */
void runtime_directory(struct agent_runtime *rt, const char *name, const void *payload,
		       size_t len);

/* A fleet partition released its acknowledgements, having read up to
 * packet id `last_mid` (handlers/replica.h). */
void runtime_released(struct agent_runtime *rt, int last_mid);

/* For the status message. */
/* On the first start with no agent registered, defines the demo agent `eng`
 * (the echo engine) through the vault, once ever per state dir, and logs
 * it. Returns 0 or -1. */
int runtime_offer_demo(struct agent_runtime *rt);

int runtime_agents(const struct agent_runtime *rt);
/* {"agents": {"<name>": {"queued": N}}} for the agents with waiting turns
 * (the console's queue column). NULL when out of memory. */
struct cJSON *runtime_load_doc(const struct agent_runtime *rt);
int runtime_queued(const struct agent_runtime *rt);
int runtime_running(const struct agent_runtime *rt);

#endif
