/* run: the daemon's context, wired onto its one event loop (util/loop.h):
 * the broker socket, the signalfd and the private broker's log are sources,
 * the connection's upkeep and the status refresh a timer, the outboxes flush
 * before every wait. One thread; nothing else touches MQTT or the state, so
 * nothing needs a lock.
 *
 * Stopping (SIGINT/SIGTERM): publish the retained "offline" status, wait for
 * the broker's PUBACK (at most STOP_GRACE_MS), send DISCONNECT so the broker
 * drops the Last Will (a DISCONNECT that cannot go out within GOODBYE_MS
 * more drops the connection instead), close the state, stop the private
 * broker, exit 0. */
#include "daemon/run.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bus/client.h"
#include "bus/conn.h"
#include "bus/deadletter.h"
#include "bus/topics.h"
#include "bus/trigger.h"
#include "bridge/bridge.h"
#include "daemon/broker_child.h"
#include "daemon/connwatch.h"
#include "daemon/console.h"
#include "daemon/feed.h"
#include "daemon/notify.h"
#include "daemon/route.h"
#include "daemon/signals.h"
#include "daemon/status.h"
#include "daemon/telemetry.h"
#include "daemon/web.h"
#include "engines/http.h"
#include "fleet/forward.h"
#include "fleet/partition.h"
#include "fleet/restore.h"
#include "handlers/replica.h"
#include "handlers/runtime.h"
#include "sandbox/sandbox.h"
#include "state/state.h"
#include "store/vault.h"
#include "util/crash.h"
#include "util/clock.h"
#include "util/secret.h"
#include "util/text.h"
#include "util/log.h"
#include "util/loop.h"

#define STOP_GRACE_MS 3000
#define GOODBYE_MS 1000		/* after the grace, for the DISCONNECT to go out */
/* While the state cannot be written: first probe, cap, and how often the
 * log says it is still failing. */
#define PROBE_FIRST_MS 100
#define PROBE_MAX_MS 5000
#define FAILING_LOG_MS 10000
/* Messages a partition takes between two releases of its PUBACKs: below
 * REPLICA_DONE_KEEP, the finished turns each thread's record names. */
#define PARTITION_BATCH_MAX 100
#define ROUTE_WAITING_LOG_MS 10000
_Static_assert(PARTITION_BATCH_MAX < REPLICA_DONE_KEEP, "a batch's turns fit each record");

struct agentbus {
	const struct config *cfg;
	const char *host;	/* the broker actually used */
	int port;
	char *client_id;
	struct topics topics;
	int signal_fd;
	struct loop *loop;
	struct state *state;
	struct bus_conn *conn;	/* publishes; a lone instance's only connection */
	int conn_fd;		/* the socket the loop watches; -1: none */
	/* A fleet's partition process: the partition's session, which only
	 * receives, and whose PUBACKs wait until everything the messages
	 * caused is acknowledged on `conn` (a new owner then finds every
	 * message not fully done still in the session). NULL otherwise. */
	struct bus_conn *part;
	int part_fd;
	char *part_client_id;	/* agentbus-<fleet>-p<N>, whoever owns it */
	char *replica;		/* where the partition's state is kept on the bus */
	char *inbox_record;	/* the previous owner's inbox record; NULL: none */
	char *registry;		/* R/agent/+/definition: the fleet's agents, for callbacks */
	struct cJSON *directory;	/* as restored, until the runtime has it */
	bool draining;		/* stopping a partition: its turns finish, nothing is read */
	bool part_session_present;	/* the broker kept the partition's session */
	/* A partition's: where the router sends its messages, and the retained
	 * marker that tells the router its session exists (due: to publish). */
	char *in_topic;
	char *session_topic;
	bool session_marker_due;
	/* The fleet's router (--fleet-partition N, N the partition count):
	 * its session starts once every partition's marker is in. */
	bool router;
	bool routing;
	char part_name[24];	/* "partition N" or "router", as the logs say */
	int64_t route_waiting_log_at;	/* when to say again what the router waits for */
	struct route route;
	int part_batch;		/* messages read since the last release */
	/* The router's packet id of the newest QoS 1 message forwarded to this
	 * partition: the inbox window's key (runtime_released()). */
	int part_last_mid;
	struct bus_sink sink;	/* how modules publish: through `conn` */
	struct trigger_set triggers;
	struct store_vault store;	/* notes NULL with --no-store or --vault-url */
	struct bridge *bridge;		/* --vault-url: a real vault; else NULL */
	struct http *bridge_http;	/* the bridge's REST calls */
	struct agent_runtime agents;
	struct status status;
	struct broker_child broker;	/* pid 0 unless embedded */
	uint64_t tick_timer;	/* connection upkeep, status, retries, stop deadline */
	int64_t tick_due;	/* when it fires, monotonic ms */
	int retry_ms;		/* until an outbox entry is due again; -1: none */
	bool announced;		/* the "how to watch" lines were printed */
	bool failing;		/* the state cannot be written: suspended */
	bool handler_failed;	/* a message could not be committed */
	bool handled;		/* a message was handled since the last group commit */
	uint64_t probe_timer;
	int probe_ms;
	int64_t failing_logged_at;
	bool stopping;
	bool goodbye_late;	/* the grace ran out; the deadline is now GOODBYE_MS's */
	int64_t stop_deadline;
	bool offline_acked;
	uint64_t exit_timer;	/* wakes the loop once the connection is closed */
	int exit_code;
	struct metrics metrics;
	struct web *web;	/* NULL without --http */
	int connections;	/* CONNACKs so far */
	struct sandbox *sandbox;	/* confines exec turns */
	struct console *console;	/* the web console's feed; NULL without --http */
	uint64_t console_timer;	/* the agents' load, and keep-alives */
	int console_ticks;
};

/* Cheap: read every loop iteration to tell whether a status is due. */
static struct status_counts current_counts(const struct agentbus *ab)
{
	return (struct status_counts){
		.agents = runtime_agents(&ab->agents),
		.queued = runtime_queued(&ab->agents),
		.running = runtime_running(&ab->agents),
		.metrics_generation = ab->metrics.generation,
		.vault = ab->bridge ? bridge_version(ab->bridge) : 0,
	};
}

/* Sums over every series: only when a status goes out. */
static struct status_totals current_totals(const struct agentbus *ab)
{
	const struct metrics *m = &ab->metrics;

	return (struct status_totals){
		.turns_ok = (long)metrics_sum(m, "agentbus_turns_total", "outcome=\"ok\""),
		.turns_failed = (long)metrics_sum(m, "agentbus_turns_total", "outcome=\"error\""),
		.deadletters = (long)metrics_sum(m, "agentbus_deadletters_total", NULL),
		.reconnects = (long)metrics_sum(m, "agentbus_reconnects_total", NULL),
		.state_write_failures = (long)metrics_sum(m, "agentbus_state_write_failures_total",
							  NULL),
	};
}

static void on_offline_acked(void *arg, int mid, int reason)
{
	struct agentbus *ab = arg;

	(void)mid;
	(void)reason;
	ab->offline_acked = true;
}

static int publish_status(struct agentbus *ab, bool online)
{
	struct status_counts counts = current_counts(ab);
	struct status_totals totals = current_totals(ab);
	cJSON *vault = ab->bridge ? bridge_status(ab->bridge) : NULL;
	struct codec_buf buf;
	struct bus_publish pub;
	int rc;

	totals.vault = vault;
	rc = status_encode(&ab->status, online, &counts, &totals, ab->cfg->encoding, &buf);
	cJSON_Delete(vault);
	if (rc != 0)
		return -1;
	pub = (struct bus_publish){ .topic = ab->topics.status, .payload = buf.data, .len = buf.len,
				    .qos = 1, .retain = true, .content_type = buf.content_type };
	/* A partition process's record goes when it does (its instance's
	 * member record says what it owns). */
	if (!online && ab->part)
		pub.len = 0;
	rc = bus_conn_publish(ab->conn, &pub, online ? NULL : on_offline_acked, ab);
	if (rc == 0)
		feed_publish(ab->console, &ab->topics, &pub);
	codec_buf_free(&buf);
	if (rc == 0)
		status_published(&ab->status, &counts, clock_mono_ms());
	return rc;
}

/* Printed once, on stdout, for the person who typed `make run`. */
static void announce(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;
	char auth[512] = "", answer[300];

	snprintf(answer, sizeof answer, "me/answer");
	if (cfg->username || cfg->password || cfg->password_file) {
		snprintf(auth, sizeof auth, " -u '%s' -P '<token>'",
			 cfg->username ? cfg->username : "x");
		/* A locked-down broker lets an agent:read token read only this. */
		snprintf(answer, sizeof answer, "%s/agent/eng/reply/me", cfg->root);
	}
	printf("agentbus %s is up: instance %s, broker %s:%d, vault %s\n"
	       "  watch the bus:    mosquitto_sub -h %s -p %d%s -t '%s/#' -v\n"
	       "  talk to an agent: mosquitto_rr -h %s -p %d%s -t '%s/agent/eng/inbox'"
	       " -e '%s' -m 'hi'\n"
	       "Stop with Ctrl-C.\n",
	       AGENTBUS_VERSION, cfg->id, ab->host, ab->port, cfg->vault, ab->host, ab->port, auth,
	       cfg->root, ab->host, ab->port, auth, cfg->root, answer);
	fflush(stdout);
	ab->announced = true;
}

static int sink_publish(void *arg, const struct bus_publish *pub, bus_publish_done_fn *done,
			void *done_arg)
{
	struct agentbus *ab = arg;
	int rc = bus_conn_publish(ab->conn, pub, done, done_arg);

	if (rc == 0)
		feed_publish(ab->console, &ab->topics, pub);
	return rc;
}

/* Logged here, once per rejected input, and published for whoever watches. */
static void sink_deadletter(void *arg, const struct bus_message *msg, const struct bus_error *err)
{
	struct agentbus *ab = arg;
	cJSON *doc = deadletter_build(msg->topic, msg->payload, msg->len, err);

	log_warn("dead letter from %s (%zu bytes): %s: %s", msg->topic, msg->len,
		 bus_reason_name(err->reason), err->message);
	{
		char labels[96];

		snprintf(labels, sizeof labels, "reason=\"%s\"", bus_reason_name(err->reason));
		metrics_add(&ab->metrics, "agentbus_deadletters_total", labels, 1);
	}
	if (!doc || sink_publish_doc(&ab->sink, ab->topics.deadletter, doc, 1, false) != 0)
		log_error("cannot publish the dead letter for %s", msg->topic);
	cJSON_Delete(doc);
}

/* Once per message: the labels are constants, only an event type is formatted. */
static void count_message(struct agentbus *ab, enum topic_kind kind, const char *level,
			  size_t len)
{
	static const char *const labels[] = { [TOPIC_VAULT_EVENT] = "kind=\"vault_event\"",
					      [TOPIC_VAULT_WRITE] = "kind=\"vault_write\"",
					      [TOPIC_AGENT_INBOX] = "kind=\"inbox\"",
					      [TOPIC_AGENT_CANCEL] = "kind=\"cancel\"",
					      [TOPIC_OTHER] = "kind=\"other\"" };
	char type[96];

	metrics_add(&ab->metrics, "agentbus_messages_total",
		    (unsigned)kind < sizeof labels / sizeof labels[0] && labels[kind] ? labels[kind]
										: "kind=\"other\"",
		    1);
	if (kind == TOPIC_VAULT_EVENT && len < 48) {
		snprintf(type, sizeof type, "type=\"%.*s\"", (int)len, level);
		metrics_add(&ab->metrics, "agentbus_events_total", type, 1);
	}
}

/* A lone instance serves every agent; a partition process those whose
 * name falls in its partition, and what names no agent when it is 0. */
static bool partition_owns(const struct agentbus *ab, const char *name, size_t len)
{
	const struct config *cfg = ab->cfg;

	if (cfg->fleet_partition < 0)
		return true;
	if (!name)
		return cfg->fleet_partition == 0;
	return fleet_partition_of(name, len, cfg->partitions) == cfg->fleet_partition;
}

static bool runtime_owns(void *arg, const char *name)
{
	return partition_owns(arg, name, name ? strlen(name) : 0);
}

/* What the message asks of this process's agents. */
static int dispatch(struct agentbus *ab, const struct bus_message *msg)
{
	enum topic_kind kind;
	const char *level;
	size_t len;
	int rc = 0;

	kind = topics_classify(&ab->topics, msg->topic, &level, &len);
	count_message(ab, kind, level, len);
	switch (kind) {
	case TOPIC_VAULT_EVENT:
		rc = runtime_vault_event(&ab->agents, &ab->triggers, msg, level, len);
		break;
	case TOPIC_VAULT_WRITE:
		if (ab->store.notes)
			rc = store_vault_receive(&ab->store, msg);
		else if (ab->bridge)
			rc = bridge_receive(ab->bridge, msg);
		break;
	/* A partition gets only its own agents' (the router's route_message()). */
	case TOPIC_AGENT_INBOX:
		rc = runtime_inbox(&ab->agents, msg, level, len);
		break;
	case TOPIC_AGENT_CANCEL:
		rc = runtime_cancel(&ab->agents, msg, level, len);
		break;
	case TOPIC_AGENT_EVENTS:	/* ours: not subscribed to */
	case TOPIC_AGENT_DEFINITION:
	case TOPIC_DEADLETTER:
	case TOPIC_STATUS:
	case TOPIC_OTHER:
		log_debug("ignored a message on %s", msg->topic);
		break;
	}
	return rc;
}

/* A partition's message from the router: the one the router received, its
 * packet id included (the inbox window's key across redeliveries and
 * owners). */
static int dispatch_forwarded(struct agentbus *ab, const struct bus_message *msg)
{
	struct bus_message inner;

	if (strcmp(msg->topic, ab->in_topic) != 0) {
		log_debug("ignored a message on %s", msg->topic);
		return 0;
	}
	if (fleet_forward_decode(msg->payload, msg->len, &inner) != 0) {
		log_warn("%s: a message on %s is not the router's envelope; ignored", ab->part_name,
			 msg->topic);
		return 0;
	}
	if (inner.qos > 0)
		ab->part_last_mid = inner.mid;
	return dispatch(ab, &inner);
}

static int on_message(void *arg, const struct bus_message *msg)
{
	struct agentbus *ab = arg;
	int rc;

	crash_point("message-received");
	if (ab->failing)
		return -1;
	if (ab->part)
		ab->part_batch++;
	if (ab->router)
		rc = route_forward(&ab->route, &ab->agents, msg);
	else if (ab->in_topic)
		rc = dispatch_forwarded(ab, msg);
	else
		rc = dispatch(ab, msg);
	if (rc != 0)
		ab->handler_failed = true;
	else
		crash_point("message-handled");
	ab->handled = true;
	return rc;
}

static void begin_stop(struct agentbus *ab, const char *why);

/* Nothing is routed until every partition's session exists: a partition
 * whose process never starts stalls the fleet, which the log says. */
static void log_router_waiting(struct agentbus *ab, int64_t now)
{
	char missing[256];

	if (ab->route_waiting_log_at) {
		route_missing_text(&ab->route, missing, sizeof missing);
		log_warn("router: not routing yet: no session record from partitions %s", missing);
	}
	ab->route_waiting_log_at = now + ROUTE_WAITING_LOG_MS;
}

static void start_routing(struct agentbus *ab)
{
	ab->routing = true;
	log_info("router: every partition of fleet %s has its session; routing",
		 ab->cfg->fleet);
	if (bus_conn_start(ab->part) != 0) {
		ab->exit_code = 1;
		begin_stop(ab, "the router's session cannot connect");
	}
}

/* A partition's publishing connection receives the fleet's registry
 * entries; the router's, the partitions' session markers too. */
static int on_writer_message(void *arg, const struct bus_message *msg)
{
	struct agentbus *ab = arg;
	const char *level;
	size_t len;
	char name[128];

	if (ab->router && bus_topic_matches(ab->route.sessions_filter, msg->topic)) {
		if (route_session(&ab->route, msg) && !ab->routing && !ab->stopping)
			start_routing(ab);
		return 0;
	}
	if (topics_classify(&ab->topics, msg->topic, &level, &len) == TOPIC_AGENT_DEFINITION &&
	    len < sizeof name) {
		snprintf(name, sizeof name, "%.*s", (int)len, level);
		runtime_directory(&ab->agents, name, msg->payload, msg->len);
		if (ab->router)
			route_entry(&ab->route, msg);
	}
	return 0;
}

static void on_online(void *arg, bool session_present)
{
	struct agentbus *ab = arg;

	if (ab->stopping)
		return;
	if (ab->connections++ > 0)
		metrics_add(&ab->metrics, "agentbus_reconnects_total", "", 1);
	if (!ab->part)
		runtime_connected(&ab->agents, session_present);
	/* Retained, so a broker restarted without persistence learns it again. */
	if (publish_status(ab, true) != 0)
		log_error("cannot publish the online status");
	/* The newcomer's `make run`: one paste away from an answer. */
	if (!ab->announced && config_wants_embedded_broker(ab->cfg) && ab->store.notes &&
	    !ab->cfg->no_demo && !ab->cfg->store_only && runtime_offer_demo(&ab->agents) != 0)
		log_error("cannot define the demo agent");
	if (!ab->announced && ab->part) {
		ab->announced = true;	/* its instance speaks for it */
	} else if (!ab->announced) {
		announce(ab);
		/* Type=notify: up once the broker took us and the state is open. */
		if (notify_send("READY=1") != 0)
			log_warn("cannot tell systemd that agentbus is ready (NOTIFY_SOCKET)");
	}
}

static void on_offline(void *arg, int code, const char *reason)
{
	struct agentbus *ab = arg;

	log_warn("lost the broker: %s", reason);
	if (code == BUS_TAKEN_OVER) {
		/* Two daemons with one --id would take the client id from each
		 * other forever, each losing its session every time: the one
		 * that was there first gives way, and says why. */
		log_error("another client connected as %s: two agentbus instances must not share "
			  "--id %s; stopping", ab->client_id, ab->cfg->id);
		ab->exit_code = 1;
		begin_stop(ab, "client id taken over");
	}
	/* The goodbye cannot be delivered any more; stop without it. */
	if (ab->stopping)
		bus_conn_close(ab->conn);
}

static void begin_stop(struct agentbus *ab, const char *why)
{
	if (ab->stopping)
		return;
	log_info("stopping (%s)", why);
	notify_send("STOPPING=1");	/* best effort: the stop goes on regardless */
	ab->stopping = true;
	ab->stop_deadline = clock_mono_ms() + STOP_GRACE_MS;
	if (ab->part && !bus_conn_closed(ab->part)) {
		/* Nothing more is read; what was read finishes, then its PUBACKs go. */
		ab->draining = true;
		ab->stop_deadline = clock_mono_ms() + (int64_t)ab->cfg->drain_timeout * 1000;
		log_info("%s: draining (%d turns waiting, %d running; at most %d s)",
			 ab->part_name, runtime_queued(&ab->agents),
			 runtime_running(&ab->agents), ab->cfg->drain_timeout);
		return;
	}
	if (bus_conn_online(ab->conn) && publish_status(ab, false) == 0)
		return;	/* the tick closes the connection once all is acknowledged */
	bus_conn_close(ab->conn);
}

/* --- a fleet's partition ---------------------------------------------------- */

/* The drain is over: every message read is done (its PUBACKs go out and
 * the connection ends without DISCONNECT, bus_conn_finish(); the broker
 * keeps the session for the next owner), or the time ran out (the
 * connection drops unacknowledged: the next owner gets again what did not
 * finish). Then the usual stop. */
static void end_drain(struct agentbus *ab, bool settled)
{
	const char *p = ab->part_name;

	if (settled) {
		bus_conn_finish(ab->part);
		log_info("%s: released, every message it took is done", p);
	} else {
		bus_conn_drop(ab->part);
		log_warn("%s: released after the drain timeout; %d waiting and %d running "
			 "turns run again at the next owner", p, runtime_queued(&ab->agents),
			 runtime_running(&ab->agents));
	}
	ab->draining = false;
	ab->stop_deadline = clock_mono_ms() + STOP_GRACE_MS;
	if (!bus_conn_online(ab->conn) || publish_status(ab, false) != 0)
		bus_conn_close(ab->conn);
}

/* Ends the process at once: another owner has (or will have) the partition,
 * so nothing more may be published for it. */
static void abandon_partition(struct agentbus *ab, int exit_code)
{
	ab->exit_code = exit_code;
	ab->stopping = true;
	ab->draining = false;
	bus_conn_drop(ab->part);
	bus_conn_drop(ab->conn);
}

static void on_part_online(void *arg, bool session_present)
{
	struct agentbus *ab = arg;

	ab->part_session_present = session_present;
	runtime_connected(&ab->agents, session_present);
}

/* From here on nothing published to the partition can miss it: its
 * instance is told through the descriptor it handed down. */
static void on_part_subscribed(void *arg)
{
	struct agentbus *ab = arg;
	const char *fd = getenv(FLEET_READY_FD_ENV);

	log_info("%s: serving for instance %s (%s session)", ab->part_name, ab->cfg->fleet_instance,
		 ab->part_session_present ? "resumed" : "new");
	ab->session_marker_due = !ab->router;
	if (!fd)
		return;
	if (write(atoi(fd), "1", 1) != 1)
		log_warn("%s: cannot tell instance %s it is serving: %s", ab->part_name,
			 ab->cfg->fleet_instance, strerror(errno));
	close(atoi(fd));
	unsetenv(FLEET_READY_FD_ENV);
}

static void on_part_offline(void *arg, int code, const char *reason)
{
	struct agentbus *ab = arg;

	(void)code;
	log_warn("%s: lost its session (%s); stopping at once, what is unfinished "
		 "is its next owner's", ab->part_name, reason);
	abandon_partition(ab, AGENTBUS_EXIT_PARTITION_LOST);
}

static void on_signal(void *arg, int fd, int mask)
{
	struct agentbus *ab = arg;
	int sig;

	(void)fd;
	(void)mask;
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

static void on_broker_log(void *arg, int fd, int mask)
{
	struct agentbus *ab = arg;

	(void)mask;
	if (broker_child_read_log(&ab->broker, log_broker_line, NULL) == 0)
		return;
	loop_unwatch(ab->loop, fd);
	log_error("the private mosquitto exited");
	ab->exit_code = 1;
	begin_stop(ab, "private broker gone");
	bus_conn_close(ab->conn);
}

/* Reads only: what it queues (the PUBACKs of what was handled) is written
 * by before_sleep, after the group commit. Writability only wakes the loop. */
static void on_conn_io(void *arg, int fd, int mask)
{
	struct agentbus *ab = arg;

	(void)fd;
	if (mask & LOOP_READ)
		bus_conn_read(ab->conn);
	/* Acknowledgements come in bursts: their rows go in this iteration's
	 * group commit. */
	runtime_settle(&ab->agents);
	store_vault_settle(&ab->store);
	if (ab->bridge)
		bridge_settle(ab->bridge);
}

/* A partition reads at most PARTITION_BATCH_MAX messages between two
 * releases of its acknowledgements, whatever the broker's inflight window:
 * its next owner, should it die, meets no more than that again, and each
 * thread's record names every finished one (REPLICA_DONE_KEEP). */
static bool part_reading(const struct agentbus *ab)
{
	return !ab->draining && !ab->stopping && ab->part_batch < PARTITION_BATCH_MAX;
}

static void on_part_io(void *arg, int fd, int mask)
{
	struct agentbus *ab = arg;

	(void)fd;
	if ((mask & LOOP_READ) && part_reading(ab))
		bus_conn_read_many(ab->part, PARTITION_BATCH_MAX - ab->part_batch);
	else if (mask & LOOP_READ)
		bus_conn_read(ab->part);	/* finishing: waits for the broker's close */
	runtime_settle(&ab->agents);
}

/* --- a state that cannot be written ------------------------------------------ */

static bool state_is_failing(struct agentbus *ab, const char **why)
{
	if (state_failing(ab->state, why))
		return true;
	if (ab->bridge && bridge_failing(ab->bridge, why))
		return true;
	*why = ab->store.why;
	return ab->store.failing || runtime_paused(&ab->agents) || ab->handler_failed;
}

static void probe(void *arg)
{
	struct agentbus *ab = arg;
	int64_t now = clock_mono_ms();
	const char *why;

	ab->probe_timer = 0;
	if (state_probe(ab->state) == 0 && store_vault_probe(&ab->store) == 0 &&
	    (!ab->bridge || bridge_probe(ab->bridge) == 0)) {
		log_info("the state can be written again: reconnecting to the broker");
		ab->failing = ab->handler_failed = false;
		runtime_resume(&ab->agents);
		bus_conn_resume(ab->conn);
		return;
	}
	state_is_failing(ab, &why);
	if (now - ab->failing_logged_at >= FAILING_LOG_MS) {
		log_error("the state still cannot be written (%s); %d turns wait, nothing is "
			  "acknowledged", why && *why ? why : "unknown", runtime_queued(&ab->agents));
		ab->failing_logged_at = now;
	}
	ab->probe_ms = ab->probe_ms * 2 > PROBE_MAX_MS ? PROBE_MAX_MS : ab->probe_ms * 2;
	ab->probe_timer = loop_timer(ab->loop, ab->probe_ms, probe, ab);
}

/* Stops taking work: the connection drops before anything uncommitted is
 * acknowledged (the broker publishes the Last Will, so the status says
 * offline), and the state is probed until it can be written. */
static void enter_failing(struct agentbus *ab)
{
	metrics_add(&ab->metrics, "agentbus_state_write_failures_total", "", 1);
	const char *why;

	state_is_failing(ab, &why);
	log_error("the state cannot be written (%s): disconnecting from the broker; nothing more "
		  "is acknowledged until it can", why && *why ? why : "unknown");
	if (ab->part) {
		/* Nothing it took is acknowledged: the next owner, or this
		 * instance's next process for the partition, starts afresh. */
		abandon_partition(ab, 1);
		return;
	}
	ab->failing = true;
	ab->failing_logged_at = clock_mono_ms();
	bus_conn_suspend(ab->conn);
	ab->probe_ms = PROBE_FIRST_MS;
	ab->probe_timer = loop_timer(ab->loop, ab->probe_ms, probe, ab);
}

/* --- once per iteration ---------------------------------------------------------- */

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static void on_tick(void *arg)
{
	struct agentbus *ab = arg;
	int64_t now = clock_mono_ms();
	struct status_counts counts = current_counts(ab);

	ab->tick_timer = 0;
	ab->tick_due = -1;
	bus_conn_tick(ab->conn, now);
	if (ab->part)
		bus_conn_tick(ab->part, now);
	if (!ab->stopping && bus_conn_online(ab->conn) && status_due(&ab->status, &counts, now))
		publish_status(ab, true);
	if (ab->router && !ab->routing && !ab->stopping && now >= ab->route_waiting_log_at)
		log_router_waiting(ab, now);
	if (ab->draining && now >= ab->stop_deadline)
		end_drain(ab, false);
	else if (ab->stopping && !ab->draining && now >= ab->stop_deadline &&
		 !bus_conn_closed(ab->conn)) {
		if (!ab->goodbye_late) {
			log_warn("stopping with %zu publishes the broker has not confirmed",
				 bus_conn_unacked(ab->conn));
			bus_conn_close(ab->conn);
			ab->goodbye_late = true;
			ab->stop_deadline = now + GOODBYE_MS;
		} else {
			/* The DISCONNECT sits behind what the socket does not take
			 * (or the connection never completed): a stop is bounded. */
			log_warn("the broker did not take our DISCONNECT within %d ms; dropping the "
				 "connection", GOODBYE_MS);
			bus_conn_drop(ab->conn);
		}
	}
}

static void arm_tick(struct agentbus *ab)
{
	int64_t now = clock_mono_ms();
	struct status_counts counts = current_counts(ab);
	int t = bus_conn_timeout_ms(ab->conn, now);

	if (ab->part)
		t = min_timeout(t, bus_conn_timeout_ms(ab->part, now));

	if (!ab->stopping)
		t = min_timeout(t, status_timeout_ms(&ab->status, &counts, now));
	else
		t = min_timeout(t, (int)(ab->stop_deadline > now ? ab->stop_deadline - now : 0));
	t = min_timeout(t, ab->retry_ms);
	/* The deadlines rarely move between iterations: keep the timer then. */
	if (t >= 0 && ab->tick_timer && ab->tick_due == now + t)
		return;
	loop_timer_cancel(ab->loop, ab->tick_timer);
	ab->tick_timer = t >= 0 ? loop_timer(ab->loop, t, on_tick, ab) : 0;
	ab->tick_due = t >= 0 ? now + t : -1;
}

/* A group that does not commit leaves its database failing (which
 * before_sleep then notices) and the connection dropped at once, stopping
 * or not: none of the PUBACKs libmosquitto queued for it may go out. */
static void commit_groups(struct agentbus *ab)
{
	int state_rc = runtime_commit(&ab->agents);
	int store_rc = store_vault_commit(&ab->store);

	if (state_rc < 0 || store_rc < 0) {
		bus_conn_suspend(ab->conn);
		if (ab->part)
			bus_conn_suspend(ab->part);
	}
	/* The crash tests' point: a message's work committed, its PUBACK not out. */
	else if (ab->handled && (state_rc > 0 || store_rc > 0))
		crash_point("group-committed");
	ab->handled = false;
}

static void on_exit_timer(void *arg)
{
	struct agentbus *ab = arg;

	ab->exit_timer = 0;
}

/* A partition's PUBACKs go out only once everything read so far is done:
 * libmosquitto queued them as it read, in one queue, so it is all or
 * nothing (part_reading() bounds how many that is). */
static void write_partition(struct agentbus *ab)
{
	bool settled = !ab->failing && runtime_settled(&ab->agents);

	bus_conn_hold(ab->part, !settled);
	if (settled && ab->part_batch > 0) {
		ab->part_batch = 0;
		runtime_released(&ab->agents, ab->part_last_mid);
	}
	if (ab->draining && settled)
		end_drain(ab, true);
	bus_conn_write(ab->part);
}

static void before_sleep(void *arg)
{
	struct agentbus *ab = arg;
	int64_t now = clock_mono_ms();
	int store_retry;
	const char *why;

	/* While stopping, waiting turns stay in the durable queue and run after
	 * the restart rather than publish writes the exit would drop; a
	 * draining partition runs them, or its next owner gets them again. */
	if ((!ab->stopping || ab->draining) && !ab->failing)
		runtime_schedule(&ab->agents);
	/* The group commit: everything this iteration handled, in one
	 * transaction per database. Only then may its PUBACKs and the outboxes'
	 * publishes go out. */
	commit_groups(ab);
	runtime_flush(&ab->agents, now, &ab->retry_ms);
	store_vault_flush(&ab->store, now, &store_retry);
	ab->retry_ms = min_timeout(ab->retry_ms, store_retry);
	if (ab->bridge) {
		bridge_flush(ab->bridge, now, &store_retry);
		ab->retry_ms = min_timeout(ab->retry_ms, store_retry);
	}
	if (!ab->failing && !ab->stopping && state_is_failing(ab, &why))
		enter_failing(ab);
	if (!ab->failing)
		bus_conn_write(ab->conn);
	if (ab->part && !bus_conn_closed(ab->part))
		write_partition(ab);
	if (ab->session_marker_due && bus_conn_online(ab->conn) &&
	    bus_conn_publish(ab->conn, &(struct bus_publish){ .topic = ab->session_topic,
			     .payload = "1", .len = 1, .qos = 1, .retain = true }, NULL, NULL) == 0)
		ab->session_marker_due = false;
	/* Stopping ends with DISCONNECT once the offline status and everything
	 * published before or since has been acknowledged: a write that is only
	 * in libmosquitto's queue when the process exits is lost. */
	if (ab->stopping && ab->offline_acked && bus_conn_unacked(ab->conn) == 0)
		bus_conn_close(ab->conn);
	conn_watch(ab->loop, ab->conn, &ab->conn_fd, on_conn_io, ab, true);
	if (ab->part)
		conn_watch(ab->loop, ab->part, &ab->part_fd, on_part_io, ab,
			   part_reading(ab) || bus_conn_finishing(ab->part));
	arm_tick(ab);
	/* Closed: the loop's own condition ends it, but only after this
	 * iteration's wait, which must not last until the stop deadline. */
	if (ab->stopping && bus_conn_closed(ab->conn) && !ab->exit_timer &&
	    (!ab->part || bus_conn_closed(ab->part)))
		ab->exit_timer = loop_timer(ab->loop, 0, on_exit_timer, ab);
}

static int partition_keepalive(const struct config *cfg)
{
	int k = cfg->turn_timeout + 60;

	return k < cfg->keepalive ? cfg->keepalive : k > 65535 ? 65535 : k;
}

static int setup_connection(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;
	struct status_counts none = { 0 };
	struct codec_buf will;
	struct bus_conn_options opt = {
		.host = ab->host,
		.port = ab->port,
		.username = cfg->username,
		.password = cfg->password,
		.password_file = cfg->password_file,
		.client_id = ab->client_id,
		.keepalive = cfg->keepalive,
		.session_expiry = (uint32_t)cfg->session_expiry,
		.reconnect_max_ms = cfg->reconnect_max * 1000,
	};
	struct bus_conn_handlers h = { on_online, on_offline,
				       cfg->fleet_partition >= 0 ? on_writer_message : on_message,
				       NULL };
	struct bus_conn *receiver;
	int rc;

	/* A partition's publishing connection keeps no session: what it
	 * publishes is the partition's, and it subscribes only to retained
	 * entries it reads again at every connect. */
	if (cfg->fleet_partition >= 0)
		opt.session_expiry = 0;
	if (bus_conn_create(&opt, &h, ab, &ab->conn) != 0)
		return -1;
	opt.session_expiry = (uint32_t)cfg->session_expiry;
	receiver = ab->conn;
	if (cfg->fleet_partition >= 0) {
		struct bus_conn_handlers ph = { on_part_online, on_part_offline, on_message,
						on_part_subscribed };

		/* Whom a callback may go to: every partition's agents. */
		if (bus_conn_subscribe(ab->conn, ab->registry, 0) != 0 ||
		    (ab->router && bus_conn_subscribe(ab->conn, ab->route.sessions_filter, 0) != 0))
			return -1;
		opt.client_id = ab->part_client_id;
		/* Held while its turns run, it sends no PINGREQ: the broker must
		 * not take a long turn for a dead client. A dead instance still
		 * goes at once (its sockets close), or by its member record's
		 * keepalive. */
		opt.keepalive = partition_keepalive(cfg);
		if (bus_conn_create(&opt, &ph, ab, &ab->part) != 0)
			return -1;
		receiver = ab->part;
	}
	/* A retained inbox message would run again at every subscribe: inboxes
	 * are read without them (a retained publish still runs once, live). */
	if (ab->in_topic) {
		/* A partition receives what the router sends it, and only that. */
		if (bus_conn_subscribe(receiver, ab->in_topic, 0) != 0)
			return -1;
	} else if ((!cfg->store_only &&
		    (bus_conn_subscribe(receiver, ab->topics.vault_events, 0) != 0 ||
		     bus_conn_subscribe(receiver, ab->topics.inboxes, BUS_SUB_NO_RETAINED) != 0 ||
		     bus_conn_subscribe(receiver, ab->topics.cancels, BUS_SUB_NO_RETAINED) != 0)) ||
		   ((ab->store.notes || ab->bridge) &&
		    bus_conn_subscribe(receiver, ab->topics.vault_write, 0) != 0)) {
		return -1;
	}
	if (status_encode(&ab->status, false, &none, &(struct status_totals){ 0 }, cfg->encoding,
			  &will) != 0)
		return -1;
	rc = bus_conn_set_will(ab->conn, &(struct bus_publish){
		.topic = ab->topics.status, .payload = will.data, .len = ab->part ? 0 : will.len,
		.qos = 1,
		.retain = true, .content_type = will.content_type });
	codec_buf_free(&will);
	if (rc != 0)
		return -1;
	/* The publisher first: the partition's messages cause publishes. */
	if (bus_conn_start(ab->conn) != 0)
		return -1;
	/* The router's session waits for the partitions' (start_routing). */
	return ab->part && !ab->router ? bus_conn_start(ab->part) : 0;
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

/* --- /metrics, /healthz, /readyz --------------------------------------------- */

static char *web_metrics(void *arg)
{
	struct agentbus *ab = arg;

	metrics_set(&ab->metrics, "agentbus_connected", "", bus_conn_online(ab->conn) ? 1 : 0);
	metrics_set(&ab->metrics, "agentbus_agents", "", runtime_agents(&ab->agents));
	metrics_set(&ab->metrics, "agentbus_turns_queued", "", runtime_queued(&ab->agents));
	metrics_set(&ab->metrics, "agentbus_turns_running", "", runtime_running(&ab->agents));
	metrics_set(&ab->metrics, "agentbus_outbox_unacked", "", (double)bus_conn_unacked(ab->conn));
	if (ab->bridge)
		bridge_metrics(ab->bridge, &ab->metrics);
	return metrics_render(&ab->metrics);
}

/* Healthy: connected, and the state can be written. */
static int web_health(void *arg, char *why, size_t len)
{
	struct agentbus *ab = arg;
	const char *state_why;

	if (ab->failing || state_is_failing(ab, &state_why)) {
		snprintf(why, len, "the state cannot be written");
		return -1;
	}
	if (!bus_conn_online(ab->conn)) {
		snprintf(why, len, "not connected to the broker %s:%d", ab->host, ab->port);
		return -1;
	}
	return 0;
}

/* Ready: healthy, and not on the way out. */
static int web_ready(void *arg, char *why, size_t len)
{
	struct agentbus *ab = arg;

	if (web_health(arg, why, len) != 0)
		return -1;
	if (ab->bridge && bridge_ready(ab->bridge, why, len) != 0)
		return -1;
	if (ab->stopping) {
		snprintf(why, len, "stopping");
		return -1;
	}
	return 0;
}

/* The console's box: the message goes to the agent's inbox, as from
 * `agentbus ask`, and its turn shows on the console like any other. */
static int web_send(void *arg, const char *agent, const char *text, char *why, size_t len)
{
	struct agentbus *ab = arg;
	char *topic;
	int rc;

	if (!text_is_topic_level(agent)) {
		snprintf(why, len, "'%s' is not an agent name\n", agent);
		return -1;
	}
	if (!(topic = topics_agent(&ab->topics, agent, "inbox")))
		return -1;
	rc = sink_publish(ab, &(struct bus_publish){ .topic = topic, .payload = text,
						     .len = strlen(text), .qos = 1 }, NULL, NULL);
	free(topic);
	if (rc != 0)
		snprintf(why, len, "not connected to the broker\n");
	return rc == 0 ? 0 : -1;
}

/* A vault's webhook, handed to the bridge (opened after the web server,
 * which it needs for its own URL). */
static int web_hook(void *arg, const char *vault, const char *authorization, bool loopback,
		    const char *body, size_t len, char *answer, size_t answer_len)
{
	struct agentbus *ab = arg;

	if (!ab->bridge) {
		snprintf(answer, answer_len, "{\"error\":\"starting\"}");
		return 503;
	}
	return bridge_hook(ab->bridge, vault, authorization, loopback, body, len, answer,
			   answer_len);
}

/* Every second while pages watch: the agents' queues; every 15 s a
 * keep-alive, so proxies leave idle streams open. */
static void on_console_timer(void *arg)
{
	struct agentbus *ab = arg;
	cJSON *doc;
	char *json;

	ab->console_timer = loop_timer(ab->loop, 1000, on_console_timer, ab);
	if (console_clients(ab->console) == 0)
		return;
	if (++ab->console_ticks % 15 == 0)
		console_keepalive(ab->console);
	if ((doc = runtime_load_doc(&ab->agents)) && (json = cJSON_PrintUnformatted(doc))) {
		console_publish(ab->console, "load", NULL, json);
		free(json);
	}
	cJSON_Delete(doc);
}

/* Who the page is talking to. */
static int console_instance(struct agentbus *ab)
{
	char broker[300], at[CLOCK_ISO_LEN], *json;
	cJSON *doc = cJSON_CreateObject();
	int rc = -1;

	snprintf(broker, sizeof broker, "%s:%d", ab->host, ab->port);
	clock_iso8601(at);
	if (doc && cJSON_AddStringToObject(doc, "instance", ab->cfg->id) &&
	    cJSON_AddStringToObject(doc, "version", AGENTBUS_VERSION) &&
	    cJSON_AddStringToObject(doc, "broker", broker) &&
	    cJSON_AddStringToObject(doc, "started_at", at) &&
	    cJSON_AddBoolToObject(doc, "send", ab->cfg->console_send) &&
	    (json = cJSON_PrintUnformatted(doc))) {
		console_publish(ab->console, "instance", NULL, json);
		free(json);
		rc = 0;
	}
	cJSON_Delete(doc);
	return rc;
}

static int start_web(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;
	struct web_routes routes = { web_metrics, web_health, web_ready,
				     cfg->console_send ? web_send : NULL,
				     cfg->vault_url ? web_hook : NULL, (size_t)cfg->max_payload, ab };
	struct web_console console = { NULL, NULL };
	unsigned char token[512];
	char why[256];
	size_t len;
	int rc;

	if (cfg->http_token_file &&
	    secret_read(cfg->http_token_file, token, sizeof token, &len, why, sizeof why) != 0) {
		log_error("--http-token-file: %s", why);
		return -1;
	}
	if (console_open(256 * 1024, &ab->console) != 0 || console_instance(ab) != 0)
		return -1;
	console.feed = ab->console;
	console.token = cfg->http_token_file ? (const char *)token : NULL;
	ab->console_timer = loop_timer(ab->loop, 1000, on_console_timer, ab);
	rc = web_open(ab->loop, cfg->http, &routes, &console, &ab->web);
	explicit_bzero(token, sizeof token);
	return rc;
}

/* The sandbox of exec turns. Its paths are absolute (bwrap binds a path at
 * the same place inside); a `full` sandbox never sees the state dir nor the
 * files the config names. */
static int start_sandbox(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;
	char *state = realpath(cfg->state_dir, NULL), *hidden[3], *workspaces = NULL;
	size_t n_hidden = 0;
	struct sandbox_options opt = {
		.off = cfg->sandbox == 1, .bwrap = cfg->sandbox_bwrap, .user = cfg->sandbox_user,
		.pids = cfg->sandbox_pids, .binds = cfg->sandbox_binds.v,
		.n_binds = cfg->sandbox_binds.n, .hidden = hidden,
	};
	int rc = -1;

	if (state && asprintf(&workspaces, "%s/workspaces", state) < 0)
		workspaces = NULL;
	if (!workspaces) {
		log_error("cannot resolve the state dir %s: %s", cfg->state_dir, strerror(errno));
		goto out;
	}
	hidden[n_hidden++] = state;
	if (cfg->config_file && (hidden[n_hidden] = realpath(cfg->config_file, NULL)))
		n_hidden++;
	if (cfg->password_file && (hidden[n_hidden] = realpath(cfg->password_file, NULL)))
		n_hidden++;
	opt.n_hidden = n_hidden;
	opt.workspaces = workspaces;
	rc = sandbox_open(&opt, &ab->sandbox);
	if (rc != 0)
		log_error("cannot set up the sandbox: out of memory");
	else if (sandbox_unavailable(ab->sandbox))
		log_warn("%s", sandbox_describe(ab->sandbox));
	else
		log_info("%s", sandbox_describe(ab->sandbox));
	for (size_t i = 1; i < n_hidden; i++)
		free(hidden[i]);
out:
	free(state);
	free(workspaces);
	return rc;
}

static int start_runtime(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;
	struct runtime_options opt = {
		.vault = cfg->vault,
		.defaults = { cfg->engine, cfg->turn_timeout, NULL },
		.max_running = cfg->max_turns,
		.queue_limit = cfg->queue_limit,
		.max_queued = cfg->max_queued,
		.max_payload = (size_t)cfg->max_payload,
		.metrics = &ab->metrics,
		.engine = { .echo_delay_ms = cfg->echo_delay, .gate_path = cfg->gate,
			    .tmp_dir = cfg->state_dir, .metrics = &ab->metrics, .sandbox = ab->sandbox,
			    .defs = cfg->engine_defs.v, .n_defs = cfg->engine_defs.n },
		.owns = cfg->fleet_partition >= 0 ? runtime_owns : NULL,
		.owns_arg = ab,
		.replica = ab->replica,
		.inbox_record = ab->inbox_record,
	};

	const cJSON *entry;

	if (runtime_open(&ab->agents, &opt, ab->state, &ab->topics, &ab->sink, ab->loop) != 0)
		return -1;
	cJSON_ArrayForEach(entry, ab->directory)
		runtime_directory(&ab->agents, entry->string, entry->valuestring,
				  strlen(entry->valuestring));
	cJSON_Delete(ab->directory);
	ab->directory = NULL;
	return 0;
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

/* The URL the vault's webhooks call: --hook-url, else this --http (the
 * caller checks that there is one). */
static char *hook_url(const struct config *cfg, unsigned port)
{
	char *url = NULL, host[64] = "127.0.0.1";
	const char *colon = cfg->http ? strrchr(cfg->http, ':') : NULL;

	if (cfg->hook_url)
		return strdup(cfg->hook_url);
	if (colon && colon != cfg->http)
		snprintf(host, sizeof host, "%.*s", (int)(colon - cfg->http), cfg->http);
	if (!strcmp(host, "0.0.0.0"))
		snprintf(host, sizeof host, "127.0.0.1");
	if (!port)
		port = (unsigned)atoi(colon ? colon + 1 : cfg->http);
	if (asprintf(&url, "http://%s:%u/vault/%s/hook", host, port, cfg->vault) < 0)
		return NULL;
	return url;
}

static void bridge_options(const struct agentbus *ab, const char *hook, struct bridge_options *o)
{
	const struct config *cfg = ab->cfg;

	*o = (struct bridge_options){
		.url = cfg->vault_url, .vault = cfg->vault, .token_file = cfg->vault_token_file,
		.hook_token_file = cfg->hook_token_file, .hook_url = hook,
		.feed = cfg->vault_feed == 0, .topics = &ab->topics, .sink = &ab->sink,
		.triggers = &ab->triggers, .metrics = (struct metrics *)&ab->metrics,
		.max_payload = (size_t)cfg->max_payload,
	};
}

static int start_bridge(struct agentbus *ab)
{
	bool webhooks = ab->cfg->http || ab->cfg->hook_url;
	char *hook = webhooks ? hook_url(ab->cfg, ab->web ? web_port(ab->web) : 0) : NULL;
	struct bridge_options o;
	int rc = -1;

	if (!webhooks)
		log_warn("bridge: no --http, so no webhooks: only the change feed brings events");
	bridge_options(ab, hook, &o);
	if ((hook || !webhooks) && http_open(ab->loop, &ab->bridge_http) == 0)
		rc = bridge_open(ab->loop, ab->bridge_http, ab->cfg->state_dir, &o, &ab->bridge);
	free(hook);
	return rc;
}

/* A partition's state is rebuilt from the bus every time a process takes
 * it: what an earlier process of this instance left may be older than what
 * the owners since have done. */
static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int prepare_partition(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;

	ab->router = cfg->fleet_partition == FLEET_ROUTER(cfg->partitions);
	fleet_unit_name(cfg->fleet_partition, cfg->partitions, ab->part_name, sizeof ab->part_name);
	if ((ab->router ? asprintf(&ab->part_client_id, "agentbus-%s-router", cfg->fleet)
			: asprintf(&ab->part_client_id, "agentbus-%s-p%d", cfg->fleet,
				   cfg->fleet_partition)) < 0 ||
	    asprintf(&ab->replica, "%s/agentbus/fleet/%s/p/%d", cfg->root, cfg->fleet,
		     cfg->fleet_partition) < 0 ||
	    asprintf(&ab->registry, "%s/agent/+/definition", cfg->root) < 0) {
		ab->part_client_id = ab->replica = ab->registry = NULL;
		return -1;
	}
	if (!ab->router &&
	    (!(ab->in_topic = route_in_topic(cfg->root, cfg->fleet, cfg->fleet_partition)) ||
	     !(ab->session_topic = route_session_topic(cfg->root, cfg->fleet,
						       cfg->fleet_partition))))
		return -1;
	if (nftw(cfg->state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) {
		log_error("%s: cannot clear %s: %s", ab->part_name, cfg->state_dir,
			  strerror(errno));
		return -1;
	}
	return 0;
}

static int restore_partition(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;
	struct bus_client_options opt = {
		.host = cfg->host, .port = cfg->port, .username = cfg->username,
		.password = cfg->password, .password_file = cfg->password_file,
		.timeout_ms = 10000,
	};
	struct fleet_restored got;

	if (fleet_restore(&opt, ab->replica, ab->registry, ab->state, &got) != 0)
		return -1;
	ab->inbox_record = got.inbox;
	ab->directory = got.directory;
	log_info("partition %d: restored %d agents, %d threads and %d exchanges from %s",
		 cfg->fleet_partition, got.agents, got.threads, got.exchanges, ab->replica);
	return 0;
}

static int agentbus_start(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;

	ab->host = cfg->host;
	ab->port = cfg->port;
	ab->conn_fd = -1;
	ab->part_fd = -1;
	ab->retry_ms = -1;
	ab->broker.log_fd = -1;
	ab->loop = loop_new();
	ab->signal_fd = signals_open();
	if (!ab->loop || ab->signal_fd < 0 ||
	    loop_watch(ab->loop, ab->signal_fd, LOOP_READ, on_signal, ab) != 0 ||
	    loop_before_sleep(ab->loop, before_sleep, ab) != 0) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	if (cfg->fleet_partition >= 0 && prepare_partition(ab) != 0)
		return -1;
	if (state_open(cfg->state_dir, &ab->state) != 0)
		return -1;
	/* The router keeps nothing of its own: what it has not forwarded is in
	 * its session. */
	if (cfg->fleet_partition >= 0 && !ab->router && restore_partition(ab) != 0)
		return -1;
	if (config_wants_embedded_broker(cfg) && (start_private_broker(ab) != 0 ||
	    loop_watch(ab->loop, ab->broker.log_fd, LOOP_READ, on_broker_log, ab) != 0))
		return -1;
	if (asprintf(&ab->client_id, "agentbus-%s", cfg->id) < 0)
		return -1;
	if (topics_init(&ab->topics, cfg->root, cfg->vault, cfg->id) != 0 ||
	    setup_triggers(ab) != 0)
		return -1;
	if (ab->router &&
	    route_init(&ab->route, cfg->root, cfg->fleet, cfg->partitions, &ab->topics,
		       &(struct events_decoder){ &ab->triggers, cfg->vault,
						 (size_t)cfg->max_payload }) != 0)
		return -1;
	ab->sink = (struct bus_sink){ sink_publish, sink_deadletter, ab, cfg->encoding };
	if (!cfg->no_store && !cfg->vault_url && store_vault_open(&ab->store, cfg->state_dir, &ab->topics, cfg->vault,
					       &ab->sink, (size_t)cfg->max_payload) != 0)
		return -1;
	/* The router runs no turns. */
	if ((!ab->router && start_sandbox(ab) != 0) || start_runtime(ab) != 0)
		return -1;
	/* From here on, each loop iteration commits once per database. */
	if (state_group(ab->state, true) != 0 || store_vault_group(&ab->store, true) != 0)
		return -1;
	status_init(&ab->status, cfg->id);
	if (cfg->http && start_web(ab) != 0)
		return -1;
	if (cfg->vault_url && start_bridge(ab) != 0)
		return -1;
	log_info("agentbus %s starting: instance %s, broker %s:%d, state %s", AGENTBUS_VERSION,
		 cfg->id, ab->host, ab->port, cfg->state_dir);
	return setup_connection(ab);
}

static void agentbus_cleanup(struct agentbus *ab)
{
	web_close(ab->web);
	loop_timer_cancel(ab->loop, ab->console_timer);
	console_close(ab->console);
	runtime_close(&ab->agents);
	sandbox_close(ab->sandbox);
	/* Before the outboxes: the connection holds their entries in flight. */
	bus_conn_destroy(ab->conn);
	if (ab->part)
		bus_conn_destroy(ab->part);
	free(ab->part_client_id);
	free(ab->in_topic);
	free(ab->session_topic);
	route_free(&ab->route);
	free(ab->replica);
	free(ab->inbox_record);
	free(ab->registry);
	cJSON_Delete(ab->directory);
	store_vault_close(&ab->store);
	bridge_close(ab->bridge);
	http_close(ab->bridge_http);
	trigger_set_free(&ab->triggers);
	state_close(ab->state);
	broker_child_stop(&ab->broker);
	if (ab->signal_fd >= 0)
		close(ab->signal_fd);
	topics_free(&ab->topics);
	free(ab->client_id);
	loop_free(ab->loop);
	metrics_free(&ab->metrics);
}

/* --register-triggers: the bridge's registration alone, then exit. */
static int register_once(struct agentbus *ab)
{
	const struct config *cfg = ab->cfg;
	struct bridge_options o;
	char *hook = NULL;
	int rc = 1;

	if (!cfg->vault_url) {
		log_error("--register-triggers needs --vault-url");
		return 1;
	}
	if (!cfg->hook_url && !cfg->http) {
		log_error("--register-triggers needs --hook-url (or --http) to know where the "
			  "vault's webhooks go");
		return 1;
	}
	ab->loop = loop_new();
	if (ab->loop && setup_triggers(ab) == 0 && (hook = hook_url(cfg, 0)) &&
	    http_open(ab->loop, &ab->bridge_http) == 0) {
		bridge_options(ab, hook, &o);
		rc = bridge_register_once(ab->loop, ab->bridge_http, &o);
	}
	http_close(ab->bridge_http);
	trigger_set_free(&ab->triggers);
	loop_free(ab->loop);
	free(hook);
	return rc;
}

int agentbus_run(const struct config *cfg)
{
	struct agentbus ab = { .cfg = cfg, .signal_fd = -1 };

	/* What the daemon writes (state, workspaces) is its own; a root daemon
	 * opens its state dir's search bit to its sandboxes' user. */
	umask(077);
	metrics_init(&ab.metrics, telemetry_families, telemetry_n_families);
	log_configure(cfg->verbose ? LOG_DEBUG : LOG_INFO, NULL);
	if (cfg->register_triggers) {
		ab.exit_code = register_once(&ab);
		metrics_free(&ab.metrics);
		return ab.exit_code;
	}
	if (agentbus_start(&ab) != 0) {
		ab.exit_code = 1;
	} else {
		while (!(ab.stopping && bus_conn_closed(ab.conn) &&
			 (!ab.part || bus_conn_closed(ab.part))))
			if (loop_run_once(ab.loop) != 0) {
				ab.exit_code = 1;
				break;
			}
	}
	agentbus_cleanup(&ab);
	if (ab.exit_code == 0)
		log_info("stopped cleanly");
	return ab.exit_code;
}
