/* handlers/inbound: an inbound message note becomes one accepted turn
 * (docs/CONTRACT.md section 5.1): routing by metadata.agent, else the legacy
 * metadata.channel (either read as a string whatever its JSON type);
 * outbound notes ignored; each note id accepted at most once, ever. */
#ifndef AB_HANDLERS_INBOUND_H
#define AB_HANDLERS_INBOUND_H

#include "bus/event.h"
#include "bus/message.h"

struct agent_runtime;

/* Inside the caller's state transaction: records the note id and the turn,
 * or answers a turn that cannot be queued. The accepted turn waits in
 * rt->accepted until the caller has committed. Returns 0, or -1 when the
 * state failed (the transaction is then failed). */
/* The agent a message note is for (metadata.agent, else channel), or NULL;
 * the caller frees it. */
char *inbound_agent_name(const struct note *n);

int inbound_receive(struct agent_runtime *rt, const struct vault_event *ev,
		    const struct bus_message *msg);

#endif
