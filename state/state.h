/* state: the daemon's durable state, one SQLite file in the state dir, owned
 * by the main thread. Later modules add tables through the migrations in
 * state.c; everything else reaches SQLite only through this module. */
#ifndef AB_STATE_STATE_H
#define AB_STATE_STATE_H

#include <stdbool.h>

struct state;

/* Creates `dir` if needed, locks it against a second daemon, opens and
 * migrates the database. Returns 0, or -1 after logging why. */
int state_open(const char *dir, struct state **out);

/* Records the dedupe key of a vault event. Returns 1 the first time a key
 * is seen (act on the event), 0 when it was seen before, -1 on error. */
int state_mark_seen(struct state *st, const char *key);

/* True when the previous daemon on this state dir did not stop cleanly. */
bool state_previous_run_crashed(const struct state *st);

/* Records a clean stop, checkpoints the WAL and releases the lock. */
void state_close(struct state *st);

#endif
