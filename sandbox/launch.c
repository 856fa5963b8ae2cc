/* sandbox/launch: bubblewrap's command line for one run, and the fds it
 * reads. The order of the arguments is the order bwrap builds the root in:
 * the system (or the whole root) first, what must be hidden over it, then
 * the workspace and mounts, so a workspace under a hidden directory (the
 * default one is under the state dir) still appears. */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fdio.h"

/* What of /etc no sandbox sees, whoever it runs as: password hashes and
 * host keys. (Files the config names are hidden as well, see hide().) */
static const char *const etc_secrets[] = { "/etc/shadow", "/etc/gshadow", "/etc/ssh",
					   "/etc/ssl/private" };

/* The top-level names merged-/usr systems make symlinks into /usr. */
static const char *const usr_links[] = { "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32" };

struct args {
	char **v;
	size_t n, cap;
	int failed;
};

static void push(struct args *a, const char *s)
{
	char *copy;

	if (a->failed)
		return;
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		char **grown = realloc(a->v, cap * sizeof *grown);

		if (!grown) {
			a->failed = 1;
			return;
		}
		a->v = grown;
		a->cap = cap;
	}
	if (!(copy = strdup(s))) {
		a->failed = 1;
		return;
	}
	a->v[a->n++] = copy;
	a->v[a->n] = NULL;
}

static void push3(struct args *a, const char *opt, const char *x, const char *y)
{
	push(a, opt);
	push(a, x);
	if (y)
		push(a, y);
}

static void push_fd(struct args *a, const char *opt, int fd, const char *dest)
{
	char n[16];

	snprintf(n, sizeof n, "%d", fd);
	push3(a, opt, n, dest);
}

/* Covers each existing path of `paths`: a directory with an empty tmpfs, a
 * file with /dev/null. */
static void hide(struct args *a, char *const *paths, size_t n)
{
	struct stat st;

	for (size_t i = 0; i < n; i++) {
		if (lstat(paths[i], &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			push3(a, "--tmpfs", paths[i], NULL);
		else
			push3(a, "--ro-bind", "/dev/null", paths[i]);
	}
}

/* A top-level entry of the host's root, as bwrap recreates it. */
static void top_entry(struct args *a, const struct sandbox_top *top)
{
	if (top->link)
		push3(a, "--symlink", top->link, top->path);
	else
		push3(a, "--ro-bind", top->path, top->path);
}

/* `workspace`: /usr, the merged-/usr links, and /etc (what a CLI needs of it
 * is spread too widely to list: names, resolver, certificates, the loader,
 * time zones, tool configs), each read-only, secrets hidden. */
static void system_dirs(struct args *a, const struct sandbox *sb)
{
	push3(a, "--ro-bind", "/usr", "/usr");
	for (size_t i = 0; i < sb->n_top; i++)
		for (size_t j = 0; j < sizeof usr_links / sizeof usr_links[0]; j++)
			if (strcmp(sb->top[i].path, usr_links[j]) == 0)
				top_entry(a, &sb->top[i]);
	push3(a, "--ro-bind", "/etc", "/etc");
	hide(a, (char *const *)etc_secrets, sizeof etc_secrets / sizeof etc_secrets[0]);
	for (size_t i = 0; i < sb->n_hidden; i++)
		if (strncmp(sb->hidden[i], "/etc/", 5) == 0)
			hide(a, &sb->hidden[i], 1);
}

/* `full`: every top-level directory of the host read-only (the root itself
 * stays a tmpfs, so mounts can add their own top-level paths), but /run
 * with its sockets, the state dir and the secrets. */
static void whole_root(struct args *a, const struct sandbox *sb)
{
	for (size_t i = 0; i < sb->n_top; i++)
		top_entry(a, &sb->top[i]);
	hide(a, (char *const *)etc_secrets, sizeof etc_secrets / sizeof etc_secrets[0]);
	hide(a, sb->hidden, sb->n_hidden);
}

int sandbox_build_roots(struct sandbox *sb)
{
	struct args workspace = { 0 }, full = { 0 };

	system_dirs(&workspace, sb);
	whole_root(&full, sb);
	sb->root[SANDBOX_FS_WORKSPACE] = workspace.v;
	sb->root[SANDBOX_FS_FULL] = full.v;
	return workspace.failed || full.failed || !workspace.v || !full.v ? -1 : 0;
}

int sandbox_build_argv(const struct sandbox *sb, const struct sandbox_policy *policy,
		       const char *workspace, const int fds[4], char *const *command,
		       char ***out)
{
	struct args a = { 0 };
	char pids[16];

	push(&a, sb->bwrap);
	push(&a, "--unshare-user");
	push(&a, "--unshare-pid");
	push(&a, "--unshare-ipc");
	push(&a, "--unshare-uts");
	push(&a, "--unshare-cgroup-try");
	if (policy->net == SANDBOX_NET_RESTRICTED)
		push(&a, "--unshare-net");
	push(&a, "--die-with-parent");
	push(&a, "--new-session");
	push3(&a, "--cap-drop", "ALL", NULL);
	push3(&a, "--hostname", "agentbus-sandbox", NULL);
	for (char *const *r = sb->root[policy->fs]; *r; r++)
		push(&a, *r);
	push3(&a, "--proc", "/proc", NULL);
	push3(&a, "--dev", "/dev", NULL);
	push3(&a, "--tmpfs", "/tmp", NULL);
	for (size_t i = 0; i < sb->n_binds; i++)
		push3(&a, "--ro-bind-try", sb->binds[i], sb->binds[i]);
	for (size_t i = 0; i < policy->n_mounts; i++)
		push3(&a, policy->mounts[i].rw ? "--bind" : "--ro-bind",
		      policy->mounts[i].host_path, policy->mounts[i].mount_path);
	push3(&a, "--bind", workspace, workspace);
	push3(&a, "--chdir", workspace, NULL);
	if (fds[LAUNCH_FD_PROMPT] >= 0)
		push_fd(&a, "--ro-bind-data", fds[LAUNCH_FD_PROMPT], SANDBOX_PROMPT_PATH);
	push_fd(&a, "--seccomp", fds[LAUNCH_FD_FILTER], NULL);
	push(&a, "--");
	{
		char self[32];

		snprintf(self, sizeof self, "/proc/self/fd/%d", fds[LAUNCH_FD_HELPER]);
		push(&a, self);
	}
	snprintf(pids, sizeof pids, "%d", sb->pids);
	push3(&a, "--pids", pids, NULL);
	if (fds[LAUNCH_FD_PROXY] >= 0) {
		char port[8];

		snprintf(port, sizeof port, "%d", SANDBOX_PROXY_PORT);
		push_fd(&a, "--proxy-fd", fds[LAUNCH_FD_PROXY], NULL);
		push3(&a, "--proxy-port", port, NULL);
	}
	push(&a, "--");
	for (char *const *c = command; *c; c++)
		push(&a, *c);
	if (a.failed) {
		sandbox_free_argv(a.v);
		return -1;
	}
	*out = a.v;
	return 0;
}

void sandbox_free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* A memfd holding `len` bytes of `data`, read from its start. */
static int data_fd(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd >= 0 && (fd_write_all(fd, data, len) != 0 || lseek(fd, 0, SEEK_SET) != 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int egress_list(const struct sandbox_run *run, struct sandbox_launch *l)
{
	const struct sandbox_policy *p = run->policy;
	size_t n = p->n_egress + run->n_extra_egress;

	l->egress = n ? calloc(n, sizeof *l->egress) : NULL;
	if (n && !l->egress)
		return -1;
	for (size_t i = 0; i < p->n_egress; i++)
		l->egress[l->n_egress++] = p->egress[i];
	for (size_t i = 0; i < run->n_extra_egress; i++)
		l->egress[l->n_egress++] = run->extra_egress[i];
	return 0;
}

static int open_fds(const struct sandbox *sb, const struct sandbox_run *run,
		    struct sandbox_launch *l, int fds[4])
{
	int pair[2];

	fds[LAUNCH_FD_FILTER] = data_fd("agentbus-seccomp", sb->bpf, sb->bpf_len);
	fds[LAUNCH_FD_HELPER] = fcntl(sb->helper_fd, F_DUPFD_CLOEXEC, 3);
	fds[LAUNCH_FD_PROMPT] = run->prompt ? data_fd("agentbus-prompt", run->prompt,
						      strlen(run->prompt)) : -1;
	fds[LAUNCH_FD_PROXY] = -1;
	if (run->policy->net == SANDBOX_NET_RESTRICTED) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
			return -1;
		fds[LAUNCH_FD_PROXY] = pair[1];
		l->proxy_fd = pair[0];
		if (egress_list(run, l) != 0)
			return -1;
	}
	if (fds[LAUNCH_FD_FILTER] < 0 || fds[LAUNCH_FD_HELPER] < 0 ||
	    (run->prompt && fds[LAUNCH_FD_PROMPT] < 0))
		return -1;
	return 0;
}

/* Whether `a` is `b` or under it. */
static bool within(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/' || (n == 1 && b[0] == '/'));
}

/* A definition's mount or workspace may not bring back what every sandbox
 * hides: the state dir (with the other agents' workspaces) and the secrets. */
static int check_exposure(const struct sandbox *sb, const struct sandbox_policy *p, char *err,
			  size_t errlen)
{
	for (size_t i = 0; i < sb->n_hidden; i++) {
		const char *h = sb->hidden[i];

		for (size_t m = 0; m < p->n_mounts; m++)
			if (within(p->mounts[m].host_path, h) || within(h, p->mounts[m].host_path)) {
				snprintf(err, errlen, "the mount of %s would show %s, which no "
					 "sandbox sees", p->mounts[m].host_path, h);
				return -1;
			}
		if (p->workspace && (within(p->workspace, h) || within(h, p->workspace))) {
			snprintf(err, errlen, "the workspace %s would show %s, which no sandbox sees",
				 p->workspace, h);
			return -1;
		}
	}
	return 0;
}

int sandbox_prepare(const struct sandbox *sb, const struct sandbox_run *run,
		    struct sandbox_launch *out, char *err, size_t errlen)
{
	int fds[4] = { -1, -1, -1, -1 };

	memset(out, 0, sizeof *out);
	out->proxy_fd = -1;
	if (sb->why) {
		snprintf(err, errlen, "%s", sb->why);
		return -1;
	}
	if (check_exposure(sb, run->policy, err, errlen) != 0 ||
	    sandbox_workspace(sb, run->policy, run->workspace_key, &out->workspace, err,
			      errlen) != 0)
		return -1;
	if (open_fds(sb, run, out, fds) != 0 ||
	    sandbox_build_argv(sb, run->policy, out->workspace, fds, run->argv, &out->argv) != 0) {
		snprintf(err, errlen, "cannot prepare the sandbox: %s", strerror(errno));
		for (size_t i = 0; i < 4; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		sandbox_launch_free(out);
		return -1;
	}
	for (size_t i = 0; i < 4; i++)
		if (fds[i] >= 0)
			out->fds[out->n_fds++] = fds[i];
	out->uid = sb->uid;
	out->gid = sb->gid;
	out->switch_user = sb->switch_user;
	return 0;
}

/* Says on stderr what failed; only calls safe between fork and exec. */
static void child_failed(const char *what, const char *path)
{
	const char *desc = strerrordesc_np(errno);
	const char *parts[] = { "agentbus: ", what, path, ": ", desc ? desc : "error", "\n" };

	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
		if (write(STDERR_FILENO, parts[i], strlen(parts[i])) < 0)
			return;
}

void sandbox_exec(const struct sandbox_launch *l, char *const *env)
{
	/* Nothing of the daemon's reaches bwrap but what is listed: its other
	 * fds (the broker's socket, other turns' pipes) are marked to close. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
		child_failed("cannot close the daemon's fds", "");
		return;
	}
	for (size_t i = 0; i < l->n_fds; i++)
		if (fcntl(l->fds[i], F_SETFD, 0) != 0) {
			child_failed("cannot pass an fd to ", l->argv[0]);
			return;
		}
	if (l->switch_user &&
	    (setgroups(0, NULL) != 0 || setgid(l->gid) != 0 || setuid(l->uid) != 0)) {
		child_failed("cannot switch to the sandbox user for ", l->argv[0]);
		return;
	}
	/* The change of user clears the parent-death signal exec_child set;
	 * bwrap's --die-with-parent sets it again on bwrap itself. */
	execve(l->argv[0], l->argv, env);
	child_failed("cannot run ", l->argv[0]);
}

void sandbox_launch_free(struct sandbox_launch *l)
{
	sandbox_free_argv(l->argv);
	for (size_t i = 0; i < l->n_fds; i++)
		close(l->fds[i]);
	if (l->proxy_fd >= 0)
		close(l->proxy_fd);
	free(l->workspace);
	free(l->egress);
	memset(l, 0, sizeof *l);
	l->proxy_fd = -1;
}
