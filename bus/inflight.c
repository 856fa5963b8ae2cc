/* bus/inflight: QoS 1 publishes awaiting their answer, by packet id. */
#include "bus/inflight.h"

#include <stdlib.h>

static size_t home(const struct inflight_table *t, uint16_t mid)
{
	/* Packet ids come in sequence; the multiplication spreads them. */
	return ((size_t)mid * 40503u) & (t->cap - 1);
}

static struct inflight_slot *find(const struct inflight_table *t, uint16_t mid)
{
	if (!t->cap)
		return NULL;
	for (size_t i = home(t, mid);; i = (i + 1) & (t->cap - 1)) {
		if (!t->v[i].used)
			return NULL;
		if (t->v[i].mid == mid)
			return &t->v[i];
	}
}

static int grow(struct inflight_table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64;
	struct inflight_slot *old = t->v, *v = calloc(cap, sizeof *v);
	size_t old_cap = t->cap;

	if (!v)
		return -1;
	t->v = v;
	t->cap = cap;
	t->used = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].used)
			inflight_put(t, old[i].mid, old[i].done, old[i].arg);
	free(old);
	return 0;
}

int inflight_put(struct inflight_table *t, int mid, bus_publish_done_fn *done, void *arg)
{
	struct inflight_slot *s = find(t, (uint16_t)mid);
	size_t i;

	if (s) {
		s->done = done;
		s->arg = arg;
		return 0;
	}
	/* At most half full, so probes stay short. */
	if ((t->used + 1) * 2 > t->cap && grow(t) != 0)
		return -1;
	for (i = home(t, (uint16_t)mid); t->v[i].used; i = (i + 1) & (t->cap - 1))
		;
	t->v[i] = (struct inflight_slot){ done, arg, (uint16_t)mid, true };
	t->used++;
	return 0;
}

bool inflight_take(struct inflight_table *t, int mid, struct inflight_slot *out)
{
	struct inflight_slot *s = find(t, (uint16_t)mid);
	size_t hole, i;

	if (!s)
		return false;
	*out = *s;
	/* Backward shift: entries after the hole that may live in it move up,
	 * so a lookup never stops at a gap in front of its entry. */
	hole = (size_t)(s - t->v);
	for (i = (hole + 1) & (t->cap - 1); t->v[i].used; i = (i + 1) & (t->cap - 1)) {
		size_t h = home(t, t->v[i].mid);

		/* Does slot i's home lie cyclically outside (hole, i]? */
		if ((i > hole && (h <= hole || h > i)) || (i < hole && h <= hole && h > i)) {
			t->v[hole] = t->v[i];
			hole = i;
		}
	}
	t->v[hole].used = false;
	t->used--;
	return true;
}

void inflight_free(struct inflight_table *t)
{
	free(t->v);
	t->v = NULL;
	t->cap = t->used = 0;
}
