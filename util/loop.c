/* loop: poll(2) over a small array of watched fds and a sorted list of
 * timers. A daemon has a handful of fds and one timer per running turn, so
 * linear structures cost less than they would save. */
#include "util/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"

struct watch {
	int fd;
	int mask;
	loop_fd_fn *fn;
	void *arg;
};

struct timer {
	uint64_t id;
	int64_t due;
	loop_timer_fn *fn;
	void *arg;
	struct timer *next;	/* sorted by due, then by id */
};

struct hook {
	loop_hook_fn *fn;
	void *arg;
};

struct loop {
	struct watch *watches;
	size_t n_watches, cap_watches;
	struct pollfd *pfds;	/* rebuilt each iteration; cap_watches long */
	struct timer *timers;
	uint64_t next_id;
	struct hook *hooks;
	size_t n_hooks;
	int64_t now;
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof *l);

	if (l)
		l->now = clock_mono_ms();
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	while (l->timers) {
		struct timer *t = l->timers;

		l->timers = t->next;
		free(t);
	}
	free(l->watches);
	free(l->pfds);
	free(l->hooks);
	free(l);
}

static struct watch *find_watch(struct loop *l, int fd)
{
	for (size_t i = 0; i < l->n_watches; i++)
		if (l->watches[i].fd == fd)
			return &l->watches[i];
	return NULL;
}

int loop_watch(struct loop *l, int fd, int mask, loop_fd_fn *fn, void *arg)
{
	struct watch *w = find_watch(l, fd);

	if (!w) {
		if (l->n_watches == l->cap_watches) {
			size_t cap = l->cap_watches ? l->cap_watches * 2 : 8;
			struct watch *v = realloc(l->watches, cap * sizeof *v);
			struct pollfd *p = v ? realloc(l->pfds, cap * sizeof *p) : NULL;

			if (v)
				l->watches = v;
			if (!p)
				return -1;
			l->pfds = p;
			l->cap_watches = cap;
		}
		w = &l->watches[l->n_watches++];
	}
	*w = (struct watch){ fd, mask, fn, arg };
	return 0;
}

void loop_set_mask(struct loop *l, int fd, int mask)
{
	struct watch *w = find_watch(l, fd);

	if (w)
		w->mask = mask;
}

void loop_unwatch(struct loop *l, int fd)
{
	struct watch *w = find_watch(l, fd);

	if (!w)
		return;
	/* Marked, not removed: the fd array may be in the middle of being served. */
	w->fd = -1;
	w->fn = NULL;
}

static void compact_watches(struct loop *l)
{
	size_t j = 0;

	for (size_t i = 0; i < l->n_watches; i++)
		if (l->watches[i].fd >= 0)
			l->watches[j++] = l->watches[i];
	l->n_watches = j;
}

uint64_t loop_timer(struct loop *l, int64_t ms, loop_timer_fn *fn, void *arg)
{
	struct timer *t = malloc(sizeof *t), **pp = &l->timers;

	if (!t)
		return 0;
	*t = (struct timer){ ++l->next_id, clock_mono_ms() + (ms > 0 ? ms : 0), fn, arg, NULL };
	while (*pp && (*pp)->due <= t->due)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
	return t->id;
}

void loop_timer_cancel(struct loop *l, uint64_t id)
{
	for (struct timer **pp = &l->timers; id && *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct timer *t = *pp;

			*pp = t->next;
			free(t);
			return;
		}
	}
}

int loop_before_sleep(struct loop *l, loop_hook_fn *fn, void *arg)
{
	struct hook *h = realloc(l->hooks, (l->n_hooks + 1) * sizeof *h);

	if (!h)
		return -1;
	l->hooks = h;
	l->hooks[l->n_hooks++] = (struct hook){ fn, arg };
	return 0;
}

int64_t loop_now(const struct loop *l)
{
	return l->now;
}

static int wait_ms(const struct loop *l)
{
	int64_t d;

	if (!l->timers)
		return -1;
	d = l->timers->due - clock_mono_ms();
	return d <= 0 ? 0 : d > 60000 ? 60000 : (int)d;
}

/* Fires the timers due now; timers added meanwhile wait for the next turn. */
static void run_timers(struct loop *l)
{
	uint64_t last = l->next_id;

	l->now = clock_mono_ms();
	while (l->timers && l->timers->due <= l->now && l->timers->id <= last) {
		struct timer *t = l->timers;
		loop_timer_fn *fn = t->fn;
		void *arg = t->arg;

		l->timers = t->next;
		free(t);
		fn(arg);
	}
}

int loop_run_once(struct loop *l)
{
	size_t n;
	int rc;

	for (size_t i = 0; i < l->n_hooks; i++)
		l->hooks[i].fn(l->hooks[i].arg);
	compact_watches(l);
	n = l->n_watches;
	for (size_t i = 0; i < n; i++) {
		short ev = 0;

		if (l->watches[i].mask & LOOP_READ)
			ev |= POLLIN;
		if (l->watches[i].mask & LOOP_WRITE)
			ev |= POLLOUT;
		l->pfds[i] = (struct pollfd){ .fd = l->watches[i].mask ? l->watches[i].fd : -1,
					      .events = ev };
	}
	rc = poll(l->pfds, (nfds_t)n, wait_ms(l));
	if (rc < 0 && errno != EINTR) {
		log_error("poll: %s", strerror(errno));
		return -1;
	}
	l->now = clock_mono_ms();
	for (size_t i = 0; rc > 0 && i < n; i++) {
		short re = l->pfds[i].revents;
		struct watch *w = &l->watches[i];
		int mask = 0;

		if (!re || w->fd != l->pfds[i].fd || !w->fn)
			continue;	/* idle, or unwatched by an earlier callback */
		if (re & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
			mask |= LOOP_READ;
		if (re & POLLOUT)
			mask |= LOOP_WRITE;
		w->fn(w->arg, w->fd, mask);
	}
	run_timers(l);
	return 0;
}

void loop_close(struct loop *l, int *fd)
{
	if (*fd >= 0) {
		loop_unwatch(l, *fd);
		close(*fd);
		*fd = -1;
	}
}
