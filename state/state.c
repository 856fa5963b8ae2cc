/* state: SQLite in WAL mode. A process crash (kill -9) loses no committed
 * transaction in WAL mode even with synchronous=NORMAL; only a power loss can
 * drop the last commits, which the bus redelivers because we ack late. */
#include "state/state.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/checkpoint.h"
#include "state/db.h"
#include "state/outbox.h"
#include "state/txn.h"
#include "util/log.h"

struct state {
	struct outbox outbox;	/* what the handlers publish at QoS 1 */
	sqlite3 *db;
	int lock_fd;
	bool crashed;
	sqlite3_stmt *mark_seen;	/* prepared once: it runs for every event */
	struct db_statements statements;	/* of run_sql() */
	struct txn txn;		/* state_begin() nesting, the group commit */
	struct checkpointer *checkpointer;
	bool failing;		/* the last write failed; cleared by a probe */
	char why[256];
};

/* Schema history: migration i brings user_version from i to i + 1. Never
 * edit an entry once released; append a new one. */
static const char *const migrations[] = {
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
	/* Vault events already acted on, by dedupe key (docs/CONTRACT.md section 2). */
	"CREATE TABLE seen_events (key TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;",
	/* Registered agents (the spec as JSON); accepted turns not yet finished,
	 * in arrival order; what each thread note says; who waits for an answer. */
	"CREATE TABLE agents (name TEXT PRIMARY KEY, definition TEXT NOT NULL, spec TEXT NOT NULL);"
	"CREATE TABLE turns (seq INTEGER PRIMARY KEY AUTOINCREMENT, inbound_id TEXT NOT NULL UNIQUE,"
	"  request TEXT NOT NULL);"
	"CREATE TABLE threads (path TEXT PRIMARY KEY, id TEXT NOT NULL, meta TEXT NOT NULL);"
	"CREATE TABLE answers (inbound_id TEXT PRIMARY KEY, topic TEXT NOT NULL,"
	"  correlation BLOB, json INTEGER NOT NULL);",
	/* Waiting turns are loaded by id and drain key only; thread notes are
	 * found by path without regard to case; inbox messages not yet known
	 * acknowledged, by the broker's packet id. */
	"ALTER TABLE turns ADD COLUMN drain_key TEXT;"
	"UPDATE turns SET drain_key = json_extract(request, '$.drain_key');"
	"CREATE INDEX threads_nocase ON threads (path COLLATE NOCASE);"
	"CREATE TABLE inbox_seen (mid INTEGER PRIMARY KEY, digest TEXT NOT NULL);",
	/* What each thread said, for the API engines' history: a turn's message
	 * from its start, its reply once it succeeded. */
	"CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  thread TEXT NOT NULL COLLATE NOCASE, inbound_id TEXT NOT NULL UNIQUE,"
	"  user TEXT NOT NULL, assistant TEXT);"
	"CREATE INDEX history_thread ON history (thread, seq);",
	/* What each agent's turns cost, per UTC day, for max_daily_cost_usd. */
	("CREATE TABLE spend (agent TEXT NOT NULL, day TEXT NOT NULL, cost REAL NOT NULL,"
	 "  PRIMARY KEY (agent, day)) WITHOUT ROWID;"),
	/* In a fleet: the latest turns finished on each thread, which its next
	 * owner must not run again (handlers/replica.h). */
	("CREATE TABLE thread_done (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	 "  thread TEXT NOT NULL COLLATE NOCASE, inbound_id TEXT NOT NULL);"
	 "CREATE INDEX thread_done_thread ON thread_done (thread, seq);"),
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static int mkdir_p(const char *path)
{
	char *tmp = strdup(path);
	int rc = 0;

	if (!tmp)
		return -1;
	for (char *p = tmp + 1; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			rc = -1;
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(tmp);
	return rc;
}

/* One daemon per state dir: two would process the same queue twice. */
static int lock_dir(const char *dir, int *fd_out)
{
	char path[4096], pid[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/agentbus.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		n = pread(fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_error("state dir %s is in use by another agentbus (pid %s)", dir,
			  pid[0] ? pid : "unknown");
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("cannot write the pid into %s: %s", path, strerror(errno));
	*fd_out = fd;
	return 0;
}

/* A write failed: the open transaction fails, and the state says it is
 * failing until a probe succeeds. */
static void note_failure(struct state *st)
{
	txn_fail(&st->txn);
	if (!st->failing)
		log_error("state: writes are failing: %s", sqlite3_errmsg(st->db));
	st->failing = true;
	snprintf(st->why, sizeof st->why, "%s", sqlite3_errmsg(st->db));
}

static int exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_error("state: %s", err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *stmt;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static int migrate(sqlite3 *db)
{
	int v = user_version(db);
	char sql[64];

	if (v < 0)
		return -1;
	if (v > N_MIGRATIONS) {
		log_error("state: database schema %d is newer than this agentbus (%d)", v,
			  N_MIGRATIONS);
		return -1;
	}
	for (; v < N_MIGRATIONS; v++) {
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d;", v + 1);
		if (exec_sql(db, "BEGIN IMMEDIATE;") != 0)
			return -1;
		if (exec_sql(db, migrations[v]) != 0 || exec_sql(db, sql) != 0) {
			exec_sql(db, "ROLLBACK;");
			return -1;
		}
		if (exec_sql(db, "COMMIT;") != 0)
			return -1;
	}
	return 0;
}

/* Reads meta.running left by the previous daemon, then marks this one. */
static int mark_running(struct state *st)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = 'running'", -1,
				&stmt, NULL);
	if (rc != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		st->crashed = strcmp((const char *)sqlite3_column_text(stmt, 0), "1") == 0;
	sqlite3_finalize(stmt);
	return exec_sql(st->db, "INSERT OR REPLACE INTO meta (key, value) VALUES ('running', '1');");
}

int state_open(const char *dir, struct state **out)
{
	struct state *st;
	char path[4096];

	*out = NULL;
	if (mkdir_p(dir) != 0) {
		log_error("cannot create state dir %s: %s", dir, strerror(errno));
		return -1;
	}
	st = calloc(1, sizeof *st);
	if (!st)
		return -1;
	st->lock_fd = -1;
	if (lock_dir(dir, &st->lock_fd) != 0)
		goto error;
	snprintf(path, sizeof path, "%s/agentbus.db", dir);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		log_error("cannot open %s: %s", path, sqlite3_errmsg(st->db));
		goto error;
	}
	sqlite3_busy_timeout(st->db, 5000);
	db_statements_init(&st->statements, st->db);
	/* Normal locking, though the flock above keeps every other process out:
	 * the checkpoint thread's connection (state/checkpoint.h) shares the
	 * WAL. Savepoints (state/txn.h) keep their undo journal in memory.
	 * Small pages for new files: rows are small, and a commit writes every
	 * page it touched. */
	if (exec_sql(st->db, "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; "
			     "PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;") != 0 ||
	    migrate(st->db) != 0 || mark_running(st) != 0)
		goto error;
	if (sqlite3_prepare_v3(st->db,
			       "INSERT OR IGNORE INTO seen_events (key, at) VALUES (?, unixepoch())",
			       -1, SQLITE_PREPARE_PERSISTENT, &st->mark_seen, NULL) != SQLITE_OK) {
		log_error("state: %s", sqlite3_errmsg(st->db));
		goto error;
	}
	if (outbox_open(&st->outbox, st->db) != 0)
		goto error;
	if (txn_init(&st->txn, st->db, &st->outbox) != 0) {
		outbox_close(&st->outbox);
		goto error;
	}
	if (checkpointer_start(path, st->db, CHECKPOINT_PAGES, &st->checkpointer) != 0) {
		txn_free(&st->txn);
		outbox_close(&st->outbox);
		goto error;
	}
	if (st->crashed)
		log_warn("state: the previous agentbus on %s did not stop cleanly", dir);
	*out = st;
	return 0;
error:
	sqlite3_finalize(st->mark_seen);
	db_statements_free(&st->statements);
	if (st->db)
		sqlite3_close(st->db);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st);
	return -1;
}

int state_mark_seen(struct state *st, const char *key)
{
	int rc;

	sqlite3_bind_text(st->mark_seen, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st->mark_seen);
	sqlite3_reset(st->mark_seen);
	sqlite3_clear_bindings(st->mark_seen);
	if (rc != SQLITE_DONE) {
		log_error("state: cannot record event %s: %s", key, sqlite3_errmsg(st->db));
		note_failure(st);
		return -1;
	}
	return sqlite3_changes(st->db) == 1 ? 1 : 0;
}

/* The prepared statement for `sql`, from the cache or prepared into it. */
static sqlite3_stmt *statement(struct state *st, const char *sql)
{
	sqlite3_stmt *stmt = db_statement(&st->statements, sql);

	if (!stmt)
		log_error("state: %s", sqlite3_errmsg(st->db));
	return stmt;
}

static int run_sql(struct state *st, const char *sql, const char *const *params, int n,
		   state_row_fn *row, void *arg)
{
	sqlite3_stmt *stmt = statement(st, sql);
	int rc;

	if (!stmt) {
		note_failure(st);
		return -1;
	}
	for (int i = 0; i < n; i++)
		sqlite3_bind_text(stmt, i + 1, params[i], -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *cols[4] = { NULL, NULL, NULL, NULL };
		int ncols = sqlite3_column_count(stmt);

		for (int i = 0; i < ncols && i < 4; i++)
			cols[i] = (const char *)sqlite3_column_text(stmt, i);
		if (row)
			row(arg, cols);
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE) {
		log_error("state: %s", sqlite3_errmsg(st->db));
		note_failure(st);
		return -1;
	}
	return 0;
}

int state_begin(struct state *st)
{
	if (txn_begin(&st->txn) == 0)
		return 0;
	note_failure(st);
	return -1;
}

int state_commit(struct state *st)
{
	bool failed = st->txn.failed;

	if (txn_commit(&st->txn) == 0)
		return 0;
	if (!failed)
		note_failure(st);	/* SQLite refused; a marked unit was logged already */
	return -1;
}

void state_fail(struct state *st)
{
	txn_fail(&st->txn);
}

int state_group(struct state *st, bool on)
{
	return txn_group(&st->txn, on);
}

int state_group_commit(struct state *st)
{
	int rc = txn_group_commit(&st->txn);

	if (rc < 0)
		note_failure(st);
	return rc;
}

int state_settle(struct state *st)
{
	int rc;

	/* Called at every read of the socket: most bring no PUBACK. */
	if (!outbox_has_answered(&st->outbox))
		return 0;
	rc = state_begin(st);

	if (rc == 0 && outbox_settle(&st->outbox) != 0) {
		note_failure(st);
		rc = -1;
	}
	return state_commit(st) == 0 ? rc : -1;
}

bool state_failing(const struct state *st, const char **why)
{
	if (why)
		*why = st->why;
	return st->failing;
}

int state_probe(struct state *st)
{
	if (txn_active(&st->txn) || db_probe(st->db, "meta", st->why, sizeof st->why) != 0)
		return -1;
	st->failing = false;
	return 0;
}

struct outbox *state_outbox(struct state *st)
{
	return &st->outbox;
}

int state_send(struct state *st, const struct bus_publish *pub)
{
	if (outbox_add(&st->outbox, pub) != 0) {
		note_failure(st);
		return -1;
	}
	/* Outside a transaction the row committed by itself. */
	if (!txn_active(&st->txn))
		outbox_commit(&st->outbox);
	return 0;
}

int state_agent_put(struct state *st, const char *name, const char *definition,
		    const char *spec)
{
	const char *p[] = { name, definition, spec };

	return run_sql(st, "INSERT OR REPLACE INTO agents (name, definition, spec) VALUES (?, ?, ?)",
		       p, 3, NULL, NULL);
}

int state_agent_delete(struct state *st, const char *name)
{
	const char *p[] = { name };

	return run_sql(st, "DELETE FROM agents WHERE name = ?", p, 1, NULL, NULL);
}

int state_agents_load(struct state *st, state_row_fn *row, void *arg)
{
	return run_sql(st, "SELECT name, spec FROM agents", NULL, 0, row, arg);
}

int state_turn_add(struct state *st, const char *inbound_id, const char *drain_key,
		   const char *request)
{
	const char *p[] = { inbound_id, drain_key, request };

	return run_sql(st, "INSERT OR IGNORE INTO turns (inbound_id, drain_key, request) "
		       "VALUES (?, ?, ?)", p, 3, NULL, NULL);
}

int state_turn_get(struct state *st, const char *inbound_id, state_row_fn *row, void *arg)
{
	const char *p[] = { inbound_id };

	return run_sql(st, "SELECT request FROM turns WHERE inbound_id = ?", p, 1, row, arg);
}

int state_turn_done(struct state *st, const char *inbound_id)
{
	const char *p[] = { inbound_id };

	return run_sql(st, "DELETE FROM turns WHERE inbound_id = ?", p, 1, NULL, NULL);
}

int state_turns_load(struct state *st, state_row_fn *row, void *arg)
{
	return run_sql(st, "SELECT inbound_id, drain_key FROM turns ORDER BY seq", NULL, 0, row,
		       arg);
}

int state_thread_put(struct state *st, const char *path, const char *id, const char *meta)
{
	const char *p[] = { path, id, meta };

	/* An upsert rewrites the row in place (twice a turn); INSERT OR REPLACE
	 * would delete and insert it, and with it both of its index entries. */
	return run_sql(st, "INSERT INTO threads (path, id, meta) VALUES (?, ?, ?) ON CONFLICT (path) "
		       "DO UPDATE SET id = excluded.id, meta = excluded.meta", p, 3, NULL, NULL);
}

int state_thread_get(struct state *st, const char *path, state_row_fn *row, void *arg)
{
	const char *p[] = { path };

	return run_sql(st, "SELECT path, id, meta FROM threads WHERE path = ? COLLATE NOCASE "
		       "LIMIT 1", p, 1, row, arg);
}

int state_thread_done_add(struct state *st, const char *thread, const char *inbound_id,
			  int keep)
{
	char n[16];
	const char *p[] = { thread, inbound_id };
	const char *q[] = { thread, thread, n };

	snprintf(n, sizeof n, "%d", keep);
	if (run_sql(st, "INSERT INTO thread_done (thread, inbound_id) VALUES (?, ?)", p, 2, NULL,
		    NULL) != 0)
		return -1;
	return run_sql(st, "DELETE FROM thread_done WHERE thread = ? AND seq <= (SELECT seq FROM "
		       "thread_done WHERE thread = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)", q, 3,
		       NULL, NULL);
}

int state_thread_done_get(struct state *st, const char *thread, state_row_fn *row, void *arg)
{
	const char *p[] = { thread };

	return run_sql(st, "SELECT inbound_id FROM thread_done WHERE thread = ? ORDER BY seq", p,
		       1, row, arg);
}

int state_history_exchange(struct state *st, const char *inbound_id, state_row_fn *row,
			   void *arg)
{
	const char *p[] = { inbound_id };

	return run_sql(st, "SELECT user, assistant FROM history WHERE inbound_id = ?", p, 1, row,
		       arg);
}

int state_history_add(struct state *st, const char *thread, const char *inbound_id,
		      const char *user, int keep)
{
	char n[16];
	const char *p[] = { thread, inbound_id, user };
	const char *q[] = { thread, thread, n };
	int rc;

	snprintf(n, sizeof n, "%d", keep);
	rc = run_sql(st, "INSERT OR IGNORE INTO history (thread, inbound_id, user) VALUES (?, ?, ?)",
		     p, 3, NULL, NULL);
	if (rc == 0)
		rc = run_sql(st, "DELETE FROM history WHERE thread = ? AND seq NOT IN (SELECT seq "
			     "FROM history WHERE thread = ? ORDER BY seq DESC LIMIT CAST(? AS INTEGER))",
			     q, 3, NULL, NULL);
	return rc;
}

int state_history_answer(struct state *st, const char *inbound_id, const char *assistant)
{
	const char *p[] = { assistant, inbound_id };

	return run_sql(st, "UPDATE history SET assistant = ? WHERE inbound_id = ?", p, 2, NULL,
		       NULL);
}

int state_history_get(struct state *st, const char *thread, const char *before_inbound_id,
		      int limit, state_row_fn *row, void *arg)
{
	char n[16];
	const char *p[] = { thread, before_inbound_id, n };

	snprintf(n, sizeof n, "%d", limit);
	return run_sql(st, "SELECT user, assistant FROM (SELECT seq, user, assistant FROM history "
		       "WHERE thread = ? AND assistant IS NOT NULL AND inbound_id != ? "
		       "ORDER BY seq DESC LIMIT CAST(? AS INTEGER)) ORDER BY seq", p, 3, row, arg);
}

int state_spend_add(struct state *st, const char *agent, const char *day, double cost)
{
	char amount[32];
	const char *p[] = { agent, day, amount };
	const char *q[] = { day };
	int rc;

	snprintf(amount, sizeof amount, "%.12g", cost);
	rc = run_sql(st, "INSERT INTO spend (agent, day, cost) VALUES (?, ?, CAST(? AS REAL)) "
		     "ON CONFLICT (agent, day) DO UPDATE SET cost = cost + excluded.cost", p, 3, NULL,
		     NULL);
	/* Only today counts; a week of days is kept for whoever looks. */
	if (rc == 0)
		rc = run_sql(st, "DELETE FROM spend WHERE day < date(?, '-7 days')", q, 1, NULL, NULL);
	return rc;
}

static void spend_row(void *arg, const char *const cols[4])
{
	*(double *)arg = cols[0] ? strtod(cols[0], NULL) : 0;
}

int state_spend_get(struct state *st, const char *agent, const char *day, double *cost)
{
	const char *p[] = { agent, day };

	*cost = 0;
	return run_sql(st, "SELECT cost FROM spend WHERE agent = ? AND day = ?", p, 2, spend_row,
		       cost);
}

static void count_row(void *arg, const char *const cols[4])
{
	(void)cols;
	++*(int *)arg;
}

int state_inbox_seen(struct state *st, int mid, const char *digest)
{
	char id[16];
	const char *p[] = { id, digest };
	int n = 0;

	snprintf(id, sizeof id, "%d", mid);
	if (run_sql(st, "SELECT 1 FROM inbox_seen WHERE mid = ? AND digest = ?", p, 2, count_row,
		    &n) != 0)
		return -1;
	return n > 0;
}

int state_inbox_record(struct state *st, int mid, const char *digest)
{
	char id[16], lo[16], hi[16], lo2[16], hi2[16];
	const char *p[] = { id, digest }, *stale[] = { lo, hi, lo2, hi2 };
	int start = (mid + STATE_INBOX_WINDOW) & 0xffff, end = (mid - STATE_INBOX_WINDOW) & 0xffff;

	snprintf(id, sizeof id, "%d", mid);
	/* Packet ids are handed out in sequence: one at least WINDOW behind the
	 * newest (either way round the circle) was acknowledged long ago. */
	snprintf(lo, sizeof lo, "%d", start);
	snprintf(hi, sizeof hi, "%d", start <= end ? end : 65535);
	snprintf(lo2, sizeof lo2, "%d", start <= end ? 1 : 0);
	snprintf(hi2, sizeof hi2, "%d", start <= end ? 0 : end);
	if (run_sql(st, "DELETE FROM inbox_seen WHERE mid BETWEEN ? AND ? OR mid BETWEEN ? AND ?",
		    stale, 4, NULL, NULL) != 0)
		return -1;
	return run_sql(st, "INSERT OR REPLACE INTO inbox_seen (mid, digest) VALUES (?, ?)", p, 2,
		       NULL, NULL);
}

int state_inbox_forget_all(struct state *st)
{
	return run_sql(st, "DELETE FROM inbox_seen", NULL, 0, NULL, NULL);
}

int state_answer_put(struct state *st, const char *inbound_id, const char *topic,
		     const char *correlation, bool json)
{
	const char *p[] = { inbound_id, topic, correlation, json ? "1" : "0" };

	return run_sql(st, "INSERT OR REPLACE INTO answers (inbound_id, topic, correlation, json) "
		       "VALUES (?, ?, ?, ?)", p, 4, NULL, NULL);
}

int state_answer_take(struct state *st, const char *inbound_id, state_row_fn *row, void *arg)
{
	const char *p[] = { inbound_id };

	if (run_sql(st, "SELECT topic, correlation, json FROM answers WHERE inbound_id = ?", p, 1,
		    row, arg) != 0)
		return -1;
	return run_sql(st, "DELETE FROM answers WHERE inbound_id = ?", p, 1, NULL, NULL);
}

int state_flag_take(struct state *st, const char *key)
{
	const char *p[] = { key };
	int n = 0;

	if (run_sql(st, "SELECT value FROM meta WHERE key = ?", p, 1, count_row, &n) != 0)
		return -1;
	if (n > 0)
		return 0;
	return run_sql(st, "INSERT INTO meta (key, value) VALUES (?, '1')", p, 1, NULL, NULL) == 0
		       ? 1
		       : -1;
}

const char *state_library_version(void)
{
	return sqlite3_libversion();
}

bool state_previous_run_crashed(const struct state *st)
{
	return st->crashed;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	if (txn_group(&st->txn, false) != 0)
		log_error("state: the last group of writes did not commit: %s",
			  sqlite3_errmsg(st->db));
	txn_free(&st->txn);
	checkpointer_stop(st->checkpointer);
	outbox_close(&st->outbox);
	sqlite3_finalize(st->mark_seen);
	db_statements_free(&st->statements);
	exec_sql(st->db, "UPDATE meta SET value = '0' WHERE key = 'running';");
	/* Fold the WAL back so the file is complete on its own. */
	exec_sql(st->db, "PRAGMA wal_checkpoint(TRUNCATE);");
	if (sqlite3_close(st->db) != SQLITE_OK)
		log_error("state: close: %s", sqlite3_errmsg(st->db));
	close(st->lock_fd);
	free(st);
}
