/* run: the daemon's context and its one event loop. A single thread polls the
 * broker socket, the signalfd and the private broker's log, and runs every
 * timer; nothing else touches MQTT or the state, so nothing needs a lock.
 *
 * Stopping (SIGINT/SIGTERM): publish the retained "offline" status, wait for
 * the broker's PUBACK (at most STOP_GRACE_MS), send DISCONNECT so the broker
 * drops the Last Will, close the state, stop the private broker, exit 0. */
#include "daemon/run.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bus/conn.h"
#include "bus/deadletter.h"
#include "bus/topics.h"
#include "bus/trigger.h"
#include "daemon/broker_child.h"
#include "daemon/signals.h"
#include "daemon/status.h"
#include "handlers/events.h"
#include "handlers/runtime.h"
#include "state/state.h"
#include "store/vault.h"
#include "util/crash.h"
#include "util/clock.h"
#include "util/log.h"

#define STOP_GRACE_MS 3000

struct agentbus {
	const struct config *cfg;
	const char *host;	/* the broker actually used */
	int port;
	char *client_id;
	struct topics topics;
	int signal_fd;
	struct state *state;
	struct bus_conn *conn;
	struct bus_sink sink;	/* how modules publish: through `conn` */
	struct trigger_set triggers;
	struct events_handler events;
	struct store_vault store;	/* notes NULL with --no-store */
	struct agent_runtime agents;
	struct status status;
	struct broker_child broker;	/* pid 0 unless embedded */
	bool announced;		/* the "how to watch" lines were printed */
	bool stopping;
	int64_t stop_deadline;
	int offline_mid;	/* publish id of the final offline status; -1: none */
	bool offline_acked;
	int exit_code;
};

static struct status_counts current_counts(const struct agentbus *ab)
{
	return (struct status_counts){ runtime_agents(&ab->agents), runtime_queued(&ab->agents),
				       runtime_running(&ab->agents) };
}

static int publish_status(struct agentbus *ab, bool online, int *mid)
{
	struct status_counts counts = current_counts(ab);
	struct codec_buf buf;
	int rc;

	if (status_encode(&ab->status, online, &counts, ab->cfg->encoding, &buf) != 0)
		return -1;
	rc = bus_conn_publish(ab->conn,
			      &(struct bus_publish){ .topic = ab->topics.status, .payload = buf.data,
						     .len = buf.len, .qos = 1, .retain = true,
						     .content_type = buf.content_type },
			      mid);
	codec_buf_free(&buf);
	if (rc == 0)
		status_published(&ab->status, &counts, clock_mono_ms());
	return rc;
}

/* Printed once, on stdout, for the person who typed `make run`. */
static void announce(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;
	char auth[512] = "";

	if (cfg->username)
		snprintf(auth, sizeof auth, " -u '%s' -P '<password>'", cfg->username);
	printf("agentbus %s is up: instance %s, broker %s:%d, vault %s\n"
	       "  watch the bus:    mosquitto_sub -h %s -p %d%s -t '%s/#' -v\n"
	       "  talk to an agent: mosquitto_rr -h %s -p %d%s -t '%s/agent/eng/inbox'"
	       " -e 'me/answer' -m 'hi'\n"
	       "Stop with Ctrl-C.\n",
	       AGENTBUS_VERSION, cfg->id, ab->host, ab->port, cfg->vault, ab->host, ab->port, auth,
	       cfg->root, ab->host, ab->port, auth, cfg->root);
	fflush(stdout);
	ab->announced = true;
}

static int sink_publish(void *arg, const struct bus_publish *pub, int *mid)
{
	struct agentbus *ab = arg;

	return bus_conn_publish(ab->conn, pub, mid);
}

/* Sends what the modules recorded in their outboxes. */
static void flush_outboxes(struct agentbus *ab)
{
	runtime_flush(&ab->agents);
	store_vault_flush(&ab->store);
}

/* Logged here, once per rejected input, and published for whoever watches. */
static void sink_deadletter(void *arg, const struct bus_message *msg, const struct bus_error *err)
{
	struct agentbus *ab = arg;
	cJSON *doc = deadletter_build(msg->topic, msg->payload, msg->len, err);

	log_warn("dead letter from %s (%zu bytes): %s: %s", msg->topic, msg->len,
		 bus_reason_name(err->reason), err->message);
	if (!doc || sink_publish_doc(&ab->sink, ab->topics.deadletter, doc, 1, false) != 0)
		log_error("cannot publish the dead letter for %s", msg->topic);
	cJSON_Delete(doc);
}

static void on_trigger_fired(void *arg, const struct trigger *t, const struct vault_event *ev,
			     const struct bus_message *msg)
{
	struct agentbus *ab = arg;

	log_debug("trigger %s fired: %s of note %s", t->name, note_event_name(ev->event),
		  ev->note.id);
	runtime_trigger_fired(&ab->agents, t, ev, msg);
}

static void on_event_observed(void *arg, const struct vault_event *ev)
{
	struct agentbus *ab = arg;

	runtime_observe(&ab->agents, ev);
}

static void on_message(void *arg, const struct bus_message *msg)
{
	struct agentbus *ab = arg;
	const char *level;
	size_t len;

	crash_point("message-received");
	switch (topics_classify(&ab->topics, msg->topic, &level, &len)) {
	case TOPIC_VAULT_EVENT:
		events_receive(&ab->events, msg, level, len);
		break;
	case TOPIC_VAULT_WRITE:
		if (ab->store.notes)
			store_vault_receive(&ab->store, msg);
		break;
	case TOPIC_AGENT_INBOX:
		runtime_inbox(&ab->agents, msg, level, len);
		break;
	case TOPIC_OTHER:
		log_debug("ignored a message on %s", msg->topic);
		break;
	}
	flush_outboxes(ab);
}

static void on_online(void *arg, bool session_present)
{
	struct agentbus *ab = arg;

	(void)session_present;
	if (ab->stopping)
		return;
	/* Retained, so a broker restarted without persistence learns it again. */
	if (publish_status(ab, true, NULL) != 0)
		log_error("cannot publish the online status");
	/* Turns accepted before a restart wait for the connection, and so do
	 * the publishes an earlier run recorded but never saw acknowledged. */
	runtime_schedule(&ab->agents);
	flush_outboxes(ab);
	if (!ab->announced)
		announce(ab);
}

static void on_offline(void *arg, const char *reason)
{
	struct agentbus *ab = arg;

	log_warn("lost the broker: %s", reason);
	/* The goodbye cannot be delivered any more; stop without it. */
	if (ab->stopping)
		bus_conn_close(ab->conn);
}

/* Stopping ends with DISCONNECT once the offline status and everything
 * published before or since has been acknowledged: a write that is only in
 * libmosquitto's queue when the process exits is lost. */
static void close_when_flushed(struct agentbus *ab)
{
	if (ab->stopping && ab->offline_acked && bus_conn_unacked(ab->conn) == 0)
		bus_conn_close(ab->conn);
}

static void on_acked(void *arg, int mid)
{
	struct agentbus *ab = arg;

	runtime_acked(&ab->agents, mid);
	store_vault_acked(&ab->store, mid);
	if (ab->stopping && mid == ab->offline_mid)
		ab->offline_acked = true;
	close_when_flushed(ab);
}

static void begin_stop(struct agentbus *ab, const char *why)
{
	if (ab->stopping)
		return;
	log_info("stopping (%s)", why);
	ab->stopping = true;
	ab->stop_deadline = clock_mono_ms() + STOP_GRACE_MS;
	if (bus_conn_online(ab->conn) && publish_status(ab, false, &ab->offline_mid) == 0)
		return;	/* on_acked closes the connection */
	bus_conn_close(ab->conn);
}

static void handle_signals(struct agentbus *ab)
{
	int sig;

	while ((sig = signals_next(ab->signal_fd)) != 0) {
		if (sig == SIGHUP)
			log_info("SIGHUP: configuration reload is not supported yet; ignored");
		else
			begin_stop(ab, sig == SIGINT ? "SIGINT" : "SIGTERM");
	}
}

static void log_broker_line(void *arg, const char *line)
{
	(void)arg;
	log_debug("mosquitto: %s", line);
}

static void handle_broker_log(struct agentbus *ab)
{
	if (broker_child_read_log(&ab->broker, log_broker_line, NULL) == 0)
		return;
	log_error("the private mosquitto exited");
	ab->exit_code = 1;
	begin_stop(ab, "private broker gone");
	bus_conn_close(ab->conn);
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static void refresh_status(struct agentbus *ab, int64_t now)
{
	struct status_counts counts = current_counts(ab);

	if (!ab->stopping && bus_conn_online(ab->conn) && status_due(&ab->status, &counts, now))
		publish_status(ab, true, NULL);
}

/* One turn of the loop: wait for any fd or the nearest timer, then serve it. */
static int loop_once(struct agentbus *ab)
{
	struct pollfd fds[4];
	nfds_t n = 0, conn_i = 0, broker_i = 0, engines_i;
	int64_t now = clock_mono_ms();
	struct status_counts counts = current_counts(ab);
	int timeout, fd;

	fds[n++] = (struct pollfd){ .fd = ab->signal_fd, .events = POLLIN };
	if ((fd = bus_conn_fd(ab->conn)) >= 0) {
		conn_i = n;
		fds[n++] = (struct pollfd){ .fd = fd, .events = (short)(POLLIN |
					    (bus_conn_want_write(ab->conn) ? POLLOUT : 0)) };
	}
	if (ab->broker.log_fd >= 0) {
		broker_i = n;
		fds[n++] = (struct pollfd){ .fd = ab->broker.log_fd, .events = POLLIN };
	}
	engines_i = n;
	fds[n++] = (struct pollfd){ .fd = runtime_fd(&ab->agents),
				    .events = ab->stopping ? 0 : POLLIN };
	timeout = bus_conn_timeout_ms(ab->conn, now);
	if (!ab->stopping)
		timeout = min_timeout(timeout, runtime_timeout_ms(&ab->agents, now));
	if (!ab->stopping)
		timeout = min_timeout(timeout, status_timeout_ms(&ab->status, &counts, now));
	else
		timeout = min_timeout(timeout, (int)(ab->stop_deadline > now ?
						     ab->stop_deadline - now : 0));
	if (poll(fds, n, timeout) < 0 && errno != EINTR) {
		log_error("poll: %s", strerror(errno));
		return -1;
	}
	if (fds[0].revents)
		handle_signals(ab);
	if (conn_i && fds[conn_i].revents) {
		bus_conn_io(ab->conn, fds[conn_i].revents & (POLLIN | POLLHUP | POLLERR),
			    fds[conn_i].revents & POLLOUT);
		runtime_settle(&ab->agents);
		store_vault_settle(&ab->store);
	}
	if (broker_i && fds[broker_i].revents)
		handle_broker_log(ab);
	now = clock_mono_ms();
	bus_conn_tick(ab->conn, now);
	/* Engine results, and turns past their deadline. Not while stopping:
	 * a turn finished now could not get its writes out; left alone, it stays
	 * in the durable queue and runs again after the restart. */
	if (!ab->stopping && (fds[engines_i].revents || runtime_timeout_ms(&ab->agents, now) == 0)) {
		runtime_tick(&ab->agents, now);
		flush_outboxes(ab);
	}
	refresh_status(ab, now);
	if (ab->stopping && now >= ab->stop_deadline && !bus_conn_closed(ab->conn)) {
		log_warn("stopping with %zu publishes the broker has not confirmed",
			 bus_conn_unacked(ab->conn) + !ab->offline_acked);
		bus_conn_close(ab->conn);
	}
	return 0;
}

static int setup_connection(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;
	struct status_counts none = { 0, 0, 0 };
	struct codec_buf will;
	struct bus_conn_options opt = {
		.host = ab->host,
		.port = ab->port,
		.username = cfg->username,
		.password = cfg->password,
		.client_id = ab->client_id,
		.keepalive = cfg->keepalive,
		.session_expiry = (uint32_t)cfg->session_expiry,
		.reconnect_max_ms = cfg->reconnect_max * 1000,
	};
	struct bus_conn_handlers h = { on_online, on_offline, on_acked, on_message };
	int rc;

	if (bus_conn_create(&opt, &h, ab, &ab->conn) != 0)
		return -1;
	if (bus_conn_subscribe(ab->conn, ab->topics.vault_events) != 0 ||
	    bus_conn_subscribe(ab->conn, ab->topics.inboxes) != 0 ||
	    (ab->store.notes && bus_conn_subscribe(ab->conn, ab->topics.vault_write) != 0))
		return -1;
	if (status_encode(&ab->status, false, &none, cfg->encoding, &will) != 0)
		return -1;
	rc = bus_conn_set_will(ab->conn, &(struct bus_publish){
		.topic = ab->topics.status, .payload = will.data, .len = will.len, .qos = 1,
		.retain = true, .content_type = will.content_type });
	codec_buf_free(&will);
	if (rc != 0)
		return -1;
	return bus_conn_start(ab->conn);
}

static int start_private_broker(struct agentbus *ab)
{
	struct broker_child_options opt = {
		.bin = ab->cfg->mosquitto,
		.dir = ab->cfg->state_dir,
	};

	if (broker_child_start(&opt, &ab->broker) != 0)
		return -1;
	ab->host = "127.0.0.1";
	ab->port = ab->broker.port;
	log_info("no broker configured: started a private mosquitto on 127.0.0.1:%d",
		 ab->port);
	return 0;
}

static int start_runtime(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;
	struct runtime_options opt = {
		.vault = cfg->vault,
		.defaults = { cfg->engine, cfg->turn_timeout },
		.max_running = cfg->max_turns,
		.queue_limit = cfg->queue_limit,
		.max_queued = cfg->max_queued,
		.max_payload = (size_t)cfg->max_payload,
		.engine = { .echo_delay_ms = cfg->echo_delay },
	};

	return runtime_open(&ab->agents, &opt, ab->state, &ab->topics, &ab->sink);
}

/* The reference's triggers, then the configured ones over them. */
static int setup_triggers(struct agentbus *ab)
{
	const struct str_list *specs = &ab->cfg->triggers;
	char msg[256];

	if (trigger_set_defaults(&ab->triggers) != 0)
		return -1;
	for (size_t i = 0; i < specs->n; i++) {
		struct trigger t;

		/* The config parser checked each spec already. */
		if (trigger_parse(specs->v[i], &t, msg, sizeof msg) != 0 ||
		    trigger_set_put(&ab->triggers, &t) != 0) {
			log_error("trigger '%s': %s", specs->v[i], msg);
			return -1;
		}
	}
	return 0;
}

static int agentbus_start(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;

	ab->host = cfg->host;
	ab->port = cfg->port;
	ab->offline_mid = -1;
	ab->broker.log_fd = -1;
	ab->signal_fd = signals_open();
	if (ab->signal_fd < 0) {
		log_error("cannot set up signal handling: %s", strerror(errno));
		return -1;
	}
	if (state_open(cfg->state_dir, &ab->state) != 0)
		return -1;
	if (config_wants_embedded_broker(cfg) && start_private_broker(ab) != 0)
		return -1;
	if (asprintf(&ab->client_id, "agentbus-%s", cfg->id) < 0)
		return -1;
	if (topics_init(&ab->topics, cfg->root, cfg->vault, cfg->id) != 0 ||
	    setup_triggers(ab) != 0)
		return -1;
	ab->sink = (struct bus_sink){ sink_publish, sink_deadletter, ab, cfg->encoding };
	ab->events = (struct events_handler){ ab->state, &ab->triggers, cfg->vault, ab->sink,
					      (size_t)cfg->max_payload, on_event_observed,
					      on_trigger_fired, ab };
	if (!cfg->no_store && store_vault_open(&ab->store, cfg->state_dir, &ab->topics, cfg->vault,
					       &ab->sink, (size_t)cfg->max_payload) != 0)
		return -1;
	if (start_runtime(ab) != 0)
		return -1;
	status_init(&ab->status, cfg->id);
	log_info("agentbus %s starting: instance %s, broker %s:%d, state %s", AGENTBUS_VERSION,
		 cfg->id, ab->host, ab->port, cfg->state_dir);
	return setup_connection(ab);
}

static void agentbus_cleanup(struct agentbus *ab)
{
	runtime_close(&ab->agents);
	bus_conn_destroy(ab->conn);
	store_vault_close(&ab->store);
	trigger_set_free(&ab->triggers);
	state_close(ab->state);
	broker_child_stop(&ab->broker);
	if (ab->signal_fd >= 0)
		close(ab->signal_fd);
	topics_free(&ab->topics);
	free(ab->client_id);
}

int agentbus_run(const struct config *cfg)
{
	struct agentbus ab = { .cfg = cfg, .signal_fd = -1 };

	log_configure(cfg->verbose ? LOG_DEBUG : LOG_INFO, NULL);
	if (agentbus_start(&ab) != 0) {
		ab.exit_code = 1;
	} else {
		while (!(ab.stopping && bus_conn_closed(ab.conn)))
			if (loop_once(&ab) != 0) {
				ab.exit_code = 1;
				break;
			}
	}
	agentbus_cleanup(&ab);
	if (ab.exit_code == 0)
		log_info("stopped cleanly");
	return ab.exit_code;
}
