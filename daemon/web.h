/* web: the daemon's HTTP endpoints (/metrics, /healthz, /readyz, and the
 * console: / and its /events stream, /send), served by libmicrohttpd on the
 * daemon's own loop: MHD's epoll fd is one more loop source, so every
 * request is answered on the loop's thread and nothing else ever touches
 * MQTT or SQLite. */
#ifndef AB_DAEMON_WEB_H
#define AB_DAEMON_WEB_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct web;
struct console;

struct web_routes {
	/* The /metrics text (malloc'd), or NULL. */
	char *(*metrics)(void *arg);
	/* 0 when healthy (/healthz) or ready (/readyz); else -1 with a one-line reason. */
	int (*health)(void *arg, char *why, size_t len);
	int (*ready)(void *arg, char *why, size_t len);
	/* The console's box: sends `text` to `agent`'s inbox. 0, or -1 with why
	 * (an unknown agent). NULL: the console may not send. */
	int (*send)(void *arg, const char *agent, const char *text, char *why, size_t len);
	/* A vault's webhook (POST /vault/V/hook): the status to answer and its
	 * JSON body in `answer`. NULL: no bridge, no such route. */
	int (*hook)(void *arg, const char *vault, const char *authorization, bool loopback,
		    const char *body, size_t len, char *answer, size_t answer_len);
	size_t hook_max;	/* the largest webhook body taken */
	void *arg;
};

struct web_console {
	struct console *feed;	/* NULL: no console */
	const char *token;	/* NULL: none (only allowed on 127.0.0.1) */
};

/* Serves on `addr`: "PORT" (loopback) or "HOST:PORT"; port 0 picks one,
 * which the log line names. Returns 0, or -1 after logging. */
int web_open(struct loop *l, const char *addr, const struct web_routes *routes,
	     const struct web_console *console, struct web **out);
void web_close(struct web *w);
/* The port it listens on (the one picked, for port 0). */
unsigned web_port(const struct web *w);

#endif
