/* strmap: a string-keyed hash map with open addressing. Keys are copied and
 * owned by the map; values are the caller's. Lookups cost the same whatever
 * the number of entries, which is what lets routing an event to one of
 * 10,000 agents cost what routing to one does. */
#ifndef AB_UTIL_STRMAP_H
#define AB_UTIL_STRMAP_H

#include <stddef.h>

struct strmap_slot {
	char *key;		/* NULL: empty; a private marker: removed */
	void *value;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap;		/* a power of two, or 0 */
	size_t used;		/* live entries */
	size_t filled;		/* live entries plus tombstones */
};

/* The value stored under `key`, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
/* Stores `value` under `key` (replacing). Returns 0 or -1 (out of memory). */
int strmap_put(struct strmap *m, const char *key, void *value);
/* Removes `key`; returns its value or NULL. */
void *strmap_remove(struct strmap *m, const char *key);
/* Calls `fn` for every entry, in no particular order; `fn` must not change
 * the map. */
void strmap_each(const struct strmap *m, void (*fn)(void *arg, const char *key, void *value),
		 void *arg);
/* Frees the map's own memory (keys, slots), not the values. */
void strmap_free(struct strmap *m);

#endif
