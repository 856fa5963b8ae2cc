/* test_bridge: agentbus on a real Parachute vault (--vault-url), the vault
 * being test/vault_server.py in either generation: the newer one (trigger
 * API, change feed) and the recorded 0.3.6 (neither). A note created in the
 * vault becomes a turn whose thread, reply and marker land in the vault
 * through REST; triggers are registered, or printed as config.yaml lines; a
 * webhook answered 2xx survives a kill -9; notes written while agentbus was
 * down are caught up from the feed's snapshot exactly once; a vault
 * answering 503 delays writes and loses none; a 4xx write is dead-lettered;
 * bad webhook bodies and bearers are refused; a changed token file is read
 * again; a fleet runs the agents of a vault bridged by `--store-only`. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/check.h"
#include "test/httpd.h"
#include "test/rig.h"

#define READ_TOKEN "read-token-1"
#define WRITE_TOKEN "write-token-1"
#define ADMIN_TOKEN "admin-token-1"
#define HOOK_BEARER "hook-bearer-1"
#define DEFINITION_TOPIC "parachute/agent/eng/definition"
#define DEADLETTERS "parachute/agentbus/deadletter"
/* The status is refreshed at most every 10 s (daemon/status.h). */
#define STATUS_WAIT_MS 15000

struct vault {
	struct th_daemon proc;
	char base[64];		/* http://127.0.0.1:PORT */
	char url[128];		/* base/vault/default */
};

static void vault_start(struct vault *v, const char *generation)
{
	const char *argv[] = { "/usr/bin/python3", SOURCE_DIR "/test/vault_server.py",
			       "--generation", generation, "--read-token", READ_TOKEN,
			       "--write-token", WRITE_TOKEN, "--admin-token", ADMIN_TOKEN, NULL };
	const char *line;
	int port;
	bool ok;

	th_process_start(&v->proc, argv);
	/* The whole line: its end, after the number. */
	REQUIRE(th_daemon_wait_output(&v->proc, true, "port ", TH_TIMEOUT_MS));
	REQUIRE(th_daemon_wait_output(&v->proc, true, "\n", TH_TIMEOUT_MS));
	/* Under the reader thread's lock: it may be appending to the buffer. */
	pthread_mutex_lock(&v->proc.lock);
	line = strstr(v->proc.out, "port ");
	ok = line && sscanf(line, "port %d", &port) == 1;
	CHECK_MSG(ok, "the vault server said '%s'", v->proc.out);
	pthread_mutex_unlock(&v->proc.lock);
	REQUIRE(ok);
	snprintf(v->base, sizeof v->base, "http://127.0.0.1:%d", port);
	snprintf(v->url, sizeof v->url, "%s/vault/default", v->base);
}

static void vault_stop(struct vault *v)
{
	th_daemon_stop(&v->proc, SIGTERM);
	th_daemon_free(&v->proc);
}

/* A request to the vault (`path` below its base); the answer parsed. */
static cJSON *vault_call(struct vault *v, const char *method, const char *path,
			 const char *token, const char *body, long *status)
{
	char url[1024], *answer;
	long st;
	cJSON *doc;

	snprintf(url, sizeof url, "%s%s", v->base, path);
	st = th_http_request(method, url, token, body, &answer);
	doc = cJSON_Parse(answer);
	free(answer);
	if (status)
		*status = st;
	return doc;
}

/* A note written by a person, through the vault's REST API; its id. */
static char *vault_write_note(struct vault *v, const char *path, const char *tags,
			      const char *meta, const char *content)
{
	char *body = rig_fmt("{\"content\":\"%s\",\"path\":\"%s\",\"tags\":%s,\"metadata\":{%s}}",
			     content, path, tags, meta);
	long status;
	cJSON *note = vault_call(v, "POST", "/vault/default/api/notes", WRITE_TOKEN, body, &status);
	char *id;

	REQUIRE(status == 201 && note);
	id = strdup(rig_str(note, "id", NULL));
	cJSON_Delete(note);
	free(body);
	return id;
}

static char *inbound(struct vault *v, const char *name, const char *text)
{
	char *path = rig_fmt("channel/eng/%s", name);
	char *id = vault_write_note(v, path, "[\"agent/message\",\"agent/message/inbound\"]",
				    "\"agent\":\"eng\",\"sender\":\"tester\"", text);

	free(path);
	return id;
}

/* Blocks (in the vault) until `count` notes carry `tag` and metadata `has`. */
static cJSON *wait_notes(struct vault *v, const char *tag, const char *has, int count)
{
	char *path = rig_fmt("/_test/wait-notes?tag=%s%s%s&count=%d&timeout=20", tag,
			     has ? "&has=" : "", has ? has : "", count);
	cJSON *notes = vault_call(v, "GET", path, NULL, NULL, NULL);

	free(path);
	REQUIRE(cJSON_IsArray(notes));
	CHECK_MSG(cJSON_GetArraySize(notes) >= count, "%d notes tagged %s, wanted %d",
		  cJSON_GetArraySize(notes), tag, count);
	return notes;
}

/* One note with `tag` whose metadata says `where` ("k=v&where=k2=v2"). */
static cJSON *wait_notes_where(struct vault *v, const char *tag, const char *where)
{
	char *path = rig_fmt("/_test/wait-notes?tag=%s&where=%s&count=1&timeout=20", tag, where);
	cJSON *notes = vault_call(v, "GET", path, NULL, NULL, NULL);

	free(path);
	CHECK_MSG(cJSON_GetArraySize(notes) == 1, "no note tagged %s with %s", tag, where);
	return notes;
}

static int wait_log(struct vault *v, const char *method, int status, int count)
{
	char *path = rig_fmt("/_test/wait-log?method=%s&status=%d&count=%d&timeout=20", method,
			     status, count);
	cJSON *log = vault_call(v, "GET", path, NULL, NULL, NULL);
	int n = cJSON_GetArraySize(log);

	free(path);
	cJSON_Delete(log);
	return n;
}

/* The replies in the vault to inbound note `id`. */
static int replies_to(struct vault *v, const char *id)
{
	cJSON *notes = vault_call(v, "GET", "/_test/notes", NULL, NULL, NULL), *n;
	int count = 0;

	cJSON_ArrayForEach(n, notes) {
		const char *to = rig_str(n, "metadata", "in_reply_to");

		count += to && !strcmp(to, id);
	}
	cJSON_Delete(notes);
	return count;
}

static cJSON *note_at(struct vault *v, const char *path)
{
	char enc[512], *o = enc, *url;
	long status;
	cJSON *note;

	for (const char *p = path; *p && o < enc + sizeof enc - 4; p++) {
		if (*p == '/') {
			memcpy(o, "%2F", 3);
			o += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	url = rig_fmt("/vault/default/api/notes/%s", enc);
	note = vault_call(v, "GET", url, READ_TOKEN, NULL, &status);
	free(url);
	if (status != 200) {
		cJSON_Delete(note);
		return NULL;
	}
	return note;
}

/* Defines agent eng by a note in the vault and waits for its entry. */
static void define_eng(struct rig *r, struct vault *v)
{
	struct cJSON *entry;

	free(vault_write_note(v, "Agents/eng", "[\"agent/definition\"]", "\"name\":\"eng\"",
			      "You are eng."));
	entry = rig_expect(r, DEFINITION_TOPIC, "registry-entry", "enabled");
	cJSON_Delete(entry);
}

/* The reply to `id` in the vault, once its turn's marker and the end of
 * its thread (the `total`th turn of eng) landed. */
static void expect_reply(struct vault *v, const char *id, int total)
{
	char *where = rig_fmt("status=ok&where=turn_count=%d", total);
	cJSON *notes = wait_notes(v, "agent/message/outbound", NULL, total);

	cJSON_Delete(notes);
	notes = wait_notes(v, "agent/message/inbound", "agentbus_rendered_at", total);
	cJSON_Delete(notes);
	notes = wait_notes(v, "agent/thread", NULL, 1);
	cJSON_Delete(notes);
	notes = wait_notes_where(v, "agent/thread", where);
	cJSON_Delete(notes);
	CHECK_INT(replies_to(v, id), 1);
	free(where);
}

/* The instance's status once it contains `text`, schema-checked: a new
 * subscriber gets the retained one first, then every later one, so none
 * is missed whenever it was published. */
static cJSON *status_with(struct rig *r, const char *text)
{
	char *topic = rig_fmt("parachute/agentbus/status/%s", r->id);
	struct th_client fresh;
	struct th_msg *m;
	cJSON *status;

	th_client_open(&fresh, r->broker.child.port, topic);
	m = th_client_wait_for(&fresh, topic, text, STATUS_WAIT_MS);
	REQUIRE(m);
	CHECK(th_schema_valid("status", m->payload));
	status = cJSON_Parse(m->payload);
	th_msg_free(m);
	th_client_close(&fresh);
	free(topic);
	return status;
}

/* Every start registers the triggers again, pointing them at this run's
 * --http port: a note written before that would go to the last one's. */
static void wait_registered(struct rig *r)
{
	REQUIRE(th_daemon_wait_output(&r->daemon, false, "triggers registered", TH_TIMEOUT_MS));
}

static long hook(const char *addr, const char *bearer, const char *body)
{
	char url[256], *answer;
	long status;

	snprintf(url, sizeof url, "http://%s/vault/default/hook", addr);
	status = th_http_request("POST", url, bearer, body, &answer);
	free(answer);
	return status;
}

static const char *metric_line(const char *metrics, const char *series)
{
	const char *at = strstr(metrics, series);

	return at ? at : "";
}

/* A broker, a client on '#', a vault of one generation, and agentbus
 * bridging it with a token file and more options after its own. */
struct bridged {
	struct rig r;
	struct vault v;
	char *token;		/* the token file's path */
	const char *args[16];
};

static void bridged_start(struct bridged *b, const char *id, const char *generation,
			  const char *token, const char *const *more)
{
	char state[96];
	size_t n = 0;

	b->r = (struct rig){ .id = id };
	vault_start(&b->v, generation);
	th_broker_start(&b->r.broker, "broker", false);
	snprintf(b->r.port, sizeof b->r.port, "%d", b->r.broker.child.port);
	snprintf(state, sizeof state, "state-%s", id);
	b->r.state = th_tmpdir(state);
	b->token = th_write_file(b->r.state, "vault-token", token);
	th_client_open(&b->r.client, b->r.broker.child.port, "#");
	b->args[n++] = "--vault-url";
	b->args[n++] = b->v.url;
	b->args[n++] = "--vault-token-file";
	b->args[n++] = b->token;
	while (more && *more && n < 15)
		b->args[n++] = *more++;
	b->args[n] = NULL;
	rig_start_daemon(&b->r, b->args);
}

static void bridged_stop(struct bridged *b)
{
	free(b->token);
	rig_stop(&b->r);
	vault_stop(&b->v);
}

/* --- the newer vault: triggers registered, the whole pipeline ----------------- */

static void check_triggers(struct vault *v, const char *addr)
{
	cJSON *triggers = vault_call(v, "GET", "/_test/triggers", NULL, NULL, NULL), *t;
	char *webhook = rig_fmt("http://%s/vault/default/hook", addr);
	int seen = 0;

	CHECK_INT(cJSON_GetArraySize(triggers), 2);
	cJSON_ArrayForEach(t, triggers) {
		const char *name = rig_str(t, "name", NULL);
		char *when = cJSON_PrintUnformatted(cJSON_GetObjectItem(t, "when"));
		char *events = cJSON_PrintUnformatted(cJSON_GetObjectItem(t, "events"));
		const cJSON *action = cJSON_GetObjectItem(t, "action");

		CHECK_STR(rig_str(action, "webhook", NULL), webhook);
		CHECK_STR(rig_str(action, "auth", "bearer"), HOOK_BEARER);
		if (!strcmp(name, "agentbus-inbound")) {
			seen |= 1;
			CHECK_STR(events, "[\"created\"]");
			CHECK_STR(when, "{\"tags\":[\"agent/message/inbound\"],"
					"\"missing_metadata\":[\"channel_inbound_rendered_at\"]}");
		} else if (!strcmp(name, "agentbus-definition")) {
			seen |= 2;
			CHECK_STR(events, "[\"created\",\"updated\"]");
			CHECK_STR(when, "{\"tags\":[\"agent/definition\"]}");
		}
		free(when);
		free(events);
	}
	CHECK_INT(seen, 3);
	free(webhook);
	cJSON_Delete(triggers);
}

static void check_webhook_refusals(struct rig *r, const char *addr)
{
	cJSON *dl;

	CHECK_INT(hook(addr, NULL, "{}"), 401);
	CHECK_INT(hook(addr, "not-the-bearer", "{}"), 401);
	CHECK_INT(hook(addr, HOOK_BEARER, "this is not json"), 400);
	dl = rig_expect(r, DEADLETTERS, "deadletter", "invalid_encoding");
	CHECK_STR(rig_str(dl, "topic", NULL), "http:POST /vault/default/hook");
	cJSON_Delete(dl);
	CHECK_INT(hook(addr, HOOK_BEARER, "{\"note\":{\"id\":\"x\"},\"event\":\"created\"}"), 400);
	dl = rig_expect(r, DEADLETTERS, "deadletter", "not a trigger");
	cJSON_Delete(dl);
	CHECK_INT(hook(addr, HOOK_BEARER,
		       "{\"trigger\":\"t\",\"event\":\"deleted\",\"note\":{\"id\":\"x\"}}"), 400);
	dl = rig_expect(r, DEADLETTERS, "deadletter", "created or updated");
	cJSON_Delete(dl);
}

/* The same webhook twice is one event; a write the vault refuses (the
 * marker of an inbound note it does not hold) is an invalid_write. */
static void check_duplicates_and_refused_write(struct rig *r, const char *addr)
{
	const char *body = "{\"trigger\":\"agentbus-inbound\",\"event\":\"created\",\"note\":{"
			   "\"id\":\"not-in-the-vault\",\"content\":\"hi\",\"tags\":"
			   "[\"agent/message/inbound\"],\"metadata\":{\"agent\":\"eng\"},"
			   "\"createdAt\":\"2026-12-01T00:00:00.000Z\","
			   "\"updatedAt\":\"2026-12-01T00:00:00.000Z\"}}";
	const char *topic = "parachute/vault/default/event/note.created";
	cJSON *dl, *ev;

	th_client_count(&r->client, topic, "not-in-the-vault");
	CHECK_INT(hook(addr, HOOK_BEARER, body), 200);
	CHECK_INT(hook(addr, HOOK_BEARER, body), 200);
	ev = rig_expect(r, topic, "vault-event", "not-in-the-vault");
	CHECK_STR(rig_str(ev, "event_id", NULL),
		  "not-in-the-vault|note.created|2026-12-01T00:00:00.000Z");
	cJSON_Delete(ev);
	/* Its turn's marker is refused by the vault (no such note). */
	dl = rig_expect(r, DEADLETTERS, "deadletter", "invalid_write");
	CHECK_CONTAINS(rig_str(dl, "error", NULL), "the vault answered 404");
	CHECK_CONTAINS(rig_str(dl, "error", NULL), "not-in-the-vault");
	cJSON_Delete(dl);
	/* Published in order: by the dead letter, a second event would be here. */
	CHECK_INT(th_client_count(&r->client, topic, "not-in-the-vault"), 0);
}

/* A write with a response topic is answered once the vault has it. */
static void check_write_answer(struct rig *r, struct vault *v)
{
	struct th_msg *m;
	cJSON *note;

	th_client_subscribe(&r->client, "me/answer");
	th_client_publish(&r->client, "parachute/vault/default/write",
			  "{\"v\":1,\"op\":\"create\",\"request_id\":\"req-answer-1\","
			  "\"note\":{\"id\":\"01JD3N5Q0Z8Y7X6W5V4T3S2R1P\",\"path\":\"probe/answer\","
			  "\"content\":\"answered\",\"tags\":[\"probe\"]}}",
			  SIZE_MAX, NULL, "me/answer", "corr-1");
	m = th_client_wait_for(&r->client, "me/answer", "req-answer-1", TH_TIMEOUT_MS);
	REQUIRE(m);
	CHECK_CONTAINS(m->payload, "\"ok\":true");
	CHECK_CONTAINS(m->payload, "\"id\":\"01JD3N5Q0Z8Y7X6W5V4T3S2R1P\"");
	CHECK_CONTAINS(m->payload, "\"path\":\"probe/answer\"");
	CHECK_STR(m->correlation, "corr-1");
	CHECK(th_schema_valid("write-answer", m->payload));
	th_msg_free(m);
	note = note_at(v, "probe/answer");
	CHECK(note && !strcmp(rig_str(note, "content", NULL), "answered"));
	cJSON_Delete(note);
}

static void test_new_vault(void)
{
	char *dir = th_tmpdir("bearer-new");
	char *bearer = th_write_file(dir, "hook-bearer", HOOK_BEARER "\n");
	const char *more[] = { "--http", "127.0.0.1:0", "--hook-token-file", bearer, NULL };
	struct bridged b;
	struct rig *r = &b.r;
	struct vault *v = &b.v;
	char addr[64], *id, *metrics;
	cJSON *reply, *thread, *in, *status;

	bridged_start(&b, "bridge-new", "new", ADMIN_TOKEN "\n", more);
	rig_http_addr(r, addr);
	REQUIRE(th_daemon_wait_output(&r->daemon, false, "triggers registered", TH_TIMEOUT_MS));
	REQUIRE(th_daemon_wait_output(&r->daemon, false, "feed is live", TH_TIMEOUT_MS));
	check_triggers(v, addr);

	define_eng(r, v);
	id = inbound(v, "first", "hello");
	expect_reply(v, id, 1);
	reply = wait_notes(v, "agent/message/outbound", NULL, 1);
	thread = note_at(v, "Threads/eng/eng");
	REQUIRE(thread);
	CHECK_STR(rig_str(cJSON_GetArrayItem(reply, 0), "content", NULL), "echo: hello");
	CHECK_STR(rig_str(cJSON_GetArrayItem(reply, 0), "metadata", "thread"),
		  rig_str(thread, "id", NULL));
	CHECK_STR(rig_str(thread, "metadata", "turn_count"), "1");
	in = wait_notes(v, "agent/message/inbound", "agentbus_rendered_at", 1);
	CHECK_STR(rig_str(cJSON_GetArrayItem(in, 0), "id", NULL), id);
	/* The vault's own marker: the webhook was answered with success. */
	CHECK(rig_str(cJSON_GetArrayItem(in, 0), "metadata", "agentbus-inbound_rendered_at"));
	cJSON_Delete(in);
	cJSON_Delete(reply);
	cJSON_Delete(thread);

	check_webhook_refusals(r, addr);
	check_duplicates_and_refused_write(r, addr);
	check_write_answer(r, v);

	/* Status and metrics show the vault. */
	REQUIRE(th_http_get(addr, "/metrics", &metrics) == 200);
	CHECK_CONTAINS(metrics, "agentbus_vault_webhooks_total{outcome=\"recorded\"}");
	/* The feed often brings a note before its webhook: that is a duplicate too. */
	CHECK_CONTAINS(metrics, "agentbus_vault_webhooks_total{outcome=\"duplicate\"}");
	CHECK_CONTAINS(metrics, "agentbus_vault_webhooks_total{outcome=\"refused\"} 5");
	CHECK_CONTAINS(metrics, "agentbus_vault_feed_frames_total{type=\"snapshot\"}");
	CHECK_CONTAINS(metrics, "agentbus_vault_rest_calls_total{method=\"POST\",outcome=\"ok\"}");
	CHECK_CONTAINS(metrics,
		       "agentbus_vault_rest_calls_total{method=\"PATCH\",outcome=\"refused\"} 1");
	CHECK_CONTAINS(metric_line(metrics, "agentbus_vault_feed_live "), "agentbus_vault_feed_live 1");
	free(metrics);
	status = status_with(r, "\"feed\":\"live\",\"triggers\":\"registered\"");
	REQUIRE(status);
	CHECK_STR(rig_str(status, "vault", "mode"), "webhooks and feed");
	CHECK_STR(rig_str(status, "vault", "url"), v->url);
	cJSON_Delete(status);
	{
		const char *argv[] = { th_agentbus_bin(), "status", "-p", r->port, NULL };
		char *out, *err, *line = rig_fmt("  vault %s: webhooks and feed, feed live, triggers "
						 "registered, 0 writes pending\n", v->url);

		CHECK_INT(th_run(argv, &out, &err), 0);
		CHECK_CONTAINS(out, line);
		free(out);
		free(err);
		free(line);
	}

	/* --register-triggers upserts the same two again. */
	{
		const char *argv[] = { th_agentbus_bin(), "--vault-url", v->url, "--vault-token-file",
				       b.token, "--hook-token-file", bearer, "--hook-url",
				       rig_fmt("http://%s/vault/default/hook", addr),
				       "--register-triggers", NULL };
		char *out, *err;
		int st;

		CHECK_INT(th_run(argv, &out, &err), 0);
		CHECK_CONTAINS(out, "registered the triggers");
		check_triggers(v, addr);
		free(out);
		free(err);
		/* A write token may not. */
		free(th_write_file(r->state, "vault-token", WRITE_TOKEN));
		st = th_run(argv, &out, &err);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
		CHECK_CONTAINS(err, "the token needs vault:<V>:admin");
		free(out);
		free(err);
		free((char *)argv[8]);
	}
	free(id);
	free(bearer);
	free(dir);
	bridged_stop(&b);
}

/* --- the recorded 0.3.6: no trigger API, no feed, PATCH cannot create --------- */

static void test_old_vault(void)
{
	const char *more[] = { "--http", "127.0.0.1:0", NULL };
	struct bridged b;
	struct rig *r = &b.r;
	struct vault *v = &b.v;
	char addr[64], *id, *config;
	cJSON *status;

	bridged_start(&b, "bridge-old", "old", ADMIN_TOKEN, more);
	rig_http_addr(r, addr);
	REQUIRE(th_daemon_wait_output(&r->daemon, false, "add these lines to the vault's config.yaml",
				      TH_TIMEOUT_MS));
	CHECK(th_daemon_wait_output(&r->daemon, false, "- name: \"agentbus-inbound\"", TH_TIMEOUT_MS));
	CHECK(th_daemon_wait_output(&r->daemon, false, "tags: [\"agent/message/inbound\"]",
				    TH_TIMEOUT_MS));
	REQUIRE(th_daemon_wait_output(&r->daemon, false, "has no change feed", TH_TIMEOUT_MS));
	status = status_with(r, "\"feed\":\"unavailable\",\"triggers\":\"config.yaml\"");
	CHECK_STR(rig_str(status, "vault", "mode"), "webhooks only (the vault has no feed)");
	CHECK_STR(rig_str(status, "vault", "triggers"), "config.yaml");
	CHECK_STR(rig_str(status, "vault", "feed"), "unavailable");
	cJSON_Delete(status);

	/* The operator adds the printed triggers to config.yaml. */
	config = rig_fmt("[{\"name\":\"agentbus-definition\",\"events\":[\"created\",\"updated\"],"
			 "\"when\":{\"tags\":[\"agent/definition\"]},\"action\":{\"webhook\":"
			 "\"http://%s/vault/default/hook\"}},{\"name\":\"agentbus-inbound\","
			 "\"events\":[\"created\"],\"when\":{\"tags\":[\"agent/message/inbound\"],"
			 "\"missing_metadata\":[\"channel_inbound_rendered_at\"]},\"action\":{"
			 "\"webhook\":\"http://%s/vault/default/hook\"}}]", addr, addr);
	cJSON_Delete(vault_call(v, "POST", "/_test/config-triggers", NULL, config, NULL));
	free(config);

	define_eng(r, v);
	id = inbound(v, "first", "hello old vault");
	expect_reply(v, id, 1);
	/* The thread's upsert: PATCH found no note, POST made it, with the id
	 * agentbus proposed. */
	CHECK(wait_log(v, "PATCH", 404, 1) >= 1);
	{
		cJSON *thread = note_at(v, "Threads/eng/eng");
		cJSON *reply = wait_notes(v, "agent/message/outbound", NULL, 1);

		REQUIRE(thread);
		CHECK_STR(rig_str(cJSON_GetArrayItem(reply, 0), "metadata", "thread"),
			  rig_str(thread, "id", NULL));
		CHECK_STR(rig_str(thread, "metadata", "status"), "ok");
		cJSON_Delete(thread);
		cJSON_Delete(reply);
	}
	/* A second turn finds the thread and PATCHes it. */
	free(id);
	id = inbound(v, "second", "again");
	expect_reply(v, id, 2);
	{
		cJSON *thread = note_at(v, "Threads/eng/eng");

		CHECK_STR(rig_str(thread, "metadata", "turn_count"), "2");
		cJSON_Delete(thread);
	}

	/* Off the daemon: --register-triggers prints the lines and fails. */
	{
		const char *argv[] = { th_agentbus_bin(), "--vault-url", v->url, "--vault-token-file",
				       b.token, "--hook-url", "http://127.0.0.1:9/vault/default/hook",
				       "--register-triggers", NULL };
		char *out, *err;
		int st = th_run(argv, &out, &err);

		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
		CHECK_CONTAINS(out, "triggers:\n  - name: \"agentbus-definition\"");
		CHECK_CONTAINS(out, "webhook: \"http://127.0.0.1:9/vault/default/hook\"");
		free(out);
		free(err);
	}
	free(id);
	bridged_stop(&b);
}

/* --- kill -9 after a webhook's 2xx ------------------------------------------- */

/* After agentbus died while inbound note `id` was on its way in: started
 * again, the note has one reply; anything doubled would be in the vault by
 * the next turn's. */
static void restart_and_expect_one_reply(struct bridged *b, const char *id)
{
	char *barrier;

	rig_start_daemon(&b->r, b->args);
	wait_registered(&b->r);
	expect_reply(&b->v, id, 1);
	barrier = inbound(&b->v, "barrier", "after");
	expect_reply(&b->v, barrier, 2);
	CHECK_INT(replies_to(&b->v, id), 1);
	free(barrier);
}

static void test_webhook_survives_kill(void)
{
	const char *more[] = { "--http", "127.0.0.1:0", "--vault-feed", "off", NULL };
	struct bridged b;
	struct rig *r = &b.r;
	struct vault *v = &b.v;
	char *id;
	cJSON *deliveries;
	int st;

	/* No feed: only the webhook can bring the note. */
	bridged_start(&b, "bridge-kill", "new", ADMIN_TOKEN, more);
	REQUIRE(th_daemon_wait_output(&r->daemon, false, "triggers registered", TH_TIMEOUT_MS));
	define_eng(r, v);

	/* The broker stops taking anything: the event can be recorded and the
	 * webhook answered, but not published, before agentbus dies. */
	REQUIRE(kill(r->broker.child.pid, SIGSTOP) == 0);
	id = inbound(v, "during-kill", "survive");
	deliveries = vault_call(v, "GET", "/_test/wait-deliveries?count=2&timeout=20", NULL, NULL,
				NULL);
	REQUIRE(cJSON_GetArraySize(deliveries) == 2);
	CHECK_INT(cJSON_GetObjectItem(cJSON_GetArrayItem(deliveries, 1), "outcome")->valueint, 200);
	cJSON_Delete(deliveries);
	st = th_daemon_stop(&r->daemon, SIGKILL);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	th_daemon_free(&r->daemon);
	REQUIRE(kill(r->broker.child.pid, SIGCONT) == 0);

	restart_and_expect_one_reply(&b, id);
	free(id);
	bridged_stop(&b);
}

/* --- caught up from the feed's snapshot, once ------------------------------- */

static void test_catch_up(void)
{
	/* A bearer file that is not there is said at start (no webhooks come here). */
	const char *more[] = { "--hook-token-file", "/nonexistent/hook-bearer", NULL };
	struct bridged b;
	struct rig *r = &b.r;
	struct vault *v = &b.v;
	char *ids[3], *last;

	/* No webhooks: the feed alone brings events. */
	bridged_start(&b, "bridge-feed", "new", WRITE_TOKEN, more);
	REQUIRE(th_daemon_wait_output(&r->daemon, false, "no --http, so no webhooks",
				      TH_TIMEOUT_MS));
	CHECK(th_daemon_wait_output(&r->daemon, false, "bridge: cannot read "
				    "/nonexistent/hook-bearer: No such file or directory",
				    TH_TIMEOUT_MS));
	CHECK(th_daemon_wait_output(&r->daemon, false, "webhooks are refused (401) until "
				    "/nonexistent/hook-bearer can be read", TH_TIMEOUT_MS));
	REQUIRE(th_daemon_wait_output(&r->daemon, false, "feed is live", TH_TIMEOUT_MS));
	cJSON_Delete(status_with(r, "\"mode\":\"feed only (no --http)\",\"feed\":\"live\""));
	define_eng(r, v);

	CHECK(th_daemon_stop_cleanly(&r->daemon, SIGTERM));
	th_daemon_free(&r->daemon);
	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof name, "while-down-%d", i);
		ids[i] = inbound(v, name, "written while agentbus was down");
	}
	rig_start_daemon(r, b.args);
	cJSON_Delete(wait_notes(v, "agent/message/inbound", "agentbus_rendered_at", 3));
	/* A new connection, so a new snapshot holding all three again. */
	CHECK(wait_log(v, "GET", 101, 2) == 2);
	cJSON_Delete(vault_call(v, "POST", "/_test/close-feeds", NULL, "{}", NULL));
	CHECK(wait_log(v, "GET", 101, 3) == 3);
	/* Comes after that snapshot on the same connection: by its reply, the
	 * snapshot has been read. */
	last = inbound(v, "after-reconnect", "last");
	expect_reply(v, last, 4);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(replies_to(v, ids[i]), 1);
		free(ids[i]);
	}
	free(last);
	bridged_stop(&b);
}

/* --- a vault answering 503, then a token that changes ------------------------ */

/* The note ORDER1 was created, then patched with seq 1, 2, 3, in that order. */
static void check_order(struct vault *v)
{
	cJSON *log, *e, *note;
	int seq = 0;

	cJSON_Delete(wait_notes_where(v, "probe", "seq=3"));
	log = vault_call(v, "GET", "/_test/log", NULL, NULL, NULL);
	cJSON_ArrayForEach(e, log) {
		const char *path = rig_str(e, "path", NULL), *got;

		if (!strstr(path, "ORDER1") || cJSON_GetObjectItem(e, "status")->valueint != 200)
			continue;
		got = rig_str(cJSON_GetObjectItem(e, "body"), "metadata", "seq");
		CHECK_MSG(got && atoi(got) == seq + 1, "PATCH %s applied after seq %d",
			  got ? got : "?", seq);
		seq = got ? atoi(got) : seq;
	}
	CHECK_INT(seq, 3);
	note = note_at(v, "probe/order");
	CHECK_STR(rig_str(note, "metadata", "seq"), "3");
	cJSON_Delete(note);
	cJSON_Delete(log);
}

static void test_vault_down_and_token(void)
{
	const char *more[] = { "--http", "127.0.0.1:0", NULL };
	struct bridged b;
	struct rig *r = &b.r;
	struct vault *v = &b.v;
	char addr[64], *id, *ready;

	bridged_start(&b, "bridge-503", "new", ADMIN_TOKEN, more);
	rig_http_addr(r, addr);
	REQUIRE(th_daemon_wait_output(&r->daemon, false, "triggers registered", TH_TIMEOUT_MS));
	define_eng(r, v);

	cJSON_Delete(vault_call(v, "POST", "/_test/fail", NULL,
				"{\"status\":503,\"count\":-1,\"token\":\"" ADMIN_TOKEN "\"}", NULL));
	id = inbound(v, "while-503", "patience");
	/* Writes of one note, made while the vault refuses them all. */
	for (int i = 0; i < 4; i++) {
		char *w = i == 0 ? rig_fmt("{\"v\":1,\"op\":\"create\",\"request_id\":\"o0\","
					   "\"note\":{\"id\":\"ORDER1\",\"path\":\"probe/order\","
					   "\"content\":\"x\",\"tags\":[\"probe\"]}}")
				 : rig_fmt("{\"v\":1,\"op\":\"patch\",\"request_id\":\"o%d\","
					   "\"note\":{\"id\":\"ORDER1\",\"metadata\":"
					   "{\"seq\":\"%d\"}}}", i, i);

		th_client_publish_text(&r->client, "parachute/vault/default/write", w);
		free(w);
	}
	CHECK(wait_log(v, "PATCH", 503, 3) >= 3);	/* tried, and tried again */
	CHECK_INT(th_http_get(addr, "/readyz", &ready), 503);
	CHECK_CONTAINS(ready, "the vault does not take writes");
	free(ready);
	CHECK_INT(replies_to(v, id), 0);
	cJSON_Delete(vault_call(v, "POST", "/_test/fail", NULL, "{\"count\":0}", NULL));
	expect_reply(v, id, 1);
	CHECK_INT(th_http_get(addr, "/readyz", &ready), 200);
	free(ready);
	check_order(v);

	/* A token the vault refuses, then the right one again: read anew. */
	free(id);
	free(th_write_file(r->state, "vault-token", "revoked-token"));
	id = inbound(v, "wrong-token", "who are you");
	CHECK(wait_log(v, "PATCH", 401, 1) >= 1);
	CHECK_INT(replies_to(v, id), 0);
	free(th_write_file(r->state, "vault-token", ADMIN_TOKEN));
	expect_reply(v, id, 2);
	CHECK(th_daemon_wait_output(&r->daemon, false, "changed; using the new token",
				    TH_TIMEOUT_MS));
	free(id);
	bridged_stop(&b);
}

#ifdef AGENTBUS_CRASH_POINTS
/* agentbus killed at `point` (a crash point of the Debug build) while the
 * vault's webhook for an inbound note, or the first write of its turn, is
 * being handled: after a restart the note has one reply. */
static void test_crash_point(const char *point)
{
	const char *more[] = { "--http", "127.0.0.1:0", "--vault-feed", "off", NULL };
	struct bridged b;
	struct rig *r = &b.r;
	struct vault *v = &b.v;
	char name[64], *id;
	int st;

	printf("   crash at %s\n", point);
	snprintf(name, sizeof name, "crash-%s", point);
	bridged_start(&b, name, "new", ADMIN_TOKEN, more);
	REQUIRE(th_daemon_wait_output(&r->daemon, false, "triggers registered", TH_TIMEOUT_MS));
	define_eng(r, v);
	cJSON_Delete(wait_notes(v, "agent/definition", "status", 1));

	setenv("AGENTBUS_CRASH_AT", point, 1);
	rig_restart_daemon(r, b.args);
	unsetenv("AGENTBUS_CRASH_AT");
	wait_registered(r);
	id = inbound(v, "crash", "through a crash");
	st = th_daemon_wait_exit(&r->daemon, TH_TIMEOUT_MS);
	CHECK_MSG(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		  "agentbus did not die at %s", point);
	th_daemon_free(&r->daemon);

	restart_and_expect_one_reply(&b, id);
	free(id);
	bridged_stop(&b);
}
#endif

/* --- a fleet on a real vault: the bridge alone (--store-only), agents elsewhere - */

/* SCALE.md's deployment on a real vault: one agentbus bridges the vault and
 * runs no agents; a fleet instance runs them. The definition written in the
 * vault is registered by its partition's process; an inbound note written in
 * the vault is answered in the vault, once. */
static void test_fleet_on_vault(void)
{
	char *dir = th_tmpdir("bearer-fleet");
	char *bearer = th_write_file(dir, "hook-bearer", HOOK_BEARER "\n");
	const char *more[] = { "--store-only", "--http", "127.0.0.1:0", "--hook-token-file",
			       bearer, NULL };
	char *inst_dir = th_tmpdir("fleet-on-vault");
	struct th_daemon inst;
	struct bridged b;
	char *id;

	bridged_start(&b, "bridge-fleet", "new", ADMIN_TOKEN "\n", more);
	REQUIRE(th_daemon_wait_output(&b.r.daemon, false, "feed is live", TH_TIMEOUT_MS));
	th_daemon_start_in_group(&inst, (const char *const[]){
		"-p", b.r.port, "--fleet", "vf", "--partitions", "4", "--id", "i1",
		"--state-dir", inst_dir, "--no-demo", NULL });
	for (int p = 0; p < 4; p++) {
		char *serving = rig_fmt("partition %d: serving", p);

		REQUIRE(th_daemon_wait_output(&inst, false, serving, TH_TIMEOUT_MS));
		free(serving);
	}
	REQUIRE(th_daemon_wait_output(&inst, false, "router: serving", TH_TIMEOUT_MS));
	define_eng(&b.r, &b.v);
	id = inbound(&b.v, "first", "hello");
	expect_reply(&b.v, id, 1);
	CHECK_MSG(th_daemon_wait_output(&inst, false, "agent eng registered", 0) &&
		  !th_daemon_wait_output(&b.r.daemon, false, "agent eng", 0),
		  "the fleet registers the agent, the bridge none");
	CHECK(th_daemon_stop_cleanly(&inst, SIGTERM));
	th_daemon_free(&inst);
	free(id);
	free(inst_dir);
	free(bearer);
	free(dir);
	bridged_stop(&b);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;

	if (!only || !strcmp(only, "new"))
		test_new_vault();
	if (!only || !strcmp(only, "old"))
		test_old_vault();
	if (!only || !strcmp(only, "kill"))
		test_webhook_survives_kill();
	if (!only || !strcmp(only, "feed"))
		test_catch_up();
	if (!only || !strcmp(only, "down"))
		test_vault_down_and_token();
	if (!only || !strcmp(only, "fleet"))
		test_fleet_on_vault();
#ifdef AGENTBUS_CRASH_POINTS
	if (!only || !strcmp(only, "crash")) {
		test_crash_point("hook-recorded");
		test_crash_point("hook-answered");
		test_crash_point("bridge-write-recorded");
	}
#endif
	return check_summary();
}
