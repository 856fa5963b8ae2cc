/* engines/engine: what a turn asks of an engine and what it gets back, and
 * the pool of worker threads that run engines. Engines never touch MQTT or
 * SQLite: the main loop submits requests and collects results when the
 * pool's eventfd says some are ready (the libuv threadpool pattern). */
#ifndef AB_ENGINES_ENGINE_H
#define AB_ENGINES_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

/* One turn's work; all strings owned by the request. */
struct engine_request {
	uint64_t turn;		/* the caller's id, echoed in the result */
	char *engine;		/* "echo", ... */
	char *agent;
	char *system_prompt;	/* NULL: none */
	bool replace_prompt;	/* systemPromptMode replace */
	char *model;		/* NULL: the engine's default */
	char *message;
	char *session;		/* resume this session; NULL: a new one */
	struct engine_request *next;	/* the pool's queue */
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
	struct engine_result *next;	/* the pool's queue */
};

struct engine_options {
	int echo_delay_ms;	/* the echo engine waits this long (load tests) */
};

void engine_request_free(struct engine_request *r);
void engine_result_free(struct engine_result *r);

/* Runs `req` on the calling thread with the engine it names. Always fills
 * `out` (an unknown or failing engine is a failed result). */
void engine_run(const struct engine_request *req, const struct engine_options *opt,
		struct engine_result *out);

/* The echo engine: the reply is "echo: " + the message; usage counts bytes. */
void echo_run(const struct engine_request *req, const struct engine_options *opt,
	      struct engine_result *out);

struct engine_pool;

/* Starts `threads` workers. Returns 0 or -1. */
int engine_pool_start(int threads, const struct engine_options *opt, struct engine_pool **out);
/* Stops the workers after their current requests; queued ones are dropped
 * (the turn queue is durable and runs them again). */
void engine_pool_stop(struct engine_pool *pool);
/* Readable when results are waiting. */
int engine_pool_fd(const struct engine_pool *pool);
/* Hands `req` (taken) to a worker; an engine that never blocks (echo
 * without a delay) runs at once on the caller's thread instead. Either way
 * the result arrives through engine_pool_take(), never during this call. */
void engine_pool_submit(struct engine_pool *pool, struct engine_request *req);
/* The next finished result, or NULL; the caller frees it. */
struct engine_result *engine_pool_take(struct engine_pool *pool);

#endif
