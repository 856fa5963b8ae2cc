/* fetch: one thread, one transfer at a time. Intervals follow the hub's own
 * validators: keys kept 5 min, refetched for an unknown kid at most every
 * 10 s, 30 s of quiet after a failure; the revocation list every 60 s. */
#include "plugin/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEYS_REFRESH_S 300
#define KEYS_FORCE_GAP_S 10
#define FAILURE_PAUSE_S 30
#define REVOCATION_REFRESH_S 60
#define BODY_MAX (1024 * 1024)
#define TRANSFER_TIMEOUT_MS 10000L

struct source {
	char *url;
	double due;		/* monotonic seconds; next fetch */
	double pause_until;	/* after a failure */
};

struct fetcher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	atomic_bool stop;
	struct source keys, revocation;
	double last_forced;
	struct fetch_news news;	/* under lock */
	size_t log_len;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Under lock. A line that cannot be stored is lost: logging is best effort,
 * the keys themselves are not. */
static void note(struct fetcher *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct fetcher *f, const char *fmt, ...)
{
	char line[512];
	char *grown;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	n = strlen(line);
	grown = realloc(f->news.log, f->log_len + n + 2);
	if (!grown)
		return;
	f->news.log = grown;
	memcpy(grown + f->log_len, line, n);
	f->log_len += n;
	grown[f->log_len++] = '\n';
	grown[f->log_len] = '\0';
}

struct body {
	char *data;
	size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	char *grown;

	if (b->len + n > BODY_MAX)
		return 0;	/* ends the transfer: CURLE_WRITE_ERROR */
	grown = realloc(b->data, b->len + n + 1);
	if (!grown)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct fetcher *f = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return atomic_load(&f->stop) ? 1 : 0;
}

/* GET `url`; on HTTP 200 returns 0 with the body, else -1 with `why`. */
static int http_get(struct fetcher *f, const char *url, struct body *body, char *why,
		    size_t whylen)
{
	CURL *curl = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;

	memset(body, 0, sizeof *body);
	if (!curl) {
		snprintf(why, whylen, "curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TRANSFER_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, f);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK)
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (status != 200)
		snprintf(why, whylen, "HTTP %ld", status);
	else
		return 0;
	free(body->data);
	memset(body, 0, sizeof *body);
	return -1;
}

typedef void *parse_fn(const char *json, size_t len, const char **why);

static void *parse_keys(const char *json, size_t len, const char **why)
{
	return keyset_parse(json, len, why);
}

static void *parse_revocation(const char *json, size_t len, const char **why)
{
	return revocation_parse(json, len, why);
}

/* GET and parse, without the lock; NULL with `why` on any failure. */
static void *fetch_parsed(struct fetcher *f, const char *url, parse_fn *parse, char *why,
			  size_t whylen)
{
	struct body body;
	const char *bad = NULL;
	void *doc = NULL;

	if (http_get(f, url, &body, why, whylen) == 0) {
		doc = parse(body.data, body.len, &bad);
		if (!doc)
			snprintf(why, whylen, "%s", bad);
		free(body.data);
	}
	return doc;
}

static void fetch_keys(struct fetcher *f)
{
	char why[CURL_ERROR_SIZE + 64];
	struct keyset *ks = fetch_parsed(f, f->keys.url, parse_keys, why, sizeof why);

	pthread_mutex_lock(&f->lock);
	if (ks) {
		keyset_free(f->news.keys);
		f->news.keys = ks;
		f->keys.due = now_s() + KEYS_REFRESH_S;
		note(f, "jwks: %zu RS256 key%s loaded from %s (%zu other keys skipped)", ks->count,
		     ks->count == 1 ? "" : "s", f->keys.url, ks->skipped);
	} else if (!atomic_load(&f->stop)) {
		f->keys.pause_until = now_s() + FAILURE_PAUSE_S;
		f->keys.due = f->keys.pause_until;
		note(f, "jwks: fetching %s failed: %s; keeping the keys held (next try in %d s)",
		     f->keys.url, why, FAILURE_PAUSE_S);
	}
	pthread_mutex_unlock(&f->lock);
}

static void fetch_revocation(struct fetcher *f)
{
	char why[CURL_ERROR_SIZE + 64];
	struct revocation_list *list = fetch_parsed(f, f->revocation.url, parse_revocation, why,
						    sizeof why);

	pthread_mutex_lock(&f->lock);
	if (list) {
		revocation_free(f->news.revoked);
		f->news.revoked = list;
		f->revocation.due = now_s() + REVOCATION_REFRESH_S;
		note(f, "revocation: list of %zu revoked token id%s loaded from %s", list->count,
		     list->count == 1 ? "" : "s", f->revocation.url);
	} else if (!atomic_load(&f->stop)) {
		f->revocation.due = now_s() + FAILURE_PAUSE_S;
		note(f, "revocation: fetching %s failed: %s; keeping the last list (next try in %d s)",
		     f->revocation.url, why, FAILURE_PAUSE_S);
	}
	pthread_mutex_unlock(&f->lock);
}

static void wait_until(struct fetcher *f, double when)
{
	struct timespec ts;
	double s = when;

	/* The condition variable runs on CLOCK_MONOTONIC (see fetch_start). */
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	pthread_cond_timedwait(&f->wake, &f->lock, &ts);
}

static void *run(void *arg)
{
	struct fetcher *f = arg;

	pthread_mutex_lock(&f->lock);
	while (!atomic_load(&f->stop)) {
		double now = now_s(), next = now + 3600;

		if (f->keys.url && now >= f->keys.due) {
			pthread_mutex_unlock(&f->lock);
			fetch_keys(f);
			pthread_mutex_lock(&f->lock);
			continue;
		}
		if (f->revocation.url && now >= f->revocation.due) {
			pthread_mutex_unlock(&f->lock);
			fetch_revocation(f);
			pthread_mutex_lock(&f->lock);
			continue;
		}
		if (f->keys.url && f->keys.due < next)
			next = f->keys.due;
		if (f->revocation.url && f->revocation.due < next)
			next = f->revocation.due;
		wait_until(f, next);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static void fetcher_free(struct fetcher *f)
{
	keyset_free(f->news.keys);
	revocation_free(f->news.revoked);
	free(f->news.log);
	free(f->keys.url);
	free(f->revocation.url);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

struct fetcher *fetch_start(const char *jwks_url, const char *revocation_url, char *err,
			    size_t errlen)
{
	struct fetcher *f = calloc(1, sizeof *f);
	pthread_condattr_t attr;
	int rc;

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wake, &attr);
	pthread_condattr_destroy(&attr);
	atomic_init(&f->stop, false);
	f->last_forced = -KEYS_FORCE_GAP_S;
	if ((jwks_url && !(f->keys.url = strdup(jwks_url))) ||
	    (revocation_url && !(f->revocation.url = strdup(revocation_url)))) {
		snprintf(err, errlen, "out of memory");
		fetcher_free(f);
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init failed");
		fetcher_free(f);
		return NULL;
	}
	{
		/* Signals are mosquitto's: its handlers must run on its thread,
		 * where they interrupt epoll_wait. */
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&f->thread, NULL, run, f);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the fetch thread: %s", strerror(rc));
		curl_global_cleanup();
		fetcher_free(f);
		return NULL;
	}
	return f;
}

void fetch_want_keys(struct fetcher *f)
{
	double now = now_s();

	if (!f || !f->keys.url)
		return;
	pthread_mutex_lock(&f->lock);
	if (now - f->last_forced >= KEYS_FORCE_GAP_S && now >= f->keys.pause_until &&
	    f->keys.due > now) {
		f->last_forced = now;
		f->keys.due = now;
		pthread_cond_signal(&f->wake);
	}
	pthread_mutex_unlock(&f->lock);
}

void fetch_take(struct fetcher *f, struct fetch_news *news)
{
	memset(news, 0, sizeof *news);
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	*news = f->news;
	memset(&f->news, 0, sizeof f->news);
	f->log_len = 0;
	pthread_mutex_unlock(&f->lock);
}

void fetch_stop(struct fetcher *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	atomic_store(&f->stop, true);
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	curl_global_cleanup();
	fetcher_free(f);
}
