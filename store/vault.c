/* store/vault: one write in, one event and one answer out. */
#include "store/vault.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bus/event.h"
#include "bus/payload.h"
#include "bus/write.h"
#include "store/notes.h"
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

static int publish_event(struct store_vault *sv, const struct note_write *w,
			 struct store_result *res)
{
	char event_id[ULID_LEN + 1];
	char *topic = topics_vault_event(sv->topics, note_event_name(res->event));
	cJSON *ev = NULL;
	int rc = -1;

	if (topic && ulid_next(&sv->event_ids, event_id) == 0) {
		ev = event_build(res->event, sv->vault, event_id, w->origin, res->note);
		res->note = NULL;	/* taken by event_build */
	}
	if (ev)
		rc = sink_publish_doc(&sv->sink, topic, ev, 1, false);
	cJSON_Delete(ev);
	free(topic);
	return rc;
}

static void apply(struct store_vault *sv, const struct bus_message *msg,
		  const struct note_write *w)
{
	struct store_result res;

	if (note_store_apply(sv->notes, w, &res) != 0) {
		struct bus_error err;

		bus_fail(&err, REASON_INVALID_WRITE, "the note store could not apply the write");
		reject(sv, msg, w->request_id, &err);
		return;
	}
	if (!res.ok && !res.repeated) {
		reject(sv, msg, w->request_id, &res.err);
	} else {
		if (res.note && publish_event(sv, w, &res) != 0)
			log_error("store: cannot publish the event of write %s", w->request_id);
		if (res.repeated)
			log_debug("store: write %s was applied before; answering again",
				  w->request_id);
		sink_answer_doc(&sv->sink, msg, res.answer);
	}
	store_result_free(&res);
}

void store_vault_receive(struct store_vault *sv, const struct bus_message *msg)
{
	struct note_write w = { 0 };
	struct bus_error err;
	cJSON *doc;

	if (payload_decode(msg->payload, msg->len, msg->content_type, sv->max_payload, &doc,
			   &err) != 0) {
		reject(sv, msg, NULL, &err);
		return;
	}
	if (write_decode(doc, &w, &err) != 0)
		reject(sv, msg, w.request_id, &err);
	else
		apply(sv, msg, &w);
	write_free(&w);
}
