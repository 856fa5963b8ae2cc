/* bridge/writer: jobs in a list, one HTTP call each at a time. */
#include "bridge/writer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/rest.h"
#include "engines/http.h"
#include "util/log.h"
#include "util/loop.h"

#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 30000
#define ANSWER_MAX (4u << 20)

struct writer_job {
	struct writer *w;
	struct bridge_write_row row;
	struct note_write nw;
	enum rest_step step;
	long first_status;
	int attempts;
	int64_t due;		/* loop ms; 0: now */
	struct http_transfer *t;
	struct rest_call call;
	char *answer;
	size_t answer_len;
	struct writer_job *prev, *next;
};

static void job_free(struct writer_job *j)
{
	if (j->t)
		http_cancel(j->t);
	rest_call_free(&j->call);
	write_free(&j->nw);
	bridge_write_row_free(&j->row);
	free(j->answer);
	free(j);
}

static void unlink_job(struct writer *w, struct writer_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		w->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		w->tail = j->prev;
	w->count--;
}

static void finish(struct writer *w, struct writer_job *j)
{
	unlink_job(w, j);
	job_free(j);
}

static int backoff_ms(int attempts, long retry_after_ms)
{
	long ms = RETRY_FIRST_MS;

	for (int i = 1; i < attempts && ms < RETRY_MAX_MS; i++)
		ms *= 2;
	if (retry_after_ms > ms)
		ms = retry_after_ms;
	return (int)(ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms);
}

static void retry_later(struct writer *w, struct writer_job *j, long retry_after_ms)
{
	j->step = REST_FIRST;
	j->first_status = 0;
	j->due = loop_now(w->loop) + backoff_ms(++j->attempts, retry_after_ms);
	if (j->attempts == 1 || j->attempts % 10 == 0)
		log_warn("bridge: write %s to the vault (%s %s) not taken: %s; trying again "
			 "(attempt %d)", j->nw.request_id ? j->nw.request_id : "?",
			 j->call.method ? j->call.method : write_op_name(j->nw.op),
			 j->row.key, w->last_error, j->attempts + 1);
}

static int on_data(void *arg, long status, const char *buf, size_t len)
{
	struct writer_job *j = arg;
	char *p;

	(void)status;
	if (j->answer_len + len > ANSWER_MAX)
		return 0;	/* judged by its status; the note is not needed */
	p = realloc(j->answer, j->answer_len + len + 1);
	if (!p)
		return 0;
	memcpy(p + j->answer_len, buf, len);
	j->answer = p;
	j->answer_len += len;
	j->answer[j->answer_len] = '\0';
	return 0;
}

static void judged(struct writer *w, struct writer_job *j, enum rest_verdict v,
		   enum rest_step next, const cJSON *body, const char *why, long status,
		   long retry_after_ms)
{
	const char *method = j->call.method;

	w->fn.counted(w->arg, method, v == REST_RETRY ? "retry" : v == REST_REFUSED ? "refused"
									   : "ok");
	if (v != REST_RETRY)
		w->vault_ok = true;
	if (v == REST_DONE) {
		if (w->fn.applied(w->arg, &j->row, &j->nw, body) == 0) {
			finish(w, j);
			return;
		}
		snprintf(w->last_error, sizeof w->last_error, "bridge.db cannot be written");
		retry_later(w, j, -1);
	} else if (v == REST_NEXT) {
		if (j->step == REST_FIRST)
			j->first_status = status;
		j->step = next;
		j->due = 0;
	} else if (v == REST_REFUSED) {
		snprintf(w->last_error, sizeof w->last_error, "%s", why);
		if (w->fn.refused(w->arg, &j->row, &j->nw, why) == 0) {
			finish(w, j);
			return;
		}
		retry_later(w, j, -1);
	} else {
		w->vault_ok = false;
		retry_later(w, j, retry_after_ms);
	}
}

static void on_done(void *arg, int curl_code, const char *error, long status,
		    long retry_after_ms, int aborted)
{
	struct writer_job *j = arg;
	struct writer *w = j->w;
	enum rest_step next = REST_FIRST;
	enum rest_verdict v;
	cJSON *body = j->answer ? cJSON_Parse(j->answer) : NULL;
	char why[300];

	(void)aborted;
	j->t = NULL;
	w->in_flight--;
	if (curl_code != 0)
		status = 0;
	v = rest_judge(&j->nw, j->step, j->first_status, status, body, &next, why, sizeof why);
	if (v == REST_RETRY) {
		if (status == 0)
			snprintf(w->last_error, sizeof w->last_error, "%s", error ? error : "no answer");
		else
			snprintf(w->last_error, sizeof w->last_error, "%s %s answered %ld",
				 j->call.method, j->call.path, status);
	}
	judged(w, j, v, next, body, why, status, retry_after_ms);
	cJSON_Delete(body);
	writer_kick(w);
}

static void start(struct writer *w, struct writer_job *j)
{
	static const struct http_handlers handlers = { on_data, on_done };
	const char *token = w->fn.token(w->arg);
	char *url = NULL, *auth = NULL;
	const char *headers[4] = { "Content-Type: application/json", "Accept: application/json" };

	rest_call_free(&j->call);
	free(j->answer);
	j->answer = NULL;
	j->answer_len = 0;
	if (token && asprintf(&auth, "Authorization: Bearer %s", token) >= 0)
		headers[2] = auth;
	if (rest_call_build(&j->nw, j->step, &j->call) == 0 &&
	    asprintf(&url, "%s%s", w->base, j->call.path) >= 0) {
		struct http_request req = {
			.method = j->call.method, .url = url, .headers = headers,
			.body = j->call.body ? j->call.body : "",
			.body_len = j->call.body ? strlen(j->call.body) : 0,
			.idle_s = 30, .connect_timeout_s = 10,
		};

		j->t = http_start(w->http, &req, &handlers, j);
	}
	free(url);
	free(auth);
	if (!j->t) {
		snprintf(w->last_error, sizeof w->last_error, "the request could not be started");
		retry_later(w, j, -1);
		return;
	}
	w->in_flight++;
}

static void on_timer(void *arg)
{
	struct writer *w = arg;

	w->timer = 0;
	writer_kick(w);
}

void writer_kick(struct writer *w)
{
	struct strmap held = { 0 };
	int64_t now = loop_now(w->loop), next_due = -1;

	for (struct writer_job *j = w->head, *next; j; j = next) {
		next = j->next;
		/* Only the oldest write of a note may run. */
		if (strmap_get(&held, j->row.key))
			continue;
		if (strmap_put(&held, j->row.key, j) != 0)
			break;	/* out of memory: the rest wait for the next kick */
		if (j->t)
			continue;
		if (j->due > now) {
			if (next_due < 0 || j->due < next_due)
				next_due = j->due;
			continue;
		}
		if (w->in_flight >= WRITER_IN_FLIGHT)
			break;
		start(w, j);
		if (!j->t && (next_due < 0 || j->due < next_due))
			next_due = j->due;
	}
	strmap_free(&held);
	loop_timer_cancel(w->loop, w->timer);
	w->timer = next_due >= 0 ? loop_timer(w->loop, next_due - now, on_timer, w) : 0;
}

int writer_init(struct writer *w, struct loop *l, struct http *http, const char *base,
		const struct writer_handlers *fn, void *arg)
{
	size_t n = strlen(base);

	memset(w, 0, sizeof *w);
	w->loop = l;
	w->http = http;
	w->fn = *fn;
	w->arg = arg;
	w->vault_ok = true;
	while (n > 0 && base[n - 1] == '/')
		n--;
	w->base = strndup(base, n);
	return w->base ? 0 : -1;
}

void writer_free(struct writer *w)
{
	while (w->head)
		finish(w, w->head);
	loop_timer_cancel(w->loop, w->timer);
	free(w->base);
	memset(w, 0, sizeof *w);
}

int writer_add(struct writer *w, struct bridge_write_row *row)
{
	struct writer_job *j = calloc(1, sizeof *j);
	struct bus_error err;
	cJSON *doc;

	if (!j) {
		bridge_write_row_free(row);
		return -1;
	}
	j->w = w;
	j->row = *row;
	memset(row, 0, sizeof *row);
	doc = cJSON_Parse(j->row.write);
	if (!doc || write_decode(doc, &j->nw, &err) != 0) {
		/* Checked when it was taken: only a damaged row gets here. */
		log_error("bridge: recorded write %lld cannot be read again; dropping it",
			  (long long)j->row.seq);
		w->fn.refused(w->arg, &j->row, &j->nw, "the recorded write cannot be read");
		job_free(j);	/* the document went with the decode */
		return 0;
	}
	j->prev = w->tail;
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->count++;
	return 0;
}
