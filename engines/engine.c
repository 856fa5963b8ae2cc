/* engines/engine: dispatch by name and the worker pool. Requests and results
 * travel in two mutex-protected FIFOs; an eventfd wakes the main loop. This
 * hand-off is the only place in agentbus where threads share memory. */
#include "engines/engine.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

struct engine_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;	/* requests queued, or stopping */
	struct engine_request *req_head, *req_tail;
	struct engine_result *res_head, *res_tail;
	bool stopping;
	int event_fd;
	struct engine_options opt;
	pthread_t *threads;
	int n_threads;
};

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
	free(r);
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

void engine_run(const struct engine_request *req, const struct engine_options *opt,
		struct engine_result *out)
{
	if (strcmp(req->engine, "echo") == 0) {
		echo_run(req, opt, out);
		return;
	}
	out->ok = false;
	if (asprintf(&out->error, "engine '%s' is not available in this build", req->engine) < 0)
		out->error = NULL;
}

/* Queues a finished result and wakes the main loop. */
static void post_result(struct engine_pool *pool, struct engine_result *res)
{
	uint64_t one = 1;

	pthread_mutex_lock(&pool->lock);
	if (pool->res_tail)
		pool->res_tail->next = res;
	else
		pool->res_head = res;
	pool->res_tail = res;
	pthread_mutex_unlock(&pool->lock);
	if (write(pool->event_fd, &one, sizeof one) != sizeof one)
		log_error("engine: cannot wake the main loop");
}

/* Runs `req` (taken) and posts its result. */
static void run_and_post(struct engine_pool *pool, struct engine_request *req)
{
	struct engine_result *res = calloc(1, sizeof *res);

	if (res) {
		res->turn = req->turn;
		engine_run(req, &pool->opt, res);
		post_result(pool, res);
	} else {
		log_error("engine: out of memory for a result");
	}
	engine_request_free(req);
}

/* An engine that never blocks costs less run at once than handed to a
 * thread: two context switches are most of an echo turn. */
static bool runs_inline(const struct engine_request *req, const struct engine_options *opt)
{
	return strcmp(req->engine, "echo") == 0 && opt->echo_delay_ms == 0;
}

static void *worker(void *arg)
{
	struct engine_pool *pool = arg;

	for (;;) {
		struct engine_request *req;

		pthread_mutex_lock(&pool->lock);
		while (!pool->req_head && !pool->stopping)
			pthread_cond_wait(&pool->work, &pool->lock);
		if (pool->stopping) {
			pthread_mutex_unlock(&pool->lock);
			return NULL;
		}
		req = pool->req_head;
		pool->req_head = req->next;
		if (!pool->req_head)
			pool->req_tail = NULL;
		pthread_mutex_unlock(&pool->lock);
		run_and_post(pool, req);
	}
}

int engine_pool_start(int threads, const struct engine_options *opt, struct engine_pool **out)
{
	struct engine_pool *pool = calloc(1, sizeof *pool);

	*out = NULL;
	if (!pool)
		return -1;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pool->opt = *opt;
	pool->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pool->threads = calloc((size_t)threads, sizeof *pool->threads);
	if (pool->event_fd < 0 || !pool->threads) {
		engine_pool_stop(pool);
		return -1;
	}
	for (; pool->n_threads < threads; pool->n_threads++) {
		if (pthread_create(&pool->threads[pool->n_threads], NULL, worker, pool) != 0) {
			engine_pool_stop(pool);
			return -1;
		}
	}
	*out = pool;
	return 0;
}

void engine_pool_stop(struct engine_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < pool->n_threads; i++)
		pthread_join(pool->threads[i], NULL);
	while (pool->req_head) {
		struct engine_request *r = pool->req_head;

		pool->req_head = r->next;
		engine_request_free(r);
	}
	while (pool->res_head) {
		struct engine_result *r = pool->res_head;

		pool->res_head = r->next;
		engine_result_free(r);
	}
	if (pool->event_fd >= 0)
		close(pool->event_fd);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->work);
	free(pool->threads);
	free(pool);
}

int engine_pool_fd(const struct engine_pool *pool)
{
	return pool->event_fd;
}

void engine_pool_submit(struct engine_pool *pool, struct engine_request *req)
{
	if (runs_inline(req, &pool->opt)) {
		run_and_post(pool, req);
		return;
	}
	req->next = NULL;
	pthread_mutex_lock(&pool->lock);
	if (pool->req_tail)
		pool->req_tail->next = req;
	else
		pool->req_head = req;
	pool->req_tail = req;
	pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
}

struct engine_result *engine_pool_take(struct engine_pool *pool)
{
	struct engine_result *res;
	uint64_t n;

	/* Reset the counter before looking: a result queued after this point
	 * writes it again, so the main loop wakes for it. */
	if (read(pool->event_fd, &n, sizeof n) < 0)
		n = 0;
	pthread_mutex_lock(&pool->lock);
	res = pool->res_head;
	if (res) {
		pool->res_head = res->next;
		if (!pool->res_head)
			pool->res_tail = NULL;
		res->next = NULL;
	}
	pthread_mutex_unlock(&pool->lock);
	return res;
}
