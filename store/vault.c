/* store/vault: one write in, one event and one answer out. */
#include "store/vault.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "bus/event.h"
#include "bus/payload.h"
#include "bus/write.h"
#include "state/outbox.h"
#include "store/notes.h"
#include "util/crash.h"
#include "util/log.h"

int store_vault_open(struct store_vault *sv, const char *state_dir, const struct topics *topics,
		     const char *vault, const struct bus_sink *sink, size_t max_payload)
{
	memset(sv, 0, sizeof *sv);
	sv->topics = topics;
	sv->vault = vault;
	sv->sink = *sink;
	sv->max_payload = max_payload;
	return note_store_open(state_dir, &sv->notes);
}

void store_vault_close(struct store_vault *sv)
{
	note_store_close(sv->notes);
	sv->notes = NULL;
}

/* Answers a write that could not be applied, then dead-letters it. */
static void reject(struct store_vault *sv, const struct bus_message *msg, const char *request_id,
		   const struct bus_error *err)
{
	cJSON *answer = cJSON_CreateObject();

	if (answer && cJSON_AddStringToObject(answer, "request_id", request_id ? request_id : "") &&
	    cJSON_AddFalseToObject(answer, "ok") &&
	    cJSON_AddStringToObject(answer, "error", err->message))
		sink_answer_doc(&sv->sink, msg, answer);
	cJSON_Delete(answer);
	sv->sink.deadletter(sv->sink.arg, msg, err);
}

/* Records the event of an applied write in the outbox, in the write's
 * transaction, so a crash never applies a write without its event. */
static int record_event(struct store_vault *sv, const struct note_write *w,
			struct store_result *res)
{
	char event_id[ULID_LEN + 1];
	char *topic = topics_vault_event(sv->topics, note_event_name(res->event));
	struct codec_buf buf = { 0 };
	cJSON *ev = NULL;
	int rc = -1;

	if (topic && ulid_next(&sv->event_ids, event_id) == 0) {
		ev = event_build(res->event, sv->vault, event_id, w->origin, res->note);
		res->note = NULL;	/* taken by event_build */
	}
	if (ev && sink_encode(&sv->sink, ev, &buf) == 0) {
		/* Whoever reads the event has the same limit as this store. */
		if (buf.len > sv->max_payload)
			rc = -2;
		else
			rc = outbox_add(note_store_outbox(sv->notes), &(struct bus_publish){
				.topic = topic, .payload = buf.data, .len = buf.len, .qos = 1,
				.content_type = buf.content_type });
	}
	codec_buf_free(&buf);
	cJSON_Delete(ev);
	free(topic);
	return rc;
}

/* Applies `w` and records its event in one transaction. Returns 0, -1 when
 * notes.db failed, -2 when the event would be larger than the limit. */
static int apply_and_record(struct store_vault *sv, const struct note_write *w,
			    struct store_result *res)
{
	int rc = 0;

	if (note_store_begin(sv->notes) != 0)
		return -1;
	if (note_store_apply(sv->notes, w, res) != 0) {
		note_store_rollback(sv->notes);
		return -1;
	}
	if (res->ok && res->note)
		rc = record_event(sv, w, res);
	if (rc != 0) {
		note_store_rollback(sv->notes);
		store_result_free(res);
		return rc == -2 ? -2 : -1;
	}
	if (note_store_commit(sv->notes) != 0) {
		store_result_free(res);
		return -1;
	}
	crash_point("store-committed");
	return 0;
}

static int apply(struct store_vault *sv, const struct bus_message *msg,
		 const struct note_write *w)
{
	struct store_result res;
	struct bus_error err;
	int rc = apply_and_record(sv, w, &res);

	if (rc == -2) {
		bus_fail(&err, REASON_TOO_LARGE, "the note's event would exceed the payload limit "
			 "of %zu bytes", sv->max_payload);
		reject(sv, msg, w->request_id, &err);
		return 0;
	}
	if (rc != 0) {
		snprintf(sv->why, sizeof sv->why, "%s", note_store_error(sv->notes));
		if (!sv->failing)
			log_error("store: notes.db cannot be written (%s); the write %s waits",
				  sv->why, w->request_id ? w->request_id : "(no request id)");
		sv->failing = true;
		return -1;
	}
	if (!res.ok) {
		reject(sv, msg, w->request_id, &res.err);
	} else {
		if (res.repeated)
			log_debug("store: write %s was applied before; answering again",
				  w->request_id);
		sink_answer_doc(&sv->sink, msg, res.answer);
	}
	store_result_free(&res);
	return 0;
}

void store_vault_flush(struct store_vault *sv, int64_t now_ms, int *retry_ms)
{
	*retry_ms = -1;
	if (!sv->notes)
		return;
	outbox_flush(note_store_outbox(sv->notes), now_ms, sv->sink.publish, sv->sink.arg);
	*retry_ms = outbox_retry_ms(note_store_outbox(sv->notes), now_ms);
}

void store_vault_settle(struct store_vault *sv)
{
	if (sv->notes && note_store_settle(sv->notes) != 0) {
		snprintf(sv->why, sizeof sv->why, "%s", note_store_error(sv->notes));
		sv->failing = true;
	}
}

int store_vault_group(struct store_vault *sv, bool on)
{
	return sv->notes ? note_store_group(sv->notes, on) : 0;
}

int store_vault_commit(struct store_vault *sv)
{
	int rc = sv->notes ? note_store_group_commit(sv->notes) : 0;

	if (rc < 0) {
		snprintf(sv->why, sizeof sv->why, "%s", note_store_error(sv->notes));
		log_error("store: notes.db did not commit this iteration's writes (%s)", sv->why);
		sv->failing = true;
	}
	return rc;
}

int store_vault_probe(struct store_vault *sv)
{
	if (!sv->notes || note_store_probe(sv->notes, sv->why, sizeof sv->why) == 0) {
		sv->failing = false;
		return 0;
	}
	return -1;
}

int store_vault_receive(struct store_vault *sv, const struct bus_message *msg)
{
	struct note_write w = { 0 };
	struct bus_error err;
	cJSON *doc;
	int rc = 0;

	if (sv->failing)
		return -1;
	if (payload_decode(msg->payload, msg->len, msg->content_type, sv->max_payload, &doc,
			   &err) != 0) {
		reject(sv, msg, NULL, &err);
		return 0;
	}
	if (write_decode(doc, &w, &err) != 0)
		reject(sv, msg, w.request_id, &err);
	else
		rc = apply(sv, msg, &w);
	write_free(&w);
	return rc;
}
