/* state/txn: nested and grouped transactions (see txn.h). */
#include "state/txn.h"

#include <sqlite3.h>
#include <string.h>

#include "state/outbox.h"
#include "util/log.h"

/* Statements run on every unit: prepared once. */
static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
		       ? 0 : -1;
}

static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int txn_init(struct txn *t, sqlite3 *db, struct outbox *ob)
{
	memset(t, 0, sizeof *t);
	t->db = db;
	t->outbox = ob;
	if (prepare(db, "BEGIN IMMEDIATE", &t->begin) != 0 ||
	    prepare(db, "COMMIT", &t->commit) != 0 || prepare(db, "ROLLBACK", &t->rollback) != 0 ||
	    prepare(db, "SAVEPOINT unit", &t->savepoint) != 0 ||
	    prepare(db, "RELEASE unit", &t->release) != 0 ||
	    prepare(db, "ROLLBACK TO unit", &t->rollback_to) != 0) {
		log_error("state: cannot prepare the transaction statements: %s",
			  sqlite3_errmsg(db));
		txn_free(t);
		return -1;
	}
	return 0;
}

void txn_free(struct txn *t)
{
	sqlite3_finalize(t->begin);
	sqlite3_finalize(t->commit);
	sqlite3_finalize(t->rollback);
	sqlite3_finalize(t->savepoint);
	sqlite3_finalize(t->release);
	sqlite3_finalize(t->rollback_to);
	memset(t, 0, sizeof *t);
}

/* Undoes the open SQLite transaction and everything the outbox recorded in it. */
static void roll_back_all(struct txn *t)
{
	if (!sqlite3_get_autocommit(t->db))
		run(t->rollback);
	outbox_rollback(t->outbox);
	t->group_open = t->group_failed = false;
}

int txn_begin(struct txn *t)
{
	if (t->depth > 0) {
		t->depth++;
		return t->failed ? -1 : 0;
	}
	t->failed = false;
	if (!t->grouping) {
		if (run(t->begin) != 0)
			return -1;
		t->depth = 1;
		return 0;
	}
	if (!t->group_open) {
		if (run(t->begin) != 0)
			return -1;
		t->group_open = true;
	}
	if (run(t->savepoint) != 0)
		return -1;
	t->mark = outbox_last_new(t->outbox);
	t->depth = 1;
	return 0;
}

/* A failed unit inside the group: back to its savepoint, the rest stays. */
static void undo_unit(struct txn *t)
{
	if (run(t->rollback_to) != 0 || run(t->release) != 0)
		t->group_failed = true;	/* cannot undo it alone: the group rolls back */
	outbox_rollback_after(t->outbox, t->mark);
}

int txn_commit(struct txn *t)
{
	if (t->depth == 0) {
		log_error("state: commit without a transaction");
		return -1;
	}
	if (--t->depth > 0)
		return t->failed ? -1 : 0;
	if (t->grouping) {
		if (!t->failed && run(t->release) == 0)
			return 0;
		undo_unit(t);
		t->failed = false;
		return -1;
	}
	if (t->failed || run(t->commit) != 0) {
		roll_back_all(t);
		t->failed = false;
		return -1;
	}
	outbox_commit(t->outbox);
	return 0;
}

void txn_fail(struct txn *t)
{
	if (t->depth > 0)
		t->failed = true;
}

int txn_group(struct txn *t, bool on)
{
	int rc = on ? 0 : txn_group_commit(t);

	t->grouping = on;
	return rc < 0 ? -1 : 0;
}

int txn_group_commit(struct txn *t)
{
	if (!t->group_open)
		return 0;
	if (t->depth > 0) {
		log_error("state: group commit inside a unit");
		return -1;
	}
	if (t->group_failed || run(t->commit) != 0) {
		roll_back_all(t);
		return -1;
	}
	t->group_open = false;
	outbox_commit(t->outbox);
	return 1;
}

bool txn_active(const struct txn *t)
{
	return t->depth > 0 || t->group_open;
}

int txn_settle(struct txn *t)
{
	int rc;

	if (!outbox_has_answered(t->outbox))
		return 0;
	rc = txn_begin(t);
	if (rc == 0 && outbox_settle(t->outbox) != 0) {
		txn_fail(t);
		rc = -1;
	}
	return txn_commit(t) == 0 ? rc : -1;
}
