/* strmap: linear probing over a power-of-two table, FNV-1a hashes, grown at
 * 3/4 load (tombstones included) so probes stay short. */
#include "util/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tombstone;
#define STRMAP_TOMBSTONE (&tombstone)

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* The slot holding `key`, or NULL. */
static struct strmap_slot *find(const struct strmap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct strmap_slot *s = &m->slots[i];

		if (!s->key)
			return NULL;
		if (s->key != STRMAP_TOMBSTONE && strcmp(s->key, key) == 0)
			return s;
	}
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_slot *s = find(m, key);

	return s ? s->value : NULL;
}

/* Places an owned key in a table known to have room and not to hold it. */
static void place(struct strmap_slot *slots, size_t cap, char *key, void *value)
{
	size_t i = hash(key) & (cap - 1);

	while (slots[i].key)
		i = (i + 1) & (cap - 1);
	slots[i] = (struct strmap_slot){ key, value };
}

static int grow(struct strmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct strmap_slot *slots;

	/* Only tombstones make it full: rehash at the same size. */
	if (m->used * 2 < m->cap)
		cap = m->cap;
	slots = calloc(cap, sizeof *slots);
	if (!slots)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != STRMAP_TOMBSTONE)
			place(slots, cap, m->slots[i].key, m->slots[i].value);
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	m->filled = m->used;
	return 0;
}

int strmap_put(struct strmap *m, const char *key, void *value)
{
	struct strmap_slot *s = find(m, key);
	char *copy;

	if (s) {
		s->value = value;
		return 0;
	}
	if ((m->filled + 1) * 4 > m->cap * 3 && grow(m) != 0)
		return -1;
	copy = strdup(key);
	if (!copy)
		return -1;
	place(m->slots, m->cap, copy, value);
	m->used++;
	m->filled++;
	return 0;
}

void *strmap_remove(struct strmap *m, const char *key)
{
	struct strmap_slot *s = find(m, key);
	void *value;

	if (!s)
		return NULL;
	value = s->value;
	free(s->key);
	s->key = STRMAP_TOMBSTONE;
	s->value = NULL;
	m->used--;
	return value;
}

void strmap_each(const struct strmap *m, void (*fn)(void *arg, const char *key, void *value),
		 void *arg)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != STRMAP_TOMBSTONE)
			fn(arg, m->slots[i].key, m->slots[i].value);
}

void strmap_free(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != STRMAP_TOMBSTONE)
			free(m->slots[i].key);
	free(m->slots);
	memset(m, 0, sizeof *m);
}
