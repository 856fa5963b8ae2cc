/* handlers/outcome: what a turn's end writes after the thread note, in the
 * order of docs/CONTRACT.md section 6: the reply or failure note (also on
 * R/agent/A/reply and to an inbox request's response topic), the callback,
 * the inbound note's marker. Shared by finished and refused turns. */
#ifndef AB_HANDLERS_OUTCOME_H
#define AB_HANDLERS_OUTCOME_H

#include <stdbool.h>

struct agent_runtime;
struct turn_request;

/* What an outcome says. */
struct outcome {
	bool ok;
	const char *text;		/* the reply, or the failure reason */
	const char *session;
	long input_tokens, output_tokens;
	double cost_usd;
};

/* Steps 3 to 5 for `req` on `thread` (NULL: none), recorded in the current
 * state transaction. Returns 0, or -1 with the transaction failed. */
int outcome_write(struct agent_runtime *rt, const struct turn_request *req, const char *thread,
		  const struct outcome *o);

#endif
