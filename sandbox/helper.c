/* agentbus-sandbox: the first program inside every sandbox, run by
 * bubblewrap before the turn's command. Once the user namespace exists it
 * sets the process limit (set any earlier, the limit would also count the
 * daemon user's processes outside), and for a restricted network it listens
 * on 127.0.0.1:PORT in the sandbox's own network namespace and hands every
 * connection, as an fd over the Unix socket it inherited, to the daemon's
 * egress proxy. Then it execs the command.
 *
 *   agentbus-sandbox --pids N [--proxy-fd FD --proxy-port PORT] -- PROGRAM ARG...
 *   ... -- --probe     (exits 0 once all of that is done: the daemon's trial)
 *
 * No library but libc: it starts on every turn. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

static void die(const char *what)
{
	fprintf(stderr, "agentbus-sandbox: %s: %s\n", what, strerror(errno));
	_exit(126);
}

static long number(const char *s, const char *what)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 0 || n > 1 << 30) {
		fprintf(stderr, "agentbus-sandbox: %s: not a number: %s\n", what, s);
		_exit(126);
	}
	return n;
}

/* Sends `fd` over the Unix socket `ctl`; -1 once the daemon has gone. */
static int pass_fd(int ctl, int fd)
{
	char byte = 'c', space[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = space,
			      .msg_controllen = sizeof space };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(space, 0, sizeof space);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	while (sendmsg(ctl, &msg, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Closes every fd from 3 up except `a` and `b`. */
static void close_others(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0U, 0);
}

/* The forwarder: accepts until the daemon's end closes. It holds none of the
 * command's stdio, so the turn's output ends when the command's does. */
static void forward(int listener, int ctl)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	close_others(listener, ctl);
	for (;;) {
		int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (c < 0)
			_exit(1);
		if (pass_fd(ctl, c) != 0)
			_exit(0);
		close(c);
	}
}

static void start_forwarder(int ctl, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	if (s < 0)
		die("socket");
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 64) != 0)
		die("the proxy's port");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		forward(s, ctl);
	close(s);
	close(ctl);
}

int main(int argc, char **argv)
{
	long pids = -1, port = 0;
	int ctl = -1, i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
		if (i + 1 >= argc)
			break;
		if (strcmp(argv[i], "--pids") == 0)
			pids = number(argv[i + 1], "--pids");
		else if (strcmp(argv[i], "--proxy-fd") == 0)
			ctl = (int)number(argv[i + 1], "--proxy-fd");
		else if (strcmp(argv[i], "--proxy-port") == 0)
			port = number(argv[i + 1], "--proxy-port");
		else
			break;
	}
	if (i >= argc - 1 || strcmp(argv[i], "--") != 0) {
		fprintf(stderr, "usage: agentbus-sandbox --pids N [--proxy-fd FD --proxy-port "
			"PORT] -- PROGRAM ARG...\n");
		return 126;
	}
	if (ctl >= 0) {
		if (port < 1 || port > 65535) {
			fprintf(stderr, "agentbus-sandbox: --proxy-fd needs --proxy-port\n");
			return 126;
		}
		if (fcntl(ctl, F_SETFD, FD_CLOEXEC) != 0)
			die("--proxy-fd");
		start_forwarder(ctl, (int)port);
	}
	if (pids > 0) {
		struct rlimit r = { (rlim_t)pids, (rlim_t)pids };

		if (setrlimit(RLIMIT_NPROC, &r) != 0)
			die("the process limit");
	}
	/* The trial sandbox the daemon makes at start ends here, every step done. */
	if (i + 2 == argc && strcmp(argv[i + 1], "--probe") == 0)
		return 0;
	/* Whatever bwrap passed along (this program's own fd among it) stays out
	 * of the command. */
	close_range(3, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[i + 1], argv + i + 1);
	die(argv[i + 1]);
	return 126;
}
