/* proc: child process helpers. A pidfd turns "has it exited yet" into an fd
 * we can poll with a deadline instead of a sleep-and-retry loop. */
#include "util/proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int proc_wait(pid_t pid, int timeout_ms, int *status)
{
	int fd, rc;
	pid_t r;

	r = waitpid(pid, status, WNOHANG);
	if (r == pid)
		return 0;
	if (r < 0)
		return -1;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -1;
	do {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		rc = poll(&p, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	close(fd);
	if (rc == 0)
		return 1;
	if (rc < 0)
		return -1;
	do
		r = waitpid(pid, status, 0);
	while (r < 0 && errno == EINTR);
	return r == pid ? 0 : -1;
}

/* SIGTERM is sent again every TERM_RESEND_MS: mosquitto sets its run flag
 * after installing its handlers, so a SIGTERM that lands in between is
 * forgotten and the broker would run on forever. */
#define TERM_RESEND_MS 250

int proc_stop(pid_t pid, int grace_ms)
{
	int status;

	for (int waited = 0; waited < grace_ms; waited += TERM_RESEND_MS) {
		if (kill(pid, SIGTERM) != 0 && errno != ESRCH)
			return -1;
		if (proc_wait(pid, TERM_RESEND_MS, &status) == 0)
			return status;
	}
	kill(pid, SIGKILL);
	return proc_wait(pid, -1, &status) == 0 ? status : -1;
}

void proc_reset_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	/* exec resets caught signals itself; blocked and ignored ones survive it. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGPIPE, &dfl, NULL);
}
