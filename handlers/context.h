/* handlers/context: the agent runtime's one context, shared by every file of
 * handlers/, and the publishing helpers they all use. It sits below the
 * handlers: it includes none of them. Everything here runs on the loop's
 * thread. */
#ifndef AB_HANDLERS_CONTEXT_H
#define AB_HANDLERS_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/message.h"
#include "bus/sink.h"
#include "bus/topics.h"
#include "engines/engine.h"
#include "handlers/agentdef.h"
#include "handlers/queues.h"
#include "util/strmap.h"
#include "util/ulid.h"

struct state;
struct turn;
struct loop;
struct cJSON;

/* The module name agentbus writes as `origin` and recognises in events. */
#define AGENTBUS_ORIGIN "agentbus"

/* Room kept under --max-payload in every note agentbus writes, so the event
 * the vault publishes for it (the note plus its envelope) still fits. */
#define WRITE_HEADROOM 4096

struct metrics;

struct runtime_options {
	const char *vault;
	struct agentdef_defaults defaults;	/* engine, timeout */
	int max_running;	/* turns running at once, all agents */
	int queue_limit;	/* waiting turns per drain key */
	int max_queued;		/* waiting turns, all keys */
	size_t max_payload;
	struct metrics *metrics;	/* where turns are counted; borrowed */
	struct engine_options engine;
	/* In a fleet (a partition's process): whether agent `name` is in this
	 * partition (NULL name: the input names no agent). NULL: every agent. */
	bool (*owns)(void *arg, const char *name);
	void *owns_arg;
	/* In a fleet: the topic under which the partition's state is kept,
	 * retained, for its next owner (handlers/replica.h). NULL: none. */
	const char *replica;
	/* In a fleet: the previous owner's inbox record, as restored (JSON
	 * text; NULL: none). */
	const char *inbox_record;
};

struct agent_runtime {
	struct runtime_options opt;
	struct state *state;		/* borrowed */
	const struct topics *topics;	/* borrowed */
	struct loop *loop;		/* borrowed */
	struct bus_sink sink;
	struct ulid_gen ids;		/* request ids, note ids, turn ids */
	struct strmap agents;		/* name -> struct agent_spec */
	struct strmap folded;		/* lower-case name -> the same spec */
	struct strmap definitions;	/* definition note id -> the same spec */
	/* In a fleet: every enabled agent of every partition, by name (values
	 * unused), from the retained registry entries: whom a callback may go
	 * to. */
	struct strmap directory;
	struct queues queues;
	struct queues accepted;		/* accepted in the open transaction */
	struct turn *running;		/* list of running turns */
	uint64_t next_turn;
	struct engines *engines;
	struct cJSON *inbox_batch;	/* fleet: inbox notes since the last release */
	struct cJSON *inbox_known;	/* fleet: the previous owner's, as restored */
	bool paused;			/* the state is failing: start nothing */
	bool rewound;			/* a rewind could not reload: again on resume */
};

/* A fresh ULID into `out` (returned, to be used in place); on the
 * impossible failure, a time-ordered fallback. */
char *ctx_new_id(struct agent_runtime *rt, char out[ULID_LEN + 1]);

/* The id of one step of the turn that `inbound_id` caused ("reply",
 * "thread-end", ...): the same in every run, so a turn run again, here after
 * a crash or by another instance, makes the same writes, which the vault
 * applies once (a repeated request id is answered from its record). 26
 * Crockford base32 digits of a hash of "<inbound id>|<step>"; when the
 * inbound id is a ULID its first 10 (its time) replace the hash's. */
char *ctx_step_id(const char *inbound_id, const char *step, char out[ULID_LEN + 1]);

/* Publishes at QoS 1 through the outbox: recorded now, in the current state
 * transaction (which a failure marks failed), sent after its commit.
 * Returns 0 or -1. */
int ctx_send(struct agent_runtime *rt, const struct bus_publish *pub);
/* The same for a document, in the configured encoding. Returns 0, -1, or -2
 * when it encodes to more than `limit` bytes (nothing recorded then). */
int ctx_send_doc(struct agent_runtime *rt, const char *topic, const struct cJSON *doc,
		 bool retain, size_t limit);
/* A note write (taken) on R/vault/V/write, within the write limit
 * (--max-payload less WRITE_HEADROOM). Returns 0, -1 or -2 (too large). */
int ctx_write(struct agent_runtime *rt, struct cJSON *write);
/* The largest note write agentbus makes. */
size_t ctx_write_limit(const struct agent_runtime *rt);

/* Whether `name` is a registered agent: here, or (in a fleet) in another
 * partition. */
bool ctx_agent_known(const struct agent_runtime *rt, const char *name);

/* Whether this process acts for agent `name` (see runtime_options.owns). */
bool ctx_owns(const struct agent_runtime *rt, const char *name);

/* Publishes at QoS 0 (live only; lost when the broker is away). */
void ctx_publish_live(struct agent_runtime *rt, const char *topic, const struct cJSON *doc);

/* Answers an unusable input on the dead-letter topic. */
void ctx_deadletter(struct agent_runtime *rt, const struct bus_message *msg,
		    enum bus_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
