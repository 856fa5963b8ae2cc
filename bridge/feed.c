/* bridge/feed: the feed's states on top of bridge/ws. */
#include "bridge/feed.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/ws.h"
#include "util/log.h"
#include "util/loop.h"

#define RECONNECT_FIRST_MS 500
#define RECONNECT_MAX_MS 60000
/* The vault sends nothing unasked; "ping" proves the connection lives. */
#define PING_MS 30000
#define SILENCE_MS 75000

static void connect_now(void *arg);

const char *feed_state_name(enum feed_state s)
{
	static const char *const names[] = { [FEED_OFF] = "off", [FEED_CONNECTING] = "connecting",
					     [FEED_LIVE] = "live", [FEED_WAITING] = "reconnecting",
					     [FEED_UNAVAILABLE] = "unavailable" };

	return names[s];
}

static void arm(struct feed *f, int64_t ms, loop_timer_fn *fn)
{
	loop_timer_cancel(f->loop, f->timer);
	f->timer = loop_timer(f->loop, ms, fn, f);
}

static void keepalive(void *arg)
{
	struct feed *f = arg;

	f->timer = 0;
	if (f->state != FEED_LIVE && f->state != FEED_CONNECTING)
		return;
	if (loop_now(f->loop) - f->last_frame_ms > SILENCE_MS) {
		log_warn("bridge: the vault's feed has been silent for %d s; reconnecting",
			 SILENCE_MS / 1000);
		ws_disconnect(f->ws);
		return;
	}
	ws_send(f->ws, "ping", 4);
	arm(f, PING_MS, keepalive);
}

static void on_open(void *arg)
{
	struct feed *f = arg;
	const char *token = f->fn.token(f->arg);
	cJSON *auth = cJSON_CreateObject();
	char *text = NULL;

	f->last_frame_ms = loop_now(f->loop);
	f->snapshot_notes = 0;
	if (auth && cJSON_AddStringToObject(auth, "type", "auth") &&
	    cJSON_AddStringToObject(auth, "token", token ? token : ""))
		text = cJSON_PrintUnformatted(auth);
	cJSON_Delete(auth);
	if (!text || ws_send(f->ws, text, strlen(text)) != 0)
		ws_disconnect(f->ws);
	free(text);
	arm(f, PING_MS, keepalive);
}

static int take_notes(struct feed *f, const cJSON *notes)
{
	const cJSON *n;

	cJSON_ArrayForEach(n, notes) {
		if (f->fn.note(f->arg, n) != 0)
			return -1;
		f->snapshot_notes++;
	}
	return 0;
}

static void on_text(void *arg, const char *data, size_t len)
{
	struct feed *f = arg;
	cJSON *msg = cJSON_ParseWithLength(data, len);
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "type"));
	int rc = 0;

	f->last_frame_ms = loop_now(f->loop);
	if (!type) {
		if (!(len == 4 && !memcmp(data, "pong", 4)))
			log_warn("bridge: the feed sent a frame that is not a message (%zu bytes)", len);
		f->fn.counted(f->arg, "other");
	} else if (!strcmp(type, "snapshot")) {
		f->fn.counted(f->arg, "snapshot");
		rc = take_notes(f, cJSON_GetObjectItemCaseSensitive(msg, "notes"));
		if (rc == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "done"))) {
			log_info("bridge: the vault's feed is live (snapshot of %ld notes read)",
				 f->snapshot_notes);
			f->state = FEED_LIVE;
			f->attempts = 0;
			f->catchups++;
		}
	} else if (!strcmp(type, "upsert")) {
		f->fn.counted(f->arg, "upsert");
		rc = f->fn.note(f->arg, cJSON_GetObjectItemCaseSensitive(msg, "note"));
	} else if (!strcmp(type, "remove")) {
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "id"));

		f->fn.counted(f->arg, "remove");
		rc = id ? f->fn.removed(f->arg, id) : 0;
	} else {
		f->fn.counted(f->arg, "other");
	}
	cJSON_Delete(msg);
	if (rc != 0) {
		/* Not recorded: the next snapshot brings it again. */
		snprintf(f->last_error, sizeof f->last_error, "a change could not be recorded");
		ws_disconnect(f->ws);
	}
}

static int64_t backoff(struct feed *f)
{
	int64_t ms = RECONNECT_FIRST_MS;

	for (int i = 1; i < f->attempts && ms < RECONNECT_MAX_MS; i++)
		ms *= 2;
	if (ms > RECONNECT_MAX_MS)
		ms = RECONNECT_MAX_MS;
	return ms - ms / 4 * (rand() % 100) / 100;	/* a fleet does not come back in step */
}

static void on_closed(void *arg, int code, int http_status, const char *why)
{
	struct feed *f = arg;

	loop_timer_cancel(f->loop, f->timer);
	f->timer = 0;
	if (http_status == 404) {
		f->state = FEED_UNAVAILABLE;
		snprintf(f->last_error, sizeof f->last_error, "the vault has no change feed (404)");
		log_warn("bridge: the vault has no change feed (GET /api/subscribe answers 404): "
			 "events come from its webhooks only");
		return;
	}
	if (code == 4401 || code == 4403 || http_status == 401 || http_status == 403)
		snprintf(f->last_error, sizeof f->last_error, "the vault refused the token (%d)",
			 code ? code : http_status);
	else if (http_status)
		snprintf(f->last_error, sizeof f->last_error, "the upgrade was answered %d",
			 http_status);
	else
		snprintf(f->last_error, sizeof f->last_error, "%s%s%d", why, code ? ", code " : "",
			 code);
	f->attempts++;
	f->state = FEED_WAITING;
	{
		int64_t ms = backoff(f);

		if (f->attempts == 1 || f->attempts % 10 == 0)
			log_warn("bridge: the vault's feed is down (%s); reconnecting in %lld ms",
				 f->last_error, (long long)ms);
		arm(f, ms, connect_now);
	}
}

static void connect_now(void *arg)
{
	struct feed *f = arg;

	f->timer = 0;
	f->state = FEED_CONNECTING;
	if (ws_connect(f->ws, f->url, f->fn.token(f->arg)) != 0) {
		f->state = FEED_WAITING;
		arm(f, RECONNECT_MAX_MS, connect_now);
	}
}

int feed_open(struct feed *f, struct loop *l, const char *base, const char *query, bool on,
	      const struct feed_handlers *fn, void *arg)
{
	static const struct ws_handlers handlers = { on_open, on_text, on_closed };
	size_t n = strlen(base);

	memset(f, 0, sizeof *f);
	f->loop = l;
	f->fn = *fn;
	f->arg = arg;
	f->state = FEED_OFF;
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (asprintf(&f->url, "%.*s/api/subscribe%s%s", (int)n, base, *query ? "?" : "", query) <
	    0) {
		f->url = NULL;
		return -1;
	}
	if (!on)
		return 0;
	if (ws_open(l, &handlers, f, &f->ws) != 0)
		return -1;
	connect_now(f);
	return 0;
}

void feed_close(struct feed *f)
{
	loop_timer_cancel(f->loop, f->timer);
	ws_close(f->ws);
	free(f->url);
	memset(f, 0, sizeof *f);
}
