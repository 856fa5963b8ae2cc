/* bus/conn: the daemon's one MQTT v5 connection. It never blocks the caller
 * (after the first attempt) and never runs a thread: the owner polls
 * bus_conn_fd(), calls bus_conn_read() when it is readable, bus_conn_write()
 * once what it handled is committed (that is when PUBACKs may go out), and
 * bus_conn_tick() when bus_conn_timeout_ms() runs out. Losing the broker is not an error here: the
 * connection retries with capped exponential backoff until bus_conn_close(). */
#ifndef AB_BUS_CONN_H
#define AB_BUS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/message.h"

struct bus_conn;

struct bus_conn_options {
	const char *host;
	int port;
	const char *username;	/* NULL: anonymous */
	const char *password;
	/* Read before every connection attempt instead of `password` (one
	 * trailing newline dropped), so a rotated token is picked up on the
	 * next reconnect and never shows in `ps`. NULL: none. */
	const char *password_file;
	const char *client_id;	/* stable per instance, so the session survives */
	int keepalive;		/* seconds */
	uint32_t session_expiry;	/* seconds; sent with clean_start=false */
	int reconnect_max_ms;	/* cap of the backoff */
};

/* Another client took our client id: the broker said so (MQTT v5 0x8E), or
 * closed several sessions in a row right after accepting them (mosquitto
 * 2.0 closes the older connection without a reason). */
#define BUS_TAKEN_OVER 0x8E

/* Called on the owner's thread, from inside bus_conn_read()/bus_conn_tick(). */
struct bus_conn_handlers {
	/* CONNACK accepted; `session_present`: the broker kept our session. */
	void (*online)(void *arg, bool session_present);
	/* The connection is gone (not called after bus_conn_close() completes).
	 * `code`: the broker's DISCONNECT reason, or 0 (e.g. BUS_TAKEN_OVER). */
	void (*offline)(void *arg, int code, const char *reason);
	/* A message arrived on one of the subscriptions; everything in `msg`
	 * is valid only during the call. Return 0 once what it caused is
	 * committed, -1 when it could not be: the owner then suspends the
	 * connection before its acknowledgement goes out, and the broker
	 * delivers it again after bus_conn_resume(). */
	int (*message)(void *arg, const struct bus_message *msg);
	/* Every subscription of this connection is confirmed (may be NULL):
	 * from now on nothing published to them can miss a new session. */
	void (*subscribed)(void *arg);
};

/* Subscription options. */
#define BUS_SUB_NO_RETAINED 1	/* never deliver retained messages at subscribe time */


/* Creates the connection; nothing is sent until bus_conn_start().
 * Free with bus_conn_destroy(). Returns 0 or -1 (logged). */
int bus_conn_create(const struct bus_conn_options *opt, const struct bus_conn_handlers *h,
		    void *arg, struct bus_conn **out);
void bus_conn_destroy(struct bus_conn *conn);

/* Sets the Last Will, retained at QoS 1, sent with every later CONNECT.
 * The payload is copied. Returns 0 or -1. */
int bus_conn_set_will(struct bus_conn *conn, const struct bus_publish *will);

/* First connection attempt; a refused or failed attempt schedules a retry and
 * still returns 0. -1 only for settings that can never connect. */
int bus_conn_start(struct bus_conn *conn);

/* Publishes. A QoS 1 message published while the broker is away is kept by
 * the client library and sent after the reconnect, so that is success too.
 * For QoS 1, `done` (may be NULL) runs once with the broker's answer; the
 * connection is the one place that tracks what is in flight.
 * Returns 0, -1 for a failure that may pass (out of memory, a full queue),
 * or -2 for a publish that can never be sent (a topic with wildcards, a
 * payload over the protocol's limit). */
int bus_conn_publish(struct bus_conn *conn, const struct bus_publish *pub,
		     bus_publish_done_fn *done, void *arg);

/* Adds a subscription (QoS 1, `options` BUS_SUB_*), made on every
 * (re)connect before the online handler runs. `filter` is copied. */
int bus_conn_subscribe(struct bus_conn *conn, const char *filter, int options);

/* Drops the connection at once, before anything queued is written (the
 * acknowledgements of messages not committed among it), and stays away
 * until bus_conn_resume(). The broker publishes the Last Will. */
void bus_conn_suspend(struct bus_conn *conn);
void bus_conn_resume(struct bus_conn *conn);

/* Sends DISCONNECT (the broker then drops the Last Will) and stops retrying.
 * bus_conn_closed() turns true once the packet has gone out. */
void bus_conn_close(struct bus_conn *conn);
/* True once the connection has ended, and for one never started: neither
 * has anything to finish. */
bool bus_conn_closed(const struct bus_conn *conn);

/* Ends a connection whose unread messages belong to whoever connects next
 * with its client id: writes what is queued (the acknowledgements of what
 * was read), closes our side without DISCONNECT (the session stays, and
 * the Last Will, if any, goes out), and discards what still arrives until
 * the broker closes (at most 2 s). bus_conn_closed() then turns true; no
 * handler runs any more. */
void bus_conn_finish(struct bus_conn *conn);
bool bus_conn_finishing(const struct bus_conn *conn);

/* Closed at once: the socket shut without DISCONNECT (the broker publishes
 * the Last Will), whatever is queued unsent, no more retries. For a stop
 * whose goodbye cannot get out. */
void bus_conn_drop(struct bus_conn *conn);

/* Held, nothing is written, the acknowledgements of what was read included,
 * and no keepalive is sent: for a connection whose PUBACKs may go out only
 * once what their messages caused is acknowledged on another connection (a
 * fleet's partition). The broker's keepalive limit still runs (1.5 times
 * --keepalive): a hold must end sooner. */
void bus_conn_hold(struct bus_conn *conn, bool on);

bool bus_conn_online(const struct bus_conn *conn);

/* QoS 1 publishes not yet acknowledged by the broker (queued, in flight, or
 * waiting for a reconnect). */
size_t bus_conn_unacked(const struct bus_conn *conn);

/* Event loop plumbing. bus_conn_fd() is -1 while there is no socket. */
int bus_conn_fd(struct bus_conn *conn);
bool bus_conn_want_write(struct bus_conn *conn);
/* Reads what arrived, calling the handlers; queues (never writes) PUBACKs. */
void bus_conn_read(struct bus_conn *conn);
/* The same for up to `max` packets while the socket holds more (libmosquitto
 * reads one packet per call on a connection that publishes nothing), and
 * while the connection stays online. Returns how many calls it made. */
int bus_conn_read_many(struct bus_conn *conn, int max);
/* Writes what is queued, as far as the socket takes it. */
void bus_conn_write(struct bus_conn *conn);
int bus_conn_timeout_ms(const struct bus_conn *conn, int64_t now_ms);
void bus_conn_tick(struct bus_conn *conn, int64_t now_ms);

#endif
