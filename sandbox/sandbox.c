/* sandbox/sandbox: the context. Opening it finds what a sandbox needs and
 * then makes one, exactly as a turn would, so that whatever this machine
 * refuses (no bwrap, user namespaces switched off, a seccomp filter the
 * kernel rejects) is found once at start and reported with bwrap's own words,
 * not at the first turn. */
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/seccomp.h"
#include "util/proc.h"

#define PROBE_TIMEOUT_MS 10000

/* A copy of `n` strings; on failure what was copied is freed by the caller
 * (the array is zeroed first). */
static int copy_list(char *const *v, size_t n, char ***out)
{
	*out = n ? calloc(n, sizeof **out) : NULL;
	if (n && !*out)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!((*out)[i] = strdup(v[i])))
			return -1;
	return 0;
}

/* `name` as a program: itself when it has a '/', else the first match in PATH. */
static char *find_program(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? strdup(name) : NULL;
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		if (n > 0 && snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, name) < (int)sizeof buf &&
		    access(buf, X_OK) == 0)
			return strdup(buf);
		p += n;
		p += *p == ':';
	}
	return NULL;
}

/* agentbus-sandbox beside the running executable, unless named. */
static int open_helper(const struct sandbox_options *opt, char *path, size_t cap)
{
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (opt->helper) {
		snprintf(path, cap, "%s", opt->helper);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		if (n <= 0)
			return -1;
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		*slash = '\0';
		if (snprintf(path, cap, "%.*s/agentbus-sandbox", PATH_MAX - 32, exe) >= (int)cap)
			return -1;
	}
	return open(path, O_PATH | O_CLOEXEC);
}

/* Says why sandboxes cannot be made. 0, or -1 when out of memory. */
__attribute__((format(printf, 2, 3)))
static int set_why(struct sandbox *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	free(sb->why);
	va_start(ap, fmt);
	n = vasprintf(&sb->why, fmt, ap);
	va_end(ap);
	if (n < 0)
		sb->why = NULL;
	return n < 0 ? -1 : 0;
}

/* Whose sandboxes these are: the daemon's user, or `user` when the daemon
 * is root, since a process limit binds no process of root's. */
static int resolve_user(struct sandbox *sb, const char *user)
{
	const struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	pw = getpwnam(user);
	if (!pw || pw->pw_uid == 0)
		return set_why(sb, "the sandbox user \"%s\" %s", user,
			       pw ? "is root; sandboxes of a root daemon run as another user"
				  : "does not exist (set sandbox-user)");
	sb->uid = pw->pw_uid;
	sb->gid = pw->pw_gid;
	sb->switch_user = true;
	return 0;
}

/* The workspaces' directory; for another user, reachable by it (the state
 * dir above it gains search permission, never listing). */
static int make_workspaces(struct sandbox *sb)
{
	char parent[PATH_MAX], *slash;
	struct stat st;

	if (mkdir(sb->workspaces, sb->switch_user ? 0711 : 0700) != 0 && errno != EEXIST)
		return set_why(sb, "cannot make %s: %s", sb->workspaces, strerror(errno));
	if (!sb->switch_user)
		return 0;
	snprintf(parent, sizeof parent, "%s", sb->workspaces);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (stat(parent, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0011) != 0011)
			chmod(parent, (st.st_mode & 07777) | 0011);
	}
	if (stat(sb->workspaces, &st) == 0 && (st.st_mode & 0011) != 0011)
		chmod(sb->workspaces, (st.st_mode & 07777) | 0011);
	return 0;
}

/* One sandbox made the way turns make theirs, running the helper's probe. */
static int probe(struct sandbox *sb)
{
	static char *const command[] = { "--probe", NULL };
	struct sandbox_policy policy = { .net = SANDBOX_NET_RESTRICTED };
	struct sandbox_launch l = { .proxy_fd = -1, .uid = sb->uid, .gid = sb->gid,
				    .switch_user = sb->switch_user };
	char out[512] = "", *env[] = { "PATH=/usr/bin:/bin", NULL };
	int fds[4] = { -1, -1, -1, -1 }, err[2] = { -1, -1 }, status = 0, rc;
	ssize_t n = 0;
	pid_t pid;

	fds[LAUNCH_FD_HELPER] = fcntl(sb->helper_fd, F_DUPFD_CLOEXEC, 3);
	fds[LAUNCH_FD_FILTER] = memfd_create("agentbus-seccomp", MFD_CLOEXEC);
	if (fds[LAUNCH_FD_HELPER] < 0 || fds[LAUNCH_FD_FILTER] < 0 ||
	    write(fds[LAUNCH_FD_FILTER], sb->bpf, sb->bpf_len) != (ssize_t)sb->bpf_len ||
	    lseek(fds[LAUNCH_FD_FILTER], 0, SEEK_SET) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
	    sandbox_build_argv(sb, &policy, sb->workspaces, fds, command, &l.argv) != 0) {
		rc = set_why(sb, "cannot try a sandbox: %s", strerror(errno));
		goto out;
	}
	l.fds[l.n_fds++] = fds[LAUNCH_FD_HELPER];
	l.fds[l.n_fds++] = fds[LAUNCH_FD_FILTER];
	if ((pid = fork()) < 0) {
		rc = set_why(sb, "cannot try a sandbox: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		/* A group of its own, as a turn's: a signal to the daemon's group
		 * (a stop of the whole service) must not kill bwrap between its
		 * clone and its child's release, which leaves that child waiting
		 * forever. Nothing of it writes to the daemon's stdout. */
		setpgid(0, 0);
		proc_reset_signals();
		if (dup2(err[1], STDOUT_FILENO) >= 0 && dup2(err[1], STDERR_FILENO) >= 0)
			sandbox_exec(&l, env);
		_exit(127);
	}
	setpgid(pid, pid);	/* as the child does: whichever runs first */
	close(err[1]);
	err[1] = -1;
	if (proc_wait(pid, PROBE_TIMEOUT_MS, &status) != 0) {
		/* The group: bwrap's child shares it until it is released. */
		kill(-pid, SIGKILL);
		proc_wait(pid, -1, &status);
		rc = set_why(sb, "bwrap at %s did not finish a trial sandbox in 10 s", sb->bwrap);
		goto out;
	}
	n = read(err[0], out, sizeof out - 1);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	else if (sb->switch_user && strstr(out, "Permission denied"))
		rc = set_why(sb, "bwrap cannot make a sandbox here: %s (sandboxes run as uid %ld, "
			     "which needs search permission on every directory above %s)", out,
			     (long)sb->uid, sb->workspaces);
	else
		rc = set_why(sb, "bwrap cannot make a sandbox here: %s (user namespaces may be "
			     "disabled; or set `sandbox off`)",
			     out[0] ? out : "it failed without saying why");
out:
	for (size_t i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (err[0] >= 0)
		close(err[0]);
	if (err[1] >= 0)
		close(err[1]);
	sandbox_free_argv(l.argv);
	return rc;
}

/* A thread key is one path component of safe characters (notes_thread_key). */
static bool safe_key(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	return n > 0 && n <= 200 && strcmp(key, ".") != 0 && strcmp(key, "..") != 0 &&
	       strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

int sandbox_workspace(const struct sandbox *sb, const struct sandbox_policy *policy,
		      const char *key, char **out, char *err, size_t errlen)
{
	struct stat st;

	*out = NULL;
	if (policy->workspace) {
		if (stat(policy->workspace, &st) != 0 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "the workspace %s is not a directory on this host",
				 policy->workspace);
			return -1;
		}
		*out = strdup(policy->workspace);
	} else if (!safe_key(key)) {
		snprintf(err, errlen, "no workspace for the thread key \"%s\"", key ? key : "");
		return -1;
	} else if (asprintf(out, "%s/%s", sb->workspaces, key) < 0) {
		*out = NULL;
	} else if ((mkdir(*out, 0700) != 0 && errno != EEXIST) || stat(*out, &st) != 0 ||
		   (sb->switch_user && st.st_uid != sb->uid && chown(*out, sb->uid, sb->gid) != 0)) {
		snprintf(err, errlen, "cannot make the workspace %s: %s", *out, strerror(errno));
		free(*out);
		*out = NULL;
		return -1;
	}
	if (!*out) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* What a `full` sandbox shows of the root: its top-level entries but those
 * every sandbox makes its own. */
static int read_top(struct sandbox *sb)
{
	static const char *const own[] = { "proc", "dev", "tmp", "run", "." , ".." };
	DIR *d = opendir("/");
	struct dirent *e;
	int rc = 0;

	if (!d)
		return set_why(sb, "cannot read /: %s", strerror(errno));
	while (rc == 0 && (e = readdir(d)) != NULL) {
		char path[300], target[PATH_MAX];
		struct sandbox_top *grown;
		bool skip = false;
		ssize_t n;

		for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
			skip |= strcmp(e->d_name, own[i]) == 0;
		if (skip)
			continue;
		snprintf(path, sizeof path, "/%s", e->d_name);
		n = readlink(path, target, sizeof target - 1);
		grown = realloc(sb->top, (sb->n_top + 1) * sizeof *grown);
		if (!grown) {
			rc = -1;
			break;
		}
		sb->top = grown;
		grown += sb->n_top;
		grown->path = strdup(path);
		grown->link = n > 0 ? strndup(target, (size_t)n) : NULL;
		if (!grown->path || (n > 0 && !grown->link)) {
			free(grown->path);
			free(grown->link);
			rc = -1;
		} else {
			sb->n_top++;
		}
	}
	closedir(d);
	return rc;
}

/* Everything but the trial: what is missing is said in `why`. */
static int find_parts(struct sandbox *sb, const struct sandbox_options *opt)
{
	char helper[PATH_MAX], err[256];

	if (!(sb->bwrap = find_program(opt->bwrap)))
		return set_why(sb, "bubblewrap is not installed (no %s%s); install it (Debian: "
			       "apt-get install bubblewrap) or set `sandbox off` to run exec turns "
			       "unconfined", opt->bwrap, strchr(opt->bwrap, '/') ? "" : " in PATH");
	if ((sb->helper_fd = open_helper(opt, helper, sizeof helper)) < 0)
		return set_why(sb, "the sandbox helper %s cannot be opened: %s", helper,
			       strerror(errno));
	if (sandbox_seccomp_build(&sb->bpf, &sb->bpf_len, err, sizeof err) != 0)
		return set_why(sb, "%s", err);
	if (resolve_user(sb, opt->user) != 0 || sb->why || read_top(sb) != 0)
		return sb->why ? 0 : -1;
	if (sandbox_build_roots(sb) != 0)
		return -1;
	return make_workspaces(sb);
}

static int describe(struct sandbox *sb)
{
	char user[64] = "";

	if (sb->switch_user)
		snprintf(user, sizeof user, " as uid %ld", (long)sb->uid);
	if (sb->off)
		return asprintf(&sb->describe, "sandbox off: exec turns run unconfined") < 0 ? -1 : 0;
	if (sb->why)
		return asprintf(&sb->describe, "sandbox unavailable: %s; exec agents are refused",
				sb->why) < 0 ? -1 : 0;
	return asprintf(&sb->describe, "sandbox: exec turns confined by %s%s, at most %d "
			"processes each", sb->bwrap, user, sb->pids) < 0 ? -1 : 0;
}

int sandbox_open(const struct sandbox_options *opt, struct sandbox **out)
{
	struct sandbox *sb = calloc(1, sizeof *sb);

	*out = NULL;
	if (!sb)
		return -1;
	sb->helper_fd = -1;
	sb->off = opt->off;
	sb->pids = opt->pids;
	sb->n_binds = opt->n_binds;
	sb->n_hidden = opt->n_hidden;
	if (!(sb->workspaces = strdup(opt->workspaces)) ||
	    copy_list(opt->binds, opt->n_binds, &sb->binds) != 0 ||
	    copy_list(opt->hidden, opt->n_hidden, &sb->hidden) != 0)
		goto fail;
	if (!sb->off && (find_parts(sb, opt) != 0 || (!sb->why && probe(sb) != 0)))
		goto fail;
	if (describe(sb) != 0)
		goto fail;
	*out = sb;
	return 0;
fail:
	sandbox_close(sb);
	return -1;
}

void sandbox_close(struct sandbox *sb)
{
	if (!sb)
		return;
	if (sb->helper_fd >= 0)
		close(sb->helper_fd);
	for (size_t i = 0; i < sb->n_binds; i++)
		free(sb->binds ? sb->binds[i] : NULL);
	for (size_t i = 0; i < sb->n_hidden; i++)
		free(sb->hidden ? sb->hidden[i] : NULL);
	for (size_t i = 0; i < sb->n_top; i++) {
		free(sb->top[i].path);
		free(sb->top[i].link);
	}
	free(sb->top);
	sandbox_free_argv(sb->root[0]);
	sandbox_free_argv(sb->root[1]);
	free(sb->binds);
	free(sb->hidden);
	free(sb->why);
	free(sb->describe);
	free(sb->bwrap);
	free(sb->bpf);
	free(sb->workspaces);
	free(sb);
}

const char *sandbox_unavailable(const struct sandbox *sb)
{
	return sb && !sb->off ? sb->why : NULL;
}

bool sandbox_is_off(const struct sandbox *sb)
{
	return !sb || sb->off;
}

const char *sandbox_describe(const struct sandbox *sb)
{
	return sb->describe;
}
