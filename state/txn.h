/* state/txn: transactions on one SQLite connection, nested, and optionally
 * grouped. Nesting: only the outermost begin and commit of a unit of work
 * reach SQLite; a failed step fails the whole unit (callers fold their
 * callees' work into their own). Grouping (the daemon's group commit): one
 * SQLite transaction stays open across every unit of a loop iteration; each
 * unit is a savepoint that rolls back alone, and the group commits once.
 * Nothing a unit recorded in the outbox is sent before the group commits,
 * so "sent only once committed" holds either way. */
#ifndef AB_STATE_TXN_H
#define AB_STATE_TXN_H

#include <stdbool.h>

struct sqlite3;
struct sqlite3_stmt;
struct outbox;
struct outbox_entry;

struct txn {
	struct sqlite3 *db;		/* borrowed */
	struct outbox *outbox;		/* borrowed */
	struct sqlite3_stmt *begin, *commit, *rollback, *savepoint, *release, *rollback_to;
	int depth;			/* units' begin nesting */
	bool failed;			/* a step of the open unit failed */
	bool grouping;			/* units join one open transaction */
	bool group_open;		/* that transaction has begun */
	bool group_failed;		/* a unit could not be undone alone */
	struct outbox_entry *mark;	/* the outbox's last new entry before the unit */
};

int txn_init(struct txn *t, struct sqlite3 *db, struct outbox *ob);
void txn_free(struct txn *t);
/* Begins a unit (or a nested part of one). Returns 0, or -1 (SQLite's error
 * left on the connection, or an earlier step of the unit failed). */
int txn_begin(struct txn *t);
/* Ends a unit: commits it (alone, or into the group), or rolls it back when
 * a step failed. Returns 0, or -1 when it did not commit. */
int txn_commit(struct txn *t);
/* Marks the open unit failed: its commit rolls it back. */
void txn_fail(struct txn *t);
/* Turns grouping on or off (off commits an open group first). */
int txn_group(struct txn *t, bool on);
/* Commits the group: 1 when it committed, 0 when none was open, -1 when it
 * rolled back; then every unit since the last group commit is undone. */
int txn_group_commit(struct txn *t);
/* Deletes the rows of the outbox the broker has answered, as a unit of its
 * own; nothing when there are none (the common case: it runs at every read
 * of the socket). 0, or -1 when they stay (they are deleted later). */
int txn_settle(struct txn *t);
/* Whether a unit or a group is open. */
bool txn_active(const struct txn *t);

#endif
