/* clients: a chained hash table of connections. */
#include "plugin/clients.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t bucket_of(const struct client_table *t, const void *conn)
{
	uint64_t h = (uint64_t)(uintptr_t)conn;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & (t->n_buckets - 1);
}

int clients_init(struct client_table *t)
{
	memset(t, 0, sizeof *t);
	t->n_buckets = 64;
	t->buckets = calloc(t->n_buckets, sizeof *t->buckets);
	t->next_expiry = (time_t)INT64_MAX;
	return t->buckets ? 0 : -1;
}

/* Doubling keeps chains short; a failed allocation only keeps them longer. */
static void grow(struct client_table *t)
{
	struct client_table bigger = { .n_buckets = t->n_buckets * 2 };
	size_t i;

	bigger.buckets = calloc(bigger.n_buckets, sizeof *bigger.buckets);
	if (!bigger.buckets)
		return;
	for (i = 0; i < t->n_buckets; i++) {
		struct client_entry *e = t->buckets[i], *next;

		for (; e; e = next) {
			size_t b = bucket_of(&bigger, e->conn);

			next = e->next;
			e->next = bigger.buckets[b];
			bigger.buckets[b] = e;
		}
	}
	free(t->buckets);
	t->buckets = bigger.buckets;
	t->n_buckets = bigger.n_buckets;
}

struct client_entry *clients_get(const struct client_table *t, const void *conn)
{
	struct client_entry *e = t->buckets[bucket_of(t, conn)];

	while (e && e->conn != conn)
		e = e->next;
	return e;
}

int clients_put(struct client_table *t, const void *conn, struct grants *grants, time_t expires)
{
	struct client_entry *e = clients_get(t, conn);
	size_t b;

	if (e) {
		grants_free(&e->grants);
	} else {
		e = calloc(1, sizeof *e);
		if (!e)
			return -1;
		e->conn = conn;
		b = bucket_of(t, conn);
		e->next = t->buckets[b];
		t->buckets[b] = e;
		t->count++;
	}
	e->grants = *grants;
	memset(grants, 0, sizeof *grants);
	e->expires = expires;
	e->kicked = false;
	if (e->gone)
		t->n_gone--;
	e->gone = false;
	if (expires < t->next_expiry)
		t->next_expiry = expires;
	if (t->count > t->n_buckets)
		grow(t);
	return 0;
}

void clients_remove(struct client_table *t, const void *conn)
{
	struct client_entry **pp = &t->buckets[bucket_of(t, conn)], *e;

	while ((e = *pp) && e->conn != conn)
		pp = &e->next;
	if (!e)
		return;
	*pp = e->next;
	if (e->gone)
		t->n_gone--;
	grants_free(&e->grants);
	free(e);
	t->count--;
}

void clients_mark_gone(struct client_table *t, const void *conn, time_t now)
{
	struct client_entry *e = clients_get(t, conn);

	if (e && !e->gone) {
		e->gone = true;
		e->gone_at = now;
		t->n_gone++;
	}
}

void clients_purge_gone(struct client_table *t, time_t before)
{
	size_t i;

	for (i = 0; t->n_gone > 0 && i < t->n_buckets; i++) {
		struct client_entry **pp = &t->buckets[i], *e;

		while ((e = *pp) != NULL) {
			if (e->gone && e->gone_at < before) {
				*pp = e->next;
				t->n_gone--;
				t->count--;
				grants_free(&e->grants);
				free(e);
			} else {
				pp = &e->next;
			}
		}
	}
}

void clients_expired(struct client_table *t, time_t now,
		     void (*fn)(struct client_entry *e, void *arg), void *arg)
{
	time_t next = (time_t)INT64_MAX;
	size_t i;

	if (now < t->next_expiry)
		return;
	for (i = 0; i < t->n_buckets; i++) {
		struct client_entry *e;

		for (e = t->buckets[i]; e; e = e->next) {
			if (e->kicked || e->gone)
				continue;
			if (e->expires <= now) {
				e->kicked = true;
				fn(e, arg);
			}
			if (!e->kicked && e->expires < next)
				next = e->expires;
		}
	}
	t->next_expiry = next;
}

void clients_free(struct client_table *t)
{
	size_t i;

	for (i = 0; t->buckets && i < t->n_buckets; i++) {
		struct client_entry *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			grants_free(&e->grants);
			free(e);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof *t);
}
