/* bridge/feed: the vault's live-query change feed (GET /api/subscribe
 * upgraded to a WebSocket, parachute-vault-events-and-hub-jwt.md 3.3):
 * the auth message first, then a snapshot of every matching note until
 * `done: true`, then `upsert` and `remove` as notes change. Each reconnect
 * (with backoff) brings a new snapshot, which is how notes written while
 * agentbus was away are caught up; the bridge's dedupe makes that safe. A
 * vault that answers the upgrade with 404 has no feed: webhooks only. */
#ifndef AB_BRIDGE_FEED_H
#define AB_BRIDGE_FEED_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct ws;
struct cJSON;

struct feed_handlers {
	/* A note of a snapshot or an upsert. 0, or -1 when it could not be
	 * recorded: the feed reconnects, and the next snapshot brings it again. */
	int (*note)(void *arg, const struct cJSON *note);
	int (*removed)(void *arg, const char *id);
	const char *(*token)(void *arg);
	/* Every frame, by type ("snapshot", "upsert", "remove", "other"). */
	void (*counted)(void *arg, const char *type);
};

enum feed_state {
	FEED_OFF,		/* --vault-feed off */
	FEED_CONNECTING,	/* connecting, or authenticated and reading the snapshot */
	FEED_LIVE,		/* snapshot done, changes arriving */
	FEED_WAITING,		/* disconnected, reconnecting after a backoff */
	FEED_UNAVAILABLE,	/* the vault has no change feed */
};

struct feed {
	struct loop *loop;	/* borrowed */
	struct ws *ws;		/* owned */
	char *url;
	struct feed_handlers fn;
	void *arg;
	enum feed_state state;
	int attempts;		/* failures in a row */
	uint64_t timer;		/* the reconnect, or the keep-alive */
	int64_t last_frame_ms;
	long snapshot_notes;	/* of the snapshot being read */
	long catchups;		/* snapshots read to the end */
	char last_error[256];
};

/* `base`: the vault's URL; `query`: the subscription's query string
 * (without '?'). Connects at once unless `on` is false. 0 or -1. */
int feed_open(struct feed *f, struct loop *l, const char *base, const char *query, bool on,
	      const struct feed_handlers *fn, void *arg);
void feed_close(struct feed *f);
const char *feed_state_name(enum feed_state s);

#endif
