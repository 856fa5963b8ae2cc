/* handlers/outcome: the notes of a turn's end, each through the outbox. */
#include "handlers/outcome.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/write.h"
#include "handlers/context.h"
#include "handlers/notes.h"
#include "handlers/replica.h"
#include "handlers/request.h"
#include "state/state.h"
#include "util/clock.h"
#include "util/log.h"

/* A response topic waiting for this turn's reply. */
struct answer {
	char *topic;
	char *correlation;	/* hex */
	bool json;
};

static void take_answer_row(void *arg, const char *const cols[4])
{
	struct answer *a = arg;

	a->topic = cols[0] ? strdup(cols[0]) : NULL;
	a->correlation = cols[1] ? strdup(cols[1]) : NULL;
	a->json = cols[2] && strcmp(cols[2], "1") == 0;
}

/* Correlation data as the request carried it (MQTT allows 65,535 bytes). */
static unsigned char *unhex(const char *hex, size_t *len)
{
	size_t n = hex ? strlen(hex) / 2 : 0;
	unsigned char *out = n ? malloc(n) : NULL;

	*len = 0;
	for (size_t i = 0; out && i < n; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			break;
		out[(*len)++] = (unsigned char)v;
	}
	return out;
}

/* Section 5.2: the reply also goes to the inbox request's response topic,
 * text for text and the note for JSON. */
static int answer_inbox(struct agent_runtime *rt, const struct turn_request *req,
			const cJSON *note, const char *text)
{
	struct answer a = { 0 };
	unsigned char *corr = NULL;
	size_t corr_len;
	int rc = state_answer_take(rt->state, req->inbound_id, take_answer_row, &a);
	cJSON *empty = NULL;
	struct codec_buf buf;

	if (rc != 0 || !a.topic)
		goto out;
	rc = replica_answer(rt, req->inbound_id, NULL, NULL, false);
	if (rc != 0)
		goto out;
	corr = unhex(a.correlation, &corr_len);
	if (a.json) {
		/* An empty reply writes no note; say so with an empty content. */
		if (!note && (empty = cJSON_CreateObject()) != NULL &&
		    cJSON_AddStringToObject(empty, "content", ""))
			note = empty;
		rc = note && sink_encode(&rt->sink, note, &buf) == 0 ? 0 : -1;
		if (rc == 0) {
			rc = ctx_send(rt, &(struct bus_publish){
				.topic = a.topic, .payload = buf.data, .len = buf.len,
				.content_type = buf.content_type,
				.correlation = corr, .correlation_len = corr_len });
			codec_buf_free(&buf);
		}
	} else {
		rc = ctx_send(rt, &(struct bus_publish){
			.topic = a.topic, .payload = text, .len = strlen(text),
			.content_type = "text/plain; charset=utf-8",
			.correlation = corr, .correlation_len = corr_len });
	}
out:
	cJSON_Delete(empty);
	free(corr);
	free(a.topic);
	free(a.correlation);
	return rc;
}

static cJSON *message_meta(const struct turn_request *req, const char *thread, bool failed)
{
	char ts[CLOCK_ISO_LEN];
	cJSON *md = cJSON_CreateObject();

	clock_iso8601(ts);
	if (md && (!failed || notes_add(md, "status", "error")) &&
	    notes_add(md, "agent", req->agent) && notes_add(md, "direction", "outbound") &&
	    notes_add(md, "sender", "session") && notes_add(md, "ts", ts) &&
	    notes_add(md, "in_reply_to", req->inbound_id) && notes_add(md, "thread", thread))
		return md;
	cJSON_Delete(md);
	return NULL;
}

/* Section 6, step 3: the reply note (`text`, non-empty) or the failure note,
 * also on R/agent/A/reply and to the inbox's response topic. Returns 0, -1,
 * or -2 when the note is too large to write (nothing recorded). */
static int write_message(struct agent_runtime *rt, const struct turn_request *req,
			 const char *thread, const char *text, bool failed, char id[ULID_LEN + 1])
{
	char rid[ULID_LEN + 1];
	char *topic = topics_agent(rt->topics, req->agent, "reply");
	cJSON *note, *w;
	int rc = -1;

	ctx_step_id(req->inbound_id, "reply", id);
	note = notes_message(id, req->agent, text, true, message_meta(req, thread, failed));
	w = note ? write_build(WRITE_CREATE, ctx_step_id(req->inbound_id, "reply-write", rid),
			       AGENTBUS_ORIGIN,
			       cJSON_Duplicate(note, true)) : NULL;
	if (w)
		rc = ctx_write(rt, w);
	if (rc == 0)
		rc = topic ? ctx_send_doc(rt, topic, note, false, SIZE_MAX) : -1;
	if (rc == 0)
		rc = answer_inbox(rt, req, note, text);
	if (rc == -1)
		state_fail(rt->state);
	cJSON_Delete(note);
	free(topic);
	return rc;
}

static int write_reply(struct agent_runtime *rt, const struct turn_request *req,
		       const char *thread, const struct outcome *o, char id[ULID_LEN + 1])
{
	char *text, why[160];
	int rc;

	id[0] = '\0';
	if (o->ok && !*o->text)
		return answer_inbox(rt, req, NULL, "");
	text = o->ok ? strdup(o->text) : notes_failure_text(o->text);
	rc = text ? write_message(rt, req, thread, text, !o->ok, id) : -1;
	free(text);
	if (rc != -2)
		return rc;
	snprintf(why, sizeof why, "the reply is larger than the largest note agentbus writes "
		 "(%zu bytes)", ctx_write_limit(rt));
	text = notes_failure_text(why);
	rc = text ? write_message(rt, req, thread, text, true, id) : -1;
	free(text);
	return rc;
}

static cJSON *callback_meta(const struct turn_request *req, const char *thread, bool ok,
			    const char *reply_id)
{
	char ts[CLOCK_ISO_LEN], depth[16];
	char *sender = NULL;
	cJSON *md = cJSON_CreateObject();
	bool built;

	clock_iso8601(ts);
	snprintf(depth, sizeof depth, "%d", req->depth + 1);
	/* The reference names the reply only when there is one to read. */
	built = md && asprintf(&sender, "callback:%s", req->agent) >= 0 &&
		notes_add(md, "callback", "true") && notes_add(md, "status", ok ? "ok" : "error") &&
		notes_add(md, "source_channel", req->agent) &&
		notes_add(md, "source_thread", thread) &&
		notes_add(md, "source_message", ok && reply_id && *reply_id ? reply_id : NULL) &&
		notes_add(md, "correlation_id", req->correlation_id) &&
		notes_add(md, "delegation_depth", depth) && notes_add(md, "agent", req->reply_to) &&
		notes_add(md, "direction", "inbound") && notes_add(md, "sender", sender) &&
		notes_add(md, "ts", ts);
	free(sender);
	if (built)
		return md;
	cJSON_Delete(md);
	return NULL;
}

/* Section 6, step 4: wake the requester, unless the depth limit says stop. */
static int write_callback(struct agent_runtime *rt, const struct turn_request *req,
			  const char *thread, bool ok, const char *reply_id)
{
	char id[ULID_LEN + 1], rid[ULID_LEN + 1];
	char *text;
	cJSON *note;
	int rc = -1;

	if (!req->reply_to)
		return 0;
	if (req->depth >= MAX_DELEGATION_DEPTH) {
		log_warn("%s: delegation depth %d reached the limit of %d; no callback to %s",
			 req->inbound_id, req->depth, MAX_DELEGATION_DEPTH, req->reply_to);
		return 0;
	}
	if (!ctx_agent_known(rt, req->reply_to)) {
		log_warn("%s: reply_to names no registered agent (%s); no callback", req->inbound_id,
			 req->reply_to);
		return 0;
	}
	ctx_step_id(req->inbound_id, "callback", id);
	text = notes_callback_text(req->agent, ok);
	note = text ? notes_message(id, req->reply_to, text, false,
				    callback_meta(req, thread, ok, reply_id)) : NULL;
	if (note)
		rc = ctx_write(rt, write_build(WRITE_CREATE,
					       ctx_step_id(req->inbound_id, "callback-write", rid),
					       AGENTBUS_ORIGIN, note));
	free(text);
	return rc;
}

int outcome_write(struct agent_runtime *rt, const struct turn_request *req, const char *thread,
		  const struct outcome *o)
{
	char reply_id[ULID_LEN + 1], rid[ULID_LEN + 1], at[CLOCK_ISO_LEN];

	clock_iso8601(at);
	if (write_reply(rt, req, thread, o, reply_id) != 0 ||
	    write_callback(rt, req, thread, o->ok, reply_id) != 0 ||
	    ctx_write(rt, notes_marker_write(ctx_step_id(req->inbound_id, "marker", rid),
					     req->inbound_id, at)) != 0) {
		state_fail(rt->state);
		return -1;
	}
	return 0;
}

