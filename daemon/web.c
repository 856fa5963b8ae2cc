/* web: libmicrohttpd without threads of its own (MHD_USE_EPOLL and no
 * internal polling): the loop watches MHD's epoll fd and calls MHD_run when
 * it is ready or MHD's timeout comes. */
#include "daemon/web.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/loop.h"

struct web {
	struct loop *loop;
	struct MHD_Daemon *mhd;
	int epoll_fd;
	uint64_t timer;
	struct web_routes routes;
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

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct web *w = cls;
	char why[256] = "", *text;
	int (*check)(void *, char *, size_t) = NULL;

	(void)version;
	(void)upload;
	(void)upload_size;
	if (!*state) {	/* the headers; the answer comes at the next call */
		*state = w;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond(conn, 405, "text/plain", strdup("GET only\n"));
	if (strcmp(url, "/metrics") == 0) {
		text = w->routes.metrics(w->routes.arg);
		return text ? respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text)
			    : respond(conn, 500, "text/plain", strdup("out of memory\n"));
	}
	if (strcmp(url, "/healthz") == 0)
		check = w->routes.health;
	else if (strcmp(url, "/readyz") == 0)
		check = w->routes.ready;
	else
		return respond(conn, 404, "text/plain",
			       strdup("not found: /metrics, /healthz or /readyz\n"));
	if (check(w->routes.arg, why, sizeof why) == 0)
		return respond(conn, 200, "text/plain", strdup("ok\n"));
	if (asprintf(&text, "%s\n", why) < 0)
		text = strdup("unhealthy\n");
	return respond(conn, 503, "text/plain", text);
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

int web_open(struct loop *l, const char *addr, const struct web_routes *routes, struct web **out)
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
	w->mhd = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, answer, w, MHD_OPTION_SOCK_ADDR,
				  &sa, MHD_OPTION_CONNECTION_TIMEOUT, 30U, MHD_OPTION_END);
	info = w->mhd ? MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!info || loop_watch(l, info->epoll_fd, LOOP_READ, on_ready, w) != 0) {
		log_error("--http %s: cannot listen there", addr);
		web_close(w);
		return -1;
	}
	w->epoll_fd = info->epoll_fd;
	info = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_BIND_PORT);
	inet_ntop(AF_INET, &sa.sin_addr, shown, sizeof shown);
	log_info("http: serving /metrics, /healthz and /readyz on %s:%u", shown,
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
		MHD_stop_daemon(w->mhd);
	}
	loop_timer_cancel(w->loop, w->timer);
	free(w);
}
