/* bridge: the module's context and its three flows (webhooks and the feed
 * in, writes out). */
#include "bridge/bridge.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bridge/db.h"
#include "bridge/feed.h"
#include "bridge/incoming.h"
#include "bridge/register.h"
#include "bridge/triggers.h"
#include "bridge/writer.h"
#include "bus/payload.h"
#include "state/outbox.h"
#include "util/clock.h"
#include "util/crash.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/metrics.h"
#include "util/secret.h"

/* A secret file read again whenever it changes (a renewed token). */
struct secret_file {
	const char *path;	/* borrowed; NULL: none */
	char value[8192];
	bool ok;
	bool told;		/* its failure is logged, once until it reads again */
	struct stat st;
};

struct bridge {
	struct bridge_options o;	/* its hook_url is `hook_url` */
	char *hook_url;
	struct http *http;
	struct bridge_db *db;
	struct writer writer;
	struct feed feed;
	struct registration *registration;
	struct secret_file token, hook_token;
	const char *trigger_mode;	/* "registered", "config.yaml", ... */
	char last_webhook_at[CLOCK_ISO_LEN];
	long webhooks;
	bool failing;
	char why[256];
};

static const char *secret_get(struct secret_file *s)
{
	struct stat st;
	size_t len;
	char why[256];

	if (!s->path)
		return NULL;
	if (stat(s->path, &st) != 0) {
		if (!s->told)
			log_error("bridge: cannot read %s: %s", s->path, strerror(errno));
		s->ok = false;
		s->told = true;
		return NULL;
	}
	if (s->ok && st.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec && st.st_size == s->st.st_size &&
	    st.st_ino == s->st.st_ino)
		return s->value;
	if (secret_read(s->path, (unsigned char *)s->value, sizeof s->value, &len, why,
			sizeof why) != 0) {
		if (!s->told)
			log_error("bridge: %s", why);
		s->ok = false;
		s->told = true;
		return NULL;
	}
	if (s->st.st_ino)
		log_info("bridge: %s changed; using the new token", s->path);
	s->st = st;
	s->ok = true;
	s->told = false;
	return s->value;
}

static void fail(struct bridge *b, const char *what)
{
	snprintf(b->why, sizeof b->why, "%s", bridge_db_error(b->db));
	if (!b->failing)
		log_error("bridge: bridge.db cannot be written (%s); %s", b->why, what);
	b->failing = true;
}

/* --- events in ------------------------------------------------------------ */

/* Puts `in`'s event in the outbox, inside the open unit. */
static int add_event(struct bridge *b, const struct incoming *in)
{
	char *topic = topics_vault_event(b->o.topics, note_event_name(in->event));
	struct codec_buf buf = { 0 };
	int rc = -1;

	if (topic && sink_encode(b->o.sink, in->doc, &buf) == 0)
		rc = outbox_add(bridge_db_outbox(b->db), &(struct bus_publish){
			.topic = topic, .payload = buf.data, .len = buf.len, .qos = 1,
			.content_type = buf.content_type });
	codec_buf_free(&buf);
	free(topic);
	return rc;
}

/* Records `in`'s event unless its (id, updatedAt) was published before, in
 * one unit; a repeat (most of every snapshot) costs one lookup, not an
 * encoding. 1 recorded, 0 a repeat, -1 not recorded. */
static int record_event(struct bridge *b, const struct incoming *in, bool dedupe)
{
	int rc = bridge_db_begin(b->db);

	if (rc == 0) {
		rc = dedupe ? bridge_db_see(b->db, in->note_id, in->updated_at) : 1;
		if (rc == 1 && add_event(b, in) != 0)
			rc = -1;
		if (rc < 0)
			bridge_db_rollback(b->db);
		else if (bridge_db_commit(b->db) != 0)
			rc = -1;
	}
	if (rc < 0)
		fail(b, "vault events are refused until it can");
	return rc;
}

static int hook_refused(struct bridge *b, int status, const char *outcome, char *answer,
			size_t len, const char *why)
{
	char labels[64];

	snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
	metrics_add(b->o.metrics, "agentbus_vault_webhooks_total", labels, 1);
	{
		cJSON *o = cJSON_CreateObject();
		char *text;

		cJSON_AddStringToObject(o, "error", why);
		text = o ? cJSON_PrintUnformatted(o) : NULL;
		snprintf(answer, len, "%s", text ? text : "{}");
		free(text);
		cJSON_Delete(o);
	}
	return status;
}

int bridge_hook(struct bridge *b, const char *vault, const char *authorization, bool loopback,
		const char *body, size_t len, char *answer, size_t answer_len)
{
	const char *bearer = secret_get(&b->hook_token);
	struct incoming in;
	struct bus_error err;
	int rc;

	if (strcmp(vault, b->o.vault))
		return hook_refused(b, 404, "refused", answer, answer_len, "no such vault here");
	if (b->o.hook_token_file) {
		const char *given = authorization && !strncmp(authorization, "Bearer ", 7)
					    ? authorization + 7 : NULL;

		if (!bearer || !given || !secret_equal(given, bearer))
			return hook_refused(b, 401, "refused", answer, answer_len,
					    "a bearer from --hook-token-file is required");
	} else if (!loopback) {
		return hook_refused(b, 403, "refused", answer, answer_len,
				    "webhooks from off this machine need --hook-token-file");
	}
	if (b->failing)
		return hook_refused(b, 503, "failed", answer, answer_len, "cannot record events now");
	if (incoming_from_hook(body, len, b->o.vault, b->o.max_payload, &in, &err) != 0) {
		struct bus_message msg = { .topic = "http:/vault/hook", .payload = body, .len = len };
		char topic[300];

		snprintf(topic, sizeof topic, "http:POST /vault/%s/hook", vault);
		msg.topic = topic;
		b->o.sink->deadletter(b->o.sink->arg, &msg, &err);
		return hook_refused(b, 400, "refused", answer, answer_len, err.message);
	}
	rc = record_event(b, &in, true);
	incoming_free(&in);
	if (rc < 0)
		return hook_refused(b, 503, "failed", answer, answer_len, "cannot record the event");
	crash_point("hook-recorded");
	metrics_add(b->o.metrics, "agentbus_vault_webhooks_total",
		    rc ? "outcome=\"recorded\"" : "outcome=\"duplicate\"", 1);
	clock_iso8601(b->last_webhook_at);
	b->webhooks++;
	/* The vault reads a JSON answer; {} merges nothing into the note. */
	snprintf(answer, answer_len, "{}");
	return 200;
}

static int feed_note(void *arg, const cJSON *note)
{
	struct bridge *b = arg;
	struct incoming in;
	struct bus_error err;
	int rc;

	if (b->failing)
		return -1;
	if (incoming_from_feed(note, b->o.vault, &in, &err) != 0) {
		log_warn("bridge: the feed sent a note agentbus cannot use: %s", err.message);
		return 0;
	}
	rc = record_event(b, &in, true);
	incoming_free(&in);
	return rc < 0 ? -1 : 0;
}

static int feed_removed(void *arg, const char *id)
{
	struct bridge *b = arg;
	struct incoming in;
	int rc;

	if (b->failing)
		return -1;
	if (incoming_removed(id, b->o.vault, &in) != 0)
		return -1;
	rc = record_event(b, &in, false);
	incoming_free(&in);
	return rc < 0 ? -1 : 0;
}

static const char *vault_token(void *arg)
{
	struct bridge *b = arg;

	return secret_get(&b->token);
}

static void feed_counted(void *arg, const char *type)
{
	struct bridge *b = arg;
	char labels[64];

	snprintf(labels, sizeof labels, "type=\"%s\"", type);
	metrics_add(b->o.metrics, "agentbus_vault_feed_frames_total", labels, 1);
}

/* --- writes out ----------------------------------------------------------- */

/* The answer to a write's response topic, recorded in the unit that forgets
 * the write, so it is sent once the vault took it, even after a crash. */
static int record_answer(struct bridge *b, const struct bridge_write_row *row,
			 const struct note_write *w, const cJSON *vault_note, const char *error)
{
	cJSON *a = cJSON_CreateObject();
	struct codec_buf buf = { 0 };
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vault_note, "id"));
	const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vault_note,
										  "path"));
	int rc = -1;

	if (!row->response_topic) {
		cJSON_Delete(a);
		return 0;
	}
	if (!id)
		id = w->id;
	if (!path)
		path = w->path;
	if (a && cJSON_AddStringToObject(a, "request_id", w->request_id ? w->request_id : "") &&
	    cJSON_AddBoolToObject(a, "ok", !error) &&
	    (!id || cJSON_AddStringToObject(a, "id", id)) &&
	    (!path || cJSON_AddStringToObject(a, "path", path)) &&
	    (!error || cJSON_AddStringToObject(a, "error", error)) &&
	    sink_encode(b->o.sink, a, &buf) == 0)
		rc = outbox_add(bridge_db_outbox(b->db), &(struct bus_publish){
			.topic = row->response_topic, .payload = buf.data, .len = buf.len, .qos = 1,
			.content_type = buf.content_type, .correlation = row->correlation,
			.correlation_len = row->correlation_len });
	codec_buf_free(&buf);
	cJSON_Delete(a);
	return rc;
}

static int settle_write(struct bridge *b, const struct bridge_write_row *row,
			const struct note_write *w, const cJSON *vault_note, const char *error)
{
	int rc = bridge_db_begin(b->db);

	if (rc == 0 && (bridge_db_remove_write(b->db, row->seq) != 0 ||
			record_answer(b, row, w, vault_note, error) != 0)) {
		bridge_db_rollback(b->db);
		rc = -1;
	} else if (rc == 0) {
		rc = bridge_db_commit(b->db);
	}
	if (rc != 0)
		fail(b, "answered writes are kept until it can");
	return rc;
}

static int write_applied(void *arg, const struct bridge_write_row *row,
			 const struct note_write *w, const cJSON *vault_note)
{
	return settle_write(arg, row, w, vault_note, NULL);
}

static int write_refused(void *arg, const struct bridge_write_row *row,
			 const struct note_write *w, const char *why)
{
	struct bridge *b = arg;
	struct bus_message msg = { .topic = NULL, .payload = row->write, .len = strlen(row->write) };
	struct bus_error err;
	int rc = settle_write(b, row, w, NULL, why);

	if (rc == 0) {
		msg.topic = b->o.topics->vault_write;
		bus_fail(&err, REASON_INVALID_WRITE, "%s", why);
		b->o.sink->deadletter(b->o.sink->arg, &msg, &err);
	}
	return rc;
}

static void rest_counted(void *arg, const char *method, const char *outcome)
{
	struct bridge *b = arg;
	char labels[96];

	snprintf(labels, sizeof labels, "method=\"%s\",outcome=\"%s\"", method, outcome);
	metrics_add(b->o.metrics, "agentbus_vault_rest_calls_total", labels, 1);
}

/* The note a write addresses, as far as its own fields tell: writes of one
 * key are applied in order. Paths compare without case, as the vault's. */
static char *write_key(const struct note_write *w)
{
	const char *k = w->op != WRITE_UPSERT && w->id ? w->id : w->path;
	char *key = k ? strdup(k) : NULL;

	if (key && k == w->path)
		for (char *p = key; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	return key;
}

static void reject_write(struct bridge *b, const struct bus_message *msg, const char *request_id,
			 const struct bus_error *err)
{
	cJSON *a = cJSON_CreateObject();

	if (a && cJSON_AddStringToObject(a, "request_id", request_id ? request_id : "") &&
	    cJSON_AddFalseToObject(a, "ok") && cJSON_AddStringToObject(a, "error", err->message))
		sink_answer_doc(b->o.sink, msg, a);
	cJSON_Delete(a);
	b->o.sink->deadletter(b->o.sink->arg, msg, err);
}

int bridge_receive(struct bridge *b, const struct bus_message *msg)
{
	struct note_write w = { 0 };
	struct bridge_write_row row = { 0 };
	struct bus_error err;
	cJSON *doc;
	int rc = 0;

	if (b->failing)
		return -1;
	if (payload_decode(msg->payload, msg->len, msg->content_type, b->o.max_payload, &doc,
			   &err) != 0) {
		reject_write(b, msg, NULL, &err);
		return 0;
	}
	if (write_decode(doc, &w, &err) != 0) {
		reject_write(b, msg, w.request_id, &err);
		write_free(&w);
		return 0;
	}
	row.key = write_key(&w);
	row.write = cJSON_PrintUnformatted(w.doc);
	row.response_topic = msg->response_topic ? strdup(msg->response_topic) : NULL;
	if (msg->correlation && msg->correlation_len &&
	    (row.correlation = malloc(msg->correlation_len))) {
		memcpy(row.correlation, msg->correlation, msg->correlation_len);
		row.correlation_len = msg->correlation_len;
	}
	if (!row.key || !row.write || bridge_db_begin(b->db) != 0) {
		rc = -1;
	} else if (bridge_db_add_write(b->db, &row, &row.seq) != 0) {
		bridge_db_rollback(b->db);
		rc = -1;
	} else if (bridge_db_commit(b->db) != 0) {
		rc = -1;
	}
	write_free(&w);
	if (rc != 0) {
		bridge_write_row_free(&row);
		fail(b, "writes are not acknowledged until it can");
		return -1;
	}
	crash_point("bridge-write-recorded");
	writer_add(&b->writer, &row);
	writer_kick(&b->writer);
	return 0;
}

static int load_write(void *arg, struct bridge_write_row *row)
{
	struct bridge *b = arg;

	return writer_add(&b->writer, row);
}

/* --- triggers ------------------------------------------------------------- */

static void log_yaml(const cJSON *triggers, FILE *out)
{
	char *yaml = bridge_triggers_yaml(triggers);

	if (!yaml)
		return;
	if (out) {
		fputs(yaml, out);
	} else {
		for (char *line = strtok(yaml, "\n"); line; line = strtok(NULL, "\n"))
			log_warn("bridge:   %s", line);
	}
	free(yaml);
}

static cJSON *wanted_triggers(const struct bridge_options *o, struct secret_file *hook_token)
{
	/* A config.yaml trigger cannot carry a bearer, so the list printed for
	 * one leaves it out; the API's triggers carry it when there is one. */
	return bridge_triggers_build(o->triggers, o->hook_url, secret_get(hook_token));
}

static void registered(void *arg, enum reg_result r, const char *why)
{
	struct bridge *b = arg;

	if (r == REG_OK) {
		b->trigger_mode = "registered";
		log_info("bridge: triggers registered with the vault (webhooks to %s)",
			 b->o.hook_url);
	} else if (r == REG_NO_API) {
		cJSON *t = wanted_triggers(&b->o, &b->hook_token);

		b->trigger_mode = "config.yaml";
		log_warn("bridge: %s; add these lines to the vault's config.yaml and restart it "
			 "(they fire for every vault on that server):", why);
		log_yaml(t, NULL);
		cJSON_Delete(t);
	} else {
		b->trigger_mode = r == REG_FORBIDDEN ? "not registered (token is not admin)"
						     : "not registered";
		log_warn("bridge: %s; run agentbus --register-triggers with an admin token, or "
			 "register them by hand", why);
	}
}

static void register_triggers(struct bridge *b)
{
	cJSON *t;

	if (!b->o.hook_url) {
		b->trigger_mode = "not registered (no webhook URL)";
		return;
	}
	t = wanted_triggers(&b->o, &b->hook_token);
	b->trigger_mode = "registering";
	if (t)
		b->registration = registration_start(b->http, b->writer.base, secret_get(&b->token),
						     t, registered, b);
	if (!b->registration)
		b->trigger_mode = "not registered";
}

struct once {
	const struct bridge_options *o;
	struct secret_file hook_token;
	bool done;
	int status;
};

static void registered_once(void *arg, enum reg_result r, const char *why)
{
	struct once *once = arg;

	once->done = true;
	once->status = r == REG_OK ? 0 : 1;
	if (r == REG_OK) {
		printf("registered the triggers agentbus needs (webhooks to %s)\n", once->o->hook_url);
	} else if (r == REG_NO_API) {
		cJSON *t = wanted_triggers(once->o, &once->hook_token);

		printf("# %s.\n# Add these lines to the vault's config.yaml and restart it:\n", why);
		log_yaml(t, stdout);
		cJSON_Delete(t);
	} else {
		fprintf(stderr, "agentbus: %s\n", why);
	}
	fflush(stdout);
}

int bridge_register_once(struct loop *l, struct http *http, const struct bridge_options *o)
{
	struct once once = { .o = o, .hook_token = { .path = o->hook_token_file } };
	struct secret_file token = { .path = o->token_file };
	cJSON *t = wanted_triggers(o, &once.hook_token);
	struct registration *r;
	char *base = strdup(o->url);

	if (base)
		for (size_t n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
			base[n - 1] = '\0';
	r = t && base ? registration_start(http, base, secret_get(&token), t, registered_once,
					   &once)
		      : NULL;
	free(base);
	if (!r) {
		fprintf(stderr, "agentbus: cannot start registering the triggers\n");
		return 1;
	}
	while (!once.done && loop_run_once(l) == 0)
		;
	registration_free(r);
	return once.done ? once.status : 1;
}

/* --- the module ----------------------------------------------------------- */

int bridge_open(struct loop *l, struct http *http, const char *state_dir,
		const struct bridge_options *o, struct bridge **out)
{
	static const struct writer_handlers wfn = { write_applied, write_refused, vault_token,
						    rest_counted };
	static const struct feed_handlers ffn = { feed_note, feed_removed, vault_token,
						  feed_counted };
	struct bridge *b = calloc(1, sizeof *b);
	char *query = NULL;

	*out = NULL;
	if (!b)
		return -1;
	b->o = *o;
	b->o.hook_url = b->hook_url = o->hook_url ? strdup(o->hook_url) : NULL;
	b->http = http;
	b->token.path = o->token_file;
	b->hook_token.path = o->hook_token_file;
	if (!o->token_file)
		log_warn("bridge: no --vault-token-file: the vault will refuse what agentbus asks");
	else if (!secret_get(&b->token))
		log_warn("bridge: the vault will refuse writes until %s can be read",
			 o->token_file);
	if (o->hook_token_file && !secret_get(&b->hook_token))
		log_warn("bridge: webhooks are refused (401) until %s can be read",
			 o->hook_token_file);
	if ((o->hook_url && !b->hook_url) || bridge_db_open(state_dir, &b->db) != 0 ||
	    writer_init(&b->writer, l, http, o->url, &wfn, b) != 0 ||
	    bridge_db_each_write(b->db, load_write, b) != 0 ||
	    !(query = bridge_feed_query(o->triggers)) ||
	    feed_open(&b->feed, l, b->writer.base, query, o->feed, &ffn, b) != 0) {
		free(query);
		bridge_close(b);
		return -1;
	}
	free(query);
	log_info("bridge: vault %s (webhooks at %s, change feed %s); %d writes left to apply",
		 o->url, o->hook_url ? o->hook_url : "none", o->feed ? "on" : "off",
		 b->writer.count);
	writer_kick(&b->writer);
	register_triggers(b);
	*out = b;
	return 0;
}

void bridge_close(struct bridge *b)
{
	if (!b)
		return;
	registration_free(b->registration);
	feed_close(&b->feed);
	writer_free(&b->writer);
	bridge_db_close(b->db);
	free(b->hook_url);
	free(b);
}

void bridge_flush(struct bridge *b, int64_t now_ms, int *retry_ms)
{
	outbox_flush(bridge_db_outbox(b->db), now_ms, b->o.sink->publish, b->o.sink->arg);
	*retry_ms = outbox_retry_ms(bridge_db_outbox(b->db), now_ms);
}

void bridge_settle(struct bridge *b)
{
	if (bridge_db_settle(b->db) != 0)
		fail(b, "acknowledged events are forgotten later");
}

bool bridge_failing(const struct bridge *b, const char **why)
{
	*why = b->why;
	return b->failing;
}

int bridge_probe(struct bridge *b)
{
	if (bridge_db_probe(b->db, b->why, sizeof b->why) != 0)
		return -1;
	b->failing = false;
	return 0;
}

static const char *mode(const struct bridge *b)
{
	if (!b->o.hook_url)
		return "feed only (no --http)";
	if (b->feed.state == FEED_OFF)
		return "webhooks (feed off)";
	if (b->feed.state == FEED_UNAVAILABLE)
		return "webhooks only (the vault has no feed)";
	return "webhooks and feed";
}

cJSON *bridge_status(const struct bridge *b)
{
	cJSON *s = cJSON_CreateObject();

	if (!s || !cJSON_AddStringToObject(s, "url", b->o.url) ||
	    !cJSON_AddStringToObject(s, "mode", mode(b)) ||
	    !cJSON_AddStringToObject(s, "feed", feed_state_name(b->feed.state)) ||
	    !cJSON_AddStringToObject(s, "triggers", b->trigger_mode ? b->trigger_mode : "") ||
	    !cJSON_AddNumberToObject(s, "webhooks", (double)b->webhooks) ||
	    (*b->last_webhook_at &&
	     !cJSON_AddStringToObject(s, "last_webhook_at", b->last_webhook_at)) ||
	    !cJSON_AddNumberToObject(s, "writes_pending", b->writer.count) ||
	    !cJSON_AddBoolToObject(s, "vault_reachable", b->writer.vault_ok) ||
	    (*b->writer.last_error &&
	     !cJSON_AddStringToObject(s, "last_error", b->writer.last_error))) {
		cJSON_Delete(s);
		return NULL;
	}
	return s;
}

void bridge_metrics(const struct bridge *b, struct metrics *m)
{
	metrics_set(m, "agentbus_vault_writes_pending", "", b->writer.count);
	metrics_set(m, "agentbus_vault_feed_live", "", b->feed.state == FEED_LIVE);
}

unsigned long long bridge_version(const struct bridge *b)
{
	unsigned long long v = (unsigned long long)b->feed.state;

	v = v * 31 + (uintptr_t)b->trigger_mode;
	v = v * 31 + (unsigned long long)b->webhooks;
	v = v * 31 + (unsigned long long)b->writer.count;
	return v * 31 + b->writer.vault_ok;
}

int bridge_ready(const struct bridge *b, char *why, size_t len)
{
	if (b->writer.vault_ok)
		return 0;
	snprintf(why, len, "the vault does not take writes (%s); %d wait", b->writer.last_error,
		 b->writer.count);
	return -1;
}
