/* state: the daemon's durable state, one SQLite file in the state dir, owned
 * by the main thread. Later modules add tables through the migrations in
 * state.c; everything else reaches SQLite only through this module. */
#ifndef AB_STATE_STATE_H
#define AB_STATE_STATE_H

#include <stdbool.h>

#include "bus/message.h"

struct state;
struct outbox;

/* Creates `dir` if needed, locks it against a second daemon, opens and
 * migrates the database. Returns 0, or -1 after logging why. */
int state_open(const char *dir, struct state **out);

/* Records the dedupe key of a vault event. Returns 1 the first time a key
 * is seen (act on the event), 0 when it was seen before, -1 on error. */
int state_mark_seen(struct state *st, const char *key);

/* One result row: up to four text columns (NULL for SQL NULL), valid only
 * during the call. */
typedef void state_row_fn(void *arg, const char *const cols[4]);

/* Groups the calls between them into one transaction. They nest: only the
 * outermost pair begins and commits, so a caller can fold its callees'
 * transactions into its own. A transaction fails as a unit: any step that
 * fails inside it (every function here that writes) marks it, and its
 * outermost commit then rolls back and returns -1, as does a COMMIT that
 * fails. An inner commit returns -1 once the transaction is marked, so
 * every level learns. */
int state_begin(struct state *st);
int state_commit(struct state *st);
/* Marks the open transaction failed (a step outside state/ failed). */
void state_fail(struct state *st);
/* Group commit (state/txn.h): with grouping on, each outermost pair above
 * is a savepoint of one transaction that state_group_commit() commits;
 * nothing recorded in the outbox is sent before that. The commit returns 1
 * (committed), 0 (nothing open) or -1: then every pair since the last one
 * is undone. */
int state_group(struct state *st, bool on);
int state_group_commit(struct state *st);
/* Deletes the outbox rows the broker has acknowledged, as one pair. */
int state_settle(struct state *st);

/* The state could not be written (disk full, I/O errors): set by any failed
 * write, cleared by a successful state_probe(). `why` is SQLite's message. */
bool state_failing(const struct state *st, const char **why);
/* Tries a small write; 0 when it committed (the state is healthy again). */
int state_probe(struct state *st);

/* The outbox of what the handlers publish at QoS 1 (state/outbox.h). */
struct outbox *state_outbox(struct state *st);
/* Records `pub` in the current transaction; marks it failed on error. */
int state_send(struct state *st, const struct bus_publish *pub);

/* Registered agents: the spec as JSON, by name. load: rows (name, spec). */
int state_agent_put(struct state *st, const char *name, const char *definition,
		    const char *spec);
int state_agent_delete(struct state *st, const char *name);
int state_agents_load(struct state *st, state_row_fn *row, void *arg);

/* Accepted turns not yet finished, in arrival order. load: rows
 * (inbound_id, drain key) only, so waiting turns cost no memory for their
 * content; get: row (request JSON). Adding an inbound id twice keeps the
 * first. */
int state_turn_add(struct state *st, const char *inbound_id, const char *drain_key,
		   const char *request);
int state_turn_done(struct state *st, const char *inbound_id);
int state_turns_load(struct state *st, state_row_fn *row, void *arg);
int state_turn_get(struct state *st, const char *inbound_id, state_row_fn *row, void *arg);

/* What agentbus last wrote on a thread note, found by path without regard
 * to case (as the vault resolves paths): row (path as first written, id,
 * meta JSON). */
int state_thread_put(struct state *st, const char *path, const char *id, const char *meta);
int state_thread_get(struct state *st, const char *path, state_row_fn *row, void *arg);

/* In a fleet: turn `inbound_id` finished on `thread` (the newest `keep` are
 * kept); get: rows (inbound_id), oldest first. */
int state_thread_done_add(struct state *st, const char *thread, const char *inbound_id,
			  int keep);
int state_thread_done_get(struct state *st, const char *thread, state_row_fn *row, void *arg);

/* A thread's exchanges for the API engines: the message of turn
 * `inbound_id` (once; the oldest beyond `keep` go), its reply when it
 * succeeded, and up to `limit` answered exchanges before it, oldest first
 * (columns: user, assistant). */
int state_history_add(struct state *st, const char *thread, const char *inbound_id,
		      const char *user, int keep);
int state_history_answer(struct state *st, const char *inbound_id, const char *assistant);
int state_history_get(struct state *st, const char *thread, const char *before_inbound_id,
		      int limit, state_row_fn *row, void *arg);
/* Turn `inbound_id`'s own exchange: row (user, assistant). */
int state_history_exchange(struct state *st, const char *inbound_id, state_row_fn *row,
			   void *arg);

/* What `agent`'s turns cost on UTC day `day` ("YYYY-MM-DD"). */
int state_spend_add(struct state *st, const char *agent, const char *day, double cost);
int state_spend_get(struct state *st, const char *agent, const char *day, double *cost);

/* Inbox messages by the broker's packet id and a digest of the message, so
 * a redelivery is recognised (libmosquitto does not show the DUP flag). A
 * PUBACK written is no proof the broker has it (a broker stopped meanwhile
 * delivers again after its restart), so a packet id is kept until the
 * broker uses it again or is STATE_INBOX_WINDOW ids past it: mosquitto
 * hands ids out in sequence and redelivers only what is in flight, far
 * fewer than that. seen: 1 when (mid, digest) is recorded, 0 when not, -1
 * on error. */
#define STATE_INBOX_WINDOW 1024
int state_inbox_seen(struct state *st, int mid, const char *digest);
int state_inbox_record(struct state *st, int mid, const char *digest);
/* The broker has no session for us: nothing will be delivered again. */
int state_inbox_forget_all(struct state *st);

/* A response topic waiting for an inbound note's reply. take: row (topic,
 * correlation as hex, json "0"|"1"), then forgotten. */
int state_answer_put(struct state *st, const char *inbound_id, const char *topic,
		     const char *correlation, bool json);
int state_answer_take(struct state *st, const char *inbound_id, state_row_fn *row, void *arg);

/* True when the previous daemon on this state dir did not stop cleanly. */
bool state_previous_run_crashed(const struct state *st);

/* The SQLite library's version ("3.40.1"). */
const char *state_library_version(void);

/* Sets the once-ever flag `key`: 1 when this call set it, 0 when it was set
 * already, -1 on error. */
int state_flag_take(struct state *st, const char *key);

/* Records a clean stop, checkpoints the WAL and releases the lock. */
void state_close(struct state *st);

#endif
