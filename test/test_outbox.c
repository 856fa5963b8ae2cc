/* test_outbox: the outbox on a real SQLite file, its sends observed through
 * the send function it is given: sent only once committed, a rollback
 * forgetting only its own entries, retries with backoff for failures that
 * may pass, drops for those that cannot, rows left by an earlier run sent
 * again. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/outbox.h"
#include "test/check.h"
#include "test/harness.h"

/* What the fake connection saw, and how it answers the next send. */
struct wire {
	int sends;
	char last[32];
	int next_rc;			/* returned by the next send */
	bus_publish_done_fn *done;	/* of the last send, to answer later */
	void *done_arg;
};

static int wire_send(void *arg, const struct bus_publish *pub, bus_publish_done_fn *done,
		     void *done_arg)
{
	struct wire *w = arg;
	int rc = w->next_rc;

	w->next_rc = 0;
	w->sends++;
	snprintf(w->last, sizeof w->last, "%.*s", (int)pub->len, (const char *)pub->payload);
	w->done = done;
	w->done_arg = done_arg;
	return rc;
}

static void answer(struct wire *w, int reason)
{
	REQUIRE(w->done != NULL);
	w->done(w->done_arg, w->sends, reason);
	w->done = NULL;
}

static sqlite3 *open_db(const char *dir)
{
	char path[512];
	sqlite3 *db;

	snprintf(path, sizeof path, "%s/outbox.db", dir);
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	return db;
}

static void add(struct outbox *ob, const char *text, bool commit)
{
	REQUIRE(sqlite3_exec(ob->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
	REQUIRE(outbox_add(ob, &(struct bus_publish){ .topic = "t", .payload = text,
						      .len = strlen(text), .qos = 1 }) == 0);
	REQUIRE(sqlite3_exec(ob->db, commit ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) ==
		SQLITE_OK);
	if (commit)
		outbox_commit(ob);
	else
		outbox_rollback(ob);
}

static void test_commit_and_rollback(void)
{
	char *dir = th_tmpdir("outbox");
	sqlite3 *db = open_db(dir);
	struct outbox ob;
	struct wire w = { 0 };

	REQUIRE(outbox_open(&ob, db) == 0);
	add(&ob, "kept", true);
	add(&ob, "dropped", false);
	outbox_flush(&ob, 0, wire_send, &w);
	CHECK_INT(w.sends, 1);
	CHECK_STR(w.last, "kept");
	CHECK_INT(outbox_count(&ob), 1);	/* until the broker answers */
	CHECK(!outbox_has_answered(&ob));
	answer(&w, 0);
	CHECK(outbox_has_answered(&ob));
	CHECK_INT(outbox_settle(&ob), 0);
	CHECK(!outbox_has_answered(&ob));
	CHECK_INT(outbox_count(&ob), 0);
	outbox_close(&ob);
	sqlite3_close(db);
	free(dir);
}

static void test_retries(void)
{
	char *dir = th_tmpdir("outbox");
	sqlite3 *db = open_db(dir);
	struct outbox ob;
	struct wire w = { 0 };
	int wait;

	REQUIRE(outbox_open(&ob, db) == 0);
	/* A send that fails is sent again after a backoff, in this process. */
	add(&ob, "again", true);
	w.next_rc = -1;
	outbox_flush(&ob, 1000, wire_send, &w);
	wait = outbox_retry_ms(&ob, 1000);
	CHECK(wait > 0);
	outbox_flush(&ob, 1000, wire_send, &w);
	CHECK_INT(w.sends, 1);	/* not before its time */
	outbox_flush(&ob, 1000 + wait, wire_send, &w);
	CHECK_INT(w.sends, 2);
	CHECK_STR(w.last, "again");
	/* A refusal that may pass (quota exceeded) is retried too ... */
	answer(&w, 0x97);
	outbox_flush(&ob, 1000 + wait + outbox_retry_ms(&ob, 1000 + wait), wire_send, &w);
	CHECK_INT(w.sends, 3);
	answer(&w, 0);
	/* ... one that cannot (not authorized) is dropped, with an error. */
	add(&ob, "refused", true);
	outbox_flush(&ob, 0, wire_send, &w);
	answer(&w, 0x87);
	CHECK_INT(outbox_retry_ms(&ob, 0), -1);
	/* So is a publish that can never be sent (a wildcard topic). */
	add(&ob, "never", true);
	w.next_rc = -2;
	outbox_flush(&ob, 0, wire_send, &w);
	CHECK_INT(outbox_retry_ms(&ob, 0), -1);
	CHECK_INT(outbox_settle(&ob), 0);
	CHECK_INT(outbox_count(&ob), 0);
	outbox_close(&ob);
	sqlite3_close(db);
	free(dir);
}

static void test_rows_from_an_earlier_run(void)
{
	char *dir = th_tmpdir("outbox");
	sqlite3 *db = open_db(dir);
	struct outbox ob;
	struct wire w = { 0 };

	REQUIRE(outbox_open(&ob, db) == 0);
	add(&ob, "first", true);
	add(&ob, "second", true);
	outbox_close(&ob);	/* the process "died" before sending */
	REQUIRE(outbox_open(&ob, db) == 0);
	outbox_flush(&ob, 0, wire_send, &w);
	CHECK_INT(w.sends, 2);
	CHECK_STR(w.last, "second");	/* in their order */
	outbox_close(&ob);
	sqlite3_close(db);
	free(dir);
}

int main(void)
{
	RUN(test_commit_and_rollback);
	RUN(test_retries);
	RUN(test_rows_from_an_earlier_run);
	return check_summary();
}
