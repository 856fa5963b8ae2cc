/* handlers/request: an accepted inbound message, as it waits in the state
 * and as a turn runs it. Pure data: no bus, no state. */
#ifndef AB_HANDLERS_REQUEST_H
#define AB_HANDLERS_REQUEST_H

struct cJSON;

/* All strings owned. */
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

#endif
