/* clients: what the plugin knows about each authenticated connection, keyed
 * by the broker's connection pointer. Not by client id: a client that
 * reconnects with the same id is authenticated before the old connection's
 * disconnect event arrives, and both must keep their own grants. */
#ifndef AB_PLUGIN_CLIENTS_H
#define AB_PLUGIN_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "plugin/scope.h"

struct client_entry {
	const void *conn;	/* the broker's struct mosquitto *; never dereferenced */
	struct grants grants;
	time_t expires;		/* the token's exp plus the leeway */
	bool kicked;		/* disconnected for expiry; waiting for its disconnect event */
	/* Its disconnect event came. mosquitto fires that event before it
	 * checks the Last Will against the ACL, so the entry stays (until it is
	 * purged, or the broker reuses the pointer for a new login) and then
	 * allows only that one publish. */
	bool gone;
	time_t gone_at;
	struct client_entry *next;
};

struct client_table {
	struct client_entry **buckets;
	size_t n_buckets;	/* a power of two */
	size_t count;
	time_t next_expiry;	/* no entry expires before this */
	size_t n_gone;
};

int clients_init(struct client_table *t);
/* Takes ownership of `grants`, replacing any entry of `conn`. 0 or -1. */
int clients_put(struct client_table *t, const void *conn, struct grants *grants, time_t expires);
struct client_entry *clients_get(const struct client_table *t, const void *conn);
void clients_remove(struct client_table *t, const void *conn);
/* The connection's disconnect event came (see `gone`). */
void clients_mark_gone(struct client_table *t, const void *conn, time_t now);
/* Frees the entries gone since before `before`. */
void clients_purge_gone(struct client_table *t, time_t before);

/* Calls `fn` for each entry expired at `now`, not gone and not yet kicked, marking it
 * kicked first (`fn` may clear the mark to be called again at the next
 * scan); `fn` must not change the table. Recomputes next_expiry. */
void clients_expired(struct client_table *t, time_t now,
		     void (*fn)(struct client_entry *e, void *arg), void *arg);

void clients_free(struct client_table *t);

#endif
