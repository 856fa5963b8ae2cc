/* state/outbox: one table per database, rows deleted on PUBACK. Every entry
 * lives in exactly one list: new (its transaction is open), ready, in flight,
 * or backing off after a failure. Only the last is ever scanned, so the cost
 * per iteration does not grow with the publishes awaiting their PUBACK. */
#include "state/outbox.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"

#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 30000

/* One allocation per entry: the strings and bytes live in `data`. */
struct outbox_entry {
	struct outbox *ob;
	int64_t id;
	char *topic;
	void *payload;		/* NULL when len is 0 */
	size_t len;
	char *content_type;
	void *correlation;	/* NULL when correlation_len is 0 */
	size_t correlation_len;
	int qos;
	bool retain;
	bool in_flight;		/* sent, no answer yet */
	int attempts;		/* failed sends or refusals */
	int64_t retry_at;	/* monotonic ms; when backing off */
	struct outbox_entry *next, *prev;	/* prev: only on the two waiting lists */
	char data[];
};

static const char table[] =
	"CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" topic TEXT NOT NULL, payload BLOB, content_type TEXT, correlation BLOB,"
	" qos INTEGER NOT NULL, retain INTEGER NOT NULL)";

static void entry_free(struct outbox_entry *e)
{
	free(e);
}

static void append(struct outbox_entry **head, struct outbox_entry **tail, struct outbox_entry *e)
{
	e->next = NULL;
	if (*tail)
		(*tail)->next = e;
	else
		*head = e;
	*tail = e;
}

static void free_list(struct outbox_entry *e)
{
	while (e) {
		struct outbox_entry *next = e->next;

		entry_free(e);
		e = next;
	}
}

static struct outbox_entry *entry_new(struct outbox *ob, int64_t id, const struct bus_publish *pub)
{
	size_t topic_len = strlen(pub->topic) + 1;
	size_t type_len = pub->content_type ? strlen(pub->content_type) + 1 : 0;
	struct outbox_entry *e = malloc(sizeof *e + topic_len + type_len + pub->len +
					pub->correlation_len);
	char *p;

	if (!e)
		return NULL;
	memset(e, 0, sizeof *e);
	e->ob = ob;
	e->id = id;
	e->len = pub->len;
	e->correlation_len = pub->correlation_len;
	e->qos = pub->qos;
	e->retain = pub->retain;
	p = e->data;
	e->topic = memcpy(p, pub->topic, topic_len);
	p += topic_len;
	if (type_len) {
		e->content_type = memcpy(p, pub->content_type, type_len);
		p += type_len;
	}
	if (pub->len) {
		e->payload = memcpy(p, pub->payload, pub->len);
		p += pub->len;
	}
	if (pub->correlation_len)
		e->correlation = memcpy(p, pub->correlation, pub->correlation_len);
	return e;
}

/* Rows from an earlier run, oldest first. */
static int load_rows(struct outbox *ob)
{
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

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
		struct outbox_entry *e = entry_new(ob, sqlite3_column_int64(st, 0), &pub);

		if (!e) {
			rc = SQLITE_NOMEM;
			break;
		}
		append(&ob->ready_head, &ob->ready_tail, e);
		n++;
	}
	sqlite3_finalize(st);
	if (n)
		log_info("outbox: %zu publishes from before the restart are sent again", n);
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

void outbox_close(struct outbox *ob)
{
	if (ob->db && ob->remove)
		outbox_settle(ob);
	free_list(ob->new_head);
	free_list(ob->ready_head);
	free_list(ob->in_flight);
	free_list(ob->backing_off);
	free(ob->done);
	sqlite3_finalize(ob->add);
	sqlite3_finalize(ob->remove);
	memset(ob, 0, sizeof *ob);
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
	e = entry_new(ob, sqlite3_last_insert_rowid(ob->db), pub);
	if (!e) {
		log_error("outbox: out of memory recording a publish on %s", pub->topic);
		return -1;
	}
	append(&ob->new_head, &ob->new_tail, e);
	return 0;
}

void outbox_commit(struct outbox *ob)
{
	if (!ob->new_head)
		return;
	if (ob->ready_tail)
		ob->ready_tail->next = ob->new_head;
	else
		ob->ready_head = ob->new_head;
	ob->ready_tail = ob->new_tail;
	ob->new_head = ob->new_tail = NULL;
}

void outbox_rollback(struct outbox *ob)
{
	free_list(ob->new_head);
	ob->new_head = ob->new_tail = NULL;
}

struct outbox_entry *outbox_last_new(const struct outbox *ob)
{
	return ob->new_tail;
}

void outbox_rollback_after(struct outbox *ob, struct outbox_entry *mark)
{
	if (!mark) {
		outbox_rollback(ob);
		return;
	}
	free_list(mark->next);
	mark->next = NULL;
	ob->new_tail = mark;
}

/* The list an entry waits on follows from `in_flight`. */
static struct outbox_entry **waiting_list(struct outbox *ob, const struct outbox_entry *e)
{
	return e->in_flight ? &ob->in_flight : &ob->backing_off;
}

static void unlink_waiting(struct outbox *ob, struct outbox_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		*waiting_list(ob, e) = e->next;
	if (e->next)
		e->next->prev = e->prev;
	e->next = e->prev = NULL;
}

static void push_waiting(struct outbox *ob, struct outbox_entry *e)
{
	struct outbox_entry **list = waiting_list(ob, e);

	e->prev = NULL;
	e->next = *list;
	if (*list)
		(*list)->prev = e;
	*list = e;
}

/* The row is finished with: deleted by the next settle. */
static void forget(struct outbox *ob, struct outbox_entry *e)
{
	if (ob->n_done == ob->cap_done) {
		size_t cap = ob->cap_done ? ob->cap_done * 2 : 64;
		int64_t *v = realloc(ob->done, cap * sizeof *v);

		if (!v) {
			entry_free(e);	/* the row stays; it is sent again at the next start */
			return;
		}
		ob->done = v;
		ob->cap_done = cap;
	}
	ob->done[ob->n_done++] = e->id;
	entry_free(e);
}

static void back_off(struct outbox_entry *e, int64_t now_ms)
{
	int64_t d = RETRY_FIRST_MS;

	for (int i = 0; i < e->attempts && d < RETRY_MAX_MS; i++)
		d *= 2;
	e->attempts++;
	e->in_flight = false;
	e->retry_at = now_ms + (d < RETRY_MAX_MS ? d : RETRY_MAX_MS);
}

/* MQTT v5 refusals that a later attempt cannot change. */
static bool refusal_is_final(int reason)
{
	return reason == 0x87 || reason == 0x90 || reason == 0x95 || reason == 0x99 ||
	       reason == 0x9A;
}

static void on_answer(void *arg, int mid, int reason)
{
	struct outbox_entry *e = arg;
	struct outbox *ob = e->ob;

	unlink_waiting(ob, e);
	if (reason == 0) {
		forget(ob, e);
		return;
	}
	if (refusal_is_final(reason)) {
		log_error("outbox: the broker refused publish %d on %s for good (reason 0x%02x); "
			  "dropped", mid, e->topic, reason);
		forget(ob, e);
		return;
	}
	log_warn("outbox: the broker refused publish %d on %s (reason 0x%02x); sending it again "
		 "later", mid, e->topic, reason);
	back_off(e, clock_mono_ms());
	push_waiting(ob, e);
}

/* Sends `e` (on no list); it ends on the waiting list or is forgotten. */
static void send_entry(struct outbox *ob, struct outbox_entry *e, int64_t now_ms,
		       outbox_send_fn *send, void *arg)
{
	struct bus_publish pub = { .topic = e->topic, .payload = e->payload, .len = e->len,
				   .qos = e->qos, .retain = e->retain,
				   .content_type = e->content_type, .correlation = e->correlation,
				   .correlation_len = e->correlation_len };
	int rc;

	e->in_flight = true;
	push_waiting(ob, e);
	rc = send(arg, &pub, on_answer, e);
	if (rc == 0)
		return;
	unlink_waiting(ob, e);
	if (rc == -2) {
		log_error("outbox: a publish on %s can never be sent; dropped", e->topic);
		forget(ob, e);
		return;
	}
	back_off(e, now_ms);
	push_waiting(ob, e);
}

void outbox_flush(struct outbox *ob, int64_t now_ms, outbox_send_fn *send, void *arg)
{
	struct outbox_entry *due = NULL, *e, *next;

	/* Entries due again go before newer ones; collect them first, since
	 * sending changes the waiting list. */
	for (e = ob->backing_off; e; e = next) {
		next = e->next;
		if (e->retry_at <= now_ms) {
			unlink_waiting(ob, e);
			e->next = due;
			due = e;
		}
	}
	for (e = due; e; e = next) {
		next = e->next;
		send_entry(ob, e, now_ms, send, arg);
	}
	while ((e = ob->ready_head) != NULL) {
		ob->ready_head = e->next;
		if (!ob->ready_head)
			ob->ready_tail = NULL;
		send_entry(ob, e, now_ms, send, arg);
	}
}

int outbox_retry_ms(const struct outbox *ob, int64_t now_ms)
{
	int64_t next = -1;

	for (const struct outbox_entry *e = ob->backing_off; e; e = e->next)
		if (next < 0 || e->retry_at < next)
			next = e->retry_at;
	if (next < 0)
		return -1;
	return next <= now_ms ? 0 : (int)(next - now_ms);
}

int outbox_settle(struct outbox *ob)
{
	bool own_txn;
	int rc = 0;

	if (!ob->n_done)
		return 0;
	own_txn = sqlite3_get_autocommit(ob->db);
	if (own_txn && sqlite3_exec(ob->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	for (size_t i = 0; i < ob->n_done && rc == 0; i++) {
		sqlite3_bind_int64(ob->remove, 1, ob->done[i]);
		if (sqlite3_step(ob->remove) != SQLITE_DONE)
			rc = -1;
		sqlite3_reset(ob->remove);
	}
	if (own_txn && rc == 0 && sqlite3_exec(ob->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = -1;
	if (rc != 0) {
		log_error("outbox: cannot forget %zu answered publishes: %s", ob->n_done,
			  sqlite3_errmsg(ob->db));
		if (own_txn)
			sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	ob->n_done = 0;
	return 0;
}

bool outbox_has_answered(const struct outbox *ob)
{
	return ob->n_done > 0;
}

bool outbox_idle(const struct outbox *ob)
{
	return !ob->ready_head && !ob->new_head && !ob->in_flight && !ob->backing_off;
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
