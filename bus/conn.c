/* bus/conn: MQTT v5 connection on libmosquitto, driven by the daemon's own
 * poll loop rather than mosquitto_loop_start(), so that one thread owns the
 * connection and all state (no locks) and the loop can wait on other fds. */
#include "bus/conn.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bus/inflight.h"
#include "bus/wakeup.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/secret.h"

#define RECONNECT_FIRST_MS 250
/* loop_misc() sends PINGREQ and notices a silent broker; once a second is
 * plenty for keepalives measured in tens of seconds. */
#define MISC_INTERVAL_MS 1000
/* Unacknowledged messages the broker may send (see bus_conn_create). */
#define RECEIVE_MAXIMUM 65535
/* mosquitto 2.0 closes the older of two connections with one client id
 * without a DISCONNECT reason; sessions this short, this many times in a
 * row, are taken to mean that. */
#define SHORT_SESSION_MS 2000
#define SHORT_SESSIONS_TAKEOVER 5
/* bus_conn_finish(): how long the broker has to close its side. */
#define FINISH_MS 2000

enum conn_state {
	CONN_IDLE,		/* created, not started */
	CONN_WAITING,		/* no socket; next attempt at retry_at */
	CONN_CONNECTING,	/* socket open, CONNACK not yet received */
	CONN_ONLINE,
	CONN_SUSPENDED,		/* dropped on purpose; waiting for bus_conn_resume() */
	CONN_CLOSING,		/* DISCONNECT queued */
	CONN_FINISHING,		/* bus_conn_finish(): writing, then waiting for the broker's close */
	CONN_CLOSED,
};

struct bus_conn {
	struct mosquitto *mosq;
	struct bus_conn_options opt;	/* strings owned by the caller */
	struct bus_conn_handlers h;
	void *arg;
	enum conn_state state;
	int attempts;		/* failed attempts since the last CONNACK */
	int64_t retry_at;	/* CONN_WAITING: monotonic ms of the next attempt */
	int64_t misc_at;	/* next loop_misc() */
	bool props_stored;	/* CONNECT properties handed to the library */
	unsigned rand_state;	/* jitter; seeded per connection */
	char **subs;		/* filters made on every connect; owned */
	int *sub_options;
	size_t n_subs;
	/* QoS 1 publishes the broker has not answered, by packet id:
	 * libmosquitto reports every publish, QoS 0 too, so only the ids found
	 * here close an outstanding QoS 1. */
	struct inflight_table inflight;
	size_t subacks;		/* SUBACKs received on this connection */
	int64_t online_at;	/* monotonic ms of the last CONNACK */
	int short_sessions;	/* in a row, ended by the broker */
	bool held;		/* bus_conn_hold(): nothing written, no keepalive */
	bool shut_wr;		/* finishing: our side is closed */
	int64_t finish_by;	/* finishing: monotonic ms, then closed regardless */
};

static const char *conn_reason(int rc)
{
	return rc == 0 ? "closed" : mosquitto_strerror(rc);
}

/* Next delay: 250 ms doubling up to the cap, minus up to 25% jitter so that a
 * fleet of daemons does not reconnect in lockstep after a broker restart. */
static int64_t backoff_ms(struct bus_conn *conn)
{
	int64_t d = RECONNECT_FIRST_MS;

	for (int i = 0; i < conn->attempts && d < conn->opt.reconnect_max_ms; i++)
		d *= 2;
	if (d > conn->opt.reconnect_max_ms)
		d = conn->opt.reconnect_max_ms;
	return d - (int64_t)(rand_r(&conn->rand_state) % (unsigned)(d / 4 + 1));
}

static void schedule_retry(struct bus_conn *conn, const char *why)
{
	int64_t delay = backoff_ms(conn);

	conn->attempts++;
	conn->state = CONN_WAITING;
	conn->retry_at = clock_mono_ms() + delay;
	log_info("broker %s:%d: %s; retrying in %lld ms", conn->opt.host, conn->opt.port, why,
		 (long long)delay);
}

static void on_connect(struct mosquitto *mosq, void *arg, int rc, int flags,
		       const mosquitto_property *props)
{
	struct bus_conn *conn = arg;
	bool session_present = flags & 1;

	(void)mosq;
	(void)props;
	if (rc != 0) {
		/* The broker closes the socket next; on_disconnect schedules the retry. */
		log_error("broker %s:%d refused the connection: %s", conn->opt.host,
			  conn->opt.port, mosquitto_reason_string(rc));
		return;
	}
	conn->state = CONN_ONLINE;
	conn->online_at = clock_mono_ms();
	conn->attempts = 0;
	conn->subacks = 0;
	/* Always, even when the session was resumed: a broker restarted without
	 * persistence has forgotten them, and subscribing again is harmless.
	 * The SUBSCRIBE goes out before anything the online handler publishes. */
	for (size_t i = 0; i < conn->n_subs; i++) {
		int sub_rc = mosquitto_subscribe_v5(conn->mosq, NULL, conn->subs[i], 1,
						    conn->sub_options[i], NULL);

		if (sub_rc != 0)
			log_error("cannot subscribe to %s: %s", conn->subs[i],
				  mosquitto_strerror(sub_rc));
	}
	log_info("connected to %s:%d as %s (session %s)", conn->opt.host, conn->opt.port,
		 conn->opt.client_id, session_present ? "resumed" : "new");
	if (conn->h.online)
		conn->h.online(conn->arg, session_present);
}

/* Until every subscription is confirmed, messages published by others can
 * still miss agentbus on a new session: say when that window has closed. */
static void on_subscribe(struct mosquitto *mosq, void *arg, int mid, int count,
			 const int *granted, const mosquitto_property *props)
{
	struct bus_conn *conn = arg;

	(void)mosq;
	(void)mid;
	(void)props;
	for (int i = 0; i < count; i++)
		if (granted[i] >= 0x80)
			log_error("the broker refused a subscription (reason %d)", granted[i]);
	if (++conn->subacks == conn->n_subs) {
		log_info("subscriptions confirmed by the broker");
		if (conn->h.subscribed)
			conn->h.subscribed(conn->arg);
	}
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc,
			  const mosquitto_property *props)
{
	struct bus_conn *conn = arg;
	bool was_online = conn->state == CONN_ONLINE;
	char why[96];

	(void)mosq;
	(void)props;
	if (conn->state == CONN_CLOSING || conn->state == CONN_CLOSED ||
	    conn->state == CONN_FINISHING) {
		conn->state = CONN_CLOSED;
		return;
	}
	if (conn->state == CONN_SUSPENDED)
		return;
	/* With v5 a DISCONNECT from the broker carries its reason code. */
	if (rc >= 0x80)
		snprintf(why, sizeof why, "the broker disconnected us: %s",
			 mosquitto_reason_string(rc));
	else
		snprintf(why, sizeof why, "%s", conn_reason(rc));
	if (was_online && rc != 0 && clock_mono_ms() - conn->online_at < SHORT_SESSION_MS)
		conn->short_sessions++;
	else if (was_online)
		conn->short_sessions = 0;
	if (conn->short_sessions >= SHORT_SESSIONS_TAKEOVER) {
		snprintf(why, sizeof why, "the broker closed %d sessions in a row right after "
			 "accepting them", conn->short_sessions);
		rc = BUS_TAKEN_OVER;
	}
	schedule_retry(conn, was_online ? why : "cannot connect");
	if (was_online && conn->h.offline)
		conn->h.offline(conn->arg, rc >= 0x80 ? rc : 0, why);
}

/* mosquitto_loop_read() stops reading packets as soon as errno says EAGAIN,
 * whoever set it: a nonblocking call in a handler, or libmosquitto's own
 * wake-up write into its socket pair while queueing the PUBACK before this
 * very callback. Left alone, one loop iteration would handle one packet.
 * Every callback that runs inside it clears errno on its way out. */
static void keep_reading(void)
{
	errno = 0;
}

static void on_publish(struct mosquitto *mosq, void *arg, int mid, int reason,
		       const mosquitto_property *props)
{
	struct bus_conn *conn = arg;

	(void)mosq;
	(void)props;
	/* 0x10 "no matching subscribers" still means the broker has it. */
	struct inflight_slot f;
	bool tracked = inflight_take(&conn->inflight, mid, &f);	/* not: QoS 0 */

	if (tracked && reason != 0 && reason != MQTT_RC_NO_MATCHING_SUBSCRIBERS)
		log_warn("broker rejected publish %d: %s", mid, mosquitto_reason_string(reason));
	if (tracked && f.done)
		f.done(f.arg, mid, reason == MQTT_RC_NO_MATCHING_SUBSCRIBERS ? 0 : reason);
	keep_reading();
}

static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *m,
		       const mosquitto_property *props)
{
	struct bus_conn *conn = arg;
	char *content_type = NULL, *response_topic = NULL;
	void *correlation = NULL;
	uint16_t correlation_len = 0;
	struct bus_message msg;

	(void)mosq;
	if (!conn->h.message)
		return;
	mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &content_type, false);
	mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false);
	mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &correlation,
				       &correlation_len, false);
	msg = (struct bus_message){
		.topic = m->topic,
		.payload = m->payload ? m->payload : "",
		.len = (size_t)m->payloadlen,
		.qos = m->qos,
		.mid = m->mid,
		.retain = m->retain,
		.content_type = content_type,
		.response_topic = response_topic,
		.correlation = correlation,
		.correlation_len = correlation_len,
	};
	/* Once suspended, nothing more is handled: the broker sends it again. */
	if (conn->state == CONN_ONLINE && conn->h.message(conn->arg, &msg) != 0)
		bus_conn_suspend(conn);
	free(content_type);
	free(response_topic);
	free(correlation);
	keep_reading();
}

int bus_conn_create(const struct bus_conn_options *opt, const struct bus_conn_handlers *h,
		    void *arg, struct bus_conn **out)
{
	struct wakeup_probe probe;
	struct bus_conn *conn;
	int rc;

	*out = NULL;
	conn = calloc(1, sizeof *conn);
	if (!conn)
		return -1;
	mosquitto_lib_init();
	conn->opt = *opt;
	conn->h = *h;
	conn->arg = arg;
	conn->rand_state = (unsigned)clock_mono_ms() ^ (unsigned)(uintptr_t)conn;
	/* clean_session=false is MQTT v5 clean_start=false. */
	wakeup_probe_before(&probe);
	conn->mosq = mosquitto_new(opt->client_id, false, conn);
	if (!conn->mosq) {
		log_error("cannot create MQTT client '%s'", opt->client_id);
		goto error;
	}
	wakeup_silence(&probe);
	/* libmosquitto 2.0 acknowledges a QoS 1 message before on_message runs,
	 * and writes the PUBACK at once unless told the application drives the
	 * socket. Told so, it only queues packets; the owner's loop writes them
	 * after on_message has returned, so a message is acknowledged only once
	 * its handler has committed it, and a crash in between gets it
	 * redelivered. (All publishes wait for the loop's next write too.) */
	rc = mosquitto_threaded_set(conn->mosq, true);
	if (rc == 0)
		rc = mosquitto_int_option(conn->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	if (rc == 0)
		rc = mosquitto_int_option(conn->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	/* Acknowledging late (after the group commit) means every message the
	 * broker sends waits for its PUBACK until the iteration ends; with the
	 * default window of 20 the broker would stall between iterations, and
	 * iterations would stay small. The socket buffer, not agentbus, holds
	 * what the window lets through. */
	if (rc == 0)
		rc = mosquitto_int_option(conn->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, RECEIVE_MAXIMUM);
	/* MQTT v5 lets a password (a JWT) go without a username. */
	if (rc == 0 && (opt->username || opt->password))
		rc = mosquitto_username_pw_set(conn->mosq, opt->username, opt->password);
	if (rc != 0) {
		log_error("cannot configure MQTT client: %s", mosquitto_strerror(rc));
		goto error;
	}
	mosquitto_connect_v5_callback_set(conn->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(conn->mosq, on_disconnect);
	mosquitto_publish_v5_callback_set(conn->mosq, on_publish);
	mosquitto_message_v5_callback_set(conn->mosq, on_message);
	mosquitto_subscribe_v5_callback_set(conn->mosq, on_subscribe);
	*out = conn;
	return 0;
error:
	bus_conn_destroy(conn);
	return -1;
}

void bus_conn_destroy(struct bus_conn *conn)
{
	if (!conn)
		return;
	if (conn->mosq)
		mosquitto_destroy(conn->mosq);
	mosquitto_lib_cleanup();
	for (size_t i = 0; i < conn->n_subs; i++)
		free(conn->subs[i]);
	free(conn->subs);
	free(conn->sub_options);
	inflight_free(&conn->inflight);
	free(conn);
}

/* The PUBLISH (or Will) properties of `pub`; NULL is a valid empty list. */
static int publish_props(const struct bus_publish *pub, mosquitto_property **props)
{
	int rc = 0;

	*props = NULL;
	if (pub->content_type)
		rc = mosquitto_property_add_string(props, MQTT_PROP_CONTENT_TYPE, pub->content_type);
	if (rc == 0 && pub->correlation && pub->correlation_len)
		rc = mosquitto_property_add_binary(props, MQTT_PROP_CORRELATION_DATA,
						   pub->correlation, (uint16_t)pub->correlation_len);
	return rc;
}

int bus_conn_set_will(struct bus_conn *conn, const struct bus_publish *will)
{
	mosquitto_property *props;
	int rc = publish_props(will, &props);

	if (rc == 0)
		rc = mosquitto_will_set_v5(conn->mosq, will->topic, (int)will->len, will->payload,
					   will->qos, will->retain, props);
	if (rc != 0) {
		/* On failure the property list is still ours. */
		mosquitto_property_free_all(&props);
		log_error("cannot set the Last Will on %s: %s", will->topic,
			  mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

/* Sets the credentials from the password file. Returns 0, or -1 with `why`. */
static int load_password_file(struct bus_conn *conn, char *why, size_t whylen)
{
	unsigned char buf[65536];
	size_t n;
	int rc = secret_read(conn->opt.password_file, buf, sizeof buf, &n, why, whylen);

	if (rc == 0 && strlen((char *)buf) != n) {
		snprintf(why, whylen, "the password file %s holds a NUL byte", conn->opt.password_file);
		rc = -1;
	}
	if (rc == 0 && mosquitto_username_pw_set(conn->mosq, conn->opt.username, (char *)buf) != 0) {
		snprintf(why, whylen, "cannot use the password from %s", conn->opt.password_file);
		rc = -1;
	}
	memset(buf, 0, sizeof buf);
	return rc;
}

/* One connection attempt. The first goes through connect_bind_v5(), which
 * also hands libmosquitto the CONNECT properties it reuses on every
 * reconnect_async(); that first TCP connect blocks, the later ones do not. */
static void conn_attempt(struct bus_conn *conn)
{
	mosquitto_property *props = NULL;
	char why[512];
	int rc;

	conn->state = CONN_CONNECTING;
	if (conn->opt.password_file && load_password_file(conn, why, sizeof why) != 0) {
		log_error("%s", why);
		schedule_retry(conn, "no password");
		return;
	}
	if (!conn->props_stored) {
		rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
						  conn->opt.session_expiry);
		if (rc == 0) {
			rc = mosquitto_connect_bind_v5(conn->mosq, conn->opt.host, conn->opt.port,
						       conn->opt.keepalive, NULL, props);
			/* connect_bind_v5 copies the list before it can fail on the network. */
			conn->props_stored = rc != MOSQ_ERR_INVAL && rc != MOSQ_ERR_NOMEM;
		}
		mosquitto_property_free_all(&props);
	} else {
		rc = mosquitto_reconnect_async(conn->mosq);
	}
	if (rc != 0 && conn->state == CONN_CONNECTING)
		schedule_retry(conn, mosquitto_strerror(rc));
}

int bus_conn_start(struct bus_conn *conn)
{
	if (conn->state != CONN_IDLE)
		return -1;
	conn->misc_at = clock_mono_ms() + MISC_INTERVAL_MS;
	conn_attempt(conn);
	if (!conn->props_stored) {
		log_error("cannot connect to %s:%d with these settings", conn->opt.host,
			  conn->opt.port);
		return -1;
	}
	return 0;
}

/* Errors no retry can fix. */
static bool publish_error_is_final(int rc)
{
	return rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_PAYLOAD_SIZE ||
	       rc == MOSQ_ERR_MALFORMED_UTF8 || rc == MOSQ_ERR_OVERSIZE_PACKET ||
	       rc == MOSQ_ERR_QOS_NOT_SUPPORTED || rc == MOSQ_ERR_PROTOCOL;
}

int bus_conn_publish(struct bus_conn *conn, const struct bus_publish *pub,
		     bus_publish_done_fn *done, void *arg)
{
	mosquitto_property *props;
	int rc = publish_props(pub, &props), id = -1;

	if (rc == 0)
		rc = mosquitto_publish_v5(conn->mosq, &id, pub->topic, (int)pub->len, pub->payload,
					  pub->qos, pub->retain, props);
	mosquitto_property_free_all(&props);
	/* NO_CONN: a QoS 1 message is queued in the library and resent later. */
	if (rc == MOSQ_ERR_NO_CONN && pub->qos > 0)
		rc = 0;
	/* Its answer can only come from a later read: tracking it now is in time. */
	if (rc == 0 && pub->qos > 0 && inflight_put(&conn->inflight, id, done, arg) != 0)
		log_error("cannot track publish %d: out of memory", id);
	if (rc != 0) {
		log_error("cannot publish on %s: %s", pub->topic, mosquitto_strerror(rc));
		return publish_error_is_final(rc) ? -2 : -1;
	}
	return 0;
}

int bus_conn_subscribe(struct bus_conn *conn, const char *filter, int options)
{
	char **subs = realloc(conn->subs, (conn->n_subs + 1) * sizeof *subs);
	int *opts = subs ? realloc(conn->sub_options, (conn->n_subs + 1) * sizeof *opts) : NULL;
	char *copy = strdup(filter);
	int mqtt_opts = options & BUS_SUB_NO_RETAINED ? MQTT_SUB_OPT_SEND_RETAIN_NEVER : 0;

	if (subs)
		conn->subs = subs;
	if (opts)
		conn->sub_options = opts;
	if (!subs || !opts || !copy) {
		free(copy);
		return -1;
	}
	conn->sub_options[conn->n_subs] = mqtt_opts;
	conn->subs[conn->n_subs++] = copy;
	if (conn->state == CONN_ONLINE &&
	    mosquitto_subscribe_v5(conn->mosq, NULL, filter, 1, mqtt_opts, NULL) != 0)
		return -1;
	return 0;
}

void bus_conn_suspend(struct bus_conn *conn)
{
	int fd = mosquitto_socket(conn->mosq);

	if (conn->state == CONN_CLOSING || conn->state == CONN_CLOSED ||
	    conn->state == CONN_SUSPENDED)
		return;
	log_warn("broker %s:%d: dropping the connection before anything more is acknowledged",
		 conn->opt.host, conn->opt.port);
	conn->state = CONN_SUSPENDED;
	/* Nothing queued may reach the broker now; the next read sees the
	 * shutdown and libmosquitto closes the socket. A later reconnect
	 * discards the queued acknowledgements. */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

void bus_conn_resume(struct bus_conn *conn)
{
	if (conn->state != CONN_SUSPENDED)
		return;
	/* The socket may still be open until its shutdown was read. */
	if (mosquitto_socket(conn->mosq) >= 0)
		mosquitto_loop_read(conn->mosq, 1);
	conn->state = CONN_WAITING;
	conn->retry_at = clock_mono_ms();
}


void bus_conn_close(struct bus_conn *conn)
{
	enum conn_state was = conn->state;

	if (was == CONN_CLOSING || was == CONN_CLOSED)
		return;
	conn->state = CONN_CLOSING;
	/* Without a socket there is nothing to say goodbye on. */
	if (mosquitto_disconnect(conn->mosq) != 0 || mosquitto_socket(conn->mosq) < 0)
		conn->state = CONN_CLOSED;
}

void bus_conn_drop(struct bus_conn *conn)
{
	int fd = mosquitto_socket(conn->mosq);

	conn->state = CONN_CLOSED;
	/* libmosquitto still owns the socket (bus_conn_destroy closes it);
	 * nothing queued may go out meanwhile. */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

bool bus_conn_finishing(const struct bus_conn *conn)
{
	return conn->state == CONN_FINISHING;
}

bool bus_conn_closed(const struct bus_conn *conn)
{
	return conn->state == CONN_CLOSED || conn->state == CONN_IDLE;
}

size_t bus_conn_unacked(const struct bus_conn *conn)
{
	return conn->inflight.used;
}

bool bus_conn_online(const struct bus_conn *conn)
{
	return conn->state == CONN_ONLINE;
}

int bus_conn_fd(struct bus_conn *conn)
{
	return mosquitto_socket(conn->mosq);
}

bool bus_conn_want_write(struct bus_conn *conn)
{
	return conn->state != CONN_SUSPENDED && !conn->held && mosquitto_want_write(conn->mosq);
}

void bus_conn_hold(struct bus_conn *conn, bool on)
{
	conn->held = on;
}

/* Errors close the socket and arrive through on_disconnect. */
/* Finishing: what still arrives is discarded unread by libmosquitto (it is
 * not acknowledged, so the broker delivers it again on the session's next
 * connection) until the broker closes its side. */
static void discard_until_closed(struct bus_conn *conn)
{
	char buf[16384];
	int fd = mosquitto_socket(conn->mosq);
	ssize_t n;

	while (fd >= 0 && (n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
		;
	if (fd < 0 || n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		conn->state = CONN_CLOSED;
}

void bus_conn_read(struct bus_conn *conn)
{
	if (conn->state == CONN_FINISHING)
		discard_until_closed(conn);
	else if (mosquitto_socket(conn->mosq) >= 0)
		mosquitto_loop_read(conn->mosq, 1);
}

void bus_conn_finish(struct bus_conn *conn)
{
	if (conn->state == CONN_CLOSING || conn->state == CONN_CLOSED)
		return;
	conn->held = false;
	conn->state = mosquitto_socket(conn->mosq) >= 0 ? CONN_FINISHING : CONN_CLOSED;
	conn->finish_by = clock_mono_ms() + FINISH_MS;
}

int bus_conn_read_many(struct bus_conn *conn, int max)
{
	int n = 0, fd, pending;

	while (n < max && (fd = mosquitto_socket(conn->mosq)) >= 0) {
		mosquitto_loop_read(conn->mosq, 1);
		n++;
		if (conn->state != CONN_ONLINE || ioctl(fd, FIONREAD, &pending) != 0 || pending <= 0)
			break;
	}
	return n;
}

/* libmosquitto writes each packet with a write() of its own; with
 * TCP_NODELAY each would leave as a segment of its own, and on loopback
 * the receiving side's work runs in the sender's system call. Corked, the
 * kernel packs what one iteration produced into full segments, sent at
 * the uncork. */
static void set_cork(int fd, int on)
{
	if (setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) != 0)
		log_debug("TCP_CORK: %s", strerror(errno));
}

/* Finishing, once everything queued is written: our side ends, after the
 * acknowledgements, without a DISCONNECT (whose close would come before we
 * had read what the broker still sends, and a close with unread data
 * resets the connection, losing what the broker had not yet read). */
static void finish_writing(struct bus_conn *conn, int fd)
{
	if (conn->state != CONN_FINISHING || conn->shut_wr || fd < 0 ||
	    mosquitto_want_write(conn->mosq))
		return;
	conn->shut_wr = true;
	if (shutdown(fd, SHUT_WR) != 0)
		conn->state = CONN_CLOSED;
}

void bus_conn_write(struct bus_conn *conn)
{
	int fd = mosquitto_socket(conn->mosq);

	if (fd < 0 || conn->state == CONN_SUSPENDED || conn->held ||
	    !mosquitto_want_write(conn->mosq)) {
		finish_writing(conn, fd);
		return;
	}
	set_cork(fd, 1);
	mosquitto_loop_write(conn->mosq, 1);
	/* The write may have closed the socket (an error, a DISCONNECT). */
	if (mosquitto_socket(conn->mosq) == fd)
		set_cork(fd, 0);
	finish_writing(conn, fd);
}

int bus_conn_timeout_ms(const struct bus_conn *conn, int64_t now_ms)
{
	int64_t next = conn->misc_at;

	if (conn->state == CONN_WAITING && conn->retry_at < next)
		next = conn->retry_at;
	if (conn->state == CONN_IDLE || conn->state == CONN_CLOSED ||
	    conn->state == CONN_SUSPENDED)
		return -1;
	if (conn->state == CONN_FINISHING)
		next = conn->finish_by;
	return next <= now_ms ? 0 : (int)(next - now_ms);
}

void bus_conn_tick(struct bus_conn *conn, int64_t now_ms)
{
	if (conn->state == CONN_FINISHING) {
		if (now_ms >= conn->finish_by)
			conn->state = CONN_CLOSED;
		return;
	}
	if (conn->state == CONN_WAITING && now_ms >= conn->retry_at)
		conn_attempt(conn);
	if (now_ms >= conn->misc_at) {
		conn->misc_at = now_ms + MISC_INTERVAL_MS;
		/* Held, a PINGREQ could not go out, and loop_misc() would take
		 * the missing PINGRESP for a dead broker. */
		if (mosquitto_socket(conn->mosq) >= 0 && !conn->held)
			mosquitto_loop_misc(conn->mosq);
	}
}
