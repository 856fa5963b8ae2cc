/* bridge/ws: one WebSocket client connection, spoken by libwebsockets on a
 * thread of its own. Debian's libwebsockets is built without external-poll
 * support, so its sockets cannot be loop fds; instead its thread owns the
 * lws context and nothing else, and hands whole text messages, opens and
 * closes to the daemon's loop through an eventfd. Everything the caller sees
 * (the handlers) runs on the loop's thread. */
#ifndef AB_BRIDGE_WS_H
#define AB_BRIDGE_WS_H

#include <stddef.h>

struct loop;
struct ws;

struct ws_handlers {
	void (*open)(void *arg);
	/* One whole text message (NUL-terminated at `len`). */
	void (*text)(void *arg, const char *data, size_t len);
	/* The connection ended or never came up: `code` is the peer's close
	 * code (0 when none), `http_status` the handshake's answer when it was
	 * not an upgrade (0 when none), `why` a line for the log. */
	void (*closed)(void *arg, int code, int http_status, const char *why);
};

/* Starts the thread. Returns 0, or -1 after logging. */
int ws_open(struct loop *l, const struct ws_handlers *fn, void *arg, struct ws **out);
/* Ends the connection and the thread; no handler runs afterwards. */
void ws_close(struct ws *w);

/* Connects to `url` (ws:// or wss://, or http:// / https:// meaning the
 * same), with `bearer` (NULL: none) in the upgrade's Authorization header.
 * Returns 0, or -1 when out of memory or a connection is already open or
 * opening. */
int ws_connect(struct ws *w, const char *url, const char *bearer);
/* Queues a text message on the open connection. 0 or -1 (none open). */
int ws_send(struct ws *w, const char *text, size_t len);
/* Closes the open connection (normal closure); `closed` follows. */
void ws_disconnect(struct ws *w);

/* Largest message accepted; a bigger one closes the connection. */
#define WS_MESSAGE_MAX (8u << 20)

#endif
