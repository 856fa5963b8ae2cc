/* test_txn: nested and grouped transactions and the checkpoint thread, on a
 * real SQLite file: a unit inside a group rolls back alone, what the outbox
 * recorded goes out only once the group commits, a group that cannot commit
 * undoes all of its units, and the WAL is copied back into the database by
 * the checkpoint thread while the writer goes on. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state/checkpoint.h"
#include "state/outbox.h"
#include "state/txn.h"
#include "test/check.h"
#include "test/harness.h"

struct wire {
	int sends;
};

static int wire_send(void *arg, const struct bus_publish *pub, bus_publish_done_fn *done,
		     void *done_arg)
{
	struct wire *w = arg;

	(void)pub;
	(void)done;
	(void)done_arg;
	w->sends++;
	return 0;
}

struct db {
	char *dir;
	char path[512];
	sqlite3 *db;
	struct outbox ob;
	struct txn txn;
};

static void db_open(struct db *d)
{
	d->dir = th_tmpdir("txn");
	snprintf(d->path, sizeof d->path, "%s/t.db", d->dir);
	REQUIRE(sqlite3_open(d->path, &d->db) == SQLITE_OK);
	REQUIRE(sqlite3_exec(d->db, "PRAGMA journal_mode = WAL; PRAGMA temp_store = MEMORY;"
			     "PRAGMA foreign_keys = ON;"
			     "CREATE TABLE t (v INTEGER);"
			     "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
			     "CREATE TABLE child (p INTEGER REFERENCES parent(id)"
			     " DEFERRABLE INITIALLY DEFERRED);",
			     NULL, NULL, NULL) == SQLITE_OK);
	REQUIRE(outbox_open(&d->ob, d->db) == 0);
	REQUIRE(txn_init(&d->txn, d->db, &d->ob) == 0);
}

static void db_close(struct db *d)
{
	txn_free(&d->txn);
	outbox_close(&d->ob);
	sqlite3_close(d->db);
	free(d->dir);
}

static int rows(struct db *d, const char *table)
{
	char sql[64];
	sqlite3_stmt *st;
	int n = -1;

	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* One unit: a row in t and a publish; `fail` marks it failed. */
static int unit(struct db *d, int v, bool fail)
{
	char sql[64];

	REQUIRE(txn_begin(&d->txn) == 0);
	snprintf(sql, sizeof sql, "INSERT INTO t VALUES (%d)", v);
	REQUIRE(sqlite3_exec(d->db, sql, NULL, NULL, NULL) == SQLITE_OK);
	REQUIRE(outbox_add(&d->ob, &(struct bus_publish){ .topic = "t", .payload = "x",
							  .len = 1, .qos = 1 }) == 0);
	if (fail)
		txn_fail(&d->txn);
	return txn_commit(&d->txn);
}

static void nested_without_group(void)
{
	struct db d;
	struct wire w = { 0 };

	db_open(&d);
	CHECK_INT(unit(&d, 1, false), 0);
	outbox_flush(&d.ob, 0, wire_send, &w);
	CHECK_INT(w.sends, 1);
	/* An inner failure fails the outer unit. */
	REQUIRE(txn_begin(&d.txn) == 0);
	CHECK_INT(unit(&d, 2, true), -1);
	CHECK_INT(txn_commit(&d.txn), -1);
	CHECK_INT(rows(&d, "t"), 1);
	outbox_flush(&d.ob, 0, wire_send, &w);
	CHECK_INT(w.sends, 1);
	db_close(&d);
}

static void grouped_units(void)
{
	struct db d;
	struct wire w = { 0 };

	db_open(&d);
	REQUIRE(txn_group(&d.txn, true) == 0);
	CHECK_INT(unit(&d, 1, false), 0);
	CHECK_INT(unit(&d, 2, true), -1);	/* rolls back alone */
	CHECK_INT(unit(&d, 3, false), 0);
	CHECK(txn_active(&d.txn));
	/* Nothing goes out before the group commits. */
	outbox_flush(&d.ob, 0, wire_send, &w);
	CHECK_INT(w.sends, 0);
	CHECK_INT(txn_group_commit(&d.txn), 1);
	CHECK_INT(txn_group_commit(&d.txn), 0);	/* nothing open */
	CHECK(!txn_active(&d.txn));
	CHECK_INT(rows(&d, "t"), 2);
	outbox_flush(&d.ob, 0, wire_send, &w);
	CHECK_INT(w.sends, 2);
	CHECK_INT(outbox_count(&d.ob), 2);

	/* A group that cannot commit (a deferred constraint fails at COMMIT)
	 * undoes every unit in it, and its publishes are never sent. */
	CHECK_INT(unit(&d, 4, false), 0);
	REQUIRE(txn_begin(&d.txn) == 0);
	REQUIRE(sqlite3_exec(d.db, "INSERT INTO child VALUES (42)", NULL, NULL, NULL) ==
		SQLITE_OK);
	CHECK_INT(txn_commit(&d.txn), 0);
	CHECK_INT(txn_group_commit(&d.txn), -1);
	CHECK(!txn_active(&d.txn));
	CHECK_INT(rows(&d, "t"), 2);
	CHECK_INT(rows(&d, "child"), 0);
	outbox_flush(&d.ob, 0, wire_send, &w);
	CHECK_INT(w.sends, 2);
	CHECK_INT(outbox_count(&d.ob), 2);
	/* And the next group works. */
	CHECK_INT(unit(&d, 5, false), 0);
	CHECK_INT(txn_group(&d.txn, false), 0);	/* turning it off commits */
	CHECK_INT(rows(&d, "t"), 3);
	db_close(&d);
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void checkpoints_on_a_thread(void)
{
	struct checkpointer *c;
	char wal[600];
	struct db d;
	long done;

	db_open(&d);
	snprintf(wal, sizeof wal, "%s-wal", d.path);
	REQUIRE(checkpointer_start(d.path, d.db, 80, &c) == 0);
	CHECK_INT(checkpointer_settle(c), 0);
	/* 60 commits of a page or more each: past the first step of 10 pages. */
	for (int i = 0; i < 60; i++) {
		char sql[128];

		snprintf(sql, sizeof sql, "INSERT INTO t VALUES (zeroblob(4000) || %d)", i);
		REQUIRE(sqlite3_exec(d.db, sql, NULL, NULL, NULL) == SQLITE_OK);
	}
	done = checkpointer_settle(c);
	CHECK_MSG(done >= 1, "no checkpoint completed (%ld)", done);
	/* The pages are in the database file now, not only in the WAL. */
	CHECK_MSG(file_size(d.path) > 10 * 4096, "database file %lld bytes", file_size(d.path));
	/* The writer goes on, and the WAL starts over instead of growing. */
	for (int i = 0; i < 200; i++)
		REQUIRE(sqlite3_exec(d.db, "INSERT INTO t VALUES (zeroblob(4000))", NULL, NULL,
				     NULL) == SQLITE_OK);
	checkpointer_settle(c);
	CHECK_MSG(file_size(wal) < 200 * 4096, "the WAL grew to %lld bytes", file_size(wal));
	CHECK_INT(rows(&d, "t"), 260);
	checkpointer_stop(c);
	db_close(&d);
}

int main(void)
{
	RUN(nested_without_group);
	RUN(grouped_units);
	RUN(checkpoints_on_a_thread);
	return check_summary();
}
