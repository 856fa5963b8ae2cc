/* handlers/inbound: an inbound message note becomes one queued turn
 * (CONTRACT.md section 5.1): routing by metadata.agent, else the legacy
 * metadata.channel; outbound notes ignored; each note id accepted at most
 * once, ever; the turn recorded in the state before it is queued. */
#ifndef AB_HANDLERS_INBOUND_H
#define AB_HANDLERS_INBOUND_H

#include "bus/event.h"
#include "bus/message.h"

struct agent_runtime;

void inbound_receive(struct agent_runtime *rt, const struct vault_event *ev,
		     const struct bus_message *msg);

#endif
