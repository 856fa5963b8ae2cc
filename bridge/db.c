/* bridge/db: three tables and an outbox in bridge.db. */
#include "bridge/db.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/checkpoint.h"
#include "state/db.h"
#include "state/outbox.h"
#include "state/txn.h"
#include "util/log.h"

struct bridge_db {
	sqlite3 *db;
	struct outbox outbox;
	struct txn txn;
	struct checkpointer *checkpointer;
	struct db_statements statements;
};

static const char schema[] =
	/* As store/notes.c: one daemon per state dir, small pages, WAL. */
	"PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
	"PRAGMA temp_store = MEMORY;"
	"CREATE TABLE IF NOT EXISTS bridge_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS seen ("
	"  id TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (id, updated_at))"
	"  WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS writes ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, write TEXT NOT NULL,"
	"  response_topic TEXT, correlation BLOB);";

int bridge_db_open(const char *dir, struct bridge_db **out)
{
	struct bridge_db *db = calloc(1, sizeof *db);
	char path[4096], *msg = NULL;

	*out = NULL;
	if (!db)
		return -1;
	snprintf(path, sizeof path, "%s/bridge.db", dir);
	if (sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ==
	    SQLITE_OK)
		db_statements_init(&db->statements, db->db);
	if (!db->statements.db || sqlite3_exec(db->db, schema, NULL, NULL, &msg) != SQLITE_OK ||
	    outbox_open(&db->outbox, db->db) != 0 || txn_init(&db->txn, db->db, &db->outbox) != 0 ||
	    checkpointer_start(path, db->db, CHECKPOINT_PAGES, &db->checkpointer) != 0) {
		log_error("bridge: cannot open %s: %s", path, msg ? msg : sqlite3_errmsg(db->db));
		sqlite3_free(msg);
		bridge_db_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

void bridge_db_close(struct bridge_db *db)
{
	if (!db)
		return;
	txn_free(&db->txn);
	checkpointer_stop(db->checkpointer);
	outbox_close(&db->outbox);
	db_statements_free(&db->statements);
	if (db->db)
		sqlite3_exec(db->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	sqlite3_close(db->db);
	free(db);
}

int bridge_db_begin(struct bridge_db *db)
{
	return txn_begin(&db->txn);
}

int bridge_db_commit(struct bridge_db *db)
{
	return txn_commit(&db->txn);
}

void bridge_db_rollback(struct bridge_db *db)
{
	txn_fail(&db->txn);
	txn_commit(&db->txn);
}

struct outbox *bridge_db_outbox(struct bridge_db *db)
{
	return &db->outbox;
}

int bridge_db_settle(struct bridge_db *db)
{
	return txn_settle(&db->txn);
}

const char *bridge_db_error(const struct bridge_db *db)
{
	return sqlite3_errmsg(db->db);
}

int bridge_db_probe(struct bridge_db *db, char *why, size_t why_len)
{
	return db_probe(db->db, "bridge_meta", why, why_len);
}

/* Runs a prepared write statement to its end. */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	db_statement_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int bridge_db_see(struct bridge_db *db, const char *id, const char *updated_at)
{
	sqlite3_stmt *st = db_statement(&db->statements,
					"INSERT OR IGNORE INTO seen (id, updated_at) VALUES (?, ?)");

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, updated_at, -1, SQLITE_STATIC);
	if (step_done(st) != 0)
		return -1;
	return sqlite3_changes(db->db) > 0;
}

int bridge_db_add_write(struct bridge_db *db, const struct bridge_write_row *row, int64_t *seq)
{
	sqlite3_stmt *st = db_statement(&db->statements,
					"INSERT INTO writes (key, write, response_topic, correlation)"
					" VALUES (?, ?, ?, ?)");

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, row->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, row->write, -1, SQLITE_STATIC);
	if (row->response_topic)
		sqlite3_bind_text(st, 3, row->response_topic, -1, SQLITE_STATIC);
	if (row->correlation)
		sqlite3_bind_blob(st, 4, row->correlation, (int)row->correlation_len,
				  SQLITE_STATIC);
	if (step_done(st) != 0)
		return -1;
	*seq = sqlite3_last_insert_rowid(db->db);
	return 0;
}

int bridge_db_remove_write(struct bridge_db *db, int64_t seq)
{
	sqlite3_stmt *st = db_statement(&db->statements, "DELETE FROM writes WHERE seq = ?");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, seq);
	return step_done(st);
}

static char *column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? strdup((const char *)t) : NULL;
}

int bridge_db_each_write(struct bridge_db *db,
			 int (*fn)(void *arg, struct bridge_write_row *row), void *arg)
{
	sqlite3_stmt *st = db_statement(&db->statements,
					"SELECT seq, key, write, response_topic, correlation"
					" FROM writes ORDER BY seq");
	int rc;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bridge_write_row row = {
			.seq = sqlite3_column_int64(st, 0),
			.key = column_dup(st, 1),
			.write = column_dup(st, 2),
			.response_topic = column_dup(st, 3),
		};
		const void *corr = sqlite3_column_blob(st, 4);

		row.correlation_len = (size_t)sqlite3_column_bytes(st, 4);
		if (corr && row.correlation_len && (row.correlation = malloc(row.correlation_len)))
			memcpy(row.correlation, corr, row.correlation_len);
		if (!row.key || !row.write || fn(arg, &row) != 0) {
			bridge_write_row_free(&row);
			db_statement_done(st);
			return -1;
		}
	}
	db_statement_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

void bridge_write_row_free(struct bridge_write_row *row)
{
	free(row->key);
	free(row->write);
	free(row->response_topic);
	free(row->correlation);
	memset(row, 0, sizeof *row);
}
