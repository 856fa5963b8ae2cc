/* signals: SIGINT, SIGTERM and SIGHUP as readable events on an fd. */
#ifndef AB_DAEMON_SIGNALS_H
#define AB_DAEMON_SIGNALS_H

/* Blocks the signals and returns a non-blocking signalfd, or -1.
 * Also ignores SIGPIPE: a dead broker socket is an error value, not a death. */
int signals_open(void);

/* The next pending signal number, or 0 when none is pending. */
int signals_next(int fd);

#endif
