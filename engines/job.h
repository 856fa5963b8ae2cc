/* engines/job: what an engine implementation sees of a job. Each engine
 * provides a start and a cancel; engine.c owns the job's memory and calls
 * them. Private to engines/. */
#ifndef AB_ENGINES_JOB_H
#define AB_ENGINES_JOB_H

#include "engines/defs.h"
#include "engines/engine.h"

struct engine_kind {
	const char *name;
	/* Begins the work; returns 0, or -1 when it cannot (the job then fails
	 * with `job->error`, or a generic reason). */
	int (*start)(struct engine_job *job);
	/* Releases what start() registered; the job is freed by the caller. */
	void (*cancel)(struct engine_job *job);
};

struct engine_job {
	struct engines *eng;
	const struct engine_kind *kind;
	const struct engine_def *def;	/* the instance; lives as long as the engines */
	struct engine_request *req;	/* owned */
	struct engine_events ev;
	void *arg;
	uint64_t timer;			/* a loop timer the engine uses, 0: none */
	char *error;			/* why start() failed, owned */
	void *impl;			/* the engine's own state */
	struct engine_job *prev, *next;	/* every running job */
	struct engine_job *next_waiting;	/* the gate's FIFO */
};

struct http;

/* The HTTP transfers' context, made at the first call; NULL if libcurl
 * cannot start. */
struct http *engine_job_http(struct engine_job *job);

/* The loop and options the jobs run with. */
struct loop *engine_job_loop(const struct engine_job *job);
const struct engine_options *engine_job_options(const struct engine_job *job);

/* Takes a killed child that has not been reaped yet: the engines reap it when
 * its pidfd says it is gone (and at the latest in engines_close). */
void engine_job_reap(struct engine_job *job, int pid, int pidfd);

/* Counts one of the job's engine in metric `family` (engine="NAME"). */
void engine_job_count(struct engine_job *job, const char *family);

/* Reports a fragment of the reply. */
void engine_job_delta(struct engine_job *job, const char *text, size_t len);
/* Ends the job with `res` (taken) and frees it. */
void engine_job_finish(struct engine_job *job, struct engine_result *res);

/* The echo engine's result for `req`: "echo: " + the message, usage in bytes,
 * the session resumed or one named after the turn. NULL when out of memory. */
struct engine_result *echo_result(const struct engine_request *req);

/* The gate's own state in the engines context (gate.c). */
struct gate;
int gate_open(struct loop *l, const char *path, struct gate **out);
void gate_close(struct gate *g);
struct gate *engine_job_gate(const struct engine_job *job);

extern const struct engine_kind echo_engine, gate_engine, exec_engine, openai_engine,
	anthropic_engine;

#endif
