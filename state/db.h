/* state/db: what both of agentbus's SQLite files (agentbus.db and the
 * embedded store's notes.db) need alike. */
#ifndef AB_STATE_DB_H
#define AB_STATE_DB_H

#include <stddef.h>

struct sqlite3;

/* The WAL size, in pages, at which the checkpoint thread copies it back. */
#define CHECKPOINT_PAGES 1000

/* Commits one small write into `db`'s meta-like table `table` (key, value):
 * 0 when it committed, so the file can be written again; else -1 with
 * SQLite's message in `why`. Never inside an open transaction. */
int db_probe(struct sqlite3 *db, const char *table, char *why, size_t why_len);

#endif
