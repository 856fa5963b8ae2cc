/* bridge/register: one POST after another until all are in or one fails. */
#include "bridge/register.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/http.h"

struct registration {
	struct http *http;
	char *url, *auth;
	cJSON *triggers;
	int next;
	struct http_transfer *t;
	char answer[2048];
	size_t answer_len;
	void (*done)(void *arg, enum reg_result r, const char *why);
	void *arg;
	bool finished;
};

static void post_next(struct registration *r);

static void finish(struct registration *r, enum reg_result res, const char *why)
{
	r->finished = true;
	r->done(r->arg, res, why);
}

static int on_data(void *arg, long status, const char *buf, size_t len)
{
	struct registration *r = arg;
	size_t room = sizeof r->answer - 1 - r->answer_len;

	(void)status;
	if (len > room)
		len = room;
	memcpy(r->answer + r->answer_len, buf, len);
	r->answer_len += len;
	r->answer[r->answer_len] = '\0';
	return 0;
}

static void on_done(void *arg, int curl_code, const char *error, long status,
		    long retry_after_ms, int aborted)
{
	struct registration *r = arg;
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(r->triggers, r->next), "name"));
	char why[512];

	(void)retry_after_ms;
	(void)aborted;
	r->t = NULL;
	if (curl_code != 0) {
		snprintf(why, sizeof why, "the vault did not answer: %s", error ? error : "?");
		finish(r, REG_FAILED, why);
	} else if (status == 200 || status == 201) {
		r->next++;
		post_next(r);
	} else if (status == 404) {
		finish(r, REG_NO_API, "the vault has no trigger API (POST /api/triggers answered 404)");
	} else if (status == 401 || status == 403) {
		snprintf(why, sizeof why, "the vault refused to register %s (%ld): the token needs "
			 "vault:<V>:admin: %.300s", name ? name : "?", status, r->answer);
		finish(r, REG_FORBIDDEN, why);
	} else {
		snprintf(why, sizeof why, "the vault refused to register %s (%ld): %.300s",
			 name ? name : "?", status, r->answer);
		finish(r, REG_FAILED, why);
	}
}

static void post_next(struct registration *r)
{
	static const struct http_handlers handlers = { on_data, on_done };
	const cJSON *t = cJSON_GetArrayItem(r->triggers, r->next);
	const char *headers[] = { "Content-Type: application/json", r->auth, NULL };
	char *body;

	if (!t) {
		finish(r, REG_OK, "registered");
		return;
	}
	r->answer_len = 0;
	r->answer[0] = '\0';
	body = cJSON_PrintUnformatted(t);
	if (body) {
		struct http_request req = { .method = "POST", .url = r->url, .headers = headers,
					    .body = body, .body_len = strlen(body), .idle_s = 30,
					    .connect_timeout_s = 10 };

		r->t = http_start(r->http, &req, &handlers, r);
	}
	free(body);
	if (!r->t)
		finish(r, REG_FAILED, "the request could not be started");
}

struct registration *registration_start(struct http *http, const char *base, const char *token,
					cJSON *triggers,
					void (*done)(void *arg, enum reg_result r, const char *why),
					void *arg)
{
	struct registration *r = calloc(1, sizeof *r);

	if (!r || asprintf(&r->url, "%s/api/triggers", base) < 0 ||
	    asprintf(&r->auth, "Authorization: Bearer %s", token ? token : "") < 0) {
		cJSON_Delete(triggers);
		free(r);
		return NULL;
	}
	r->http = http;
	r->triggers = triggers;
	r->done = done;
	r->arg = arg;
	post_next(r);
	return r;
}

void registration_free(struct registration *r)
{
	if (!r)
		return;
	if (r->t)
		http_cancel(r->t);
	cJSON_Delete(r->triggers);
	free(r->url);
	free(r->auth);
	free(r);
}
