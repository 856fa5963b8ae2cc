/* state/db: what both of agentbus's SQLite files (agentbus.db and the
 * embedded store's notes.db) need alike. */
#ifndef AB_STATE_DB_H
#define AB_STATE_DB_H

#include <stddef.h>

struct sqlite3;

/* The WAL size, in pages, at which it starts over (state/checkpoint.h): the
 * thread copies it back every eighth of that. Larger means fewer copies of
 * pages that change often; at 1 KiB pages, 16 MiB of WAL per database. */
#define CHECKPOINT_PAGES 16000

/* Commits one small write into `db`'s meta-like table `table` (key, value):
 * 0 when it committed, so the file can be written again; else -1 with
 * SQLite's message in `why`. Never inside an open transaction. */
int db_probe(struct sqlite3 *db, const char *table, char *why, size_t why_len);

/* Prepared statements, each prepared once and found again by the address
 * of its SQL (always a string literal). A statement comes back ready to
 * bind; the caller resets it (state: sqlite3_reset) when done with it. */
#define DB_STATEMENTS_MAX 32
struct db_statements {
	struct sqlite3 *db;
	struct {
		const char *sql;
		struct sqlite3_stmt *stmt;
	} v[DB_STATEMENTS_MAX];
	int n;
};

void db_statements_init(struct db_statements *s, struct sqlite3 *db);
/* NULL when it cannot be prepared (SQLite's message on the connection). */
struct sqlite3_stmt *db_statement(struct db_statements *s, const char *sql);
/* Resets `stmt` and clears its bindings, for the next caller. */
void db_statement_done(struct sqlite3_stmt *stmt);
void db_statements_free(struct db_statements *s);

#endif
