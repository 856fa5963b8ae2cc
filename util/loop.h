/* loop: the daemon's one event loop, in the shape of redis's ae.c. Sources
 * register a file descriptor with a mask and a callback, or a one-shot timer;
 * before-sleep hooks run once per iteration, right before the loop waits
 * (where the outboxes flush and the connection says whether it wants to
 * write). Single-threaded: every callback runs on the thread that calls
 * loop_run_once(). */
#ifndef AB_UTIL_LOOP_H
#define AB_UTIL_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOOP_READ 1
#define LOOP_WRITE 2

struct loop;

/* `mask` says what is ready: LOOP_READ (also hang-ups and errors), LOOP_WRITE. */
typedef void loop_fd_fn(void *arg, int fd, int mask);
typedef void loop_timer_fn(void *arg);
typedef void loop_hook_fn(void *arg);

/* Returns NULL when out of memory. */
struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watches `fd` for `mask` (0: registered but idle), replacing an earlier
 * registration of the same fd. Returns 0 or -1. */
int loop_watch(struct loop *l, int fd, int mask, loop_fd_fn *fn, void *arg);
/* Changes the mask of a watched fd; no-op for an fd that is not watched. */
void loop_set_mask(struct loop *l, int fd, int mask);
void loop_unwatch(struct loop *l, int fd);
/* Unwatches and closes `*fd`, then sets it to -1; nothing when it is -1. */
void loop_close(struct loop *l, int *fd);

/* A one-shot timer `ms` from now (0: on the next iteration, after the fds).
 * Returns its id (> 0), or 0 when out of memory. */
uint64_t loop_timer(struct loop *l, int64_t ms, loop_timer_fn *fn, void *arg);
/* Cancels a timer that has not fired; ids of fired or cancelled timers and 0
 * are ignored. */
void loop_timer_cancel(struct loop *l, uint64_t id);

/* Runs `fn` before every wait, in the order added. Returns 0 or -1. */
int loop_before_sleep(struct loop *l, loop_hook_fn *fn, void *arg);

/* One iteration: the hooks, one wait (for at most the nearest timer), then
 * the ready fds and the due timers. Returns 0, or -1 when poll() failed. */
int loop_run_once(struct loop *l);

/* The loop's clock, monotonic milliseconds, read once per iteration. */
int64_t loop_now(const struct loop *l);

#endif
