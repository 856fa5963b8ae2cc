/* broker_child: start, watch and stop a private mosquitto. Readiness is the
 * broker's own "running" log line, which it prints after its listeners are
 * open, so no caller ever sleeps or polls the port. The port is found by
 * binding port 0 and closing it; if another process takes it in between, the
 * broker says "Address already in use" and we try another. */
#include "daemon/broker_child.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/proc.h"

#define READY_TIMEOUT_MS 10000
#define PORT_TRIES 5
#define STOP_GRACE_MS 5000

static int free_loopback_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int write_config(const struct broker_child_options *opt, int port, char *path,
			size_t pathlen)
{
	FILE *f;

	snprintf(path, pathlen, "%s/mosquitto.conf", opt->dir);
	f = fopen(path, "w");
	if (!f) {
		log_error("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "# A private broker started by agentbus; rewritten at every start.\n"
		   "listener %d 127.0.0.1\n"
		   "allow_anonymous %s\n"
		   /* Nagle turns a 0.1 ms QoS 1 round trip into tens of ms. */
		   "set_tcp_nodelay true\n"
		   /* The default 1000 silently drops QoS 1 messages under load. */
		   "max_queued_messages 1000000\n"
		   /* The default 20 unacknowledged publishes per client would make
		    * the clients queue the rest themselves. */
		   "max_inflight_messages 0\n"
		   "log_dest stderr\n"
		   "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n",
		port, opt->deny_anonymous ? "false" : "true");
	if (opt->persistence)
		fprintf(f, "persistence true\npersistence_location %s/\n", opt->dir);
	/* As root, mosquitto switches to the mosquitto user, who could not write
	 * the persistence file into our private directory. */
	if (geteuid() == 0)
		fprintf(f, "user root\n");
	if (opt->extra)
		fprintf(f, "%s\n", opt->extra);
	if (fclose(f) != 0) {
		log_error("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* In the child: never returns. Only async-signal-safe calls until exec. */
static void exec_broker(const char *bin, const char *conf, int log_w, pid_t parent,
			const char *preload_env)
{
	static const char msg[] = "agentbus: cannot execute the mosquitto binary\n";
	char *const argv[] = { (char *)bin, "-c", (char *)conf, NULL };
	char sbin[256];

	/* Die with the daemon, even if it is killed with SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	/* Our own process group: Ctrl-C in the terminal must reach agentbus only,
	 * which says goodbye on the broker before it stops the broker. */
	setpgid(0, 0);
	proc_reset_signals();
	dup2(log_w, STDOUT_FILENO);
	dup2(log_w, STDERR_FILENO);
	if (preload_env) {
		/* env(1) sets the variable without a malloc in this forked child. */
		char *const env_argv[] = { "/usr/bin/env", (char *)preload_env, (char *)bin, "-c",
					   (char *)conf, NULL };

		execv(env_argv[0], env_argv);
	} else if (strchr(bin, '/')) {
		execv(bin, argv);
	} else {
		execvp(bin, argv);
		if (strlen(bin) < sizeof sbin - 11) {
			memcpy(sbin, "/usr/sbin/", 10);
			memcpy(sbin + 10, bin, strlen(bin) + 1);
			execv(sbin, argv);
		}
	}
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
		_exit(127);
	_exit(127);
}

struct ready_scan {
	bool running;
	bool port_taken;
	char last[256];		/* the broker's last line, for the error message */
};

static void scan_line(void *arg, const char *line)
{
	struct ready_scan *scan = arg;

	log_debug("mosquitto: %s", line);
	if (strstr(line, " running"))
		scan->running = true;
	if (strstr(line, "Address already in use"))
		scan->port_taken = true;
	snprintf(scan->last, sizeof scan->last, "%s", line);
}

/* Reads the broker's log until it says it is running, exits, or time is up. */
static int wait_ready(struct broker_child *b, struct ready_scan *scan)
{
	int64_t deadline = clock_mono_ms() + READY_TIMEOUT_MS;

	while (!scan->running) {
		struct pollfd p = { .fd = b->log_fd, .events = POLLIN };
		int64_t left = deadline - clock_mono_ms();

		if (left <= 0) {
			snprintf(scan->last, sizeof scan->last, "not running after %d ms",
				 READY_TIMEOUT_MS);
			return -1;
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -1;
		if (broker_child_read_log(b, scan_line, scan) < 0 && !scan->running)
			return -1;
	}
	return 0;
}

static int start_once(const struct broker_child_options *opt, int port,
		      struct broker_child *b, struct ready_scan *scan)
{
	char conf[4096], preload_env[1024];
	int pipefd[2];
	pid_t parent = getpid();

	memset(b, 0, sizeof *b);
	b->log_fd = -1;
	b->port = port;
	if (write_config(opt, port, conf, sizeof conf) != 0)
		return -1;
	if (opt->preload)
		snprintf(preload_env, sizeof preload_env, "LD_PRELOAD=%s", opt->preload);
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return -1;
	b->pid = fork();
	if (b->pid == 0)
		exec_broker(opt->bin, conf, pipefd[1], parent, opt->preload ? preload_env : NULL);
	close(pipefd[1]);
	b->log_fd = pipefd[0];
	if (b->pid < 0) {
		b->pid = 0;
		broker_child_stop(b);
		return -1;
	}
	fcntl(b->log_fd, F_SETFL, O_NONBLOCK);
	if (wait_ready(b, scan) != 0) {
		broker_child_stop(b);
		return -1;
	}
	return 0;
}

int broker_child_start(const struct broker_child_options *opt, struct broker_child *out)
{
	for (int i = 0; i < PORT_TRIES; i++) {
		struct ready_scan scan = { 0 };
		int port = opt->port ? opt->port : free_loopback_port();

		if (port < 0) {
			log_error("cannot find a free loopback port: %s", strerror(errno));
			return -1;
		}
		if (start_once(opt, port, out, &scan) == 0) {
			log_debug("private mosquitto (pid %ld) running on 127.0.0.1:%d",
				  (long)out->pid, port);
			return 0;
		}
		if (!scan.port_taken || opt->port) {
			log_error("private mosquitto did not start: %s", scan.last);
			return -1;
		}
	}
	log_error("private mosquitto did not start: no free port after %d tries", PORT_TRIES);
	return -1;
}

int broker_child_read_log(struct broker_child *b, broker_log_line_fn *line, void *arg)
{
	char buf[4096];
	ssize_t n;

	if (b->log_fd < 0)
		return -1;
	while ((n = read(b->log_fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || b->partial_len == sizeof b->partial - 1) {
				b->partial[b->partial_len] = '\0';
				if (b->partial_len)
					line(arg, b->partial);
				b->partial_len = 0;
				if (buf[i] == '\n')
					continue;
			}
			b->partial[b->partial_len++] = buf[i];
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		close(b->log_fd);
		b->log_fd = -1;
		return -1;
	}
	return 0;
}

void broker_child_stop(struct broker_child *b)
{
	if (b->pid > 0) {
		proc_stop(b->pid, STOP_GRACE_MS);
		b->pid = 0;
	}
	if (b->log_fd >= 0) {
		close(b->log_fd);
		b->log_fd = -1;
	}
}
