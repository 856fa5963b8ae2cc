/* connwatch: one watch per connection, moved when its socket does. */
#include "daemon/connwatch.h"

#include "bus/conn.h"
#include "util/log.h"

void conn_watch(struct loop *l, struct bus_conn *conn, int *watched, loop_fd_fn *io, void *arg,
		bool reading)
{
	int fd = bus_conn_fd(conn);
	int mask = (reading ? LOOP_READ : 0) | (bus_conn_want_write(conn) ? LOOP_WRITE : 0);

	if (fd != *watched) {
		if (*watched >= 0)
			loop_unwatch(l, *watched);
		*watched = fd;
		if (fd >= 0 && loop_watch(l, fd, mask, io, arg) != 0)
			log_error("cannot watch the broker socket");
	} else if (fd >= 0) {
		loop_set_mask(l, fd, mask);
	}
}
