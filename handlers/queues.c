/* handlers/queues: drain queues live only while they have work; a key with
 * nothing waiting and nothing running has no queue at all. */
#include "handlers/queues.h"

#include <stdlib.h>
#include <string.h>

#include "handlers/turn.h"

struct queue_item {
	struct turn_request *req;
	struct queue_item *next;
};

struct drain_queue {
	char *key;
	struct queue_item *head, *tail;
	size_t len;
	bool running;
	bool ready;		/* in the ready list */
	struct drain_queue *next_ready;
};

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

int queues_push(struct queues *q, struct turn_request *req)
{
	struct drain_queue *dq = strmap_get(&q->keys, req->drain_key);
	struct queue_item *it = calloc(1, sizeof *it);

	if (!it)
		return -1;
	if (!dq) {
		dq = calloc(1, sizeof *dq);
		if (!dq || !(dq->key = strdup(req->drain_key)) ||
		    strmap_put(&q->keys, dq->key, dq) != 0) {
			if (dq)
				free(dq->key);
			free(dq);
			free(it);
			return -1;
		}
	}
	it->req = req;
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

struct turn_request *queues_next(struct queues *q)
{
	struct drain_queue *dq = q->ready_head;
	struct queue_item *it;
	struct turn_request *req;

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
	req = it->req;
	free(it);
	return req;
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

static void free_queue(void *arg, const char *key, void *value)
{
	struct drain_queue *dq = value;

	(void)arg;
	(void)key;
	while (dq->head) {
		struct queue_item *it = dq->head;

		dq->head = it->next;
		turn_request_free(it->req);
		free(it);
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
