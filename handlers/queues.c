/* handlers/queues: drain queues live only while they have work; a key with
 * nothing waiting and nothing running has no queue at all. */
#include "handlers/queues.h"

#include <stdlib.h>
#include <string.h>

struct drain_queue {
	char *key;
	struct queued *head, *tail;
	size_t len;
	bool running;
	bool ready;		/* in the ready list */
	struct drain_queue *next_ready;
};

struct queued *queued_new(const char *inbound_id, const char *drain_key)
{
	struct queued *it = calloc(1, sizeof *it);

	if (!it)
		return NULL;
	it->inbound_id = strdup(inbound_id);
	it->drain_key = strdup(drain_key);
	if (it->inbound_id && it->drain_key)
		return it;
	queued_free(it);
	return NULL;
}

void queued_free(struct queued *it)
{
	if (!it)
		return;
	free(it->inbound_id);
	free(it->drain_key);
	free(it);
}

size_t queues_waiting(const struct queues *q, const char *key)
{
	struct drain_queue *dq = strmap_get(&q->keys, key);

	return dq ? dq->len : 0;
}

static void make_ready(struct queues *q, struct drain_queue *dq)
{
	if (dq->ready || dq->running || !dq->head)
		return;
	dq->ready = true;
	dq->next_ready = NULL;
	if (q->ready_tail)
		q->ready_tail->next_ready = dq;
	else
		q->ready_head = dq;
	q->ready_tail = dq;
}

static struct drain_queue *queue_of(struct queues *q, const char *key)
{
	struct drain_queue *dq = strmap_get(&q->keys, key);

	if (dq)
		return dq;
	dq = calloc(1, sizeof *dq);
	if (!dq || !(dq->key = strdup(key)) || strmap_put(&q->keys, dq->key, dq) != 0) {
		if (dq)
			free(dq->key);
		free(dq);
		return NULL;
	}
	return dq;
}

int queues_push(struct queues *q, struct queued *it)
{
	struct drain_queue *dq = queue_of(q, it->drain_key);

	if (!dq)
		return -1;
	it->next = NULL;
	if (dq->tail)
		dq->tail->next = it;
	else
		dq->head = it;
	dq->tail = it;
	dq->len++;
	q->queued++;
	make_ready(q, dq);
	return 0;
}

int queues_push_front(struct queues *q, struct queued *it)
{
	struct drain_queue *dq = queue_of(q, it->drain_key);

	if (!dq)
		return -1;
	it->next = dq->head;
	dq->head = it;
	if (!dq->tail)
		dq->tail = it;
	dq->len++;
	q->queued++;
	make_ready(q, dq);
	return 0;
}

struct queued *queues_next(struct queues *q)
{
	struct drain_queue *dq = q->ready_head;
	struct queued *it;

	if (!dq)
		return NULL;
	q->ready_head = dq->next_ready;
	if (!q->ready_head)
		q->ready_tail = NULL;
	dq->ready = false;
	it = dq->head;
	dq->head = it->next;
	if (!dq->head)
		dq->tail = NULL;
	dq->len--;
	dq->running = true;
	q->queued--;
	q->running++;
	it->next = NULL;
	return it;
}

void queues_done(struct queues *q, const char *key)
{
	struct drain_queue *dq = strmap_get(&q->keys, key);

	if (!dq || !dq->running)
		return;
	dq->running = false;
	q->running--;
	if (dq->head) {
		make_ready(q, dq);
		return;
	}
	strmap_remove(&q->keys, key);
	free(dq->key);
	free(dq);
}

int queues_move_all(struct queues *to, struct queues *from)
{
	struct queued *it;
	int rc = 0;

	/* `from` holds only waiting items (nothing of it runs), so taking them
	 * key by key in ready order keeps every key's order. */
	while ((it = queues_next(from)) != NULL) {
		queues_done(from, it->drain_key);
		if (queues_push(to, it) != 0) {
			queued_free(it);
			rc = -1;
		}
	}
	return rc;
}

static void free_queue(void *arg, const char *key, void *value)
{
	struct drain_queue *dq = value;

	(void)arg;
	(void)key;
	while (dq->head) {
		struct queued *it = dq->head;

		dq->head = it->next;
		queued_free(it);
	}
	free(dq->key);
	free(dq);
}

void queues_free(struct queues *q)
{
	strmap_each(&q->keys, free_queue, NULL);
	strmap_free(&q->keys);
	memset(q, 0, sizeof *q);
}
