/* connwatch: a bus connection's socket followed on the daemon's loop. */
#ifndef AB_DAEMON_CONNWATCH_H
#define AB_DAEMON_CONNWATCH_H

#include <stdbool.h>

#include "util/loop.h"

struct bus_conn;

/* Watches `conn`'s socket with `io` (the socket changes with every
 * reconnect; `*watched` is the one watched now, -1 for none): readable when
 * `reading`, writable while the connection has something queued. */
void conn_watch(struct loop *l, struct bus_conn *conn, int *watched, loop_fd_fn *io, void *arg,
		bool reading);

#endif
