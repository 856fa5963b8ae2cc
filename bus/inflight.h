/* bus/inflight: the QoS 1 publishes the broker has not answered yet, by
 * packet id, with what to call when it does. An open-addressing table: one
 * lookup per publish and per PUBACK, no allocation once it has grown. */
#ifndef AB_BUS_INFLIGHT_H
#define AB_BUS_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/message.h"

struct inflight_slot {
	bus_publish_done_fn *done;
	void *arg;
	uint16_t mid;
	bool used;
};

struct inflight_table {
	struct inflight_slot *v;
	size_t cap;		/* a power of two, or 0 */
	size_t used;
};

/* Tracks `mid` (1..65535), replacing an entry with the same id. Returns 0,
 * or -1 when out of memory. */
int inflight_put(struct inflight_table *t, int mid, bus_publish_done_fn *done, void *arg);
/* Removes `mid`; true with its entry when it was tracked. */
bool inflight_take(struct inflight_table *t, int mid, struct inflight_slot *out);
void inflight_free(struct inflight_table *t);

#endif
