/* bridge/db: the bridge's own SQLite file (bridge.db in the state dir):
 * the (note id, updatedAt) pairs already published, the writes taken from
 * the bus and not yet applied by the vault, and the outbox of the events and
 * answers the bridge publishes. Each unit of work commits on its own: a
 * webhook is answered, and a write acknowledged, only once it has. */
#ifndef AB_BRIDGE_DB_H
#define AB_BRIDGE_DB_H

#include <stddef.h>
#include <stdint.h>

struct bridge_db;
struct outbox;

/* A write waiting for the vault, as recorded. Pointers owned by the row. */
struct bridge_write_row {
	int64_t seq;
	char *key;		/* the note it addresses: writes of one key go in order */
	char *write;		/* the write's JSON */
	char *response_topic;	/* NULL: nobody waits for an answer */
	void *correlation;
	size_t correlation_len;
};

int bridge_db_open(const char *dir, struct bridge_db **out);
void bridge_db_close(struct bridge_db *db);

/* A unit of work (state/txn.h): begin, then commit (0, or -1 rolled back)
 * or rollback. Rolling back also forgets what it put in the outbox. */
int bridge_db_begin(struct bridge_db *db);
int bridge_db_commit(struct bridge_db *db);
void bridge_db_rollback(struct bridge_db *db);
struct outbox *bridge_db_outbox(struct bridge_db *db);
/* Deletes the outbox rows the broker has acknowledged. 0 or -1. */
int bridge_db_settle(struct bridge_db *db);
const char *bridge_db_error(const struct bridge_db *db);
int bridge_db_probe(struct bridge_db *db, char *why, size_t why_len);

/* Inside a unit: 1 when (id, updated_at) is new (now recorded), 0 when it
 * was published before, -1 on a storage error. */
int bridge_db_see(struct bridge_db *db, const char *id, const char *updated_at);

/* Inside a unit: records a write; `*seq` gets its number. 0 or -1. */
int bridge_db_add_write(struct bridge_db *db, const struct bridge_write_row *row, int64_t *seq);
/* Inside a unit: forgets write `seq`. 0 or -1. */
int bridge_db_remove_write(struct bridge_db *db, int64_t seq);
/* Every recorded write, oldest first, to `fn` (which takes the row's
 * fields). 0 or -1. */
int bridge_db_each_write(struct bridge_db *db,
			 int (*fn)(void *arg, struct bridge_write_row *row), void *arg);
void bridge_write_row_free(struct bridge_write_row *row);

#endif
