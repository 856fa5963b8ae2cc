/* store/notes: the embedded vault's notes in their own SQLite file
 * (notes.db in the state dir), with the write semantics of docs/CONTRACT.md
 * section 3: create / upsert / patch / delete, RFC 7386 metadata merge, and a
 * repeated request_id applied once. It knows nothing of MQTT. */
#ifndef AB_STORE_NOTES_H
#define AB_STORE_NOTES_H

#include <stdbool.h>
#include <stddef.h>

#include "bus/error.h"
#include "bus/event.h"
#include "bus/write.h"

struct cJSON;
struct note_store;

/* Opens (creating) `dir`/notes.db. Returns 0, or -1 after logging why. */
int note_store_open(const char *dir, struct note_store **out);
void note_store_close(struct note_store *ns);

/* What applying one write produced. Free with store_result_free(). */
struct store_result {
	bool ok;
	bool repeated;		/* request_id seen before: nothing applied again */
	struct cJSON *answer;	/* {request_id, ok, id, path, error?} */
	struct cJSON *note;	/* the note as its event carries it; NULL if none */
	enum note_event event;	/* what happened to it, when `note` is set */
	struct bus_error err;	/* when !ok */
};

/* A transaction around note_store_apply() and what the caller records with
 * it (the event, in the outbox); state/txn.h. Rolling back also forgets what
 * was queued in the outbox. Must be paired: begin, then commit or rollback. */
int note_store_begin(struct note_store *ns);
int note_store_commit(struct note_store *ns);
void note_store_rollback(struct note_store *ns);
/* Group commit, as state_group() and state_group_commit(). */
int note_store_group(struct note_store *ns, bool on);
int note_store_group_commit(struct note_store *ns);
/* Deletes the outbox rows the broker has acknowledged. */
int note_store_settle(struct note_store *ns);
/* SQLite's message for the last failure. */
const char *note_store_error(const struct note_store *ns);
/* 0 when notes.db can be written (state/db.h); else -1 and why. */
int note_store_probe(struct note_store *ns, char *why, size_t why_len);
/* The outbox of this store's events, in notes.db. */
struct outbox *note_store_outbox(struct note_store *ns);

/* Applies `w` inside the caller's transaction. Returns 0 with `out` filled
 * (also for a rejected write: out->ok false, nothing changed), or -1 on a
 * storage error (logged; roll back). */
int note_store_apply(struct note_store *ns, const struct note_write *w,
		     struct store_result *out);
void store_result_free(struct store_result *r);

/* The note `id_or_path` as an event would carry it, or NULL. For tests and
 * tools; the daemon itself reads notes only from events. */
struct cJSON *note_store_get(struct note_store *ns, const char *id_or_path);

#endif
