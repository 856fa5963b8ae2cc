/* handlers/inbox: direct messages on R/agent/A/inbox (CONTRACT.md section
 * 5.2) become inbound notes written through the vault; the turn then runs
 * when the note's event arrives, like any other. A response topic on the
 * message is remembered (in the state) so the reply is also published there
 * with the same correlation data. */
#ifndef AB_HANDLERS_INBOX_H
#define AB_HANDLERS_INBOX_H

#include <stddef.h>

#include "bus/message.h"

struct agent_runtime;

void inbox_receive(struct agent_runtime *rt, const struct bus_message *msg, const char *agent,
		   size_t agent_len);

#endif
