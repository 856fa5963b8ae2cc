/* httpd: libmicrohttpd with a thread per connection, so a stalled path
 * holds only its own requests. */
#include "test/httpd.h"

#include <errno.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUTES 16

struct route {
	char path[128];
	int status;
	char *body;
	bool stalled;
	int requests;
};

struct th_httpd {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct route routes[MAX_ROUTES];
	int n_routes;
	bool stopping;
};

/* Under lock; creates the route (404) when absent. */
static struct route *route_of(struct th_httpd *h, const char *path)
{
	int i;

	for (i = 0; i < h->n_routes; i++)
		if (strcmp(h->routes[i].path, path) == 0)
			return &h->routes[i];
	if (h->n_routes == MAX_ROUTES) {
		fprintf(stderr, "httpd: too many paths\n");
		exit(2);
	}
	snprintf(h->routes[h->n_routes].path, sizeof h->routes[0].path, "%s", path);
	h->routes[h->n_routes].status = 404;
	return &h->routes[h->n_routes++];
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct th_httpd *h = cls;
	struct MHD_Response *resp;
	struct route *r;
	enum MHD_Result rc;
	char *body;
	int status;

	(void)method;
	(void)version;
	(void)upload;
	(void)upload_size;
	if (*state == NULL) {	/* the headers: answer at the next call */
		*state = h;
		return MHD_YES;
	}
	pthread_mutex_lock(&h->lock);
	r = route_of(h, url);
	r->requests++;
	pthread_cond_broadcast(&h->changed);
	while (r->stalled && !h->stopping)
		pthread_cond_wait(&h->changed, &h->lock);
	status = r->status;
	body = strdup(r->body ? r->body : "{\"error\":\"not found\"}");
	pthread_mutex_unlock(&h->lock);
	if (!body)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	rc = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return rc;
}

struct th_httpd *th_httpd_start(void)
{
	struct th_httpd *h = calloc(1, sizeof *h);
	struct sockaddr_in sa = { .sin_family = AF_INET };

	if (!h)
		exit(2);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->changed, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
				     0, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR, &sa,
				     MHD_OPTION_END);
	if (!h->daemon) {
		fprintf(stderr, "httpd: cannot start: %s\n", strerror(errno));
		exit(2);
	}
	return h;
}

int th_httpd_port(const struct th_httpd *h)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon,
							       MHD_DAEMON_INFO_BIND_PORT);

	return info ? info->port : -1;
}

void th_httpd_set(struct th_httpd *h, const char *path, int status, const char *body)
{
	struct route *r;

	pthread_mutex_lock(&h->lock);
	r = route_of(h, path);
	free(r->body);
	r->body = strdup(body);
	r->status = status;
	pthread_mutex_unlock(&h->lock);
}

void th_httpd_stall(struct th_httpd *h, const char *path, bool on)
{
	pthread_mutex_lock(&h->lock);
	route_of(h, path)->stalled = on;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->lock);
}

bool th_httpd_wait_requests(struct th_httpd *h, const char *path, int n, int timeout_ms)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&h->lock);
	while (route_of(h, path)->requests < n &&
	       pthread_cond_timedwait(&h->changed, &h->lock, &until) != ETIMEDOUT)
		;
	ok = route_of(h, path)->requests >= n;
	pthread_mutex_unlock(&h->lock);
	return ok;
}

int th_httpd_requests(struct th_httpd *h, const char *path)
{
	int n;

	pthread_mutex_lock(&h->lock);
	n = route_of(h, path)->requests;
	pthread_mutex_unlock(&h->lock);
	return n;
}

void th_httpd_stop(struct th_httpd *h)
{
	int i;

	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->lock);
	MHD_stop_daemon(h->daemon);
	for (i = 0; i < h->n_routes; i++)
		free(h->routes[i].body);
	pthread_cond_destroy(&h->changed);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

struct got {
	char *data;
	size_t len;
};

static size_t on_got(char *p, size_t size, size_t n, void *arg)
{
	struct got *b = arg;
	char *grown = realloc(b->data, b->len + size * n + 1);

	if (!grown)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

long th_http_request(const char *method, const char *url, const char *bearer,
		     const char *body, char **answer)
{
	struct got b = { calloc(1, 1), 0 };
	struct curl_slist *headers = NULL;
	char auth[1024];
	long status = 0;
	CURL *c = curl_easy_init();

	if (!b.data || !c)
		exit(2);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		headers = curl_slist_append(headers, "Content-Type: application/json");
	}
	if (bearer) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
		headers = curl_slist_append(headers, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_got);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	*answer = b.data;
	return status;
}

long th_http_get(const char *addr, const char *path, char **body)
{
	char url[512];

	snprintf(url, sizeof url, "http://%s%s", addr, path);
	return th_http_request("GET", url, NULL, NULL, body);
}
