/* state/db: the probe that tells a failing database from a healthy one, and
 * the cache of prepared statements both databases use. */
#include "state/db.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

int db_probe(sqlite3 *db, const char *table, char *why, size_t why_len)
{
	char sql[192];

	if (!sqlite3_get_autocommit(db)) {
		snprintf(why, why_len, "a transaction is open");
		return -1;
	}
	snprintf(sql, sizeof sql, "BEGIN IMMEDIATE; INSERT OR REPLACE INTO %s (key, value) "
		 "VALUES ('probe', '%lld'); COMMIT;", table, (long long)time(NULL));
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	snprintf(why, why_len, "%s", sqlite3_errmsg(db));
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
	return -1;
}

void db_statements_init(struct db_statements *s, sqlite3 *db)
{
	memset(s, 0, sizeof *s);
	s->db = db;
}

sqlite3_stmt *db_statement(struct db_statements *s, const char *sql)
{
	sqlite3_stmt *stmt;

	for (int i = 0; i < s->n; i++)
		if (s->v[i].sql == sql)
			return s->v[i].stmt;
	if (s->n == DB_STATEMENTS_MAX) {
		log_error("state: more than %d cached statements", DB_STATEMENTS_MAX);
		return NULL;
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
	    SQLITE_OK)
		return NULL;
	s->v[s->n].sql = sql;
	s->v[s->n++].stmt = stmt;
	return stmt;
}

void db_statement_done(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

void db_statements_free(struct db_statements *s)
{
	for (int i = 0; i < s->n; i++)
		sqlite3_finalize(s->v[i].stmt);
	s->n = 0;
}
