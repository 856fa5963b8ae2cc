/* fleet/forward: the envelope in which a fleet's router hands a message to
 * its partition (R/agentbus/fleet/<fleet>/in/<N>, contract section 14): the
 * message as the router received it, topic, properties and packet id
 * included, so the partition handles it as if it had received it itself.
 * Pure. */
#ifndef AB_FLEET_FORWARD_H
#define AB_FLEET_FORWARD_H

#include <stddef.h>

#include "bus/message.h"

/* `m` wrapped, malloc'd into `*out` (`*out_len` bytes). Returns 0, or -1
 * when out of memory. */
int fleet_forward_encode(const struct bus_message *m, char **out, size_t *out_len);

/* The message inside `buf`: every pointer of `*m` points into `buf`, which
 * must outlive it. Returns 0, or -1 when `buf` is not an envelope. */
int fleet_forward_decode(const void *buf, size_t len, struct bus_message *m);

#endif
