/* state/db: the probe that tells a failing database from a healthy one. */
#include "state/db.h"

#include <sqlite3.h>
#include <stdio.h>
#include <time.h>

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
