/* bus/deadletter: the payload of R/agentbus/deadletter (docs/CONTRACT.md section
 * 9) for an input agentbus cannot act on. */
#ifndef AB_BUS_DEADLETTER_H
#define AB_BUS_DEADLETTER_H

#include <stddef.h>

#include "bus/error.h"

struct cJSON;

/* Bytes of the rejected payload quoted in the excerpt. */
#define DEADLETTER_EXCERPT_MAX 256

/* {at, topic, reason, error, size, excerpt}; NULL when out of memory. */
struct cJSON *deadletter_build(const char *topic, const void *payload, size_t len,
			       const struct bus_error *err);

#endif
