/* handlers/replica: in a fleet, the part of a partition's state its next
 * owner needs (the registered agents, what was last written on each thread
 * note), published retained under the partition's topic in the same
 * transaction as the state's own rows (contract section 14). The next owner
 * reads it back before it takes the partition (fleet/restore.h). */
#ifndef AB_HANDLERS_REPLICA_H
#define AB_HANDLERS_REPLICA_H

#include <stdbool.h>

struct agent_runtime;

/* Agent `name` registered from note `definition` with `spec` (the state's
 * JSON text), or unregistered when `spec` is NULL. 0 or -1. */
int replica_agent(struct agent_runtime *rt, const char *name, const char *definition,
		  const char *spec);

/* Finished turns each thread's record names: more than a partition's owner
 * ever holds unacknowledged (daemon/run.c reads at most a batch of fewer
 * between two releases). */
#define REPLICA_DONE_KEEP 128

/* Turn `inbound_id` finished on the thread note at `path` (id `id`), which
 * it left as `meta` (JSON text): the record carries that and the thread's
 * latest REPLICA_DONE_KEEP finished turns, so that the next owner neither
 * runs one of them again nor counts it twice. 0 or -1. */
int replica_thread(struct agent_runtime *rt, const char *path, const char *id,
		   const char *meta, const char *inbound_id);

/* Turn `inbound_id`'s exchange for the API engines, as the state's history
 * holds it, the thread's `n`-th turn: kept in slot `n % keep` of the
 * thread's history records (so the newest `keep` stay). An exchange larger
 * than a write is not kept (logged). 0 or -1. */
int replica_history(struct agent_runtime *rt, const char *path, const char *inbound_id, long n,
		    int keep);

/* The response topic waiting for inbound note `inbound_id`'s reply (as
 * state_answer_put() takes it), or, with `topic` NULL, no longer waiting.
 * 0 or -1. */
int replica_answer(struct agent_runtime *rt, const char *inbound_id, const char *topic,
		   const char *correlation_hex, bool json);

/* What `agent` has spent on UTC day `day`, as the state now says. 0 or -1. */
int replica_spend(struct agent_runtime *rt, const char *agent, const char *day);

/* An inbox message (packet id `mid`, `digest`) becomes note `note_id`:
 * recorded before the note's write, in the same transaction, so that a next
 * owner that gets the message again writes the same note, which the vault
 * then has once. The record keeps the messages whose packet id is less
 * than STATE_INBOX_WINDOW ids behind the newest the partition has read, as
 * a lone instance's state does: the broker redelivers only what is in
 * flight, far fewer, and reuses an id only after 65,535 more. 0 or -1. */
int replica_inbox_note(struct agent_runtime *rt, int mid, const char *digest,
		       const char *note_id);

/* The note the previous owner made of that message, or NULL. */
const char *replica_inbox_known(const struct agent_runtime *rt, int mid, const char *digest);

/* Reads the previous owner's inbox record (runtime_options.inbox_record). */
int replica_open(struct agent_runtime *rt);
void replica_close(struct agent_runtime *rt);

/* The partition released its acknowledgements, having read up to packet id
 * `last_mid`: the record forgets what is now out of the window (it is not
 * cleared: a PUBACK written is no proof the broker took it). 0 or -1. */
int replica_released(struct agent_runtime *rt, int last_mid);

#endif
