/* handlers/turn: one turn's life, in the order of docs/CONTRACT.md section 6:
 * thread note start -> engine job -> thread note end -> reply or failure
 * note -> callback -> the inbound note's marker, with turn events along the
 * way. Each step that changes the state commits as one transaction; a step
 * that cannot commit puts the turn back at the head of its queue, to run
 * again once the state can be written. */
#ifndef AB_HANDLERS_TURN_H
#define AB_HANDLERS_TURN_H

#include <stdbool.h>

struct agent_runtime;
struct queued;
struct turn_request;

/* Starts the waiting turn `it` (taken); its drain key already counts as
 * running. The request is read from the state. */
void turn_start(struct agent_runtime *rt, struct queued *it);
/* Answers a turn that will not run (queue full, agent gone): failure note,
 * callback, marker, and the turn forgotten, inside the caller's state
 * transaction. Returns 0 or -1 (the transaction is then failed). */
int turn_refuse(struct agent_runtime *rt, const struct turn_request *req, const char *reason);
/* Cancels running turns on `agent`: the one whose inbound note id or turn
 * id is `inbound_id` (NULL: every one).
 * Each ends with a failure note that says "cancelled". Returns how many. */
int turn_cancel(struct agent_runtime *rt, const char *agent, const char *inbound_id);
/* Ends the running turns' jobs and frees them (at shutdown; they stay in
 * the durable queue and run again after the restart). */
void turn_free_all(struct agent_runtime *rt);

#endif
