/* engines/exec: a turn as a child process. The command runs under /bin/sh in
 * a process group of its own, the message on its stdin, the turn's context
 * in AGENTBUS_* variables; stdout is the reply (format=text) or claude's
 * stream-json (format=claude-stream-json). All of it is fds on the loop: a
 * pidfd says when the child exited, so no SIGCHLD handler is needed and
 * nothing ever waits. The whole group is killed when the turn ends, for
 * whatever reason, so nothing a turn started outlives it.
 *
 * Confined (the default), the child is bubblewrap: the command runs in a
 * pid namespace whose init dies with bwrap, so killing the group ends every
 * process of the sandbox, whatever it did to its own groups and signals. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engines/claude_stream.h"
#include "engines/job.h"
#include "engines/proxy.h"
#include "sandbox/sandbox.h"
#include "util/fdio.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/proc.h"

#define READ_CHUNK 65536
#define STDERR_TAIL 1024

extern char **environ;

struct exec_run {
	pid_t pid;
	int pidfd, in_fd, out_fd, err_fd;	/* -1 once closed */
	char *input;			/* the message, written to stdin */
	size_t input_len, input_off;
	char *prompt_file;		/* the system prompt, for the command to read */
	char *out;			/* format=text: the reply; stream-json: the partial line */
	size_t out_len, out_cap;	/* grown as output comes, up to max_output */
	char err_tail[STDERR_TAIL];	/* the last bytes of stderr, as a ring */
	size_t err_total;
	int status;			/* wait status, once exited */
	bool exited;
	uint64_t idle_timer;
	struct claude_stream claude;
	char *failure;			/* set: the turn fails with this, whatever the exit */
	bool confined;			/* the child is bwrap */
	char *workspace;		/* confined: the host path of the workspace */
	struct egress_proxy *proxy;	/* confined with a restricted network */
};

/* Ends the run's process group and everything it holds. A child not yet
 * reaped goes to the engines' reaper. */
static void run_free(struct engine_job *job)
{
	struct exec_run *r = job->impl;
	struct loop *l = engine_job_loop(job);

	if (!r)
		return;
	if (r->pid > 0)
		kill(-r->pid, SIGKILL);
	loop_close(l, &r->in_fd);
	loop_close(l, &r->out_fd);
	loop_close(l, &r->err_fd);
	if (r->pidfd >= 0) {
		loop_unwatch(l, r->pidfd);
		if (r->exited)
			close(r->pidfd);
		else
			engine_job_reap(job, r->pid, r->pidfd);
	} else if (r->pid > 0) {
		waitpid(r->pid, NULL, 0);	/* no pidfd (it failed): SIGKILLed just now */
	}
	loop_timer_cancel(l, r->idle_timer);
	egress_proxy_close(r->proxy);
	free(r->workspace);
	if (r->prompt_file) {
		unlink(r->prompt_file);
		free(r->prompt_file);
	}
	claude_stream_free(&r->claude);
	free(r->input);
	free(r->out);
	free(r->failure);
	free(r);
	job->impl = NULL;
}

/* The stderr tail in order, as text for an error message. */
static void stderr_tail(const struct exec_run *r, char *buf, size_t cap)
{
	size_t n = r->err_total < STDERR_TAIL ? r->err_total : STDERR_TAIL, start, i, o = 0;

	start = r->err_total < STDERR_TAIL ? 0 : r->err_total % STDERR_TAIL;
	for (i = 0; i < n && o + 1 < cap; i++) {
		char c = r->err_tail[(start + i) % STDERR_TAIL];

		buf[o++] = c == '\n' || c == '\r' || c == '\t' ? ' ' : c;
	}
	while (o > 0 && buf[o - 1] == ' ')
		o--;
	buf[o] = '\0';
}

static struct engine_result *result_of(struct engine_job *job)
{
	struct exec_run *r = job->impl;
	struct engine_result *res = calloc(1, sizeof *res);
	char tail[STDERR_TAIL + 1], why[STDERR_TAIL + 128];
	bool claude = job->def->format == ENGINE_FORMAT_CLAUDE_STREAM_JSON;

	if (!res)
		return NULL;
	stderr_tail(r, tail, sizeof tail);
	if (r->failure)
		snprintf(why, sizeof why, "%s", r->failure);
	else if (WIFSIGNALED(r->status))
		snprintf(why, sizeof why, "the command was killed by signal %d%s%s",
			 WTERMSIG(r->status), tail[0] ? ": " : "", tail);
	else if (WEXITSTATUS(r->status) != 0)
		snprintf(why, sizeof why, "the command exited with status %d%s%s",
			 WEXITSTATUS(r->status), tail[0] ? ": " : "", tail);
	else if (claude && !r->claude.result_seen)
		snprintf(why, sizeof why, "the command printed no stream-json result%s%s",
			 tail[0] ? ": " : "", tail);
	else if (claude && !r->claude.ok)
		snprintf(why, sizeof why, "%s", r->claude.error ? r->claude.error : "claude failed");
	else
		why[0] = '\0';
	res->ok = why[0] == '\0';
	if (!res->ok)
		res->error = strdup(why);
	else if (claude)
		res->reply = strdup(r->claude.result ? r->claude.result : "");
	else if ((res->reply = malloc(r->out_len + 1)) != NULL) {
		/* Not strndup: the buffer holds exactly out_len bytes, no NUL. */
		if (r->out_len)
			memcpy(res->reply, r->out, r->out_len);
		res->reply[r->out_len] = '\0';
	}
	if (claude) {
		res->session = r->claude.session ? strdup(r->claude.session) : NULL;
		res->input_tokens = r->claude.input_tokens;
		res->output_tokens = r->claude.output_tokens;
		res->cost_usd = r->claude.cost_usd;
	}
	if ((res->ok && !res->reply) || (!res->ok && !res->error)) {
		engine_result_free(res);
		return NULL;
	}
	return res;
}

/* Finishes once the child has exited and both of its outputs are closed. */
static void maybe_finish(struct engine_job *job)
{
	struct exec_run *r = job->impl;
	struct engine_result *res;

	if (!r->exited || r->out_fd >= 0 || r->err_fd >= 0)
		return;
	res = result_of(job);
	run_free(job);
	engine_job_finish(job, res);
}

/* Something went wrong that ends the turn: the group is killed, and the
 * result, once the child is reaped, says `why`. */
static void fail_run(struct engine_job *job, const char *why)
{
	struct exec_run *r = job->impl;
	struct loop *l = engine_job_loop(job);

	if (!r->failure)
		r->failure = strdup(why);
	kill(-r->pid, SIGKILL);
	loop_close(l, &r->in_fd);
	loop_close(l, &r->out_fd);
	loop_close(l, &r->err_fd);
}

static void on_idle(void *arg)
{
	struct engine_job *job = arg;
	struct exec_run *r = job->impl;
	char why[128];

	r->idle_timer = 0;
	snprintf(why, sizeof why, "the command printed nothing for %d s", job->def->idle_timeout);
	fail_run(job, why);
	maybe_finish(job);
}

static void rearm_idle(struct engine_job *job)
{
	struct exec_run *r = job->impl;
	struct loop *l = engine_job_loop(job);

	loop_timer_cancel(l, r->idle_timer);
	r->idle_timer = loop_timer(l, (int64_t)job->def->idle_timeout * 1000, on_idle, job);
}

/* Room for `more` bytes after what `out` holds, within max_output; -1 when
 * that would pass it or memory ran out. */
static int out_reserve(struct engine_job *job, size_t more)
{
	struct exec_run *r = job->impl;
	size_t need = r->out_len + more, cap = r->out_cap ? r->out_cap : 4096;
	char *grown;

	if (need > (size_t)job->def->max_output)
		return -1;
	if (need <= r->out_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > (size_t)job->def->max_output)
		cap = (size_t)job->def->max_output;
	grown = realloc(r->out, cap);
	if (!grown)
		return -1;
	r->out = grown;
	r->out_cap = cap;
	return 0;
}

/* stream-json: complete lines go to the parser; a partial one waits. */
static int feed_claude(struct engine_job *job, const char *data, size_t n)
{
	struct exec_run *r = job->impl;

	for (size_t i = 0; i < n; i++) {
		char *text;

		if (data[i] != '\n') {
			if (out_reserve(job, 1) != 0)
				return -1;
			r->out[r->out_len++] = data[i];
			continue;
		}
		if (claude_stream_line(&r->claude, r->out, r->out_len, &text) != 0)
			return -1;
		r->out_len = 0;
		if (text) {
			engine_job_delta(job, text, strlen(text));
			free(text);
		}
	}
	return 0;
}

/* Reads what `*fd` has. Returns the bytes read (the idle timer re-armed), 0
 * when there is nothing yet, or -1 when the fd closed: the job may then have
 * finished and be gone, and the caller must return at once. */
static ssize_t read_output(struct engine_job *job, int *fd, char *buf, size_t cap)
{
	ssize_t n = read(*fd, buf, cap);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		loop_close(engine_job_loop(job), fd);
		maybe_finish(job);
		return -1;
	}
	rearm_idle(job);
	return n;
}

static void on_stdout(void *arg, int fd, int mask)
{
	struct engine_job *job = arg;
	struct exec_run *r = job->impl;
	bool claude = job->def->format == ENGINE_FORMAT_CLAUDE_STREAM_JSON;
	char buf[READ_CHUNK], why[128];
	ssize_t n;

	(void)fd;
	(void)mask;
	n = read_output(job, &r->out_fd, buf, sizeof buf);
	if (n <= 0)
		return;
	if (!claude && out_reserve(job, (size_t)n) == 0) {
		memcpy(r->out + r->out_len, buf, (size_t)n);
		r->out_len += (size_t)n;
		engine_job_delta(job, buf, (size_t)n);
		return;
	}
	if (claude && feed_claude(job, buf, (size_t)n) == 0)
		return;
	snprintf(why, sizeof why, "the command's output passed max_output (%d bytes%s)",
		 job->def->max_output, claude ? " in one line" : "");
	fail_run(job, why);
	maybe_finish(job);
}

static void on_stderr(void *arg, int fd, int mask)
{
	struct engine_job *job = arg;
	struct exec_run *r = job->impl;
	char buf[4096];
	ssize_t n;

	(void)fd;
	(void)mask;
	n = read_output(job, &r->err_fd, buf, sizeof buf);
	for (ssize_t i = 0; i < n; i++)
		r->err_tail[r->err_total++ % STDERR_TAIL] = buf[i];
}

static void on_stdin(void *arg, int fd, int mask)
{
	struct engine_job *job = arg;
	struct exec_run *r = job->impl;
	ssize_t n;

	(void)mask;
	n = write(fd, r->input + r->input_off, r->input_len - r->input_off);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* Written, or the command does not read it (EPIPE): stdin is done. */
	if (n > 0)
		r->input_off += (size_t)n;
	if (n < 0 || r->input_off == r->input_len)
		loop_close(engine_job_loop(job), &r->in_fd);
}

static void on_exit_fd(void *arg, int fd, int mask)
{
	struct engine_job *job = arg;
	struct exec_run *r = job->impl;
	siginfo_t info;

	(void)mask;
	memset(&info, 0, sizeof info);
	if (waitid(P_PIDFD, (id_t)fd, &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0)
		return;
	r->status = info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status;
	r->exited = true;
	loop_unwatch(engine_job_loop(job), fd);
	/* What it left running in its group ends with it; their hold on the
	 * pipes ends too, so EOF comes. */
	kill(-r->pid, SIGKILL);
	maybe_finish(job);
}

/* The system prompt in a private file the command can read. */
static int write_prompt(struct engine_job *job, struct exec_run *r)
{
	const char *dir = engine_job_options(job)->tmp_dir;
	const char *text = job->req->system_prompt;
	int fd;

	if (asprintf(&r->prompt_file, "%s/agentbus-prompt-XXXXXX", dir ? dir : "/tmp") < 0) {
		r->prompt_file = NULL;
		return -1;
	}
	fd = mkostemp(r->prompt_file, O_CLOEXEC);
	if (fd < 0) {
		free(r->prompt_file);
		r->prompt_file = NULL;
		return -1;
	}
	if (fd_write_all(fd, text, strlen(text)) != 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* Appends "NAME=value" to `env` (its count in `*k`); -1 when out of memory. */
static int env_add(char **env, size_t *k, const char *name, const char *value)
{
	if (asprintf(&env[*k], "%s=%s", name, value) < 0) {
		env[*k] = NULL;
		return -1;
	}
	(*k)++;
	return 0;
}

/* What a confined command starts with besides the turn's variables: a
 * plain PATH, its workspace as HOME, the engine's named variables, and for
 * a restricted network the proxy. Nothing else of the daemon's. */
static int confined_env(const struct engine_job *job, const struct exec_run *r, char **env,
			size_t *k)
{
	static const char *const proxy_vars[] = { "HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
						  "http_proxy", "ALL_PROXY" };
	const struct engine_def *d = job->def;
	bool lang = false;
	char proxy[64];

	for (size_t i = 0; i < d->n_env; i++) {
		const char *v = getenv(d->env[i]);

		lang |= strcmp(d->env[i], "LANG") == 0;
		if (v && env_add(env, k, d->env[i], v) != 0)
			return -1;
	}
	snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", SANDBOX_PROXY_PORT);
	if (env_add(env, k, "PATH", "/usr/local/bin:/usr/bin:/bin") != 0 ||
	    env_add(env, k, "HOME", r->workspace) != 0 || env_add(env, k, "TMPDIR", "/tmp") != 0 ||
	    (!lang && env_add(env, k, "LANG", "C.UTF-8") != 0))
		return -1;
	for (size_t i = 0; r->proxy && i < sizeof proxy_vars / sizeof proxy_vars[0]; i++)
		if (env_add(env, k, proxy_vars[i], proxy) != 0)
			return -1;
	return 0;
}

/* The command's environment: environ (unconfined) or the confined set, then
 * the turn's AGENTBUS_* variables (replacing inherited ones); built before
 * fork, so the child only calls execve. */
static char **child_env(const struct engine_job *job, const struct exec_run *r)
{
	const struct engine_request *q = job->req;
	const char *model = q->model ? q->model : job->def->model;
	const char *prompt = r->confined && q->system_prompt ? SANDBOX_PROMPT_PATH
			     : r->prompt_file ? r->prompt_file : "";
	const char *vars[][2] = {
		{ "AGENTBUS_AGENT", q->agent },
		{ "AGENTBUS_THREAD", q->thread ? q->thread : "" },
		{ "AGENTBUS_SESSION", q->session ? q->session : "" },
		{ "AGENTBUS_MODEL", model ? model : "" },
		{ "AGENTBUS_SYSTEM_PROMPT_FILE", prompt },
	};
	size_t n_vars = sizeof vars / sizeof vars[0], n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	/* Room for either set: the confined one is at most its names plus 10. */
	env = calloc(n + job->def->n_env + n_vars + 12, sizeof *env);
	if (!env)
		return NULL;
	if (r->confined && confined_env(job, r, env, &k) != 0)
		goto fail;
	for (size_t i = 0; !r->confined && i < n; i++)
		if (strncmp(environ[i], "AGENTBUS_", 9) != 0 && !(env[k++] = strdup(environ[i])))
			goto fail;
	for (size_t i = 0; i < n_vars; i++)
		if (env_add(env, &k, vars[i][0], vars[i][1]) != 0)
			goto fail;
	return env;
fail:
	free_env(env);
	return NULL;
}

/* In the child: never returns. `launch` set: the command runs confined. */
static void exec_child(char *const *argv, const struct sandbox_launch *launch, char **env,
		       int in, int out, int err)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	proc_reset_signals();
	if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(err, STDERR_FILENO) < 0)
		_exit(126);
	if (launch) {
		sandbox_exec(launch, env);
		_exit(127);
	}
	/* None of the daemon's other fds (the broker's socket) reach the command. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	execve("/bin/sh", argv, env);
	_exit(127);
}

/* Pipes for the child's stdin, stdout and stderr; ours non-blocking. */
static int make_pipes(int in[2], int out[2], int err[2])
{
	in[0] = in[1] = out[0] = out[1] = err[0] = err[1] = -1;
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
		return -1;
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	return 0;
}

static void close_pipes(int in[2], int out[2], int err[2])
{
	int *all[] = { &in[0], &in[1], &out[0], &out[1], &err[0], &err[1] };

	for (size_t i = 0; i < 6; i++)
		if (*all[i] >= 0)
			close(*all[i]);
}

/* The host of an engine's base_url ("https://host:port/x" -> "host:port"),
 * which a restricted sandbox may reach: the CLI's own API. */
static char *api_host(const struct engine_def *d)
{
	const char *h = d->base_url ? strstr(d->base_url, "://") : NULL;

	return h ? strndup(h + 3, strcspn(h + 3, "/?#")) : NULL;
}

/* The sandbox's launch for this turn; its proxy, when it has one, starts
 * here too. 0, or -1 with the reason in job->error. */
static int prepare_confined(struct engine_job *job, struct exec_run *r, char *const *argv,
			    struct sandbox_launch *launch)
{
	static const struct sandbox_policy defaults = { .fs = SANDBOX_FS_WORKSPACE };
	const struct sandbox_policy *policy = job->req->sandbox ? job->req->sandbox : &defaults;
	char *host = api_host(job->def), err[512];
	struct sandbox_run run = {
		.policy = policy, .workspace_key = job->req->workspace_key, .argv = argv,
		.prompt = job->req->system_prompt, .extra_egress = &host, .n_extra_egress = !!host,
	};
	int rc = sandbox_prepare(engine_job_options(job)->sandbox, &run, launch, err, sizeof err);

	if (rc == 0 && !(r->workspace = strdup(launch->workspace))) {
		snprintf(err, sizeof err, "out of memory");
		rc = -1;
	}
	if (rc == 0 && launch->proxy_fd >= 0) {
		rc = egress_proxy_open(engine_job_loop(job), engine_job_http(job), launch->proxy_fd,
				       job->req->agent, launch->egress, launch->n_egress, &r->proxy);
		launch->proxy_fd = -1;
		if (rc != 0)
			snprintf(err, sizeof err, "cannot start the sandbox's proxy");
	}
	free(host);
	if (rc != 0) {
		free(job->error);
		job->error = strdup(err);
		sandbox_launch_free(launch);
	}
	return rc;
}

static int spawn(struct engine_job *job, struct exec_run *r)
{
	bool claude = job->def->format == ENGINE_FORMAT_CLAUDE_STREAM_JSON;
	const char *session = claude ? job->req->session : NULL;
	struct sandbox_launch launch = { .proxy_fd = -1 };
	char *script = NULL, **env = NULL;
	char *argv[] = { "/bin/sh", "-c", NULL, "agentbus", NULL, NULL, NULL };
	int in[2], out[2], err[2], rc = -1;

	in[0] = in[1] = out[0] = out[1] = err[0] = err[1] = -1;
	/* "$@" carries --resume SESSION as arguments, never through the shell's parser. */
	if (asprintf(&script, session ? "%s \"$@\"" : "%s", job->def->command) < 0) {
		script = NULL;
		goto out;
	}
	argv[2] = script;
	if (session) {
		argv[4] = "--resume";
		argv[5] = (char *)session;
	}
	if ((r->confined && prepare_confined(job, r, argv, &launch) != 0) ||
	    !(env = child_env(job, r)) || make_pipes(in, out, err) != 0)
		goto out;
	r->pid = fork();
	if (r->pid == 0)
		exec_child(argv, r->confined ? &launch : NULL, env, in[0], out[1], err[1]);
	if (r->pid < 0)
		goto out;
	setpgid(r->pid, r->pid);	/* as the child does: whichever runs first */
	r->in_fd = in[1];
	r->out_fd = out[0];
	r->err_fd = err[0];
	in[1] = out[0] = err[0] = -1;
	r->pidfd = pidfd_open(r->pid, 0);
	rc = r->pidfd >= 0 ? 0 : -1;
out:
	if (r->confined)
		sandbox_launch_free(&launch);
	close_pipes(in, out, err);
	free(script);
	free_env(env);
	return rc;
}

static int exec_start(struct engine_job *job)
{
	struct exec_run *r = calloc(1, sizeof *r);
	struct loop *l = engine_job_loop(job);

	if (!r)
		return -1;
	r->pid = -1;
	r->pidfd = r->in_fd = r->out_fd = r->err_fd = -1;
	job->impl = r;
	r->input = job->req->message;
	job->req->message = NULL;
	r->input_len = strlen(r->input);
	r->confined = !sandbox_is_off(engine_job_options(job)->sandbox);
	/* Confined, the prompt goes in as data bwrap copies: no file to clean up. */
	if ((!r->confined && job->req->system_prompt && write_prompt(job, r) != 0) ||
	    spawn(job, r) != 0) {
		if (!job->error &&
		    asprintf(&job->error, "cannot run the command: %s", strerror(errno)) < 0)
			job->error = NULL;
		run_free(job);
		return -1;
	}
	if (loop_watch(l, r->out_fd, LOOP_READ, on_stdout, job) != 0 ||
	    loop_watch(l, r->err_fd, LOOP_READ, on_stderr, job) != 0 ||
	    loop_watch(l, r->pidfd, LOOP_READ, on_exit_fd, job) != 0 ||
	    (r->input_len > 0 ? loop_watch(l, r->in_fd, LOOP_WRITE, on_stdin, job)
			      : (loop_close(l, &r->in_fd), 0)) != 0) {
		run_free(job);
		return -1;
	}
	rearm_idle(job);
	log_debug("exec: turn of %s runs pid %ld%s%s", job->req->agent, (long)r->pid,
		  r->confined ? " in a sandbox on " : "", r->confined ? r->workspace : "");
	return 0;
}

static void exec_cancel(struct engine_job *job)
{
	run_free(job);
}

const struct engine_kind exec_engine = { "exec", exec_start, exec_cancel };
