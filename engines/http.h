/* engines/http: HTTP transfers on the daemon's loop with libcurl's multi
 * interface: curl's sockets are loop fds and its timeouts loop timers, so a
 * thousand slow streams cost a thousand sockets, not a thread each. The
 * only code that includes curl.h. */
#ifndef AB_ENGINES_HTTP_H
#define AB_ENGINES_HTTP_H

#include <stddef.h>

struct loop;
struct http;
struct http_transfer;

struct http_request {
	const char *method;		/* NULL: POST; "GET" sends no body */
	const char *url;
	const char *const *headers;	/* "Name: value", NULL-terminated */
	const char *body;		/* sent as is (POST, PATCH, ...) */
	size_t body_len;
	int idle_s;			/* abort when no byte comes for this long */
	int connect_timeout_s;
};

struct http_handlers {
	/* Response body bytes, with the status line's code. Non-zero aborts the
	 * transfer (done then reports it, with `aborted`). */
	int (*data)(void *arg, long status, const char *buf, size_t len);
	/* Once, at the end, unless cancelled. `curl_code` 0 is a complete
	 * transfer whatever its status; `error` says why otherwise.
	 * `retry_after_ms`: what the server asked (retry-after-ms, else
	 * retry-after in seconds), -1 when nothing. */
	void (*done)(void *arg, int curl_code, const char *error, long status, long retry_after_ms,
		     int aborted);
};

int http_open(struct loop *l, struct http **out);
/* Ends every transfer (no callbacks) and frees the context. */
void http_close(struct http *h);

/* NULL when the transfer cannot start (out of memory, bad URL). */
struct http_transfer *http_start(struct http *h, const struct http_request *req,
				 const struct http_handlers *fn, void *arg);
/* Ends it at once; no callback runs afterwards. */
void http_cancel(struct http_transfer *t);

/* A TCP connection to host:port made by curl (its resolver, its connect
 * timeout) and handed over: `done` gets the connected socket (the caller's
 * to close) or -1 with why. For the sandbox's egress proxy. NULL when the
 * attempt cannot start. Cancelled with http_cancel. */
struct http_transfer *http_connect(struct http *h, const char *host, int port, int timeout_s,
				   void (*done)(void *arg, int fd, const char *error), void *arg);

/* libcurl's version ("8.x.y"). */
const char *http_library_version(void);

/* Is `code` (a curl code from done) the idle or connect timeout? */
int http_code_is_timeout(int code);

/* Is `code` (a curl code from done) a connection failure worth retrying? */
int http_code_is_connection(int code);

#endif
