/* broker_child: a private mosquitto on a free loopback port, for `make run`
 * without a broker and for every test. */
#ifndef AB_DAEMON_BROKER_CHILD_H
#define AB_DAEMON_BROKER_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

struct broker_child_options {
	const char *bin;	/* "mosquitto": PATH, then /usr/sbin; or a path */
	const char *dir;	/* holds mosquitto.conf (and the persistence file) */
	int port;		/* 0: pick a free one */
	bool persistence;	/* keep sessions and retained messages across restarts */
	const char *extra;	/* appended to mosquitto.conf, e.g. a plugin; NULL: none */
	bool deny_anonymous;	/* allow_anonymous false */
	/* LD_PRELOAD for the broker, e.g. the sanitizer runtimes a sanitized
	 * plugin needs inside an unsanitized mosquitto. NULL: none. */
	const char *preload;
};

struct broker_child {
	pid_t pid;		/* 0 when not running */
	int port;
	int log_fd;		/* read end of the broker's stdout+stderr; -1 if closed */
	char partial[512];	/* log bytes after the last newline */
	size_t partial_len;
};

/* Starts mosquitto and returns once it logged that it is running (up to 10 s).
 * Returns 0, or -1 after logging the broker's own last words. */
int broker_child_start(const struct broker_child_options *opt, struct broker_child *out);

/* Reads what the broker logged since the last call, without blocking, and
 * hands each complete line to `line`. Returns -1 once the log has closed. */
typedef void broker_log_line_fn(void *arg, const char *line);
int broker_child_read_log(struct broker_child *b, broker_log_line_fn *line, void *arg);

/* SIGTERM (SIGKILL after 5 s), reap, close the log. Safe to call twice. */
void broker_child_stop(struct broker_child *b);

#endif
