/* bus/payload: bytes from the bus -> one cJSON document, whichever the
 * encoding (docs/CONTRACT.md section 10), with every limit that keeps hostile
 * input from costing more than it weighs. */
#ifndef AB_BUS_PAYLOAD_H
#define AB_BUS_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "bus/error.h"

struct cJSON;

/* Containers nested deeper than this are refused. */
#define PAYLOAD_MAX_DEPTH 32
/* Values (scalars and containers) in one payload. */
#define PAYLOAD_MAX_VALUES 100000

/* True when the payload is to be read as MessagePack: its content type says
 * so, or its first byte opens a MessagePack map. */
bool payload_is_msgpack(const void *data, size_t len, const char *content_type);

/* Decodes a payload of at most `max_len` bytes. Returns 0 with a document the
 * caller frees with cJSON_Delete(), or -1 with `err` filled (too_large,
 * invalid_encoding). Any JSON value is accepted here; callers check shapes. */
int payload_decode(const void *data, size_t len, const char *content_type, size_t max_len,
		   struct cJSON **out, struct bus_error *err);

#endif
