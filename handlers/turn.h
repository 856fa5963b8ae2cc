/* handlers/turn: one turn's life, in the order of CONTRACT.md section 6:
 * thread note start -> engine -> thread note end -> reply or failure note ->
 * callback -> the inbound note's marker, with turn events along the way. */
#ifndef AB_HANDLERS_TURN_H
#define AB_HANDLERS_TURN_H

#include <stdint.h>

struct agent_runtime;
struct engine_result;
struct cJSON;

/* An accepted inbound message, waiting or running; all strings owned. */
struct turn_request {
	char *inbound_id;
	char *agent;
	char *drain_key;
	char *content;
	char *sender;		/* NULL when none */
	char *subject;		/* non-blank, untrimmed; NULL when none */
	char *reply_to;
	char *correlation_id;
	int depth;		/* delegation_depth, 0 when absent or invalid */
};

void turn_request_free(struct turn_request *r);
/* As JSON for the durable turn queue, and back (NULL when malformed). */
struct cJSON *turn_request_to_json(const struct turn_request *r);
struct turn_request *turn_request_from_json(const struct cJSON *doc);

/* Starts `req` (taken): its drain key is already counted as running. */
void turn_start(struct agent_runtime *rt, struct turn_request *req);
/* An engine finished; a result for a turn that timed out is dropped. */
void turn_engine_done(struct agent_runtime *rt, struct engine_result *res);
/* Fails running turns whose deadline has passed. */
void turn_expire(struct agent_runtime *rt, int64_t now_ms);
/* Milliseconds until the nearest deadline, -1 when nothing runs. */
int turn_timeout_ms(const struct agent_runtime *rt, int64_t now_ms);
/* Answers a turn that will not run (queue full): failure note, callback,
 * marker, dead letter. Takes `req`. */
void turn_refuse(struct agent_runtime *rt, struct turn_request *req, const char *reason);
/* Frees the running turns (at shutdown; they stay in the durable queue). */
void turn_free_all(struct agent_runtime *rt);

#endif
