/* engines/engine: the table of engines, the jobs' memory and their list. */
#include "engines/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engines/defs.h"
#include "engines/http.h"
#include "engines/job.h"
#include "sandbox/sandbox.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/loop.h"

/* A killed child whose exit has not been seen yet. */
struct reaper {
	struct engines *eng;
	int pid, pidfd;
	struct reaper *prev, *next;
};

struct engines {
	struct loop *loop;	/* borrowed */
	struct reaper *reapers;
	struct http *http;	/* made at the first API turn */
	struct engine_options opt;	/* without defs: see below */
	struct engine_def *defs;	/* declared instances, then one per bare kind */
	size_t n_defs;
	struct gate *gate;	/* NULL without --gate */
	struct engine_job *jobs;
	size_t n_jobs;
};

static const struct engine_kind *const kinds[] = { &echo_engine, &gate_engine, &exec_engine,
						    &openai_engine, &anthropic_engine };

#define N_KINDS (sizeof kinds / sizeof kinds[0])

static const struct engine_kind *kind_named(const char *name)
{
	for (size_t i = 0; i < N_KINDS; i++)
		if (strcmp(kinds[i]->name, name) == 0)
			return kinds[i];
	return NULL;
}

const struct engine_def *engines_find(const struct engines *e, const char *name)
{
	/* Declared instances come first, the bare kinds last: a declared
	 * instance may take a kind's name and so change its defaults. */
	for (size_t i = 0; i < e->n_defs; i++)
		if (strcmp(e->defs[i].name, name) == 0)
			return &e->defs[i];
	return NULL;
}

static void defs_free(struct engines *e)
{
	for (size_t i = 0; i < e->n_defs; i++)
		engine_def_free(&e->defs[i]);
	free(e->defs);
	e->defs = NULL;
	e->n_defs = 0;
}

/* The declared instances (a later line of one name replaces the earlier),
 * then the bare kinds' defaults. */
static int defs_load(struct engines *e, const struct engine_options *opt)
{
	char err[256];

	e->defs = calloc(opt->n_defs + N_KINDS, sizeof *e->defs);
	if (!e->defs)
		return -1;
	for (size_t i = 0; i < opt->n_defs; i++) {
		struct engine_def d;
		size_t j;

		if (engine_def_parse(opt->defs[i], &d, err, sizeof err) != 0) {
			log_error("engine-def '%s': %s", opt->defs[i], err);
			return -1;
		}
		for (j = 0; j < e->n_defs && strcmp(e->defs[j].name, d.name) != 0; j++)
			;
		if (j < e->n_defs)
			engine_def_free(&e->defs[j]);
		else
			e->n_defs++;
		e->defs[j] = d;
	}
	for (size_t i = 0; i < N_KINDS; i++)
		if (engine_def_defaults(&e->defs[e->n_defs++], kinds[i]->name, kinds[i]->name) != 0)
			return -1;
	return 0;
}

void engine_request_free(struct engine_request *r)
{
	if (!r)
		return;
	free(r->engine);
	free(r->agent);
	free(r->system_prompt);
	free(r->model);
	free(r->message);
	free(r->session);
	free(r->thread);
	free(r->workspace_key);
	if (r->sandbox) {
		sandbox_policy_free(r->sandbox);
		free(r->sandbox);
	}
	for (size_t i = 0; i < r->n_history; i++) {
		free(r->history[i].user);
		free(r->history[i].assistant);
	}
	free(r->history);
	free(r);
}

static void reaper_free(struct reaper *rp, bool wait)
{
	struct engines *e = rp->eng;

	if (rp->prev)
		rp->prev->next = rp->next;
	else
		e->reapers = rp->next;
	if (rp->next)
		rp->next->prev = rp->prev;
	loop_unwatch(e->loop, rp->pidfd);
	if (wait)
		waitpid(rp->pid, NULL, 0);
	else
		waitid(P_PIDFD, (id_t)rp->pidfd, &(siginfo_t){ 0 }, WEXITED | WNOHANG);
	close(rp->pidfd);
	free(rp);
}

static void on_reaped(void *arg, int fd, int mask)
{
	(void)fd;
	(void)mask;
	reaper_free(arg, false);
}

void engine_job_reap(struct engine_job *job, int pid, int pidfd)
{
	struct engines *e = job->eng;
	struct reaper *rp = calloc(1, sizeof *rp);

	if (!rp || loop_watch(e->loop, pidfd, LOOP_READ, on_reaped, rp) != 0) {
		free(rp);
		waitpid(pid, NULL, 0);	/* killed already: this is short */
		close(pidfd);
		return;
	}
	rp->eng = e;
	rp->pid = pid;
	rp->pidfd = pidfd;
	rp->next = e->reapers;
	if (e->reapers)
		e->reapers->prev = rp;
	e->reapers = rp;
}

static bool runs_process(const struct engines *e, const char *name)
{
	const struct engine_def *d = engines_find(e, name);

	return d && strcmp(d->kind, "exec") == 0;
}

const char *engines_unusable(const struct engines *e, const char *name)
{
	return runs_process(e, name) ? sandbox_unavailable(e->opt.sandbox) : NULL;
}

const char *engines_confinement(const struct engines *e, const char *name)
{
	if (!runs_process(e, name))
		return NULL;
	return sandbox_is_off(e->opt.sandbox) ? "off" : "bwrap";
}

void engine_result_free(struct engine_result *r)
{
	if (!r)
		return;
	free(r->reply);
	free(r->error);
	free(r->session);
	free(r);
}

int engines_open(struct loop *l, const struct engine_options *opt, struct engines **out)
{
	struct engines *e = calloc(1, sizeof *e);

	*out = NULL;
	if (!e)
		return -1;
	e->loop = l;
	e->opt = *opt;
	e->opt.defs = NULL;
	e->opt.n_defs = 0;
	if (defs_load(e, opt) != 0 ||
	    (opt->gate_path && gate_open(l, opt->gate_path, &e->gate) != 0)) {
		defs_free(e);
		free(e);
		return -1;
	}
	*out = e;
	return 0;
}

static void job_unlink_free(struct engine_job *job)
{
	struct engines *e = job->eng;

	if (job->prev)
		job->prev->next = job->next;
	else
		e->jobs = job->next;
	if (job->next)
		job->next->prev = job->prev;
	e->n_jobs--;
	loop_timer_cancel(e->loop, job->timer);
	engine_request_free(job->req);
	free(job->error);
	free(job);
}

void engines_close(struct engines *e)
{
	if (!e)
		return;
	while (e->jobs)
		engine_cancel(e->jobs);
	while (e->reapers)
		reaper_free(e->reapers, true);
	http_close(e->http);
	gate_close(e->gate);
	defs_free(e);
	free(e);
}

/* A job that could not start ends on the next iteration, never inside
 * engine_start(): the caller is still setting itself up. */
static void fail_later(void *arg)
{
	struct engine_job *job = arg;
	struct engine_result *res = calloc(1, sizeof *res);

	job->timer = 0;
	if (res) {
		res->ok = false;
		res->error = job->error ? job->error : strdup("the engine could not start");
		job->error = NULL;
	}
	engine_job_finish(job, res);
}

struct engine_job *engine_start(struct engines *e, struct engine_request *req,
				const struct engine_events *ev, void *arg)
{
	struct engine_job *job = calloc(1, sizeof *job);

	if (!job) {
		engine_request_free(req);
		return NULL;
	}
	job->eng = e;
	job->ev = *ev;
	job->arg = arg;
	job->req = req;
	job->def = engines_find(e, req->engine);
	job->kind = job->def ? kind_named(job->def->kind) : NULL;
	job->next = e->jobs;
	if (e->jobs)
		e->jobs->prev = job;
	e->jobs = job;
	e->n_jobs++;
	if (!job->kind && asprintf(&job->error, "no engine named '%s'", req->engine) < 0)
		job->error = NULL;
	engine_job_count(job, "agentbus_engine_requests_total");
	if (!job->kind || job->kind->start(job) != 0) {
		job->timer = loop_timer(e->loop, 0, fail_later, job);
		if (!job->timer) {
			job_unlink_free(job);
			return NULL;
		}
	}
	return job;
}

void engine_cancel(struct engine_job *job)
{
	if (!job)
		return;
	if (job->kind && !job->error)
		job->kind->cancel(job);
	job_unlink_free(job);
}

size_t engines_running(const struct engines *e)
{
	return e->n_jobs;
}

struct http *engine_job_http(struct engine_job *job)
{
	struct engines *e = job->eng;

	if (!e->http && http_open(e->loop, &e->http) != 0)
		e->http = NULL;
	return e->http;
}

struct loop *engine_job_loop(const struct engine_job *job)
{
	return job->eng->loop;
}

const struct engine_options *engine_job_options(const struct engine_job *job)
{
	return &job->eng->opt;
}

struct gate *engine_job_gate(const struct engine_job *job)
{
	return job->eng->gate;
}

void engine_job_delta(struct engine_job *job, const char *text, size_t len)
{
	if (job->ev.delta && len)
		job->ev.delta(job->arg, text, len);
}

void engine_job_count(struct engine_job *job, const char *family)
{
	char labels[96];

	if (!job->eng->opt.metrics || !job->def)
		return;
	snprintf(labels, sizeof labels, "engine=\"%s\"", job->def->name);
	metrics_add(job->eng->opt.metrics, family, labels, 1);
}

void engine_job_finish(struct engine_job *job, struct engine_result *res)
{
	struct engine_events ev = job->ev;
	void *arg = job->arg;

	if (!res || !res->ok)
		engine_job_count(job, "agentbus_engine_errors_total");
	if (res)
		res->turn = job->req->turn;
	job_unlink_free(job);
	if (!res) {
		log_error("engine: out of memory for a result");
		res = calloc(1, sizeof *res);
		if (!res)
			return;	/* the turn's deadline still ends it */
	}
	ev.done(arg, res);
}
