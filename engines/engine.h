/* engines/engine: what a turn asks of an engine and what it gets back. An
 * engine runs as a job on the daemon's event loop: it registers the fds and
 * timers it needs, streams reply fragments as they come, and ends with one
 * result. A job can be cancelled at any time; it then frees everything it
 * holds at once and reports nothing more. Engines never touch MQTT or
 * SQLite. */
#ifndef AB_ENGINES_ENGINE_H
#define AB_ENGINES_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

/* One earlier turn of the thread, for the API engines' history. */
struct engine_exchange {
	char *user;
	char *assistant;
};

/* One turn's work; all strings owned by the request. */
struct engine_request {
	uint64_t turn;		/* the caller's id, echoed in the result */
	char *engine;		/* "echo", "gate", ... */
	char *agent;
	char *system_prompt;	/* NULL: none */
	bool replace_prompt;	/* systemPromptMode replace */
	char *model;		/* NULL: the engine's default */
	char *message;
	char *session;		/* resume this session; NULL: a new one */
	char *thread;		/* the thread note's path; NULL: none */
	struct engine_exchange *history;	/* the thread's earlier turns, oldest first */
	size_t n_history;
	double max_cost_usd;	/* the turn's budget; 0: none (API engines cap output by it) */
	struct sandbox_policy *sandbox;	/* exec: how the turn is confined; NULL: the defaults */
	char *workspace_key;	/* exec: the thread key, naming the default workspace */
};

struct engine_result {
	uint64_t turn;
	bool ok;
	char *reply;		/* ok: may be empty */
	char *error;		/* !ok: why */
	char *session;		/* the session the engine used, or NULL */
	long input_tokens;
	long output_tokens;
	double cost_usd;
};

/* What a job reports, on the loop's thread, never during engine_start(). */
struct engine_events {
	/* A fragment of the reply (may be NULL: not wanted). */
	void (*delta)(void *arg, const char *text, size_t len);
	/* The end, exactly once unless the job was cancelled first; `res` is
	 * taken. The job is gone when this returns. */
	void (*done)(void *arg, struct engine_result *res);
};

struct engine_options {
	int echo_delay_ms;	/* the echo engine waits this long (trying queues by hand) */
	const char *gate_path;	/* FIFO of the test engine "gate"; NULL: none */
	const char *tmp_dir;	/* where unconfined exec turns' prompt files go; NULL: /tmp */
	struct sandbox *sandbox;	/* confines exec turns; NULL or off: they run unconfined */
	struct metrics *metrics;	/* engine calls are counted here; NULL: not */
	char *const *defs;	/* engine-def specs (checked by the config); later names win */
	size_t n_defs;
};

struct engine_def;
struct metrics;

struct engines;
struct engine_job;

void engine_request_free(struct engine_request *r);
void engine_result_free(struct engine_result *r);

/* The engine a definition or --engine names: a declared instance, else a
 * bare kind with its defaults. NULL when `name` is neither. */
const struct engine_def *engines_find(const struct engines *e, const char *name);

/* The engines' shared context on `l`. Returns 0 or -1 (logged). */
int engines_open(struct loop *l, const struct engine_options *opt, struct engines **out);
/* Cancels every job still running, then frees the context. */
void engines_close(struct engines *e);

/* Starts `req` (taken, also on failure: a message can be large) with the
 * engine it names. An unknown or unusable
 * engine still starts: its job ends with a failed result. NULL only when
 * out of memory. */
struct engine_job *engine_start(struct engines *e, struct engine_request *req,
				const struct engine_events *ev, void *arg);
/* Ends `job` now: its fds, timers and memory are released before this
 * returns, and neither callback runs again. */
void engine_cancel(struct engine_job *job);

/* Why an agent on engine `name` cannot run here (its kind needs a sandbox
 * that is unavailable), or NULL. */
const char *engines_unusable(const struct engines *e, const char *name);
/* How the turns of engine `name` are confined: "bwrap", "off" (the config
 * turned the sandbox off), or NULL (the engine runs no process). */
const char *engines_confinement(const struct engines *e, const char *name);

/* Jobs started and not yet ended (for tests and status). */
size_t engines_running(const struct engines *e);

#endif
