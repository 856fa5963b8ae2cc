/* harness: brokers, daemons and clients for the end-to-end tests. Harness
 * failures (cannot fork, broker will not start) abort the test program: the
 * test could not have run, which is different from a failed check. */
#include "test/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/check.h"
#include "util/clock.h"
#include "util/proc.h"

static void die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		die("strdup");
	return p;
}

const char *th_agentbus_bin(void)
{
	return AGENTBUS_BIN;
}

char *th_tmpdir(const char *name)
{
	char *path;

	/* Searchable, never listable: a root daemon's sandboxes run as nobody,
	 * and bwrap, as nobody, must reach the workspaces under a state dir. */
	mkdir(TEST_TMP_ROOT, 0711);
	chmod(TEST_TMP_ROOT, 0711);
	if (asprintf(&path, "%s/%s-XXXXXX", TEST_TMP_ROOT, name) < 0)
		die("asprintf");
	if (!mkdtemp(path))
		die("mkdtemp");
	return path;
}

char *th_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0;

	if (!f || getdelim(&buf, &len, '\0', f) < 0)
		die(path);
	fclose(f);
	return buf;
}

char *th_write_file(const char *dir, const char *name, const char *text)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		die("asprintf");
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die(path);
	return path;
}

/* Deadline arithmetic for pthread_cond_timedwait (CLOCK_REALTIME). */
static struct timespec deadline_in(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* --- broker ---------------------------------------------------------- */

struct drain_target {
	struct th_broker *b;
	FILE *file;
};

static void drain_line(void *arg, const char *line)
{
	struct drain_target *t = arg;
	struct th_broker *b = t->b;
	size_t n = strlen(line);
	char *grown;

	fprintf(t->file, "%s\n", line);
	fflush(t->file);
	pthread_mutex_lock(&b->lock);
	grown = realloc(b->log, b->log_len + n + 2);
	if (!grown)
		die("realloc");
	b->log = grown;
	memcpy(b->log + b->log_len, line, n);
	b->log_len += n;
	b->log[b->log_len++] = '\n';
	b->log[b->log_len] = '\0';
	pthread_cond_broadcast(&b->logged);
	pthread_mutex_unlock(&b->lock);
}

/* Under b->lock. */
static int count_lines(const struct th_broker *b, const char *text)
{
	const char *p = b->log;
	int n = 0;

	while (p && (p = strstr(p, text)) != NULL) {
		n++;
		p = strchr(p, '\n');
	}
	return n;
}

bool th_broker_wait_log(struct th_broker *b, const char *text, int count, int timeout_ms)
{
	struct timespec until = deadline_in(timeout_ms);
	bool found;

	pthread_mutex_lock(&b->lock);
	while (count_lines(b, text) < count &&
	       pthread_cond_timedwait(&b->logged, &b->lock, &until) != ETIMEDOUT)
		;
	found = count_lines(b, text) >= count;
	pthread_mutex_unlock(&b->lock);
	return found;
}

int th_broker_log_count(struct th_broker *b, const char *text)
{
	int n;

	pthread_mutex_lock(&b->lock);
	n = count_lines(b, text);
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* The broker blocks once its log pipe is full, so someone must always read. */
static void *drain_broker_log(void *arg)
{
	struct th_broker *b = arg;
	char path[4096];
	struct drain_target t = { .b = b };

	snprintf(path, sizeof path, "%s/mosquitto.log", b->dir);
	t.file = fopen(path, "a");
	if (!t.file)
		return NULL;
	for (;;) {
		struct pollfd p = { .fd = b->child.log_fd, .events = POLLIN };

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		if (broker_child_read_log(&b->child, drain_line, &t) < 0)
			break;
	}
	fclose(t.file);
	return NULL;
}

static void broker_launch(struct th_broker *b, int port)
{
	struct broker_child_options opt = {
		.bin = "mosquitto",
		.dir = b->dir,
		.port = port,
		.persistence = b->persistence,
		.extra = b->extra,
		.deny_anonymous = b->locked,
#ifdef SANITIZER_RUNTIME
		/* A locked broker loads our sanitized plugin. */
		.preload = b->locked ? SANITIZER_RUNTIME : NULL,
#endif
	};

	if (broker_child_start(&opt, &b->child) != 0) {
		fprintf(stderr, "harness: mosquitto did not start in %s\n", b->dir);
		exit(2);
	}
	if (pthread_create(&b->drain, NULL, drain_broker_log, b) != 0)
		die("pthread_create");
	b->draining = true;
	fprintf(stderr, "harness: mosquitto pid %ld on port %d\n", (long)b->child.pid,
		b->child.port);
}

void th_broker_start(struct th_broker *b, const char *name, bool persistence)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->logged, NULL);
	b->dir = th_tmpdir(name);
	b->persistence = persistence;
	broker_launch(b, 0);
}

void th_broker_start_locked(struct th_broker *b, const char *name, const char *extra)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->logged, NULL);
	b->dir = th_tmpdir(name);
	b->extra = xstrdup(extra);
	b->locked = true;
	broker_launch(b, 0);
}

void th_broker_start_with(struct th_broker *b, const char *name, const char *extra)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->logged, NULL);
	b->dir = th_tmpdir(name);
	b->extra = xstrdup(extra);
	broker_launch(b, 0);
}

void th_broker_restart(struct th_broker *b)
{
	broker_launch(b, b->child.port);
}

/* Ends the process first, so the drain thread sees EOF and exits, and only
 * then closes the log fd it was reading. */
static void broker_end(struct th_broker *b, int sig)
{
	int status;

	if (b->child.pid > 0) {
		fprintf(stderr, "harness: mosquitto pid %ld gets signal %d\n", (long)b->child.pid,
			sig);
		if (sig == SIGTERM) {
			proc_stop(b->child.pid, TH_TIMEOUT_MS);
		} else {
			kill(b->child.pid, sig);
			proc_wait(b->child.pid, -1, &status);
		}
		b->child.pid = 0;
	}
	if (b->draining) {
		pthread_join(b->drain, NULL);
		b->draining = false;
	}
	broker_child_stop(&b->child);
}

void th_broker_kill(struct th_broker *b)
{
	broker_end(b, SIGKILL);
}

void th_broker_stop(struct th_broker *b)
{
	broker_end(b, SIGTERM);
}

void th_broker_free(struct th_broker *b)
{
	broker_end(b, SIGTERM);
	free(b->dir);
	free(b->extra);
	free(b->log);
	b->dir = NULL;
	b->extra = NULL;
	b->log = NULL;
	b->log_len = 0;
}

/* --- processes --------------------------------------------------------- */

static pid_t spawn(const char *const *argv, int *out_fd, int *err_fd, bool own_group)
{
	int out[2], err[2];
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* A test that stops early must not leave its daemon running. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (own_group)
			setpgid(0, 0);
		proc_reset_signals();
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	*out_fd = out[0];
	*err_fd = err[0];
	return pid;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	char *p = realloc(*buf, *len + n + 1);

	if (!p)
		die("realloc");
	memcpy(p + *len, data, n);
	*len += n;
	p[*len] = '\0';
	*buf = p;
}

/* Collects the daemon's stdout and stderr; its log is echoed to ours so that
 * ctest --output-on-failure shows it next to the failed check. */
static void *read_daemon(void *arg)
{
	struct th_daemon *d = arg;
	struct pollfd p[2] = { { .fd = d->out_fd, .events = POLLIN },
			       { .fd = d->err_fd, .events = POLLIN } };
	char buf[4096];
	int open_fds = 2;

	while (open_fds > 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			n = read(p[i].fd, buf, sizeof buf);
			pthread_mutex_lock(&d->lock);
			if (n > 0 && i == 0)
				append(&d->out, &d->out_len, buf, (size_t)n);
			else if (n > 0)
				append(&d->err, &d->err_len, buf, (size_t)n);
			pthread_cond_broadcast(&d->changed);
			pthread_mutex_unlock(&d->lock);
			if (n > 0 && i == 1)
				fprintf(stderr, "%.*s", (int)n, buf);
			if (n <= 0) {
				p[i].fd = -1;
				open_fds--;
			}
		}
	}
	pthread_mutex_lock(&d->lock);
	d->eof = true;
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* Runs `program` with `args` (NULL-terminated) and reads its output. */
static void daemon_start(struct th_daemon *d, const char *program, const char *const *args,
			 bool own_group)
{
	const char *argv[64];
	size_t n = 0;

	memset(d, 0, sizeof *d);
	d->own_group = own_group;
	argv[n++] = program;
	while (*args && n < 63)
		argv[n++] = *args++;
	argv[n] = NULL;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->changed, NULL);
	d->out = xstrdup("");
	d->err = xstrdup("");
	d->pid = spawn(argv, &d->out_fd, &d->err_fd, own_group);
	if (pthread_create(&d->reader, NULL, read_daemon, d) != 0)
		die("pthread_create");
}

void th_process_start(struct th_daemon *d, const char *const *argv)
{
	daemon_start(d, argv[0], argv + 1, false);
}

void th_daemon_start(struct th_daemon *d, const char *const *args)
{
	daemon_start(d, th_agentbus_bin(), args, false);
}

void th_daemon_start_in_group(struct th_daemon *d, const char *const *args)
{
	daemon_start(d, th_agentbus_bin(), args, true);
}

bool th_daemon_wait_output(struct th_daemon *d, bool on_stdout, const char *text,
			   int timeout_ms)
{
	struct timespec until = deadline_in(timeout_ms);
	bool found;

	pthread_mutex_lock(&d->lock);
	while (!(found = strstr(on_stdout ? d->out : d->err, text) != NULL) && !d->eof)
		if (pthread_cond_timedwait(&d->changed, &d->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&d->lock);
	return found;
}

/* Reaps an exited daemon's reader thread and pipes. */
static void daemon_reaped(struct th_daemon *d)
{
	d->pid = 0;
	pthread_join(d->reader, NULL);
	close(d->out_fd);
	close(d->err_fd);
}

int th_daemon_wait_exit(struct th_daemon *d, int timeout_ms)
{
	int status = -1;

	if (d->pid <= 0 || proc_wait(d->pid, timeout_ms, &status) != 0)
		return -1;
	daemon_reaped(d);
	return status;
}

int th_daemon_stop(struct th_daemon *d, int sig)
{
	int status = -1;

	if (d->pid <= 0)
		return -1;
	kill(d->own_group ? -d->pid : d->pid, sig);
	if (proc_wait(d->pid, TH_TIMEOUT_MS, &status) != 0) {
		fprintf(stderr, "harness: agentbus did not exit after signal %d\n", sig);
		kill(d->pid, SIGKILL);
		proc_wait(d->pid, -1, &status);
		status = -1;
	}
	daemon_reaped(d);
	return status;
}

bool th_daemon_stop_cleanly(struct th_daemon *d, int sig)
{
	int status = th_daemon_stop(d, sig);

	return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void th_daemon_free(struct th_daemon *d)
{
	if (d->pid > 0)
		th_daemon_stop(d, SIGKILL);
	free(d->out);
	free(d->err);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->changed);
	d->out = d->err = NULL;
}

long long th_proc_field(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	size_t n = strlen(key);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, n) == 0 && line[n] == ':' &&
		    sscanf(line + n + 1, "%lld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

long th_rss_kb(pid_t pid)
{
	return (long)th_proc_field(pid, "status", "VmRSS");
}

int th_run(const char *const *argv, char **out, char **err)
{
	struct th_daemon d;
	int status;

	/* The same capture as a daemon, minus the signal: wait for EOF. */
	memset(&d, 0, sizeof d);
	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.changed, NULL);
	d.out = xstrdup("");
	d.err = xstrdup("");
	d.pid = spawn(argv, &d.out_fd, &d.err_fd, false);
	if (pthread_create(&d.reader, NULL, read_daemon, &d) != 0)
		die("pthread_create");
	pthread_join(d.reader, NULL);
	close(d.out_fd);
	close(d.err_fd);
	if (proc_wait(d.pid, TH_TIMEOUT_MS, &status) != 0)
		status = -1;
	*out = d.out;
	*err = d.err;
	pthread_mutex_destroy(&d.lock);
	pthread_cond_destroy(&d.changed);
	return status;
}

/* --- MQTT client --------------------------------------------------------- */

static void client_on_connect(struct mosquitto *m, void *arg, int rc, int flags,
			      const mosquitto_property *props)
{
	struct th_client *c = arg;

	(void)m;
	(void)flags;
	(void)props;
	pthread_mutex_lock(&c->lock);
	c->connected = rc == 0;
	c->connack = rc;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
	if (rc != 0 && c->login)
		mosquitto_disconnect(m);
}

static void client_on_disconnect(struct mosquitto *m, void *arg, int rc,
				 const mosquitto_property *props)
{
	struct th_client *c = arg;

	(void)rc;
	(void)props;
	if (c->login)
		mosquitto_disconnect(m);	/* ends the loop instead of reconnecting */
	pthread_mutex_lock(&c->lock);
	c->disconnected = true;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

static void client_on_subscribe(struct mosquitto *m, void *arg, int mid, int n,
				const int *granted, const mosquitto_property *props)
{
	struct th_client *c = arg;

	(void)m;
	(void)mid;
	(void)props;
	pthread_mutex_lock(&c->lock);
	c->suback = n > 0 ? granted[0] : -1;
	c->subscribed++;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

static void client_on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg,
			      const mosquitto_property *props)
{
	struct th_client *c = arg;
	struct th_msg *tm = calloc(1, sizeof *tm);
	char *ct = NULL;

	(void)m;
	if (!tm)
		die("calloc");
	tm->topic = xstrdup(msg->topic);
	tm->payload = malloc((size_t)msg->payloadlen + 1);
	if (!tm->payload)
		die("malloc");
	if (msg->payloadlen > 0)
		memcpy(tm->payload, msg->payload, (size_t)msg->payloadlen);
	tm->payload[msg->payloadlen] = '\0';
	tm->len = msg->payloadlen;
	tm->retain = msg->retain;
	if (mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &ct, false))
		tm->content_type = ct;
	{
		void *corr = NULL;
		uint16_t corr_len = 0;

		if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr,
						   &corr_len, false)) {
			tm->correlation = strndup(corr, corr_len);
			free(corr);
		}
	}
	pthread_mutex_lock(&c->lock);
	if (c->tail)
		c->tail->next = tm;
	else
		c->head = tm;
	c->tail = tm;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

static void client_on_publish(struct mosquitto *m, void *arg, int mid, int rc,
			      const mosquitto_property *props)
{
	struct th_client *c = arg;

	(void)m;
	(void)props;
	pthread_mutex_lock(&c->lock);
	c->acks[c->n_acks % 16][0] = mid;
	c->acks[c->n_acks % 16][1] = rc;
	c->n_acks++;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

static void client_init(struct th_client *c, const char *id)
{
	memset(c, 0, sizeof *c);
	c->connack = -1;
	mosquitto_lib_init();
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->changed, NULL);
	c->mosq = mosquitto_new(id, true, c);
	if (!c->mosq)
		die("mosquitto_new");
	mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(c->mosq, client_on_connect);
	mosquitto_subscribe_v5_callback_set(c->mosq, client_on_subscribe);
	mosquitto_disconnect_v5_callback_set(c->mosq, client_on_disconnect);
	mosquitto_message_v5_callback_set(c->mosq, client_on_message);
	mosquitto_publish_v5_callback_set(c->mosq, client_on_publish);
}

int th_client_login(struct th_client *c, int port, const struct th_login *login)
{
	struct timespec until = deadline_in(TH_TIMEOUT_MS);
	int rc;

	client_init(c, login->id);
	c->login = true;
	if ((login->username || login->password) &&
	    mosquitto_username_pw_set(c->mosq, login->username, login->password) != 0)
		die("mosquitto_username_pw_set");
	if (login->will_topic &&
	    mosquitto_will_set_v5(c->mosq, login->will_topic, (int)strlen(login->will_payload),
				  login->will_payload, 1, false, NULL) != 0)
		die("mosquitto_will_set_v5");
	if (mosquitto_connect_bind_v5(c->mosq, "127.0.0.1", port, 30, NULL, NULL) != 0 ||
	    mosquitto_loop_start(c->mosq) != 0) {
		fprintf(stderr, "harness: test client cannot connect to port %d\n", port);
		exit(2);
	}
	pthread_mutex_lock(&c->lock);
	while (c->connack < 0 && !c->disconnected &&
	       pthread_cond_timedwait(&c->changed, &c->lock, &until) != ETIMEDOUT)
		;
	rc = c->connack;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int th_client_publish_acked(struct th_client *c, const char *topic, const char *text,
			    bool retain)
{
	struct timespec until = deadline_in(TH_TIMEOUT_MS);
	int mid, i, rc = -1;

	/* Not under the lock: the loop thread may hold libmosquitto's mutexes
	 * while it waits for ours in a callback. An early PUBACK waits in acks. */
	if (mosquitto_publish_v5(c->mosq, &mid, topic, (int)strlen(text), text, 1, retain, NULL) !=
	    0)
		return -1;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		for (i = 0; i < 16 && i < c->n_acks; i++)
			if (c->acks[i][0] == mid)
				rc = c->acks[i][1];
		if (rc >= 0 || c->disconnected ||
		    pthread_cond_timedwait(&c->changed, &c->lock, &until) == ETIMEDOUT)
			break;
	}
	for (i = 0; i < 16; i++)
		if (c->acks[i][0] == mid)
			c->acks[i][0] = 0;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int th_client_subscribe_rc(struct th_client *c, const char *filter)
{
	struct timespec until = deadline_in(TH_TIMEOUT_MS);
	int before, rc = -1;

	pthread_mutex_lock(&c->lock);
	before = c->subscribed;
	pthread_mutex_unlock(&c->lock);
	rc = mosquitto_subscribe_v5(c->mosq, NULL, filter, 1, 0, NULL) == 0 ? -1 : -2;
	pthread_mutex_lock(&c->lock);
	if (rc == -1) {
		while (c->subscribed == before && !c->disconnected &&
		       pthread_cond_timedwait(&c->changed, &c->lock, &until) != ETIMEDOUT)
			;
		if (c->subscribed != before)
			rc = c->suback;
	}
	pthread_mutex_unlock(&c->lock);
	return rc < -1 ? -1 : rc;
}

void th_client_open(struct th_client *c, int port, const char *filter)
{
	struct timespec until = deadline_in(TH_TIMEOUT_MS);
	bool ok;

	client_init(c, NULL);
	if (mosquitto_connect_bind_v5(c->mosq, "127.0.0.1", port, 30, NULL, NULL) != 0 ||
	    mosquitto_loop_start(c->mosq) != 0) {
		fprintf(stderr, "harness: test client cannot connect to port %d\n", port);
		exit(2);
	}
	pthread_mutex_lock(&c->lock);
	while (!c->connected &&
	       pthread_cond_timedwait(&c->changed, &c->lock, &until) != ETIMEDOUT)
		;
	ok = c->connected;
	pthread_mutex_unlock(&c->lock);
	if (ok && filter && mosquitto_subscribe_v5(c->mosq, NULL, filter, 1, 0, NULL) == 0) {
		pthread_mutex_lock(&c->lock);
		while (c->subscribed == 0 &&
		       pthread_cond_timedwait(&c->changed, &c->lock, &until) != ETIMEDOUT)
			;
		ok = c->subscribed > 0;
		pthread_mutex_unlock(&c->lock);
	}
	if (!ok) {
		fprintf(stderr, "harness: test client not connected/subscribed on %d\n", port);
		exit(2);
	}
}

void th_client_subscribe(struct th_client *c, const char *filter)
{
	struct timespec until = deadline_in(TH_TIMEOUT_MS);
	int before;

	pthread_mutex_lock(&c->lock);
	before = c->subscribed;
	pthread_mutex_unlock(&c->lock);
	if (mosquitto_subscribe_v5(c->mosq, NULL, filter, 1, 0, NULL) != 0) {
		fprintf(stderr, "harness: cannot subscribe to %s\n", filter);
		exit(2);
	}
	pthread_mutex_lock(&c->lock);
	while (c->subscribed == before &&
	       pthread_cond_timedwait(&c->changed, &c->lock, &until) != ETIMEDOUT)
		;
	before = c->subscribed - before;
	pthread_mutex_unlock(&c->lock);
	if (!before) {
		fprintf(stderr, "harness: no SUBACK for %s\n", filter);
		exit(2);
	}
}

void th_client_publish(struct th_client *c, const char *topic, const void *payload, size_t len,
		       const char *content_type, const char *response_topic,
		       const char *correlation)
{
	mosquitto_property *props = NULL;
	int rc = 0;

	if (len == SIZE_MAX)
		len = strlen(payload);
	if (content_type)
		rc = mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, content_type);
	if (rc == 0 && response_topic)
		rc = mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic);
	if (rc == 0 && correlation)
		rc = mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation,
						   (uint16_t)strlen(correlation));
	if (rc == 0)
		rc = mosquitto_publish_v5(c->mosq, NULL, topic, (int)len, payload, 1, false, props);
	mosquitto_property_free_all(&props);
	if (rc != 0) {
		fprintf(stderr, "harness: cannot publish on %s: %s\n", topic, mosquitto_strerror(rc));
		exit(2);
	}
}

void th_client_publish_text(struct th_client *c, const char *topic, const char *text)
{
	th_client_publish(c, topic, text, SIZE_MAX, NULL, NULL, NULL);
}

/* Unlinks and returns the first queued message on `topic` containing `text`. */
static struct th_msg *take_match(struct th_client *c, const char *topic, const char *text)
{
	struct th_msg **pp = &c->head, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next) {
		struct th_msg *m = *pp;

		if (strcmp(m->topic, topic) != 0 || (text && !strstr(m->payload, text)))
			continue;
		*pp = m->next;
		if (c->tail == m)
			c->tail = prev;
		m->next = NULL;
		return m;
	}
	return NULL;
}

struct th_msg *th_client_wait_for(struct th_client *c, const char *topic, const char *text,
				  int timeout_ms)
{
	struct timespec until = deadline_in(timeout_ms);
	struct th_msg *m;

	pthread_mutex_lock(&c->lock);
	while (!(m = take_match(c, topic, text)))
		if (pthread_cond_timedwait(&c->changed, &c->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->lock);
	return m;
}

struct th_msg *th_client_next(struct th_client *c, const char *topic, int timeout_ms)
{
	return th_client_wait_for(c, topic, NULL, timeout_ms);
}

bool th_client_wait_disconnect(struct th_client *c, int timeout_ms)
{
	struct timespec until = deadline_in(timeout_ms);
	bool done;

	pthread_mutex_lock(&c->lock);
	while (!c->disconnected &&
	       pthread_cond_timedwait(&c->changed, &c->lock, &until) != ETIMEDOUT)
		;
	done = c->disconnected;
	pthread_mutex_unlock(&c->lock);
	return done;
}

int th_client_count(struct th_client *c, const char *topic, const char *text)
{
	struct th_msg *m;
	int n = 0;

	pthread_mutex_lock(&c->lock);
	while ((m = take_match(c, topic, text)) != NULL) {
		th_msg_free(m);
		n++;
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

void th_msg_free(struct th_msg *m)
{
	if (!m)
		return;
	free(m->topic);
	free(m->payload);
	free(m->content_type);
	free(m->correlation);
	free(m);
}

void th_client_close(struct th_client *c)
{
	struct th_msg *m, *next;

	mosquitto_disconnect(c->mosq);
	mosquitto_loop_stop(c->mosq, false);
	mosquitto_destroy(c->mosq);
	mosquitto_lib_cleanup();
	for (m = c->head; m; m = next) {
		next = m->next;
		th_msg_free(m);
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->changed);
}

bool th_retained_contains(int port, const char *topic, const char *text)
{
	struct th_client c;
	struct th_msg *m;
	bool ok;

	th_client_open(&c, port, topic);
	m = th_client_next(&c, topic, TH_TIMEOUT_MS);
	ok = m && m->retain && strstr(m->payload, text);
	th_msg_free(m);
	th_client_close(&c);
	return ok;
}

bool th_schema_valid(const char *name, const char *json)
{
	char *dir = th_tmpdir("schema");
	char *doc = th_write_file(dir, "doc.json", json);
	char *schema, *out = NULL, *err = NULL;
	int status;

	if (asprintf(&schema, "%s/schemas/%s.schema.json", SOURCE_DIR, name) < 0)
		die("asprintf");
	{
		const char *argv[] = { PYTHON_FOR_SCHEMAS, SOURCE_DIR "/test/validate.py", schema, doc,
				       NULL };

		status = th_run(argv, &out, &err);
	}
	if (status != 0)
		fprintf(stderr, "schema %s rejects %s:\n%s%s", name, json, out, err);
	free(out);
	free(err);
	free(schema);
	unlink(doc);
	rmdir(dir);
	free(doc);
	free(dir);
	return status == 0;
}

char *th_gate_new(const char *dir)
{
	char *path;

	REQUIRE(asprintf(&path, "%s/gate", dir) > 0);
	REQUIRE(mkfifo(path, 0600) == 0);
	return path;
}

void th_gate_release(const char *path, const char *tokens)
{
	/* agentbus holds the FIFO open for reading and writing, so this open
	 * does not wait for a reader. */
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	size_t n = strlen(tokens);

	REQUIRE(fd >= 0);
	REQUIRE(write(fd, tokens, n) == (ssize_t)n);
	close(fd);
}
