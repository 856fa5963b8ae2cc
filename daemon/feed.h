/* feed: what the console shows of what agentbus publishes. Registry
 * entries, turn events, dead letters and the status pass through here on
 * their way to the broker; each becomes a console event with the payload as
 * JSON, whichever encoding the bus uses. */
#ifndef AB_DAEMON_FEED_H
#define AB_DAEMON_FEED_H

#include "bus/message.h"
#include "bus/topics.h"

struct console;

/* Shows `pub` on the console when it is one of those; else nothing. */
void feed_publish(struct console *c, const struct topics *t, const struct bus_publish *pub);

#endif
