/* engines/gate: the test engine. It answers as echo does, but only when the
 * test lets it: every byte written to the gate FIFO (--gate PATH) releases
 * the oldest waiting turn, '!' releasing it as a failure. Tests hold turns
 * open and release them in an order they choose, instead of guessing delays. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engines/job.h"
#include "util/log.h"
#include "util/loop.h"

struct gate {
	struct loop *loop;	/* borrowed */
	int fd;
	struct engine_job *head, *tail;	/* waiting, oldest first */
	char *credit;		/* tokens not yet used, oldest first */
	size_t n_credit, cap_credit;
	uint64_t drain_timer;	/* pending drain(), 0: none */
};

static void release(struct gate *g, char token)
{
	struct engine_job *job = g->head;
	struct engine_result *res;

	g->head = job->next_waiting;
	if (!g->head)
		g->tail = NULL;
	if (token == '!') {
		res = calloc(1, sizeof *res);
		if (res)
			res->error = strdup("the gate failed this turn");
	} else {
		res = echo_result(job->req);
		if (res)
			engine_job_delta(job, res->reply, strlen(res->reply));
	}
	engine_job_finish(job, res);
}

static int bank(struct gate *g, char token)
{
	if (g->n_credit == g->cap_credit) {
		size_t cap = g->cap_credit ? g->cap_credit * 2 : 64;
		char *c = realloc(g->credit, cap);

		if (!c)
			return -1;
		g->credit = c;
		g->cap_credit = cap;
	}
	g->credit[g->n_credit++] = token;
	return 0;
}

/* Releases waiting jobs while tokens last, in the order both came. */
static void drain(struct gate *g)
{
	size_t used = 0;

	while (g->head && used < g->n_credit)
		release(g, g->credit[used++]);
	memmove(g->credit, g->credit + used, g->n_credit - used);
	g->n_credit -= used;
}

static void drain_later(void *arg)
{
	struct gate *g = arg;

	g->drain_timer = 0;
	drain(g);
}

static void on_readable(void *arg, int fd, int mask)
{
	struct gate *g = arg;
	char buf[256];
	ssize_t n;

	(void)mask;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != '\n' && bank(g, buf[i]) != 0)
				log_error("gate: out of memory banking a token");
	}
	drain(g);
}

int gate_open(struct loop *l, const char *path, struct gate **out)
{
	struct gate *g = calloc(1, sizeof *g);

	*out = NULL;
	if (!g)
		return -1;
	g->loop = l;
	if (mkfifo(path, 0600) != 0 && errno != EEXIST) {
		log_error("gate: cannot create %s: %s", path, strerror(errno));
		free(g);
		return -1;
	}
	/* Read-write: the FIFO then always has a writer, so it never reports
	 * end-of-file between the test's writes. */
	g->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (g->fd < 0 || loop_watch(l, g->fd, LOOP_READ, on_readable, g) != 0) {
		log_error("gate: cannot open %s: %s", path, strerror(errno));
		if (g->fd >= 0)
			close(g->fd);
		free(g);
		return -1;
	}
	*out = g;
	return 0;
}

void gate_close(struct gate *g)
{
	if (!g)
		return;
	loop_unwatch(g->loop, g->fd);
	loop_timer_cancel(g->loop, g->drain_timer);
	close(g->fd);
	free(g->credit);
	free(g);
}

static int gate_start(struct engine_job *job)
{
	struct gate *g = engine_job_gate(job);

	if (!g) {
		job->error = strdup("engine 'gate' needs agentbus --gate FIFO");
		return -1;
	}
	job->next_waiting = NULL;
	if (g->tail)
		g->tail->next_waiting = job;
	else
		g->head = job;
	g->tail = job;
	/* A token that came early releases this job on the next iteration,
	 * never inside engine_start(). */
	if (g->n_credit && !g->drain_timer)
		g->drain_timer = loop_timer(g->loop, 0, drain_later, g);
	return 0;
}

static void gate_cancel(struct engine_job *job)
{
	struct gate *g = engine_job_gate(job);
	struct engine_job *prev = NULL;

	for (struct engine_job *j = g->head; j; prev = j, j = j->next_waiting) {
		if (j != job)
			continue;
		if (prev)
			prev->next_waiting = j->next_waiting;
		else
			g->head = j->next_waiting;
		if (g->tail == j)
			g->tail = prev;
		return;
	}
}

const struct engine_kind gate_engine = { "gate", gate_start, gate_cancel };
