/* proc: waiting for child processes without sleeping. */
#ifndef AB_UTIL_PROC_H
#define AB_UTIL_PROC_H

#include <sys/types.h>

/* Waits up to `timeout_ms` (-1: forever) for `pid` to exit and reaps it.
 * Returns 0 with the wait status in `*status`, 1 on timeout, -1 on error. */
int proc_wait(pid_t pid, int timeout_ms, int *status);

/* SIGTERM (repeated, see proc.c), then SIGKILL if `pid` is still there after
 * `grace_ms`; reaps it.
 * Returns the wait status, or -1. */
int proc_stop(pid_t pid, int grace_ms);

/* Restores the signal state a freshly exec'd program expects (nothing
 * blocked, default dispositions); for use in a child between fork and exec. */
void proc_reset_signals(void);

#endif
