/* state/checkpoint: the checkpoint thread (see checkpoint.h). */
#include "state/checkpoint.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/log.h"

struct checkpointer {
	sqlite3 *main;		/* borrowed: the loop's connection */
	sqlite3 *own;		/* the thread's */
	int pages;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t idle;
	bool due;		/* under lock */
	bool running;		/* under lock */
	bool stop;		/* under lock */
	long done;		/* checkpoints completed, under lock */
	atomic_bool asked;	/* a checkpoint is due or running: the hook stays quiet */
	int asked_at;		/* WAL pages when the last one was asked (loop thread) */
};

/* After every commit on the main connection, on the loop's thread. */
static int on_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct checkpointer *c = arg;
	int step = c->pages / 8 > 0 ? c->pages / 8 : 1;

	(void)name;
	/* Fewer pages than last time: the WAL started over after a checkpoint. */
	if (pages < c->asked_at)
		c->asked_at = 0;
	/* The WAL starts over only at a write that finds it wholly copied, and
	 * under steady load every pass of the thread ends with a few frames
	 * written meanwhile. At the mark the writer copies that rest itself
	 * (the thread has copied all but the last step), so the WAL starts
	 * over and stays bounded. */
	if (pages >= c->pages && !atomic_load(&c->asked)) {
		if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) !=
		    SQLITE_OK)
			log_warn("state: checkpoint of %s: %s", sqlite3_db_filename(db, "main"),
				 sqlite3_errmsg(db));
		c->asked_at = 0;
		return SQLITE_OK;
	}
	if (pages - c->asked_at < step || atomic_load(&c->asked))
		return SQLITE_OK;
	c->asked_at = pages;
	atomic_store(&c->asked, true);
	pthread_mutex_lock(&c->lock);
	c->due = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	return SQLITE_OK;
}

static void *run(void *arg)
{
	struct checkpointer *c = arg;

	for (;;) {
		int rc, wal = 0, copied = 0;

		pthread_mutex_lock(&c->lock);
		while (!c->due && !c->stop)
			pthread_cond_wait(&c->wake, &c->lock);
		if (c->stop) {
			pthread_mutex_unlock(&c->lock);
			return NULL;
		}
		c->due = false;
		c->running = true;
		pthread_mutex_unlock(&c->lock);
		rc = sqlite3_wal_checkpoint_v2(c->own, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal,
					       &copied);
		/* BUSY: another checkpoint ran; the next commit over the mark asks
		 * again. -1 pages: the file is not in WAL mode, a bug to hear of. */
		if ((rc != SQLITE_OK && rc != SQLITE_BUSY) || wal < 0)
			log_warn("state: checkpoint of %s: %s", sqlite3_db_filename(c->own, "main"),
				 sqlite3_errmsg(c->own));
		pthread_mutex_lock(&c->lock);
		c->running = false;
		c->done += rc == SQLITE_OK && wal >= 0;
		pthread_cond_broadcast(&c->idle);
		pthread_mutex_unlock(&c->lock);
		atomic_store(&c->asked, false);
	}
}

static void discard(struct checkpointer *c)
{
	sqlite3_close(c->own);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->idle);
	free(c);
}

int checkpointer_start(const char *path, sqlite3 *db, int pages, struct checkpointer **out)
{
	struct checkpointer *c = calloc(1, sizeof *c);
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (!c)
		return -1;
	c->main = db;
	c->pages = pages;
	atomic_init(&c->asked, false);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	pthread_cond_init(&c->idle, NULL);
	/* A connection that has not read the file yet does not know it is in WAL
	 * mode, and its checkpoints would do nothing: the pragma reads it. */
	if (sqlite3_open_v2(path, &c->own, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK ||
	    sqlite3_exec(c->own, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
		log_error("state: cannot open %s for checkpoints: %s", path, sqlite3_errmsg(c->own));
		discard(c);
		return -1;
	}
	/* Signals belong to the loop's signalfd, never to this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&c->thread, NULL, run, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_error("state: cannot start the checkpoint thread for %s", path);
		discard(c);
		return -1;
	}
	/* Replaces SQLite's automatic checkpoint, which would run on this thread. */
	sqlite3_wal_hook(db, on_commit, c);
	*out = c;
	return 0;
}

long checkpointer_settle(struct checkpointer *c)
{
	long done;

	pthread_mutex_lock(&c->lock);
	while (c->due || c->running)
		pthread_cond_wait(&c->idle, &c->lock);
	done = c->done;
	pthread_mutex_unlock(&c->lock);
	return done;
}

void checkpointer_stop(struct checkpointer *c)
{
	if (!c)
		return;
	sqlite3_wal_hook(c->main, NULL, NULL);
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	discard(c);
}
