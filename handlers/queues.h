/* handlers/queues: one FIFO per drain key (reference section 5.1), at most
 * one running turn per key, and a ready list of keys that have work and none
 * running, served in the order they became ready so no key starves. Pure
 * bookkeeping: the runtime decides how many run at once. */
#ifndef AB_HANDLERS_QUEUES_H
#define AB_HANDLERS_QUEUES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strmap.h"

struct turn_request;

struct drain_queue;

struct queues {
	struct strmap keys;	/* drain key -> struct drain_queue */
	struct drain_queue *ready_head, *ready_tail;
	size_t queued;		/* waiting, all keys */
	size_t running;
};

/* Waiting turns on `key`. */
size_t queues_waiting(const struct queues *q, const char *key);
/* Appends `req` (taken) to its drain key's FIFO. Returns 0 or -1 (out of
 * memory; `req` is then still the caller's). */
int queues_push(struct queues *q, struct turn_request *req);
/* The oldest waiting turn of the first ready key, now counted as running on
 * that key; NULL when nothing may start. The caller owns the request. */
struct turn_request *queues_next(struct queues *q);
/* The running turn on `key` finished: its next turn, if any, becomes ready. */
void queues_done(struct queues *q, const char *key);
/* Frees every waiting request. */
void queues_free(struct queues *q);

#endif
