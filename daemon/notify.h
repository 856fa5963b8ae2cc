/* notify: systemd's readiness protocol (sd_notify) without libsystemd: one
 * datagram to $NOTIFY_SOCKET per state change. */
#ifndef AB_DAEMON_NOTIFY_H
#define AB_DAEMON_NOTIFY_H

/* Sends `state` ("READY=1", "STOPPING=1", "STATUS=…"). Returns 0, or -1
 * when the socket is set but cannot be reached (not running under systemd
 * with Type=notify is 0: there is nobody to tell). */
int notify_send(const char *state);

#endif
