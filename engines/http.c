/* engines/http: curl multi driven by util/loop. curl says which sockets it
 * wants watched for what (the socket callback) and when it wants to be
 * called without a socket event (the timer callback); the loop calls
 * curl_multi_socket_action for either, and finished transfers are collected
 * right after. Nothing blocks: DNS of a literal loopback address needs no
 * resolver, and curl's threaded resolver does the rest off the loop. */
#include "engines/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"
#include "util/loop.h"

struct http {
	struct loop *loop;
	CURLM *multi;
	uint64_t timer;
	struct http_transfer *transfers;
};

struct http_transfer {
	struct http *h;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct http_handlers fn;
	void *arg;
	long retry_after_ms;
	bool aborted;
	char error[CURL_ERROR_SIZE];
	void (*connected)(void *arg, int fd, const char *error);	/* http_connect */
	struct http_transfer *prev, *next;
};

const char *http_library_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}

int http_code_is_timeout(int code)
{
	return code == CURLE_OPERATION_TIMEDOUT;
}

int http_code_is_connection(int code)
{
	return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
	       code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR ||
	       code == CURLE_GOT_NOTHING || code == CURLE_PARTIAL_FILE ||
	       code == CURLE_OPERATION_TIMEDOUT || code == CURLE_SSL_CONNECT_ERROR;
}

static void link_transfer(struct http *h, struct http_transfer *t)
{
	t->next = h->transfers;
	if (h->transfers)
		h->transfers->prev = t;
	h->transfers = t;
}

static void unlink_free(struct http_transfer *t)
{
	struct http *h = t->h;

	if (t->prev)
		t->prev->next = t->next;
	else
		h->transfers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	curl_multi_remove_handle(h->multi, t->easy);
	curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t->body);
	free(t);
}

/* A connect-only transfer's socket, duplicated: curl closes its own copy
 * with the handle. */
static void hand_over(struct http_transfer *t, CURLcode code)
{
	void (*done)(void *, int, const char *) = t->connected;
	void *arg = t->arg;
	curl_socket_t s = CURL_SOCKET_BAD;
	char error[CURL_ERROR_SIZE];
	int fd = -1;

	snprintf(error, sizeof error, "%s", t->error[0] ? t->error : curl_easy_strerror(code));
	if (code == CURLE_OK &&
	    curl_easy_getinfo(t->easy, CURLINFO_ACTIVESOCKET, &s) == CURLE_OK &&
	    s != CURL_SOCKET_BAD && (fd = fcntl(s, F_DUPFD_CLOEXEC, 3)) < 0)
		snprintf(error, sizeof error, "%s", strerror(errno));
	else if (code == CURLE_OK && fd < 0)
		snprintf(error, sizeof error, "curl kept no socket");
	unlink_free(t);
	done(arg, fd, fd >= 0 ? NULL : error);
}

/* Hands every finished transfer to its owner. */
static void collect(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct http_transfer *t = NULL;
		struct http_handlers fn;
		long status = 0, retry;
		void *arg;
		int code, aborted;
		char error[CURL_ERROR_SIZE];

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (t->connected) {
			hand_over(t, msg->data.result);
			continue;
		}
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		code = msg->data.result;
		fn = t->fn;
		arg = t->arg;
		retry = t->retry_after_ms;
		aborted = t->aborted;
		snprintf(error, sizeof error, "%s",
			 t->error[0] ? t->error : curl_easy_strerror((CURLcode)code));
		unlink_free(t);	/* msg is invalid from here */
		fn.done(arg, code, code ? error : NULL, status, retry, aborted);
	}
}

static void on_socket_ready(void *arg, int fd, int mask)
{
	struct http *h = arg;
	int running, ev = 0;

	if (mask & LOOP_READ)
		ev |= CURL_CSELECT_IN;
	if (mask & LOOP_WRITE)
		ev |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, ev, &running);
	collect(h);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	int mask = 0;

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		loop_unwatch(h->loop, s);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		mask |= LOOP_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		mask |= LOOP_WRITE;
	return loop_watch(h->loop, s, mask, on_socket_ready, h) == 0 ? 0 : -1;
}

static void on_timer(void *arg)
{
	struct http *h = arg;
	int running;

	h->timer = 0;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect(h);
}

/* curl asks to be called back in `ms` (-1: never); not from inside this. */
static int on_curl_timer(CURLM *multi, long ms, void *userp)
{
	struct http *h = userp;

	(void)multi;
	loop_timer_cancel(h->loop, h->timer);
	h->timer = ms >= 0 ? loop_timer(h->loop, ms, on_timer, h) : 0;
	return ms >= 0 && !h->timer ? -1 : 0;
}

int http_open(struct loop *l, struct http **out)
{
	struct http *h = calloc(1, sizeof *h);

	*out = NULL;
	if (!h)
		return -1;
	h->loop = l;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(h->multi = curl_multi_init())) {
		free(h);
		log_error("http: cannot initialise libcurl");
		return -1;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*out = h;
	return 0;
}

void http_close(struct http *h)
{
	if (!h)
		return;
	while (h->transfers)
		unlink_free(h->transfers);
	loop_timer_cancel(h->loop, h->timer);
	curl_multi_cleanup(h->multi);
	curl_global_cleanup();
	free(h);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_transfer *t = arg;
	long status = 0;

	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	if (t->fn.data(t->arg, status, ptr, size * nmemb) != 0) {
		t->aborted = true;
		return 0;
	}
	return size * nmemb;
}

/* retry-after-ms (milliseconds) wins over retry-after (seconds); an HTTP
 * date in retry-after is not honoured (the backoff applies). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_transfer *t = arg;
	size_t n = size * nmemb;
	char line[128];

	if (n >= sizeof line)
		return n;
	memcpy(line, ptr, n);
	line[n] = '\0';
	if (strncasecmp(line, "retry-after-ms:", 15) == 0)
		t->retry_after_ms = strtol(line + 15, NULL, 10);
	else if (strncasecmp(line, "retry-after:", 12) == 0 && t->retry_after_ms < 0) {
		char *end;
		double s = strtod(line + 12, &end);

		if (end != line + 12 && s >= 0)
			t->retry_after_ms = (long)(s * 1000);
	}
	return n;
}

static int configure(struct http_transfer *t, const struct http_request *req)
{
	CURL *e = t->easy;
	int rc = 0;

	for (const char *const *hd = req->headers; hd && *hd; hd++) {
		struct curl_slist *more = curl_slist_append(t->headers, *hd);

		if (!more)
			return -1;
		t->headers = more;
	}
	rc |= curl_easy_setopt(e, CURLOPT_URL, req->url);
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	if (req->method && !strcmp(req->method, "GET")) {
		rc |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		if (req->method && strcmp(req->method, "POST"))
			rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
	}
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)req->connect_timeout_s);
	/* Fewer than 1 byte/s over idle_s seconds: a stream that went quiet. */
	rc |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)req->idle_s);
	return rc == 0 ? 0 : -1;
}

struct http_transfer *http_start(struct http *h, const struct http_request *req,
				 const struct http_handlers *fn, void *arg)
{
	struct http_transfer *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->h = h;
	t->fn = *fn;
	t->arg = arg;
	t->retry_after_ms = -1;
	t->easy = curl_easy_init();
	t->body = malloc(req->body_len + 1);
	if (t->body) {
		if (req->body_len)
			memcpy(t->body, req->body, req->body_len);
		t->body[req->body_len] = '\0';
	}
	if (!t->easy || !t->body || configure(t, req) != 0 ||
	    curl_multi_add_handle(h->multi, t->easy) != CURLM_OK) {
		curl_easy_cleanup(t->easy);
		curl_slist_free_all(t->headers);
		free(t->body);
		free(t);
		return NULL;
	}
	link_transfer(h, t);
	return t;
}

/* The socket part of an URL: IPv6 literals keep their brackets. */
static int connect_options(struct http_transfer *t, const char *host, int port, int timeout_s)
{
	CURL *e = t->easy;
	char url[600];
	int rc = 0;

	if (snprintf(url, sizeof url, "http://%s:%d/", host, port) >= (int)sizeof url)
		return -1;
	rc |= curl_easy_setopt(e, CURLOPT_URL, url);
	rc |= curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_PROXY, "");	/* never the daemon's own proxy */
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)timeout_s);
	return rc == 0 ? 0 : -1;
}

struct http_transfer *http_connect(struct http *h, const char *host, int port, int timeout_s,
				   void (*done)(void *arg, int fd, const char *error), void *arg)
{
	struct http_transfer *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->h = h;
	t->arg = arg;
	t->connected = done;
	t->easy = curl_easy_init();
	if (!t->easy || connect_options(t, host, port, timeout_s) != 0 ||
	    curl_multi_add_handle(h->multi, t->easy) != CURLM_OK) {
		curl_easy_cleanup(t->easy);
		free(t);
		return NULL;
	}
	link_transfer(h, t);
	return t;
}

void http_cancel(struct http_transfer *t)
{
	if (t)
		unlink_free(t);
}
