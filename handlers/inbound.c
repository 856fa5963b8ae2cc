/* handlers/inbound: from a note to a turn request, with the reference's
 * coercions for the optional metadata (section 4.2). */
#include "handlers/inbound.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/meta.h"
#include "handlers/notes.h"
#include "handlers/runtime.h"
#include "handlers/turn.h"
#include "state/state.h"
#include "util/crash.h"
#include "util/log.h"

/* A non-empty string value, or NULL. */
static const char *nonempty(const cJSON *md, const char *key)
{
	const char *v = meta_str(md, key);

	return v && *v ? v : NULL;
}

static bool blank(const char *s)
{
	while (s && isspace((unsigned char)*s))
		s++;
	return !s || !*s;
}

/* Number(v), kept only when finite and > 0, floored; else 0. */
static int delegation_depth(const cJSON *md)
{
	char *text = meta_text(md, "delegation_depth"), *end = NULL;
	double d = text && !blank(text) ? strtod(text, &end) : 0;

	if (end) {
		while (isspace((unsigned char)*end))
			end++;
		if (*end)
			d = 0;
	}
	free(text);
	return isfinite(d) && d > 0 ? (d > 1e6 ? 1000000 : (int)floor(d)) : 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The drain key (reference section 5.1): the thread key of the subject for a
 * multi-threaded agent, else the agent's name. */
static char *drain_key(const struct agent_spec *spec, const char *subject)
{
	if (spec->mode != MODE_MULTI || !subject)
		return strdup(spec->name);
	return notes_thread_key(spec->name, subject);
}

static struct turn_request *request_from(const struct note *n, const struct agent_spec *spec)
{
	struct turn_request *r = calloc(1, sizeof *r);
	const cJSON *md = n->metadata;
	const char *subject = meta_str(md, "subject");

	if (!r)
		return NULL;
	r->inbound_id = strdup(n->id);
	r->agent = strdup(spec->name);
	r->content = strdup(n->content ? n->content : "");
	r->sender = meta_strdup(md, "sender");
	r->subject = blank(subject) ? NULL : strdup(subject);
	r->reply_to = dup_or_null(nonempty(md, "reply_to"));
	r->correlation_id = dup_or_null(nonempty(md, "correlation_id"));
	r->depth = delegation_depth(md);
	r->drain_key = drain_key(spec, r->subject);
	if (r->inbound_id && r->agent && r->content && r->drain_key)
		return r;
	turn_request_free(r);
	return NULL;
}

static void deadletter(struct agent_runtime *rt, const struct bus_message *msg,
		       enum bus_reason reason, const char *message)
{
	struct bus_error err;

	bus_fail(&err, reason, "%s", message);
	rt->sink.deadletter(rt->sink.arg, msg, &err);
}

/* Records the note id and the turn together; 1 when new, 0 when the note was
 * accepted before, -1 on error. */
static int accept(struct agent_runtime *rt, const struct turn_request *req)
{
	cJSON *j = turn_request_to_json(req);
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;
	char key[NOTE_ID_MAX + 16];
	int rc = text ? state_begin(rt->state) : -1;

	snprintf(key, sizeof key, "inbound|%s", req->inbound_id);
	if (rc == 0)
		rc = state_mark_seen(rt->state, key);
	if (rc == 1 && state_turn_add(rt->state, req->inbound_id, text) != 0)
		rc = -1;
	if (rc >= 0 && state_commit(rt->state) != 0)
		rc = -1;
	cJSON_Delete(j);
	free(text);
	return rc;
}

void inbound_receive(struct agent_runtime *rt, const struct vault_event *ev,
		     const struct bus_message *msg)
{
	const struct note *n = &ev->note;
	const char *direction = meta_str(n->metadata, "direction");
	const char *name = nonempty(n->metadata, "agent");
	const struct agent_spec *spec;
	struct turn_request *req;
	char reason[128];

	if (tags_contain(n->tags, "agent/message/outbound") ||
	    (direction && strcmp(direction, "outbound") == 0))
		return;
	if (!name)
		name = nonempty(n->metadata, "channel");
	if (!name) {
		deadletter(rt, msg, REASON_NO_ROUTE, "note.metadata.agent (or legacy channel) "
			   "is required to route the message");
		return;
	}
	spec = strmap_get(&rt->agents, name);
	if (!spec) {
		snprintf(reason, sizeof reason, "no agent named \"%.64s\" is registered", name);
		deadletter(rt, msg, REASON_UNKNOWN_AGENT, reason);
		return;
	}
	if (spec->backend == BACKEND_ATTACHED) {
		log_info("%s: agent %s is attached; the note is its queue", n->id, name);
		return;
	}
	req = request_from(n, spec);
	if (!req) {
		log_error("%s: out of memory accepting the message", n->id);
		return;
	}
	if (accept(rt, req) != 1) {
		turn_request_free(req);	/* seen before, or not recorded (logged) */
		return;
	}
	crash_point("inbound-accepted");
	if (queues_waiting(&rt->queues, req->drain_key) >= (size_t)rt->opt.queue_limit ||
	    rt->queues.queued >= (size_t)rt->opt.max_queued) {
		if (rt->queues.queued >= (size_t)rt->opt.max_queued)
			snprintf(reason, sizeof reason, "queue full: %d turns already waiting in all",
				 rt->opt.max_queued);
		else
			snprintf(reason, sizeof reason, "queue full: %d turns already waiting for %s",
				 rt->opt.queue_limit, req->drain_key);
		deadletter(rt, msg, REASON_QUEUE_FULL, reason);
		turn_refuse(rt, req, reason);
		return;
	}
	if (queues_push(&rt->queues, req) != 0) {
		turn_refuse(rt, req, "out of memory queueing the turn");
		return;
	}
	runtime_schedule(rt);
}
