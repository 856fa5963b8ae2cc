/* bridge/ws: the lws thread and the two queues between it and the loop.
 * Commands (connect, send, disconnect, stop) go to the thread under the
 * lock and wake it with lws_cancel_service(), the one lws call that is safe
 * from another thread; events (open, text, closed) come back under the same
 * lock and wake the loop through the eventfd. */
#include "bridge/ws.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "util/log.h"
#include "util/loop.h"

enum ws_msg_kind { WS_OPEN, WS_TEXT, WS_CLOSED, WS_SEND };

/* One item of either queue: an event for the loop, or a text to send. */
struct ws_msg {
	enum ws_msg_kind kind;
	int code, http_status;	/* WS_CLOSED */
	char *data;		/* the text, or the closed reason; NULL: none */
	size_t len;
	struct ws_msg *next;
};

/* A FIFO between the two threads, under the context's lock. */
struct ws_queue {
	struct ws_msg *head, *tail;
};

struct ws {
	struct loop *loop;
	struct ws_handlers fn;
	void *arg;
	int efd;
	bool busy;		/* loop side: a connection is open or opening */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	/* Under the lock. */
	bool stop;
	char *connect_url;
	char *connect_bearer;	/* sent on the upgrade request; NULL: none */
	bool want_disconnect;
	struct ws_queue out;	/* texts to send */
	struct ws_queue events;	/* for the loop */
	/* The thread's own. */
	struct lws_context *ctx;
	struct lws *wsi;
	char *bearer;		/* of the connection being made */
	char *rx;
	size_t rx_len, rx_cap;
	int close_code;
	bool ended;		/* this attempt's end was reported */
};

static struct ws_msg *msg_new(enum ws_msg_kind kind, const char *data, size_t len)
{
	struct ws_msg *m = calloc(1, sizeof *m);

	if (!m)
		return NULL;
	m->kind = kind;
	if (data) {
		m->data = malloc(len + 1);
		if (!m->data) {
			free(m);
			return NULL;
		}
		memcpy(m->data, data, len);
		m->data[len] = '\0';
		m->len = len;
	}
	return m;
}

static void msgs_free(struct ws_msg *m)
{
	while (m) {
		struct ws_msg *next = m->next;

		free(m->data);
		free(m);
		m = next;
	}
}

/* Under the lock. */
static void queue_push(struct ws_queue *q, struct ws_msg *m)
{
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
}

/* Under the lock: the oldest, or NULL. */
static struct ws_msg *queue_pop(struct ws_queue *q)
{
	struct ws_msg *m = q->head;

	if (m) {
		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		m->next = NULL;
	}
	return m;
}

/* Under the lock: the whole queue, which is left empty. */
static struct ws_msg *queue_take(struct ws_queue *q)
{
	struct ws_msg *all = q->head;

	q->head = q->tail = NULL;
	return all;
}

/* --- the thread's side ---------------------------------------------------- */

static void post(struct ws *w, enum ws_msg_kind kind, int code, int http_status,
		 const char *data, size_t len)
{
	struct ws_msg *e = msg_new(kind, data, len);
	uint64_t one = 1;

	if (!e)
		return;	/* the loop learns of the connection's end by its close */
	e->code = code;
	e->http_status = http_status;
	pthread_mutex_lock(&w->lock);
	queue_push(&w->events, e);
	pthread_mutex_unlock(&w->lock);
	if (write(w->efd, &one, sizeof one) < 0 && errno != EAGAIN)
		return;	/* cannot happen for an eventfd short of overflow */
}

/* Once per attempt: a connection that fails inside
 * lws_client_connect_via_info() reports its error from there, and the call
 * then returns NULL as well. */
static void ended(struct ws *w, int http_status, const char *why)
{
	if (!w->ended)
		post(w, WS_CLOSED, w->close_code, http_status, why, strlen(why));
	w->ended = true;
	w->wsi = NULL;
	w->rx_len = 0;
	w->close_code = 0;
}

static void start_connect(struct ws *w, char *url)
{
	struct lws_client_connect_info ci = { 0 };
	const char *scheme, *address, *rest;
	char path[4096];
	int port;

	w->ended = false;
	if (lws_parse_uri(url, &scheme, &address, &port, &rest) != 0) {
		ended(w, 0, "the URL cannot be parsed");
		return;
	}
	snprintf(path, sizeof path, "/%s", rest);
	ci.context = w->ctx;
	ci.address = address;
	ci.port = port;
	ci.path = path;
	ci.host = address;
	ci.origin = address;
	ci.ssl_connection = !strcmp(scheme, "wss") || !strcmp(scheme, "https") ? LCCSCF_USE_SSL : 0;
	ci.pwsi = &w->wsi;
	if (!lws_client_connect_via_info(&ci))
		ended(w, 0, "the connection could not be started");
}

static int on_receive(struct ws *w, struct lws *wsi, const char *in, size_t len)
{
	if (w->rx_len + len > WS_MESSAGE_MAX) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		return -1;
	}
	if (w->rx_len + len + 1 > w->rx_cap) {
		size_t cap = (w->rx_len + len + 1) * 2;
		char *p = realloc(w->rx, cap);

		if (!p)
			return -1;
		w->rx = p;
		w->rx_cap = cap;
	}
	memcpy(w->rx + w->rx_len, in, len);
	w->rx_len += len;
	if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
		if (!lws_frame_is_binary(wsi))
			post(w, WS_TEXT, 0, 0, w->rx, w->rx_len);
		w->rx_len = 0;
	}
	return 0;
}

static int on_writeable(struct ws *w, struct lws *wsi)
{
	struct ws_msg *m;
	unsigned char *buf;
	bool more;
	int n;

	pthread_mutex_lock(&w->lock);
	if (w->want_disconnect) {
		pthread_mutex_unlock(&w->lock);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	m = queue_pop(&w->out);
	more = w->out.head != NULL;
	pthread_mutex_unlock(&w->lock);
	if (!m)
		return 0;
	buf = malloc(LWS_PRE + m->len);
	n = -1;
	if (buf) {
		memcpy(buf + LWS_PRE, m->data, m->len);
		n = lws_write(wsi, buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
	}
	free(buf);
	msgs_free(m);
	if (n < 0)
		return -1;
	if (more)
		lws_callback_on_writable(wsi);
	return 0;
}

/* The commands the loop queued: run on the thread when it is woken. */
static void take_commands(struct ws *w)
{
	char *url;
	bool wake_writer;

	pthread_mutex_lock(&w->lock);
	url = w->connect_url;
	w->connect_url = NULL;
	if (url) {
		free(w->bearer);
		w->bearer = w->connect_bearer;
		w->connect_bearer = NULL;
	}
	wake_writer = w->out.head || w->want_disconnect;
	pthread_mutex_unlock(&w->lock);
	if (url) {
		start_connect(w, url);
		free(url);
	}
	if (wake_writer && w->wsi)
		lws_callback_on_writable(w->wsi);
}

/* A vault that authenticates by header (not by the first message) still
 * tells "no such route" (404) from "who are you" (401). */
static int append_bearer(struct ws *w, struct lws *wsi, void *in, size_t len)
{
	unsigned char **p = in, *end = *p + len;
	char value[8300];
	int n = snprintf(value, sizeof value, "Bearer %s", w->bearer);

	if (n < 0 || (size_t)n >= sizeof value)
		return 0;
	return lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
					    (unsigned char *)value, n, p, end) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct ws *w = lws_context_user(lws_get_context(wsi));
	char why[256];

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		take_commands(w);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		post(w, WS_OPEN, 0, 0, NULL, 0);
		take_commands(w);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(w, wsi, in, len);
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return w->bearer ? append_bearer(w, wsi, in, len) : 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(w, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			const unsigned char *p = in;

			w->close_code = p[0] << 8 | p[1];
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(why, sizeof why, "%s", in ? (const char *)in : "connection failed");
		if (wsi == w->wsi || !w->wsi)
			ended(w, (int)lws_http_client_http_response(wsi), why);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (wsi == w->wsi)
			ended(w, 0, w->close_code ? "closed by the server" : "connection closed");
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "agentbus-feed", callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void *run(void *arg)
{
	struct ws *w = arg;

	for (;;) {
		bool stop;

		pthread_mutex_lock(&w->lock);
		stop = w->stop;
		pthread_mutex_unlock(&w->lock);
		if (stop)
			break;
		if (lws_service(w->ctx, 0) < 0)
			break;
	}
	return NULL;
}

/* --- the loop's side ------------------------------------------------------ */

static void on_events(void *arg, int fd, int mask)
{
	struct ws *w = arg;
	struct ws_msg *e, *list;
	uint64_t n;

	(void)mask;
	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_debug("feed: eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&w->lock);
	list = queue_take(&w->events);
	pthread_mutex_unlock(&w->lock);
	for (e = list; e; e = e->next) {
		if (e->kind == WS_OPEN)
			w->fn.open(w->arg);
		else if (e->kind == WS_TEXT)
			w->fn.text(w->arg, e->data, e->len);
		else {
			w->busy = false;
			/* What was not sent goes with the connection. */
			pthread_mutex_lock(&w->lock);
			w->want_disconnect = false;
			msgs_free(queue_take(&w->out));
			pthread_mutex_unlock(&w->lock);
			w->fn.closed(w->arg, e->code, e->http_status, e->data ? e->data : "");
		}
	}
	msgs_free(list);
}

static void lws_quiet(int level, const char *line)
{
	(void)level;
	(void)line;
}

int ws_open(struct loop *l, const struct ws_handlers *fn, void *arg, struct ws **out)
{
	struct lws_context_creation_info info = { 0 };
	struct ws *w = calloc(1, sizeof *w);

	*out = NULL;
	if (!w)
		return -1;
	w->loop = l;
	w->fn = *fn;
	w->arg = arg;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&w->lock, NULL);
	/* Failures reach the feed as close reasons; lws's own lines would only
	 * repeat them on stderr, outside the daemon's log format. */
	lws_set_log_level(0, lws_quiet);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = w;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	if (w->efd < 0 || !(w->ctx = lws_create_context(&info)) ||
	    loop_watch(l, w->efd, LOOP_READ, on_events, w) != 0 ||
	    pthread_create(&w->thread, NULL, run, w) != 0) {
		log_error("feed: cannot start the WebSocket client");
		ws_close(w);
		return -1;
	}
	w->thread_started = true;
	*out = w;
	return 0;
}

void ws_close(struct ws *w)
{
	if (!w)
		return;
	if (w->thread_started) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_mutex_unlock(&w->lock);
		lws_cancel_service(w->ctx);
		pthread_join(w->thread, NULL);
	}
	if (w->ctx)
		lws_context_destroy(w->ctx);
	loop_close(w->loop, &w->efd);
	msgs_free(queue_take(&w->events));
	msgs_free(queue_take(&w->out));
	free(w->connect_url);
	free(w->connect_bearer);
	free(w->bearer);
	free(w->rx);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int ws_connect(struct ws *w, const char *url, const char *bearer)
{
	char *copy, *token = NULL;

	if (w->busy)
		return -1;
	copy = strdup(url);
	if (!copy || (bearer && !(token = strdup(bearer)))) {
		free(copy);
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	free(w->connect_url);
	free(w->connect_bearer);
	w->connect_url = copy;
	w->connect_bearer = token;
	w->want_disconnect = false;
	pthread_mutex_unlock(&w->lock);
	w->busy = true;
	lws_cancel_service(w->ctx);
	return 0;
}

int ws_send(struct ws *w, const char *text, size_t len)
{
	struct ws_msg *m;

	if (!w->busy || !(m = msg_new(WS_SEND, text, len)))
		return -1;
	pthread_mutex_lock(&w->lock);
	queue_push(&w->out, m);
	pthread_mutex_unlock(&w->lock);
	lws_cancel_service(w->ctx);
	return 0;
}

void ws_disconnect(struct ws *w)
{
	if (!w->busy)
		return;
	pthread_mutex_lock(&w->lock);
	w->want_disconnect = true;
	pthread_mutex_unlock(&w->lock);
	lws_cancel_service(w->ctx);
}
