/* sandbox/sandbox: confinement of exec turns with bubblewrap. The daemon
 * opens one context at start: it finds bwrap and the helper, builds the
 * seccomp filter, and makes one sandbox to prove it can (a missing bwrap or
 * user namespaces that are refused make the context unavailable, with the
 * reason, and agents that would need it are refused). Each turn then
 * prepares its launch before fork and execs it in the child; nothing here
 * is shared between launches but read-only state, so sandboxes start
 * concurrently without a lock. */
#ifndef AB_SANDBOX_SANDBOX_H
#define AB_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sandbox/policy.h"

/* Inside every sandbox. */
#define SANDBOX_PROMPT_PATH "/run/agentbus/system-prompt"
#define SANDBOX_PROXY_PORT 3128

struct sandbox_options {
	bool off;			/* exec turns run unconfined, as the config says */
	const char *bwrap;		/* the program; without a '/', searched in PATH */
	const char *helper;		/* agentbus-sandbox; NULL: beside the running executable */
	const char *user;		/* who sandboxes run as when the daemon is root */
	int pids;			/* processes (threads count) per sandbox */
	const char *workspaces;		/* the directory of the default workspaces */
	char *const *binds;		/* read-only in every sandbox, at the same path */
	size_t n_binds;
	char *const *hidden;		/* never seen by a `full` sandbox: state, secrets */
	size_t n_hidden;
};

struct sandbox;

/* A context, usable or not (see sandbox_unavailable). -1 only when out of
 * memory. */
int sandbox_open(const struct sandbox_options *opt, struct sandbox **out);
void sandbox_close(struct sandbox *sb);

/* NULL when sandboxes can be made, else why not (for registry errors). */
const char *sandbox_unavailable(const struct sandbox *sb);
bool sandbox_is_off(const struct sandbox *sb);
/* One line for the log: what confines turns, or why nothing does. */
const char *sandbox_describe(const struct sandbox *sb);

/* What one sandboxed run needs. */
struct sandbox_run {
	const struct sandbox_policy *policy;
	const char *workspace_key;	/* the thread key: the default workspace's name */
	char *const *argv;		/* the command, run by the helper */
	const char *prompt;		/* the system prompt, at SANDBOX_PROMPT_PATH; NULL: none */
	char *const *extra_egress;	/* hosts the engine itself needs (its API) */
	size_t n_extra_egress;
};

/* A run prepared in the parent: everything the child needs is allocated and
 * opened here, so the child only clears close-on-exec flags and execs. */
struct sandbox_launch {
	char **argv;			/* bwrap's */
	char *workspace;		/* the host path bound read-write */
	int fds[4];			/* opened for the child: filter, prompt, helper, proxy */
	size_t n_fds;
	int proxy_fd;			/* the daemon's end of the proxy socket; -1: none */
	char **egress;			/* what the proxy allows (borrowed strings) */
	size_t n_egress;
	uid_t uid;
	gid_t gid;
	bool switch_user;
};

/* Prepares `run` into `out`. Returns 0, or -1 with a message in `err`
 * (`out` then holds nothing). */
int sandbox_prepare(const struct sandbox *sb, const struct sandbox_run *run,
		    struct sandbox_launch *out, char *err, size_t errlen);
/* In the forked child: execs bwrap with `env`. Returns only on failure,
 * which it has then said on stderr. */
void sandbox_exec(const struct sandbox_launch *l, char *const *env);
/* Frees what prepare made; `proxy_fd` is closed unless taken (set to -1). */
void sandbox_launch_free(struct sandbox_launch *l);

#endif
