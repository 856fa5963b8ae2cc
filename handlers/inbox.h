/* handlers/inbox: direct messages on R/agent/A/inbox (docs/CONTRACT.md section
 * 5.2) become inbound notes written through the vault; the turn then runs
 * when the note's event arrives, like any other. A response topic on the
 * message is remembered (in the state) so the reply is also published there
 * with the same correlation data. */
#ifndef AB_HANDLERS_INBOX_H
#define AB_HANDLERS_INBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "bus/error.h"
#include "bus/message.h"

struct agent_runtime;
struct cJSON;

/* An inbox message: plain text (json false; content is the caller's copy of
 * the payload) or the JSON form's fields, borrowed from its document. */
struct inbox_msg {
	const char *content;
	const char *sender;
	const char *subject;
	const char *reply_to;
	const char *correlation_id;
	char *depth;			/* owned: delegation_depth as text; free() it */
	const struct cJSON *metadata;	/* extra metadata */
	bool json;
};

/* Reads `msg` into `m` (zeroed first); `*doc` (freed by the caller, NULL for
 * text) holds what the JSON form borrows. Returns 0, or -1 with `err`. */
int inbox_parse(const struct bus_message *msg, size_t max_payload, struct inbox_msg *m,
		struct cJSON **doc, struct bus_error *err);

/* One message on R/agent/<agent>/inbox: the inbound note write, or a
 * refusal (dead letter and, with a response topic, an answer), committed
 * with the message's packet id and digest, so a redelivery writes nothing
 * twice (state_inbox_seen()).
 * Returns 0, or -1 when the state could not be written. */
int inbox_receive(struct agent_runtime *rt, const struct bus_message *msg, const char *agent,
		  size_t agent_len);


#endif
