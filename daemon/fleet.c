/* fleet: the instance's loop. It keeps every member's retained record
 * (R/agentbus/fleet/<fleet>/member/<instance>, with an empty Last Will),
 * owns the partitions it wins by rendezvous hashing over the active members
 * (fleet/partition.h), and runs a process for each (daemon/run.c with
 * --fleet-partition N), whose session is the partition's durable queue.
 *
 * Handover: when a member joins, the owners of the partitions it now wins
 * stop their processes, which drain (their turns finish, every message
 * they took is acknowledged) and release the session; the newcomer waits
 * for the partition to leave the old owner's record (at most the drain
 * timeout and TAKEOVER_SLACK_MS more) before it connects. A member that
 * dies is gone from the records at once (its Will): its partitions are
 * taken without waiting, and the broker hands over what it had not
 * acknowledged. */
#include "daemon/fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bus/conn.h"
#include "daemon/connwatch.h"
#include "daemon/notify.h"
#include "daemon/telemetry.h"
#include "daemon/web.h"
#include "daemon/run.h"
#include "daemon/signals.h"
#include "fleet/member.h"
#include "fleet/partition.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/proc.h"

#define TICK_MS 250
#define TAKEOVER_SLACK_MS 5000	/* past the drain timeout, for the release to arrive */
#define RESTART_FIRST_MS 1000
#define RESTART_MAX_MS 30000
#define GOODBYE_MS 3000		/* for the empty member record's PUBACK */
#define MEMBERS_MAX 256
/* Between our record going out and taking partitions: instances started
 * together see each other's records first, instead of all taking every
 * partition and leaving the broker to sort it out. */
#define JOIN_SETTLE_MS 1000
/* After a member's record goes (its Will), before taking its partitions: a
 * broker that stops publishes every member's Will and then drops every
 * connection, ours too, which this leaves time to notice. */
#define LEAVE_GRACE_MS 500

struct part_proc {
	pid_t pid;		/* 0: not running */
	int pidfd;
	int ready_fd;		/* its "serving" byte comes here; -1 once read */
	bool serving;
	bool stopping;		/* SIGTERM sent: draining */
	int failures;		/* exits in a row that were not clean */
	int64_t restart_at;	/* monotonic ms; not before */
	int64_t wanted_since;	/* ours, but still in another member's record */
};

struct fleet {
	const struct config *cfg;
	int argc;
	char **argv;
	struct loop *loop;
	int signal_fd;
	struct bus_conn *conn;
	int conn_fd;
	char *client_id, *member_topic, *members_filter, *fence_topic;
	struct fleet_member self;
	struct fleet_member others[MEMBERS_MAX];
	size_t n_others;
	bool synced;		/* the retained records are in (our fence came back) */
	bool ever_synced;
	int64_t join_at;	/* monotonic ms: take partitions from then on */
	int64_t take_after;	/* monotonic ms: a member left; take nothing before */
	bool stopping;
	bool gone_acked;	/* the empty record is on the broker */
	bool closing;
	int64_t close_deadline;
	int exit_code;
	uint64_t timer;
	struct metrics metrics;
	struct web *web;	/* --http: /metrics, /healthz, /readyz; NULL otherwise */
	struct part_proc parts[FLEET_UNITS_MAX];	/* the partitions, then the router */
	char unit_name[24];	/* unit_name()'s answer */
};

/* The partitions and the router. */
static int units(const struct fleet *f)
{
	return f->cfg->partitions + 1;
}

/* fleet_unit_name()'s, valid until the next call. */
static const char *unit_name(struct fleet *f, int p)
{
	fleet_unit_name(p, f->cfg->partitions, f->unit_name, sizeof f->unit_name);
	return f->unit_name;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_gone_acked(void *arg, int mid, int reason)
{
	struct fleet *f = arg;

	(void)mid;
	(void)reason;
	f->gone_acked = true;
}

/* Our record, retained; empty (`gone`) removes it. */
static int publish_self(struct fleet *f, bool gone)
{
	cJSON *doc = gone ? NULL : fleet_member_encode(&f->self, f->cfg->fleet);
	char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
	struct bus_publish pub = { .topic = f->member_topic, .payload = text,
				   .len = text ? strlen(text) : 0, .qos = 1, .retain = true };
	int rc = gone || text ? bus_conn_publish(f->conn, &pub, gone ? on_gone_acked : NULL, f)
			      : -1;

	cJSON_Delete(doc);
	free(text);
	return rc;
}

/* --- the partitions' processes --------------------------------------------- */

static void on_part_exit(void *arg, int fd, int mask);
static void reconcile(struct fleet *f);

static pid_t spawn_partition(struct fleet *f, int p, int ready)
{
	char num[16], fd[16], **argv = calloc((size_t)f->argc + 3, sizeof *argv);
	pid_t parent = getpid(), pid;
	sigset_t stop;

	if (!argv)
		return -1;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	snprintf(num, sizeof num, "%d", p);
	for (int i = 0; i < f->argc; i++)
		argv[i] = f->argv[i];
	argv[f->argc] = "--fleet-partition";
	argv[f->argc + 1] = num;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		/* An instance killed outright takes its partitions with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		proc_reset_signals();
		/* A SIGTERM before its loop reads signals waits for it: a
		 * partition stopped that early still drains. */
		sigprocmask(SIG_BLOCK, &stop, NULL);
		unsetenv("NOTIFY_SOCKET");
		snprintf(fd, sizeof fd, "%d", dup(ready));
		setenv(FLEET_READY_FD_ENV, fd, 1);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "agentbus: cannot run the partition's process: %s\n",
			strerror(errno));
		_exit(127);
	}
	free(argv);
	return pid;
}

static bool owned_changed(struct fleet *f)
{
	struct fleet_member now = f->self;

	memset(now.owned, 0, sizeof now.owned);
	memset(now.serving, 0, sizeof now.serving);
	for (int p = 0; p < units(f); p++) {
		fleet_member_set(&now, p, f->parts[p].pid != 0);
		fleet_bit_set(now.serving, p, f->parts[p].pid && f->parts[p].serving);
	}
	if (memcmp(now.owned, f->self.owned, sizeof now.owned) == 0 &&
	    memcmp(now.serving, f->self.serving, sizeof now.serving) == 0)
		return false;
	f->self = now;
	return true;
}

static void on_part_ready(void *arg, int fd, int mask)
{
	struct fleet *f = arg;
	char byte;

	(void)mask;
	for (int p = 0; p < units(f); p++) {
		struct part_proc *pp = &f->parts[p];

		if (pp->ready_fd != fd)
			continue;
		pp->serving = read(fd, &byte, 1) == 1;
		loop_unwatch(f->loop, fd);
		close(fd);
		pp->ready_fd = -1;
		reconcile(f);
		return;
	}
}

static void start_partition(struct fleet *f, int p)
{
	struct part_proc *pp = &f->parts[p];
	int ready[2] = { -1, -1 }, fd = -1;
	pid_t pid = pipe2(ready, O_CLOEXEC) == 0 ? spawn_partition(f, p, ready[1]) : -1;

	if (ready[1] >= 0)
		close(ready[1]);
	if (pid > 0)
		fd = pidfd_open(pid, 0);
	if (pid <= 0 || fd < 0 || loop_watch(f->loop, fd, LOOP_READ, on_part_exit, f) != 0 ||
	    loop_watch(f->loop, ready[0], LOOP_READ, on_part_ready, f) != 0) {
		log_error("%s: cannot start its process: %s", unit_name(f, p), strerror(errno));
		if (fd >= 0) {
			loop_unwatch(f->loop, fd);
			close(fd);
		}
		if (pid > 0)
			proc_stop(pid, 1000);
		if (ready[0] >= 0)
			close(ready[0]);
		pp->restart_at = clock_mono_ms() + RESTART_MAX_MS;
		return;
	}
	pp->pid = pid;
	pp->pidfd = fd;
	pp->ready_fd = ready[0];
	pp->serving = false;
	metrics_add(&f->metrics, "agentbus_fleet_partitions_taken_total", "", 1);
	pp->stopping = false;
	pp->wanted_since = 0;
	log_info("%s: taken (process %d)", unit_name(f, p), (int)pid);
}

static void stop_partition(struct fleet *f, int p, const char *to)
{
	struct part_proc *pp = &f->parts[p];

	if (!pp->pid || pp->stopping)
		return;
	log_info("%s: handing over to %s", unit_name(f, p), to);
	metrics_add(&f->metrics, "agentbus_fleet_partitions_handed_over_total", "", 1);
	pp->stopping = true;
	kill(pp->pid, SIGTERM);
}

static const struct fleet_member *claimed_by(const struct fleet *f, int p)
{
	for (size_t i = 0; i < f->n_others; i++)
		if (fleet_member_owns(&f->others[i], p))
			return &f->others[i];
	return NULL;
}

/* Whether partition `p` is ours to take now; logs a wait once. */
static bool may_take(struct fleet *f, int p, int64_t now)
{
	struct part_proc *pp = &f->parts[p];
	const struct fleet_member *holder = claimed_by(f, p);
	int64_t wait_ms = (int64_t)f->cfg->drain_timeout * 1000 + TAKEOVER_SLACK_MS;

	if (now < pp->restart_at || now < f->join_at || now < f->take_after)
		return false;
	if (!holder)
		return true;
	if (!pp->wanted_since) {
		pp->wanted_since = now;
		log_info("%s: waiting for %s to release it", unit_name(f, p), holder->id);
	}
	if (now - pp->wanted_since < wait_ms)
		return false;
	log_warn("%s: %s did not release it within %lld ms; taking it over", unit_name(f, p),
		 holder->id, (long long)wait_ms);
	return true;
}

/* Every partition where it belongs: ours started, others' handed over. */
static void reconcile(struct fleet *f)
{
	const char *active[MEMBERS_MAX + 1];
	size_t n = 0;
	int64_t now = clock_mono_ms();

	if (!f->synced)
		return;
	if (!f->stopping)
		active[n++] = f->self.id;
	for (size_t i = 0; i < f->n_others && n < MEMBERS_MAX; i++)
		if (!f->others[i].leaving)
			active[n++] = f->others[i].id;
	for (int p = 0; p < units(f); p++) {
		int owner = fleet_owner(active, n, p);
		bool ours = owner >= 0 && active[owner] == f->self.id;
		struct part_proc *pp = &f->parts[p];

		if (!ours) {
			pp->wanted_since = 0;
			stop_partition(f, p, owner >= 0 ? active[owner] : "nobody (the fleet stops)");
		} else if (!pp->pid && may_take(f, p, now)) {
			start_partition(f, p);
		}
	}
	if (owned_changed(f) && bus_conn_online(f->conn) && publish_self(f, false) != 0)
		log_error("cannot publish the member record");
}

static void on_part_exit(void *arg, int fd, int mask)
{
	struct fleet *f = arg;
	int status = 0, p;

	(void)mask;
	for (p = 0; p < units(f) && f->parts[p].pidfd != fd; p++)
		;
	if (p == units(f))
		return;
	struct part_proc *pp = &f->parts[p];

	loop_unwatch(f->loop, fd);
	close(fd);
	if (waitpid(pp->pid, &status, 0) < 0)
		status = 0;
	pp->pid = 0;
	pp->pidfd = -1;
	pp->serving = false;
	if (pp->ready_fd >= 0) {
		loop_unwatch(f->loop, pp->ready_fd);
		close(pp->ready_fd);
		pp->ready_fd = -1;
	}
	if ((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
	    (pp->stopping && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)) {
		pp->failures = 0;
		log_info("%s: released", unit_name(f, p));
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == AGENTBUS_EXIT_PARTITION_LOST) {
		pp->restart_at = clock_mono_ms() + RESTART_FIRST_MS;
		metrics_add(&f->metrics, "agentbus_fleet_partition_failures_total", "", 1);
		log_warn("%s: its session was taken or lost", unit_name(f, p));
	} else {
		int64_t back = (int64_t)RESTART_FIRST_MS << (pp->failures < 5 ? pp->failures : 5);

		pp->failures++;
		metrics_add(&f->metrics, "agentbus_fleet_partition_failures_total", "", 1);
		pp->restart_at = clock_mono_ms() + (back < RESTART_MAX_MS ? back : RESTART_MAX_MS);
		log_error("%s: its process failed (%s %d); again in %lld ms", unit_name(f, p),
			  WIFEXITED(status) ? "exit status" : "signal",
			  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			  (long long)(pp->restart_at - clock_mono_ms()));
	}
	pp->stopping = false;
	reconcile(f);
}

/* --- the members ------------------------------------------------------------- */

static void refuse_count(struct fleet *f, const struct fleet_member *m)
{
	log_error("fleet %s runs %d partitions (instance %s); this instance was started with "
		  "--partitions %d: every instance of a fleet must say the same; not joining",
		  f->cfg->fleet, m->partitions, m->id, f->self.partitions);
	f->exit_code = 2;
	f->stopping = true;
}

/* The older of two disagreeing members keeps its count; the newer leaves. */
static bool newer_than(const struct fleet_member *a, const struct fleet_member *b)
{
	return a->started_at > b->started_at ||
	       (a->started_at == b->started_at && strcmp(a->id, b->id) > 0);
}

static void member_record(struct fleet *f, const char *id, const struct bus_message *msg)
{
	struct fleet_member m;
	char why[128];
	size_t i;

	for (i = 0; i < f->n_others && strcmp(f->others[i].id, id) != 0; i++)
		;
	if (msg->len == 0) {
		if (i < f->n_others) {
			log_info("fleet: %s left", id);
			f->others[i] = f->others[--f->n_others];
			f->take_after = clock_mono_ms() + LEAVE_GRACE_MS;
		}
		return;
	}
	if (fleet_member_decode(msg->payload, msg->len, &m, why, sizeof why) != 0 ||
	    strcmp(m.id, id) != 0) {
		log_warn("fleet: unusable member record on %s: %s", msg->topic,
			 strcmp(m.id, id) ? "instance differs from the topic" : why);
		return;
	}
	if (m.partitions != f->self.partitions) {
		if (newer_than(&f->self, &m))
			refuse_count(f, &m);
		return;		/* the newer one leaves on its own */
	}
	if (i == f->n_others) {
		if (f->n_others == MEMBERS_MAX) {
			log_error("fleet: more than %d members; %s ignored", MEMBERS_MAX, id);
			return;
		}
		f->n_others++;
		log_info("fleet: %s is a member%s", id, m.leaving ? " (leaving)" : "");
	} else if (m.leaving && !f->others[i].leaving) {
		log_info("fleet: %s is leaving", id);
	}
	f->others[i] = m;
}

static int on_message(void *arg, const struct bus_message *msg)
{
	struct fleet *f = arg;
	const char *id = strrchr(msg->topic, '/');

	if (strcmp(msg->topic, f->fence_topic) == 0) {
		if (!f->synced) {
			log_info("fleet %s: %zu other members; %d partitions", f->cfg->fleet,
				 f->n_others, f->self.partitions);
			if (!f->ever_synced && notify_send("READY=1") != 0)
				log_warn("cannot tell systemd that agentbus is ready (NOTIFY_SOCKET)");
		}
		if (!f->synced)
			f->join_at = clock_mono_ms() + JOIN_SETTLE_MS;
		f->synced = true;
		f->ever_synced = true;
		if (publish_self(f, false) != 0)
			log_error("cannot publish the member record");
	} else if (id && strcmp(id + 1, f->self.id) != 0) {
		member_record(f, id + 1, msg);
	}
	reconcile(f);
	return 0;
}

/* The records come with the subscription, our fence after them. A broker
 * restarted without persistence forgot our record: the fence republishes.
 * Until the fence is back, and JOIN_SETTLE_MS after, nothing is taken: a
 * broker that stopped published every member's Will, and the others'
 * records come back only as each of them reconnects. */
static void on_online(void *arg, bool session_present)
{
	struct fleet *f = arg;

	(void)session_present;
	f->synced = false;
	f->n_others = 0;
	if (bus_conn_publish(f->conn, &(struct bus_publish){ .topic = f->fence_topic,
							     .payload = "fence", .len = 5,
							     .qos = 1 }, NULL, NULL) != 0)
		log_error("cannot publish the fleet's fence");
}

static void on_offline(void *arg, int code, const char *reason)
{
	struct fleet *f = arg;

	log_warn("fleet: lost the broker: %s", reason);
	/* Nothing is taken until the records are read again: the partitions'
	 * processes may reach a restarted broker before this connection does,
	 * and take what another instance, back first, now counts as its own. */
	f->synced = false;
	if (code == BUS_TAKEN_OVER) {
		log_error("another client connected as %s: two instances must not share --id %s",
			  f->client_id, f->self.id);
		f->exit_code = 1;
		f->stopping = true;
	}
}

/* --- the loop ---------------------------------------------------------------- */

static void begin_stop(struct fleet *f, const char *why)
{
	if (f->stopping && f->self.leaving)
		return;
	log_info("fleet: stopping (%s): handing the partitions over", why);
	f->stopping = true;
	f->self.leaving = true;
	if (bus_conn_online(f->conn) && publish_self(f, false) != 0)
		log_error("cannot publish the member record");
	reconcile(f);
}

static bool parts_running(const struct fleet *f)
{
	for (int p = 0; p < units(f); p++)
		if (f->parts[p].pid)
			return true;
	return false;
}

/* Once every partition is handed over: our record goes, then the goodbye. */
static void progress_stop(struct fleet *f, int64_t now)
{
	if (!f->stopping)
		return;
	if (!f->self.leaving) {
		begin_stop(f, "refused");
		return;
	}
	if (parts_running(f))
		return;
	if (!f->closing) {
		f->closing = true;
		f->close_deadline = now + GOODBYE_MS;
		if (!bus_conn_online(f->conn) || publish_self(f, true) != 0)
			f->close_deadline = now;
	}
	if (f->gone_acked || now >= f->close_deadline)
		bus_conn_close(f->conn);
}

static void on_tick(void *arg)
{
	struct fleet *f = arg;
	int64_t now = clock_mono_ms();

	f->timer = loop_timer(f->loop, TICK_MS, on_tick, f);
	bus_conn_tick(f->conn, now);
	reconcile(f);
	progress_stop(f, now);
}

static void on_signal(void *arg, int fd, int mask)
{
	struct fleet *f = arg;
	int sig;

	(void)fd;
	(void)mask;
	while ((sig = signals_next(f->signal_fd)) != 0)
		if (sig != SIGHUP)
			begin_stop(f, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_conn_io(void *arg, int fd, int mask)
{
	struct fleet *f = arg;

	(void)fd;
	if (mask & LOOP_READ)
		bus_conn_read(f->conn);
}

static void before_sleep(void *arg)
{
	struct fleet *f = arg;

	progress_stop(f, clock_mono_ms());
	bus_conn_write(f->conn);
	conn_watch(f->loop, f->conn, &f->conn_fd, on_conn_io, f, true);
}

/* --- /metrics, /healthz, /readyz ----------------------------------------------- */

static char *web_metrics(void *arg)
{
	struct fleet *f = arg;
	size_t active = 1;
	char labels[64];

	for (size_t i = 0; i < f->n_others; i++)
		active += !f->others[i].leaving;
	metrics_set(&f->metrics, "agentbus_connected", "", bus_conn_online(f->conn) ? 1 : 0);
	metrics_set(&f->metrics, "agentbus_fleet_members", "", f->stopping ? (double)active - 1
									  : (double)active);
	for (int p = 0; p < units(f); p++) {
		static const char *const states[] = { "starting", "serving", "draining" };
		const struct part_proc *pp = &f->parts[p];
		int state = pp->stopping ? 2 : pp->serving ? 1 : 0;
		char id[16];

		if (p == FLEET_ROUTER(f->cfg->partitions))
			snprintf(id, sizeof id, "router");
		else
			snprintf(id, sizeof id, "%d", p);
		for (int s = 0; s < 3; s++) {
			snprintf(labels, sizeof labels, "partition=\"%s\",state=\"%s\"", id, states[s]);
			metrics_set(&f->metrics, "agentbus_fleet_partition", labels,
				    pp->pid && s == state ? 1 : 0);
		}
	}
	return metrics_render(&f->metrics);
}

static int web_health(void *arg, char *why, size_t len)
{
	struct fleet *f = arg;

	if (!bus_conn_online(f->conn)) {
		snprintf(why, len, "not connected to the broker %s:%d", f->cfg->host, f->cfg->port);
		return -1;
	}
	return 0;
}

/* Ready: in the fleet, and every partition it owns is served. */
static int web_ready(void *arg, char *why, size_t len)
{
	struct fleet *f = arg;

	if (web_health(arg, why, len) != 0)
		return -1;
	if (!f->synced || f->stopping) {
		snprintf(why, len, f->stopping ? "stopping" : "joining the fleet");
		return -1;
	}
	for (int p = 0; p < units(f); p++)
		if (f->parts[p].pid && !f->parts[p].serving) {
			snprintf(why, len, "%s is starting", unit_name(f, p));
			return -1;
		}
	return 0;
}

static int start_web(struct fleet *f)
{
	struct web_routes routes = { web_metrics, web_health, web_ready, NULL, NULL, 0, f };
	struct web_console console = { NULL, NULL };

	return web_open(f->loop, f->cfg->http, &routes, &console, &f->web);
}

static int fleet_start(struct fleet *f)
{
	const struct config *cfg = f->cfg;
	struct bus_conn_options opt = {
		.host = cfg->host, .port = cfg->port, .username = cfg->username,
		.password = cfg->password, .password_file = cfg->password_file,
		.keepalive = cfg->keepalive, .session_expiry = 0,
		.reconnect_max_ms = cfg->reconnect_max * 1000,
	};
	struct bus_conn_handlers h = { on_online, on_offline, on_message, NULL };

	snprintf(f->self.id, sizeof f->self.id, "%s", cfg->id);
	f->self.partitions = cfg->partitions;
	f->self.started_at = wall_ms();
	if (asprintf(&f->client_id, "agentbus-%s", cfg->id) < 0 ||
	    asprintf(&f->member_topic, "%s/agentbus/fleet/%s/member/%s", cfg->root, cfg->fleet,
		     cfg->id) < 0 ||
	    asprintf(&f->members_filter, "%s/agentbus/fleet/%s/member/+", cfg->root,
		     cfg->fleet) < 0 ||
	    asprintf(&f->fence_topic, "%s/agentbus/fleet/%s/fence/%s", cfg->root, cfg->fleet,
		     cfg->id) < 0)
		return -1;
	opt.client_id = f->client_id;
	f->loop = loop_new();
	f->signal_fd = signals_open();
	if (!f->loop || f->signal_fd < 0 ||
	    loop_watch(f->loop, f->signal_fd, LOOP_READ, on_signal, f) != 0 ||
	    loop_before_sleep(f->loop, before_sleep, f) != 0 ||
	    bus_conn_create(&opt, &h, f, &f->conn) != 0 ||
	    bus_conn_set_will(f->conn, &(struct bus_publish){ .topic = f->member_topic, .qos = 1,
							       .retain = true }) != 0 ||
	    bus_conn_subscribe(f->conn, f->members_filter, 0) != 0 ||
	    bus_conn_subscribe(f->conn, f->fence_topic, 0) != 0)
		return -1;
	f->timer = loop_timer(f->loop, TICK_MS, on_tick, f);
	if (cfg->http && start_web(f) != 0)
		return -1;
	log_info("agentbus %s starting: instance %s of fleet %s (%d partitions), broker %s:%d",
		 AGENTBUS_VERSION, cfg->id, cfg->fleet, cfg->partitions, cfg->host, cfg->port);
	return bus_conn_start(f->conn);
}

static void fleet_cleanup(struct fleet *f)
{
	for (int p = 0; p < units(f); p++) {
		if (f->parts[p].ready_fd >= 0)
			close(f->parts[p].ready_fd);
		if (f->parts[p].pid) {
			loop_unwatch(f->loop, f->parts[p].pidfd);
			close(f->parts[p].pidfd);
			proc_stop(f->parts[p].pid, 1000);
		}
	}
	web_close(f->web);
	if (f->conn)
		bus_conn_destroy(f->conn);
	metrics_free(&f->metrics);
	if (f->signal_fd >= 0)
		close(f->signal_fd);
	loop_timer_cancel(f->loop, f->timer);
	loop_free(f->loop);
	free(f->client_id);
	free(f->member_topic);
	free(f->members_filter);
	free(f->fence_topic);
}

int fleet_run(const struct config *cfg, int argc, char **argv)
{
	struct fleet *f = calloc(1, sizeof *f);
	int rc;

	if (!f)
		return 1;
	f->cfg = cfg;
	f->argc = argc;
	f->argv = argv;
	f->signal_fd = f->conn_fd = -1;
	metrics_init(&f->metrics, telemetry_families, telemetry_n_families);
	for (int p = 0; p < FLEET_PARTITIONS_MAX; p++)
		f->parts[p].pidfd = f->parts[p].ready_fd = -1;
	log_configure(cfg->verbose ? LOG_DEBUG : LOG_INFO, NULL);
	if (fleet_start(f) != 0) {
		log_error("cannot start the fleet instance");
		f->exit_code = 1;
	} else {
		while (!bus_conn_closed(f->conn))
			if (loop_run_once(f->loop) != 0) {
				f->exit_code = 1;
				break;
			}
	}
	fleet_cleanup(f);
	rc = f->exit_code;
	if (rc == 0)
		log_info("stopped cleanly");
	free(f);
	return rc;
}
