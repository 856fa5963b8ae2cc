/* state/outbox: QoS 1 publishes that must outlive the process. A publish is
 * recorded in the database of the module that makes it, in the same
 * transaction as the change it announces, sent once that transaction has
 * committed, and forgotten when the broker acknowledges it. Whatever is still
 * recorded at start-up is sent again: receivers dedupe (the vault by
 * request_id, event consumers by event_id). Within one process libmosquitto
 * resends unacknowledged publishes after a reconnect by itself. */
#ifndef AB_STATE_OUTBOX_H
#define AB_STATE_OUTBOX_H

#include <stdint.h>

#include "bus/message.h"
#include "util/strmap.h"

struct sqlite3;
struct sqlite3_stmt;
struct outbox_entry;

struct outbox {
	struct sqlite3 *db;		/* borrowed */
	struct sqlite3_stmt *add, *remove;
	struct outbox_entry *pending_head, *pending_tail;	/* recorded, not yet sent */
	struct strmap sent;		/* message id -> row id, until acknowledged */
	int64_t *acked;			/* rows acknowledged, not yet deleted */
	size_t n_acked, cap_acked;
};

/* Sends a publish; returns 0 and the message id in `*mid`, or -1. */
typedef int outbox_send_fn(void *arg, const struct bus_publish *pub, int *mid);

/* Creates the table in `db` if needed and queues every row left from an
 * earlier run for the next outbox_flush(). Returns 0 or -1 (logged). */
int outbox_open(struct outbox *ob, struct sqlite3 *db);
void outbox_close(struct outbox *ob);

/* Records `pub` (copied) in the current transaction, if any, and queues it
 * for the next flush. Returns 0 or -1. */
int outbox_add(struct outbox *ob, const struct bus_publish *pub);
/* Forgets what was queued since the last flush (its transaction rolled back). */
void outbox_discard(struct outbox *ob);
/* Sends what is queued, in order. Call only after the transaction that
 * recorded it has committed. */
void outbox_flush(struct outbox *ob, outbox_send_fn *send, void *arg);
/* The broker acknowledged message `mid`: its row, if it was ours, is
 * deleted by the next outbox_settle(). */
void outbox_acked(struct outbox *ob, int mid);
/* Deletes the acknowledged rows, in one transaction (acknowledgements come
 * in bursts; one commit each would cost more than the publishes did). */
void outbox_settle(struct outbox *ob);
/* Rows recorded and not yet acknowledged (for tests and status). */
int outbox_count(struct outbox *ob);

#endif
