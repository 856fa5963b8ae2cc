/* state/outbox: one table per database, rows deleted on PUBACK. */
#include "state/outbox.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct outbox_entry {
	int64_t id;
	char *topic;
	void *payload;
	size_t len;
	char *content_type;
	void *correlation;
	size_t correlation_len;
	int qos;
	bool retain;
	struct outbox_entry *next;
};

static const char table[] =
	"CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" topic TEXT NOT NULL, payload BLOB, content_type TEXT, correlation BLOB,"
	" qos INTEGER NOT NULL, retain INTEGER NOT NULL)";

static void entry_free(struct outbox_entry *e)
{
	free(e->topic);
	free(e->payload);
	free(e->content_type);
	free(e->correlation);
	free(e);
}

static void *memdup(const void *p, size_t n)
{
	void *q = n ? malloc(n) : NULL;

	if (q)
		memcpy(q, p, n);
	return q;
}

static void queue_entry(struct outbox *ob, struct outbox_entry *e)
{
	e->next = NULL;
	if (ob->pending_tail)
		ob->pending_tail->next = e;
	else
		ob->pending_head = e;
	ob->pending_tail = e;
}

static struct outbox_entry *entry_new(int64_t id, const struct bus_publish *pub)
{
	struct outbox_entry *e = calloc(1, sizeof *e);

	if (!e)
		return NULL;
	e->id = id;
	e->topic = strdup(pub->topic);
	e->payload = memdup(pub->payload, pub->len);
	e->len = pub->len;
	e->content_type = pub->content_type ? strdup(pub->content_type) : NULL;
	e->correlation = memdup(pub->correlation, pub->correlation_len);
	e->correlation_len = e->correlation ? pub->correlation_len : 0;
	e->qos = pub->qos;
	e->retain = pub->retain;
	if (e->topic && (!pub->len || e->payload) && (!pub->content_type || e->content_type))
		return e;
	entry_free(e);
	return NULL;
}

/* Rows from an earlier run, oldest first. */
static int load_rows(struct outbox *ob)
{
	sqlite3_stmt *st;
	int rc, n = 0;

	if (sqlite3_prepare_v2(ob->db, "SELECT id, topic, payload, content_type, correlation, qos,"
			       " retain FROM outbox ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bus_publish pub = {
			.topic = (const char *)sqlite3_column_text(st, 1),
			.payload = sqlite3_column_blob(st, 2),
			.len = (size_t)sqlite3_column_bytes(st, 2),
			.content_type = (const char *)sqlite3_column_text(st, 3),
			.correlation = sqlite3_column_blob(st, 4),
			.correlation_len = (size_t)sqlite3_column_bytes(st, 4),
			.qos = sqlite3_column_int(st, 5),
			.retain = sqlite3_column_int(st, 6) != 0,
		};
		struct outbox_entry *e = entry_new(sqlite3_column_int64(st, 0), &pub);

		if (!e)
			break;
		queue_entry(ob, e);
		n++;
	}
	sqlite3_finalize(st);
	if (n)
		log_info("outbox: %d publishes from before the restart are sent again", n);
	return rc == SQLITE_DONE ? 0 : -1;
}

int outbox_open(struct outbox *ob, sqlite3 *db)
{
	memset(ob, 0, sizeof *ob);
	ob->db = db;
	if (sqlite3_exec(db, table, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, "INSERT INTO outbox (topic, payload, content_type, correlation,"
			       " qos, retain) VALUES (?, ?, ?, ?, ?, ?)", -1,
			       SQLITE_PREPARE_PERSISTENT, &ob->add, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, "DELETE FROM outbox WHERE id = ?", -1,
			       SQLITE_PREPARE_PERSISTENT, &ob->remove, NULL) != SQLITE_OK ||
	    load_rows(ob) != 0) {
		log_error("outbox: %s", sqlite3_errmsg(db));
		outbox_close(ob);
		return -1;
	}
	return 0;
}

static void free_value(void *arg, const char *key, void *value)
{
	(void)arg;
	(void)key;
	free(value);
}

void outbox_close(struct outbox *ob)
{
	outbox_discard(ob);
	if (ob->db && ob->remove)
		outbox_settle(ob);
	free(ob->acked);
	strmap_each(&ob->sent, free_value, NULL);
	sqlite3_finalize(ob->add);
	sqlite3_finalize(ob->remove);
	strmap_free(&ob->sent);
	ob->add = ob->remove = NULL;
}

int outbox_add(struct outbox *ob, const struct bus_publish *pub)
{
	struct outbox_entry *e;
	int rc;

	sqlite3_bind_text(ob->add, 1, pub->topic, -1, SQLITE_STATIC);
	sqlite3_bind_blob(ob->add, 2, pub->payload, (int)pub->len, SQLITE_STATIC);
	sqlite3_bind_text(ob->add, 3, pub->content_type, -1, SQLITE_STATIC);
	sqlite3_bind_blob(ob->add, 4, pub->correlation, (int)pub->correlation_len, SQLITE_STATIC);
	sqlite3_bind_int(ob->add, 5, pub->qos);
	sqlite3_bind_int(ob->add, 6, pub->retain);
	rc = sqlite3_step(ob->add);
	sqlite3_reset(ob->add);
	sqlite3_clear_bindings(ob->add);
	if (rc != SQLITE_DONE) {
		log_error("outbox: cannot record a publish on %s: %s", pub->topic,
			  sqlite3_errmsg(ob->db));
		return -1;
	}
	e = entry_new(sqlite3_last_insert_rowid(ob->db), pub);
	if (!e)
		return -1;
	queue_entry(ob, e);
	return 0;
}

void outbox_discard(struct outbox *ob)
{
	while (ob->pending_head) {
		struct outbox_entry *e = ob->pending_head;

		ob->pending_head = e->next;
		entry_free(e);
	}
	ob->pending_tail = NULL;
}

void outbox_flush(struct outbox *ob, outbox_send_fn *send, void *arg)
{
	while (ob->pending_head) {
		struct outbox_entry *e = ob->pending_head;
		struct bus_publish pub = { e->topic, e->payload, e->len, e->qos, e->retain,
					   e->content_type, e->correlation, e->correlation_len };
		char key[16];
		int mid = -1;

		ob->pending_head = e->next;
		if (!ob->pending_head)
			ob->pending_tail = NULL;
		/* A failed send stays in the table for the next start. */
		if (send(arg, &pub, &mid) == 0 && mid >= 0) {
			int64_t *id = malloc(sizeof *id);

			snprintf(key, sizeof key, "%d", mid);
			if (id) {
				*id = e->id;
				free(strmap_get(&ob->sent, key));
				if (strmap_put(&ob->sent, key, id) != 0)
					free(id);
			}
		}
		entry_free(e);
	}
}

void outbox_acked(struct outbox *ob, int mid)
{
	char key[16];
	int64_t *id;

	snprintf(key, sizeof key, "%d", mid);
	id = strmap_remove(&ob->sent, key);
	if (!id)
		return;
	if (ob->n_acked == ob->cap_acked) {
		size_t cap = ob->cap_acked ? ob->cap_acked * 2 : 64;
		int64_t *v = realloc(ob->acked, cap * sizeof *v);

		if (!v) {
			free(id);	/* the row stays; it is sent again at the next start */
			return;
		}
		ob->acked = v;
		ob->cap_acked = cap;
	}
	ob->acked[ob->n_acked++] = *id;
	free(id);
}

void outbox_settle(struct outbox *ob)
{
	bool own_txn;

	if (!ob->n_acked)
		return;
	own_txn = sqlite3_get_autocommit(ob->db) &&
		  sqlite3_exec(ob->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	for (size_t i = 0; i < ob->n_acked; i++) {
		sqlite3_bind_int64(ob->remove, 1, ob->acked[i]);
		if (sqlite3_step(ob->remove) != SQLITE_DONE)
			log_error("outbox: cannot forget publish %lld: %s", (long long)ob->acked[i],
				  sqlite3_errmsg(ob->db));
		sqlite3_reset(ob->remove);
	}
	if (own_txn && sqlite3_exec(ob->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		log_error("outbox: %s", sqlite3_errmsg(ob->db));
	ob->n_acked = 0;
}

int outbox_count(struct outbox *ob)
{
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_prepare_v2(ob->db, "SELECT count(*) FROM outbox", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}
