/* bus/wakeup: silences libmosquitto's wake-up socket pair.
 *
 * mosquitto_new() (2.0) opens a socket pair, and libmosquitto writes one
 * byte into it for every packet it queues, to wake the select() inside
 * mosquitto_loop(). agentbus never calls that (its own loop drives the
 * socket), so nobody reads the pair: after its first 200 kB every queued
 * packet costs a write that fails with EAGAIN, and that stray errno makes
 * mosquitto_loop_read() stop after a single packet. The library offers no
 * way to reach the pair, but it is the two lowest free descriptors at the
 * moment of mosquitto_new(): they are found, checked to be a connected
 * AF_UNIX pair of this process, and pointed at /dev/null, where the writes
 * succeed and go nowhere. Should the check fail (another libmosquitto), the
 * pair is left alone and only a debug line says so. */
#ifndef AB_BUS_WAKEUP_H
#define AB_BUS_WAKEUP_H

#include <stdbool.h>

struct wakeup_probe {
	int fd[2];		/* the two lowest free descriptors; -1: unknown */
};

/* Right before mosquitto_new(), on a thread that is the only one opening
 * descriptors at the time. */
void wakeup_probe_before(struct wakeup_probe *p);
/* Right after it. Returns true when the pair was silenced. */
bool wakeup_silence(const struct wakeup_probe *p);

#endif
