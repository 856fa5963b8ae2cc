/* bus/wakeup: libmosquitto's wake-up pair pointed at /dev/null (see wakeup.h). */
#include "bus/wakeup.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

void wakeup_probe_before(struct wakeup_probe *p)
{
	int found = 0;

	p->fd[0] = p->fd[1] = -1;
	for (int fd = 0; fd < 65536 && found < 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			p->fd[found++] = fd;
}

/* An AF_UNIX stream socket whose peer is this process. */
static bool is_own_unix_socket(int fd)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	struct ucred cred;
	socklen_t cred_len = sizeof cred;
	struct stat st;
	int type;
	socklen_t type_len = sizeof type;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
	       getsockname(fd, (struct sockaddr *)&sa, &len) == 0 && sa.ss_family == AF_UNIX &&
	       getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 &&
	       type == SOCK_STREAM &&
	       getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0 &&
	       cred.pid == getpid();
}

bool wakeup_silence(const struct wakeup_probe *p)
{
	int null_fd;
	bool ok = true;

	if (p->fd[0] < 0 || p->fd[1] < 0 || !is_own_unix_socket(p->fd[0]) ||
	    !is_own_unix_socket(p->fd[1])) {
		log_debug("libmosquitto's wake-up pair was not where expected; left as it is");
		return false;
	}
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		return false;
	for (int i = 0; i < 2; i++)
		if (dup3(null_fd, p->fd[i], O_CLOEXEC) < 0)
			ok = false;
	close(null_fd);
	return ok;
}
