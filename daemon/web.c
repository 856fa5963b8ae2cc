/* web: libmicrohttpd without threads of its own (MHD_USE_EPOLL and no
 * internal polling): the loop watches MHD's epoll fd and calls MHD_run when
 * it is ready or MHD's timeout comes. An /events stream is a response read
 * through a callback; when its page has nothing pending the connection is
 * suspended, and the console's wake-up resumes it (MHD's own pipe then makes
 * the epoll fd ready). */
#include "daemon/web.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/console.h"
#include "util/crash.h"
#include "util/log.h"
#include "util/secret.h"
#include "util/loop.h"

#define SEND_MAX 65536

extern const unsigned char console_page[];
extern const size_t console_page_len;

struct web {
	struct loop *loop;
	struct MHD_Daemon *mhd;
	int epoll_fd;
	uint64_t timer;
	struct web_routes routes;
	struct console *feed;
	char *token;
	bool on_loopback;
	bool closing;		/* streams end instead of waiting */
	unsigned port;		/* the one bound */
};

/* One request's own state: the upload of /send, or a stream. */
struct request {
	struct web *w;
	char *body;
	size_t len, limit;
	bool too_big;
	bool hook;		/* a vault's webhook */
	bool answered;		/* its response was queued */
};

struct stream {
	struct web *w;
	struct MHD_Connection *conn;
	struct console_client *client;
	bool suspended;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
			       char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body,
								 MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

/* The console's token, from a bearer, the cookie the page got, or ?token=. */
static bool authorised(const struct web *w, struct MHD_Connection *conn, bool *from_query)
{
	const char *bearer = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "agentbus_console");
	const char *query = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");

	*from_query = false;
	if (!w->token)
		return w->on_loopback;
	if (bearer && strncmp(bearer, "Bearer ", 7) == 0 && secret_equal(bearer + 7, w->token))
		return true;
	if (cookie && secret_equal(cookie, w->token))
		return true;
	*from_query = query && secret_equal(query, w->token);
	return *from_query;
}

static enum MHD_Result refuse_console(struct web *w, struct MHD_Connection *conn)
{
	if (!w->token)
		return respond(conn, 403, "text/plain", strdup("the console is served on 127.0.0.1 "
			       "only, unless --http-token-file is set\n"));
	return respond(conn, 401, "text/plain", strdup("the console needs the token of "
		       "--http-token-file: open /?token=TOKEN once, or send it as a bearer\n"));
}

static enum MHD_Result page(struct web *w, struct MHD_Connection *conn, bool set_cookie)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(console_page_len,
		(void *)console_page, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;
	char *cookie = NULL;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'; "
				"script-src 'unsafe-inline'; style-src 'unsafe-inline'");
	if (set_cookie && asprintf(&cookie, "agentbus_console=%s; HttpOnly; SameSite=Strict; "
				   "Path=/", w->token) >= 0) {
		MHD_add_response_header(r, "Set-Cookie", cookie);
		free(cookie);
	}
	rc = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return rc;
}

static void on_timer(void *arg);

/* MHD runs at the next loop iteration. Its own pipe does not wake an
 * external event loop for a resumed connection: this does. */
static void kick(struct web *w)
{
	loop_timer_cancel(w->loop, w->timer);
	w->timer = loop_timer(w->loop, 0, on_timer, w);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t n;

	(void)pos;
	if (console_dropped(s->client))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (s->w->closing)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = console_read(s->client, buf, max);
	if (n > 0)
		return (ssize_t)n;
	/* Nothing pending: parked until the console has more for this page. */
	s->suspended = true;
	MHD_suspend_connection(s->conn);
	return 0;
}

static void stream_wake(void *arg)
{
	struct stream *s = arg;

	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
		kick(s->w);
	}
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	console_detach(s->client);
	free(s);
}

static enum MHD_Result events(struct web *w, struct MHD_Connection *conn)
{
	const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
	struct stream *s = calloc(1, sizeof *s);
	struct MHD_Response *r;
	enum MHD_Result rc;
	char *end = NULL;
	unsigned long long id = last ? strtoull(last, &end, 10) : 0;

	if (!s)
		return MHD_NO;
	s->w = w;
	s->conn = conn;
	s->client = console_attach(w->feed, last && end != last && !*end, id, stream_wake, s);
	r = s->client ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s,
							  stream_free) : NULL;
	if (!r) {
		if (s->client)
			console_detach(s->client);
		free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	rc = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return rc;
}

/* POST /send {"agent", "text"}: the console's box. */
static enum MHD_Result send_message(struct web *w, struct MHD_Connection *conn,
				    struct request *q)
{
	cJSON *doc = q->body ? cJSON_ParseWithLength(q->body, q->len) : NULL;
	const char *agent = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "agent"));
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "text"));
	char why[256] = "";
	enum MHD_Result rc;

	if (!w->routes.send)
		rc = respond(conn, 403, "text/plain", strdup("this console may not send messages "
			     "(--console-send)\n"));
	else if (!MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Agentbus-Console"))
		rc = respond(conn, 400, "text/plain", strdup("X-Agentbus-Console header missing\n"));
	else if (q->too_big || !agent || !text || !*text)
		rc = respond(conn, 400, "text/plain", strdup("expected {\"agent\", \"text\"}\n"));
	else if (w->routes.send(w->routes.arg, agent, text, why, sizeof why) != 0)
		rc = respond(conn, 400, "text/plain", strdup(why));
	else
		rc = respond(conn, 202, "application/json", strdup("{\"ok\":true}\n"));
	cJSON_Delete(doc);
	return rc;
}

/* Accumulates an upload; true while more of it comes. */
static bool upload(struct request *q, const char *data, size_t *size)
{
	if (*size == 0)
		return false;
	if (q->len + *size > q->limit || q->too_big) {
		q->too_big = true;
	} else {
		char *grown = realloc(q->body, q->len + *size + 1);

		if (grown) {
			memcpy(grown + q->len, data, *size);
			q->body = grown;
			q->len += *size;
			q->body[q->len] = '\0';
		} else {
			q->too_big = true;
		}
	}
	*size = 0;
	return true;
}

/* "/vault/<V>/hook": `vault` gets V. */
static bool is_hook(const char *url, char *vault, size_t len)
{
	const char *v = url + 7, *end;

	if (strncmp(url, "/vault/", 7) != 0 || !(end = strchr(v, '/')) || end == v ||
	    strcmp(end, "/hook") != 0)
		return false;
	if (vault)
		snprintf(vault, len, "%.*s", (int)(end - v), v);
	return true;
}

static bool from_loopback(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr_in *sa = ci ? (const struct sockaddr_in *)ci->client_addr : NULL;

	return sa && sa->sin_family == AF_INET &&
	       (ntohl(sa->sin_addr.s_addr) >> 24) == 127;
}

/* A vault's trigger webhook: answered only once the event is recorded. */
static enum MHD_Result hook(struct web *w, struct MHD_Connection *conn, const char *url,
			    const char *method, struct request *q)
{
	char vault[128], answer[512];
	int status;

	if (strcmp(method, "POST") != 0)
		return respond(conn, 405, "application/json", strdup("{\"error\":\"POST only\"}"));
	if (q->too_big)
		return respond(conn, 413, "application/json",
			       strdup("{\"error\":\"the body exceeds the payload limit\"}"));
	is_hook(url, vault, sizeof vault);
	status = w->routes.hook(w->routes.arg, vault,
				MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							    MHD_HTTP_HEADER_AUTHORIZATION),
				from_loopback(conn), q->body ? q->body : "", q->len, answer,
				sizeof answer);
	q->answered = true;
	return respond(conn, (unsigned)status, "application/json", strdup(answer));
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_size, void **state)
{
	struct web *w = cls;
	struct request *q = *state;
	char why[256] = "", *text;
	int (*check)(void *, char *, size_t) = NULL;
	bool from_query = false;

	(void)version;
	if (!q) {	/* the headers; the answer comes at a later call */
		if (!(q = calloc(1, sizeof *q)))
			return MHD_NO;
		q->w = w;
		q->hook = w->routes.hook && is_hook(url, NULL, 0);
		q->limit = q->hook ? w->routes.hook_max : SEND_MAX;
		*state = q;
		return MHD_YES;
	}
	if (strcmp(method, "POST") == 0 && upload(q, data, data_size))
		return MHD_YES;
	if (q->hook)
		return hook(w, conn, url, method, q);
	if (w->feed && (strcmp(url, "/") == 0 || strcmp(url, "/events") == 0 ||
			strcmp(url, "/send") == 0)) {
		if (!authorised(w, conn, &from_query))
			return refuse_console(w, conn);
		if (strcmp(url, "/send") == 0)
			return strcmp(method, "POST") == 0 ? send_message(w, conn, q)
			       : respond(conn, 405, "text/plain", strdup("POST only\n"));
		if (strcmp(method, "GET") != 0)
			return respond(conn, 405, "text/plain", strdup("GET only\n"));
		return strcmp(url, "/") == 0 ? page(w, conn, from_query) : events(w, conn);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond(conn, 405, "text/plain", strdup("GET only\n"));
	if (strcmp(url, "/metrics") == 0) {
		text = w->routes.metrics(w->routes.arg);
		return text ? respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text)
			    : respond(conn, 500, "text/plain", strdup("out of memory\n"));
	}
	if (strcmp(url, "/favicon.ico") == 0)
		return respond(conn, 204, "image/x-icon", strdup(""));
	if (strcmp(url, "/healthz") == 0)
		check = w->routes.health;
	else if (strcmp(url, "/readyz") == 0)
		check = w->routes.ready;
	else
		return respond(conn, 404, "text/plain",
			       strdup("not found: /, /events, /metrics, /healthz or /readyz\n"));
	if (check(w->routes.arg, why, sizeof why) == 0)
		return respond(conn, 200, "text/plain", strdup("ok\n"));
	if (asprintf(&text, "%s\n", why) < 0)
		text = strdup("unhealthy\n");
	return respond(conn, 503, "text/plain", text);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **state,
			 enum MHD_RequestTerminationCode code)
{
	struct request *q = *state;

	(void)cls;
	(void)conn;
	/* The crash tests' point: a webhook answered, its event not yet sent.
	 * A vault that closes as soon as it has read the answer ends the
	 * request as a client abort, not as completed: either counts. */
	(void)code;
	if (q && q->hook && q->answered)
		crash_point("hook-answered");
	if (q) {
		free(q->body);
		free(q);
		*state = NULL;
	}
}

static void rearm(struct web *w);

static void on_timer(void *arg)
{
	struct web *w = arg;

	w->timer = 0;
	MHD_run(w->mhd);
	rearm(w);
}

static void rearm(struct web *w)
{
	MHD_UNSIGNED_LONG_LONG ms;

	loop_timer_cancel(w->loop, w->timer);
	w->timer = MHD_get_timeout(w->mhd, &ms) == MHD_YES ? loop_timer(w->loop, (int64_t)ms,
									 on_timer, w)
							  : 0;
}

static void on_ready(void *arg, int fd, int mask)
{
	struct web *w = arg;

	(void)fd;
	(void)mask;
	MHD_run(w->mhd);
	rearm(w);
}

static int parse_addr(const char *addr, struct sockaddr_in *sa)
{
	const char *colon = strrchr(addr, ':');
	char host[64] = "127.0.0.1";
	char *end;
	long port;

	if (colon) {
		if ((size_t)(colon - addr) >= sizeof host)
			return -1;
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = '\0';
	}
	port = strtol(colon ? colon + 1 : addr, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -1;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int web_open(struct loop *l, const char *addr, const struct web_routes *routes,
	     const struct web_console *console, struct web **out)
{
	struct web *w = calloc(1, sizeof *w);
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;
	char shown[INET_ADDRSTRLEN] = "?";

	*out = NULL;
	if (!w || parse_addr(addr, &sa) != 0) {
		log_error("--http %s: expected PORT or IPv4-ADDRESS:PORT", addr);
		free(w);
		return -1;
	}
	w->loop = l;
	w->routes = *routes;
	w->feed = console->feed;
	w->on_loopback = sa.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
	if (console->token && !(w->token = strdup(console->token))) {
		free(w);
		return -1;
	}
	/* Streams are suspended while idle, and suspended connections never
	 * time out: the 30 s limit is for requests that stall. */
	w->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, answer,
				  w, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_TIMEOUT, 30U,
				  MHD_OPTION_NOTIFY_COMPLETED, request_done, w, MHD_OPTION_END);
	info = w->mhd ? MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!info || loop_watch(l, info->epoll_fd, LOOP_READ, on_ready, w) != 0) {
		log_error("--http %s: cannot listen there", addr);
		web_close(w);
		return -1;
	}
	w->epoll_fd = info->epoll_fd;
	info = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_BIND_PORT);
	w->port = info ? info->port : 0;
	inet_ntop(AF_INET, &sa.sin_addr, shown, sizeof shown);
	log_info("http: serving /metrics, /healthz, /readyz%s on %s:%u",
		 !w->feed ? "" : w->token || w->on_loopback ? " and the console (/)" :
		 " (the console needs --http-token-file off 127.0.0.1)", shown,
		 info ? (unsigned)info->port : 0u);
	rearm(w);
	*out = w;
	return 0;
}

void web_close(struct web *w)
{
	if (!w)
		return;
	if (w->mhd) {
		if (w->epoll_fd > 0)
			loop_unwatch(w->loop, w->epoll_fd);
		/* MHD refuses to stop with suspended connections: every stream is
		 * resumed, and the run below ends it. */
		w->closing = true;
		if (w->feed)
			console_wake_all(w->feed);
		MHD_run(w->mhd);
		MHD_stop_daemon(w->mhd);
	}
	loop_timer_cancel(w->loop, w->timer);
	free(w->token);
	free(w);
}

unsigned web_port(const struct web *w)
{
	return w->port;
}
