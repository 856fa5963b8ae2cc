/* handlers/queues: one FIFO per drain key (reference section 5.1), at most
 * one running turn per key, and a ready list of keys that have work and none
 * running, served in the order they became ready so no key starves. Items
 * are only an inbound id and its key: what a turn says waits in the state,
 * so waiting turns cost the same memory whatever their size. Pure
 * bookkeeping: the runtime decides how many run at once. */
#ifndef AB_HANDLERS_QUEUES_H
#define AB_HANDLERS_QUEUES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strmap.h"

struct drain_queue;

/* One waiting turn; both strings owned. */
struct queued {
	char *inbound_id;
	char *drain_key;
	struct queued *next;
};

struct queues {
	struct strmap keys;	/* drain key -> struct drain_queue */
	struct drain_queue *ready_head, *ready_tail;
	size_t queued;		/* waiting, all keys */
	size_t running;
};

/* A new item, NULL when out of memory; free with queued_free(). */
struct queued *queued_new(const char *inbound_id, const char *drain_key);
void queued_free(struct queued *q);

/* Waiting turns on `key`. */
size_t queues_waiting(const struct queues *q, const char *key);
/* Appends `it` (taken) to its drain key's FIFO, or puts it first (a turn
 * that must run again before the others). Returns 0 or -1 (out of memory;
 * `it` is then still the caller's). */
int queues_push(struct queues *q, struct queued *it);
int queues_push_front(struct queues *q, struct queued *it);
/* The oldest waiting turn of the first ready key, now counted as running on
 * that key; NULL when nothing may start. The caller owns the item. */
struct queued *queues_next(struct queues *q);
/* The running turn on `key` finished: its next turn, if any, becomes ready. */
void queues_done(struct queues *q, const char *key);
/* Moves every waiting item of `from` to the end of `to`, in order. Returns
 * 0, or -1 after freeing what could not be moved. */
int queues_move_all(struct queues *to, struct queues *from);
/* Frees every waiting item. */
void queues_free(struct queues *q);

#endif
