/* sandbox/internal: the context's fields and the pieces launch.c and
 * sandbox.c share. Private to sandbox/. */
#ifndef AB_SANDBOX_INTERNAL_H
#define AB_SANDBOX_INTERNAL_H

#include "sandbox/sandbox.h"

enum { LAUNCH_FD_FILTER, LAUNCH_FD_PROMPT, LAUNCH_FD_HELPER, LAUNCH_FD_PROXY };

/* A top-level entry of the host's root, for `full` sandboxes. */
struct sandbox_top {
	char *path;			/* "/usr" */
	char *link;			/* its target when a symlink ("usr/bin"); else NULL */
};

struct sandbox {
	bool off;
	char *why;			/* unavailable: why; NULL when usable or off */
	char *describe;
	char *bwrap;			/* the path found */
	int helper_fd;			/* O_PATH of agentbus-sandbox; -1: none */
	unsigned char *bpf;		/* the seccomp filter */
	size_t bpf_len;
	uid_t uid;			/* sandboxes run as this user when switch_user */
	gid_t gid;
	bool switch_user;
	int pids;
	char *workspaces;
	char **binds, **hidden;
	size_t n_binds, n_hidden;
	struct sandbox_top *top;	/* read at open: the root changes rarely */
	size_t n_top;
	char **root[2];			/* bwrap's arguments for each sandbox_fs, made at open */
};

/* bwrap's argv running `command` (NULL-terminated) under `policy` with the
 * workspace `workspace` and the fds `fds` (LAUNCH_FD_*, -1: none). */
int sandbox_build_argv(const struct sandbox *sb, const struct sandbox_policy *policy,
		       const char *workspace, const int fds[4], char *const *command,
		       char ***out);
void sandbox_free_argv(char **argv);
/* The filesystem part of bwrap's arguments for each `filesystem`, from the
 * root's entries and the hidden paths, once (they do not change per turn).
 * 0, or -1 when out of memory. */
int sandbox_build_roots(struct sandbox *sb);

/* The host directory of a run's workspace (made when it is a default one),
 * malloc'd in `*out`. 0, or -1 with a message in `err`. */
int sandbox_workspace(const struct sandbox *sb, const struct sandbox_policy *policy,
		      const char *key, char **out, char *err, size_t errlen);

#endif
