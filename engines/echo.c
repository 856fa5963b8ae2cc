/* engines/echo: a deterministic engine for trying agentbus out and for
 * measuring it: the reply is a function of the message alone. With
 * --echo-delay it answers after a loop timer, never by blocking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/job.h"
#include "util/loop.h"

struct engine_result *echo_result(const struct engine_request *req)
{
	struct engine_result *res = calloc(1, sizeof *res);

	if (!res)
		return NULL;
	res->ok = true;
	if (asprintf(&res->reply, "echo: %s", req->message) < 0)
		res->reply = NULL;
	/* Resume the session asked for, or start one named after the turn. */
	if (req->session)
		res->session = strdup(req->session);
	else if (asprintf(&res->session, "echo-%016llx", (unsigned long long)req->turn) < 0)
		res->session = NULL;
	if (!res->reply || !res->session) {
		engine_result_free(res);
		return NULL;
	}
	res->input_tokens = (long)strlen(req->message);
	res->output_tokens = (long)strlen(res->reply);
	return res;
}

static void echo_answer(void *arg)
{
	struct engine_job *job = arg;
	struct engine_result *res;

	job->timer = 0;
	res = echo_result(job->req);
	if (res)
		engine_job_delta(job, res->reply, strlen(res->reply));
	engine_job_finish(job, res);
}

static int echo_start(struct engine_job *job)
{
	job->timer = loop_timer(engine_job_loop(job), engine_job_options(job)->echo_delay_ms,
				echo_answer, job);
	return job->timer ? 0 : -1;
}

static void echo_cancel(struct engine_job *job)
{
	(void)job;	/* the timer goes with the job */
}

const struct engine_kind echo_engine = { "echo", echo_start, echo_cancel };
