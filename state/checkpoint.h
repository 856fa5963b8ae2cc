/* state/checkpoint: WAL checkpoints on a thread of their own. A checkpoint
 * copies the WAL back into the database file and fsyncs both; on the loop's
 * thread that stalled every turn behind the disk. Here the main connection
 * only notices (in its WAL hook, after a commit) that the WAL has grown by a
 * step, and a second connection, owned by the thread, checkpoints PASSIVE:
 * never waiting for the writer, never making it wait. The WAL can start over
 * only once it is wholly copied, which a writer that never pauses would not
 * allow: at the mark the writer copies the last step itself. Durability is
 * SQLite's own: committed transactions are in the WAL, whoever copies them
 * later. */
#ifndef AB_STATE_CHECKPOINT_H
#define AB_STATE_CHECKPOINT_H

struct sqlite3;
struct checkpointer;

/* Watches `db` (the main connection, opened on `path`; WAL mode, normal
 * locking) and checkpoints from a thread every `pages` / 8 pages, so that
 * the WAL starts over at about `pages` pages.
 * Returns 0, or -1 with the reason logged. */
int checkpointer_start(const char *path, struct sqlite3 *db, int pages,
		       struct checkpointer **out);
/* Waits until no checkpoint is asked for or running; returns how many
 * have completed (for tests). */
long checkpointer_settle(struct checkpointer *c);
/* Ends the thread (after the checkpoint it is doing) and closes its
 * connection. Safe on NULL. */
void checkpointer_stop(struct checkpointer *c);

#endif
