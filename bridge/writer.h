/* bridge/writer: the writes recorded in bridge.db, applied to the vault's
 * REST API on the daemon's loop (engines/http). Writes of one note (one
 * key) go one at a time, in the order they were taken from the bus; writes
 * of different notes go side by side, at most WRITER_IN_FLIGHT at once. A
 * write the vault did not take (5xx, 401/403/408/429, timeouts, refused
 * connections) is tried again with backoff, holding back the writes of its
 * note behind it; one it refuses (another 4xx) is handed to `refused`. */
#ifndef AB_BRIDGE_WRITER_H
#define AB_BRIDGE_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "bridge/db.h"
#include "bus/write.h"
#include "util/strmap.h"

struct loop;
struct http;
struct cJSON;
struct writer_job;

#define WRITER_IN_FLIGHT 8

struct writer_handlers {
	/* The vault applied (or had applied) the write; `vault_note` is its
	 * answer's note when it sent one. 0, or -1 when that could not be
	 * recorded (the write stays and is tried again). */
	int (*applied)(void *arg, const struct bridge_write_row *row, const struct note_write *w,
		       const struct cJSON *vault_note);
	/* The vault will never apply it; `why` is its answer. 0 or -1 as above. */
	int (*refused)(void *arg, const struct bridge_write_row *row, const struct note_write *w,
		       const char *why);
	/* The bearer to send (NULL: none). */
	const char *(*token)(void *arg);
	/* Every REST call's outcome, for /metrics: "ok", "retry", "refused". */
	void (*counted)(void *arg, const char *method, const char *outcome);
};

struct writer {
	struct loop *loop;		/* borrowed */
	struct http *http;		/* borrowed */
	char *base;			/* the vault's URL, no trailing '/' */
	struct writer_handlers fn;
	void *arg;
	struct writer_job *head, *tail;	/* every write not yet done, oldest first */
	int count, in_flight;
	uint64_t timer;			/* the next retry that is due */
	char last_error[320];		/* the last answer that was not a success */
	bool vault_ok;			/* the last call got an answer that was not a retry */
};

int writer_init(struct writer *w, struct loop *l, struct http *http, const char *base,
		const struct writer_handlers *fn, void *arg);
/* Cancels what is in flight (it stays recorded and is tried after a restart). */
void writer_free(struct writer *w);
/* Takes a recorded row (its fields); starts what may start. 0 or -1 (the
 * row is freed either way; a -1 leaves it for the next start). */
int writer_add(struct writer *w, struct bridge_write_row *row);
/* Starts whatever may start now. */
void writer_kick(struct writer *w);

#endif
