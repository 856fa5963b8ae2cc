/* store/notes: one table of notes and one of applied request ids. A write is
 * one transaction: the note change and the request id commit together, so a
 * crash never applies a write without remembering it, or the reverse. */
#include "store/notes.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/meta.h"
#include "state/db.h"
#include "state/checkpoint.h"
#include "state/outbox.h"
#include "state/txn.h"
#include "bus/merge.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/ulid.h"

struct note_store {
	sqlite3 *db;
	struct ulid_gen ids;
	struct outbox outbox;	/* the events this vault publishes */
	struct txn txn;
	struct checkpointer *checkpointer;
	struct db_statements statements;
};

/* A note as stored; every field owned. */
struct note_row {
	char *id;
	char *path;		/* NULL when the note has none */
	char *content;
	cJSON *tags;
	cJSON *metadata;
	char created_at[CLOCK_ISO_LEN + 8];
	char updated_at[CLOCK_ISO_LEN + 8];
};

static const char schema[] =
	/* One daemon per state dir (state/ holds the flock); normal locking
	 * all the same, for the checkpoint thread's connection. Savepoints
	 * (state/txn.h) keep their undo journal in memory. Small pages, as in
	 * state/state.c. */
	"PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
	"PRAGMA temp_store = MEMORY;"
	"CREATE TABLE IF NOT EXISTS notes ("
	"  id TEXT PRIMARY KEY, path TEXT UNIQUE COLLATE NOCASE,"
	"  content TEXT NOT NULL, tags TEXT NOT NULL, metadata TEXT NOT NULL,"
	"  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS requests ("
	"  request_id TEXT PRIMARY KEY, answer TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;";

static int exec(struct note_store *ns, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(ns->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	log_error("note store: %s", msg ? msg : sqlite3_errmsg(ns->db));
	sqlite3_free(msg);
	return -1;
}

int note_store_open(const char *dir, struct note_store **out)
{
	struct note_store *ns = calloc(1, sizeof *ns);
	char path[4096];

	*out = NULL;
	if (!ns)
		return -1;
	snprintf(path, sizeof path, "%s/notes.db", dir);
	if (sqlite3_open_v2(path, &ns->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ==
	    SQLITE_OK)
		db_statements_init(&ns->statements, ns->db);
	if (!ns->statements.db ||
	    exec(ns, schema) != 0 || outbox_open(&ns->outbox, ns->db) != 0 ||
	    txn_init(&ns->txn, ns->db, &ns->outbox) != 0 ||
	    checkpointer_start(path, ns->db, CHECKPOINT_PAGES, &ns->checkpointer) != 0) {
		log_error("note store: cannot open %s: %s", path, sqlite3_errmsg(ns->db));
		note_store_close(ns);
		return -1;
	}
	*out = ns;
	return 0;
}

void note_store_close(struct note_store *ns)
{
	if (!ns)
		return;
	if (ns->txn.db && txn_group(&ns->txn, false) != 0)
		log_error("note store: the last group of writes did not commit: %s",
			  sqlite3_errmsg(ns->db));
	txn_free(&ns->txn);
	checkpointer_stop(ns->checkpointer);
	outbox_close(&ns->outbox);
	db_statements_free(&ns->statements);
	/* Fold the WAL back so the file is complete on its own. */
	if (ns->db)
		exec(ns, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(ns->db);
	free(ns);
}

static void row_free(struct note_row *r)
{
	free(r->id);
	free(r->path);
	free(r->content);
	cJSON_Delete(r->tags);
	cJSON_Delete(r->metadata);
	memset(r, 0, sizeof *r);
}

static char *column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? strdup((const char *)t) : NULL;
}

/* Loads the note whose id (or path, `by_path`) is `key`. Returns 1 found,
 * 0 absent, -1 on error. */
static int row_load(struct note_store *ns, bool by_path, const char *key, struct note_row *r)
{
	static const char by_id_sql[] = "SELECT id, path, content, tags, metadata, created_at, "
					"updated_at FROM notes WHERE id = ?";
	static const char by_path_sql[] = "SELECT id, path, content, tags, metadata, created_at, "
					  "updated_at FROM notes WHERE path = ?";
	sqlite3_stmt *st = db_statement(&ns->statements, by_path ? by_path_sql : by_id_sql);
	int rc;

	memset(r, 0, sizeof *r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->id = column_dup(st, 0);
		r->path = column_dup(st, 1);
		r->content = column_dup(st, 2);
		r->tags = cJSON_Parse((const char *)sqlite3_column_text(st, 3));
		r->metadata = cJSON_Parse((const char *)sqlite3_column_text(st, 4));
		snprintf(r->created_at, sizeof r->created_at, "%s", sqlite3_column_text(st, 5));
		snprintf(r->updated_at, sizeof r->updated_at, "%s", sqlite3_column_text(st, 6));
		rc = r->id && r->content && r->tags && r->metadata ? 1 : -1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : -1;
	}
	db_statement_done(st);
	if (rc < 0)
		row_free(r);
	return rc;
}

/* By id when the write names one, else by path. */
static int row_find(struct note_store *ns, const struct note_write *w, struct note_row *r)
{
	return w->id ? row_load(ns, false, w->id, r) : row_load(ns, true, w->path, r);
}

static int row_insert(struct note_store *ns, const struct note_row *r)
{
	char *tags = cJSON_PrintUnformatted(r->tags);
	char *meta = cJSON_PrintUnformatted(r->metadata);
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (tags && meta &&
	    (st = db_statement(&ns->statements, "INSERT INTO notes (id, path, content, "
			       "tags, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"))) {
		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->path, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, r->content, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, tags, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, meta, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, r->created_at, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, r->updated_at, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		db_statement_done(st);
	}
	free(tags);
	free(meta);
	return rc;
}

/* An update changes only content, metadata and updated_at (id, path, tags
 * and created_at stay): rewriting the row in place leaves both indexes
 * alone, where INSERT OR REPLACE would delete and insert it again. */
static int row_update(struct note_store *ns, const struct note_row *r)
{
	char *meta = cJSON_PrintUnformatted(r->metadata);
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (meta && (st = db_statement(&ns->statements, "UPDATE notes SET content = ?, "
				       "metadata = ?, updated_at = ? WHERE id = ?"))) {
		sqlite3_bind_text(st, 1, r->content, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, meta, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, r->updated_at, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, r->id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(ns->db) == 1 ? 0 : -1;
		db_statement_done(st);
	}
	free(meta);
	return rc;
}

static int row_delete(struct note_store *ns, const char *id)
{
	sqlite3_stmt *st = db_statement(&ns->statements, "DELETE FROM notes WHERE id = ?");
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	db_statement_done(st);
	return rc;
}

/* The vault stores tags bare and drops the ones that are only hashes. */
static cJSON *tags_normalised(const cJSON *tags)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *t;

	cJSON_ArrayForEach(t, tags) {
		size_t len;
		const char *bare = tag_bare(t->valuestring, &len);
		char *copy;

		if (len == 0 || tags_contain(out, bare))
			continue;
		copy = strndup(bare, len);
		if (!copy || !cJSON_AddItemToArray(out, cJSON_CreateString(copy))) {
			free(copy);
			cJSON_Delete(out);
			return NULL;
		}
		free(copy);
	}
	return out;
}

/* The note as events carry it (docs/CONTRACT.md section 2). */
static cJSON *row_doc(const struct note_row *r)
{
	cJSON *n = cJSON_CreateObject();

	if (!n || !cJSON_AddStringToObject(n, "id", r->id) ||
	    (r->path && !cJSON_AddStringToObject(n, "path", r->path)) ||
	    !cJSON_AddStringToObject(n, "content", r->content) ||
	    !cJSON_AddItemToObject(n, "tags", cJSON_Duplicate(r->tags, 1)) ||
	    !cJSON_AddItemToObject(n, "metadata", cJSON_Duplicate(r->metadata, 1)) ||
	    !cJSON_AddArrayToObject(n, "attachments") ||
	    !cJSON_AddStringToObject(n, "createdAt", r->created_at) ||
	    !cJSON_AddStringToObject(n, "updatedAt", r->updated_at)) {
		cJSON_Delete(n);
		return NULL;
	}
	return n;
}

static void row_touch(struct note_row *r, bool created)
{
	char now[CLOCK_ISO_LEN];

	clock_iso8601(now);
	snprintf(r->updated_at, sizeof r->updated_at, "%s", now);
	if (created)
		snprintf(r->created_at, sizeof r->created_at, "%s", now);
}

/* Metadata and content from the write onto `r`; tags only when `with_tags`. */
static int row_apply_fields(struct note_row *r, const struct note_write *w, bool with_tags)
{
	if (w->metadata && merge_patch(&r->metadata, w->metadata) != 0)
		return -1;
	if (w->content) {
		free(r->content);
		if (!(r->content = strdup(w->content)))
			return -1;
	}
	if (with_tags) {
		cJSON_Delete(r->tags);
		if (!(r->tags = w->tags ? tags_normalised(w->tags) : cJSON_CreateArray()))
			return -1;
	}
	return 0;
}

/* A new note from `w`. Returns 0, 1 when rejected (err set), -1 on error. */
static int row_create(struct note_store *ns, const struct note_write *w, struct note_row *r,
		      struct bus_error *err)
{
	struct note_row other;
	char id[ULID_LEN + 1];
	int found;

	memset(r, 0, sizeof *r);
	if (w->id && (found = row_load(ns, false, w->id, &other)) != 0) {
		row_free(&other);
		return found < 0 ? -1 : (bus_fail(err, REASON_INVALID_WRITE,
						  "a note with id %s already exists", w->id), 1);
	}
	if (w->path && (found = row_load(ns, true, w->path, &other)) != 0) {
		row_free(&other);
		return found < 0 ? -1 : (bus_fail(err, REASON_INVALID_WRITE,
						  "a note at path %.200s already exists", w->path), 1);
	}
	if (!w->id && ulid_next(&ns->ids, id) != 0)
		return -1;
	r->id = strdup(w->id ? w->id : id);
	r->path = w->path ? strdup(w->path) : NULL;
	r->content = strdup("");
	r->metadata = cJSON_CreateObject();
	row_touch(r, true);
	if (!r->id || (w->path && !r->path) || !r->content || !r->metadata ||
	    row_apply_fields(r, w, true) != 0)
		return -1;
	return 0;
}

/* Applies the write's operation. Returns 0 with out->note and out->event,
 * 1 when rejected (out->err), -1 on a storage error. */
static int apply_op(struct note_store *ns, const struct note_write *w, struct note_row *r,
		    struct store_result *out)
{
	int found;

	if (w->op == WRITE_CREATE) {
		out->event = NOTE_CREATED;
		found = row_create(ns, w, r, &out->err);
		return found != 0 ? found : row_insert(ns, r);
	}
	found = w->op == WRITE_UPSERT ? row_load(ns, true, w->path, r) : row_find(ns, w, r);
	if (found < 0)
		return -1;
	if (!found && w->op == WRITE_UPSERT) {
		out->event = NOTE_CREATED;
		found = row_create(ns, w, r, &out->err);
		return found != 0 ? found : row_insert(ns, r);
	}
	if (!found) {
		bus_fail(&out->err, REASON_INVALID_WRITE, "%s: no note with %s %.200s",
			 write_op_name(w->op), w->id ? "id" : "path", w->id ? w->id : w->path);
		return 1;
	}
	if (w->op == WRITE_DELETE) {
		out->event = NOTE_DELETED;
		return row_delete(ns, r->id);
	}
	out->event = NOTE_UPDATED;
	row_touch(r, false);
	if (row_apply_fields(r, w, false) != 0)
		return -1;
	return row_update(ns, r);
}

static cJSON *answer_build(const char *request_id, const struct note_row *r,
			   const struct bus_error *err)
{
	cJSON *a = cJSON_CreateObject();

	if (!a || !cJSON_AddStringToObject(a, "request_id", request_id) ||
	    !cJSON_AddBoolToObject(a, "ok", err == NULL) ||
	    (r && r->id && !cJSON_AddStringToObject(a, "id", r->id)) ||
	    (r && r->path && !cJSON_AddStringToObject(a, "path", r->path)) ||
	    (err && !cJSON_AddStringToObject(a, "error", err->message))) {
		cJSON_Delete(a);
		return NULL;
	}
	return a;
}

/* The stored answer of an applied request id. 1 found, 0 not, -1 error. */
static int request_lookup(struct note_store *ns, const char *request_id, cJSON **answer)
{
	sqlite3_stmt *st = db_statement(&ns->statements,
					"SELECT answer FROM requests WHERE request_id = ?");
	int rc;

	*answer = NULL;
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*answer = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
	db_statement_done(st);
	if (rc == SQLITE_ROW)
		return *answer ? 1 : -1;
	return rc == SQLITE_DONE ? 0 : -1;
}

static int request_record(struct note_store *ns, const char *request_id, const cJSON *answer)
{
	char *text = cJSON_PrintUnformatted(answer);
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (text && (st = db_statement(&ns->statements, "INSERT INTO requests (request_id, "
				       "answer, at) VALUES (?, ?, unixepoch())"))) {
		sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
		db_statement_done(st);
	}
	free(text);
	return rc;
}

/* The event's note: the whole note, or only id and path once deleted. */
static cJSON *event_note(const struct note_row *r, enum note_event ev)
{
	cJSON *n;

	if (ev != NOTE_DELETED)
		return row_doc(r);
	n = cJSON_CreateObject();
	if (!n || !cJSON_AddStringToObject(n, "id", r->id) ||
	    (r->path && !cJSON_AddStringToObject(n, "path", r->path))) {
		cJSON_Delete(n);
		return NULL;
	}
	return n;
}

int note_store_begin(struct note_store *ns)
{
	return txn_begin(&ns->txn);
}

int note_store_commit(struct note_store *ns)
{
	return txn_commit(&ns->txn);
}

void note_store_rollback(struct note_store *ns)
{
	txn_fail(&ns->txn);
	txn_commit(&ns->txn);
}

int note_store_group(struct note_store *ns, bool on)
{
	return txn_group(&ns->txn, on);
}

int note_store_group_commit(struct note_store *ns)
{
	return txn_group_commit(&ns->txn);
}

int note_store_settle(struct note_store *ns)
{
	return txn_settle(&ns->txn);
}

const char *note_store_error(const struct note_store *ns)
{
	return sqlite3_errmsg(ns->db);
}

int note_store_probe(struct note_store *ns, char *why, size_t why_len)
{
	return db_probe(ns->db, "store_meta", why, why_len);
}

struct outbox *note_store_outbox(struct note_store *ns)
{
	return &ns->outbox;
}

int note_store_apply(struct note_store *ns, const struct note_write *w,
		     struct store_result *out)
{
	struct note_row r;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&r, 0, sizeof r);
	rc = request_lookup(ns, w->request_id, &out->answer);
	if (rc == 1) {
		out->repeated = true;
		out->ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out->answer, "ok"));
		return 0;
	}
	if (rc == 0)
		rc = apply_op(ns, w, &r, out);
	if (rc == 0) {
		out->ok = true;
		out->answer = answer_build(w->request_id, &r, NULL);
		out->note = event_note(&r, out->event);
		rc = out->answer && out->note ? request_record(ns, w->request_id, out->answer) : -1;
	}
	if (rc == 1)
		out->answer = answer_build(w->request_id, NULL, &out->err);
	row_free(&r);
	if (rc == 0 || (rc == 1 && out->answer))
		return 0;
	log_error("note store: cannot apply %s %s: %s", write_op_name(w->op), w->request_id,
		  sqlite3_errmsg(ns->db));
	store_result_free(out);
	return -1;
}

void store_result_free(struct store_result *r)
{
	cJSON_Delete(r->answer);
	cJSON_Delete(r->note);
	r->answer = r->note = NULL;
}

struct cJSON *note_store_get(struct note_store *ns, const char *id_or_path)
{
	struct note_row r;
	cJSON *doc = NULL;

	if (row_load(ns, false, id_or_path, &r) == 1 || row_load(ns, true, id_or_path, &r) == 1)
		doc = row_doc(&r);
	row_free(&r);
	return doc;
}
