/* state/outbox: QoS 1 publishes that must outlive the process. A publish is
 * recorded in the database of the module that makes it, in the same
 * transaction as the change it announces, sent once that transaction has
 * committed, and forgotten when the broker acknowledges it. A send that
 * fails, or that the broker refuses for a reason that may pass, is sent
 * again with backoff in the same process; one that can never be sent is
 * dropped with an error. Whatever is still recorded at start-up is sent
 * again: receivers dedupe (the vault by request_id, event consumers by
 * event_id). */
#ifndef AB_STATE_OUTBOX_H
#define AB_STATE_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/message.h"

struct sqlite3;
struct sqlite3_stmt;
struct outbox_entry;

/* Sends a publish, calling `done(done_arg, ...)` with the broker's answer;
 * returns 0, -1 (try again later) or -2 (never possible). */
typedef int outbox_send_fn(void *arg, const struct bus_publish *pub, bus_publish_done_fn *done,
			   void *done_arg);

struct outbox {
	struct sqlite3 *db;		/* borrowed */
	struct sqlite3_stmt *add, *remove;
	struct outbox_entry *ready_head, *ready_tail;	/* committed, to send now */
	struct outbox_entry *new_head, *new_tail;	/* recorded, not yet committed */
	struct outbox_entry *in_flight;	/* sent, until answered */
	struct outbox_entry *backing_off;	/* failed, until its retry is due */
	int64_t *done;			/* rows answered, not yet deleted */
	size_t n_done, cap_done;
};

/* Creates the table in `db` if needed and readies every row left from an
 * earlier run for the next outbox_flush(). Returns 0 or -1 (logged). */
int outbox_open(struct outbox *ob, struct sqlite3 *db);
void outbox_close(struct outbox *ob);

/* Records `pub` (copied) in the current transaction. Returns 0, or -1 with
 * the SQLite error left on the connection. */
int outbox_add(struct outbox *ob, const struct bus_publish *pub);
/* The transaction that recorded the new entries committed: they are ready
 * to send. */
void outbox_commit(struct outbox *ob);
/* It rolled back: forget them. */
void outbox_rollback(struct outbox *ob);
/* The newest entry not yet committed (NULL: none), and forgetting every
 * entry recorded after it (a savepoint rolled back). */
struct outbox_entry *outbox_last_new(const struct outbox *ob);
void outbox_rollback_after(struct outbox *ob, struct outbox_entry *mark);

/* Sends what is ready and what is due again at `now_ms`, in order. */
void outbox_flush(struct outbox *ob, int64_t now_ms, outbox_send_fn *send, void *arg);
/* Milliseconds until an entry is due again, -1 when none waits. */
int outbox_retry_ms(const struct outbox *ob, int64_t now_ms);
/* Deletes the answered rows in one transaction (answers come in bursts; a
 * commit each would cost more than the publishes did). Returns 0 or -1 (the
 * rows stay and are deleted later). */
int outbox_settle(struct outbox *ob);
/* Whether answered rows wait for outbox_settle() (so a caller opens no
 * transaction for nothing). */
bool outbox_has_answered(const struct outbox *ob);
/* Nothing recorded waits to be sent or for the broker's answer. */
bool outbox_idle(const struct outbox *ob);
/* Rows recorded and not yet answered (for tests and status). */
int outbox_count(struct outbox *ob);

#endif
