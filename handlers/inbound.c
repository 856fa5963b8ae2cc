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
#include "handlers/context.h"
#include "handlers/notes.h"
#include "handlers/request.h"
#include "handlers/turn.h"
#include "state/state.h"
#include "util/crash.h"
#include "util/log.h"

static bool blank(const char *s)
{
	while (s && isspace((unsigned char)*s))
		s++;
	return !s || !*s;
}

/* A metadata value read as a string whatever its JSON type, when not
 * blank; malloc'd, or NULL. */
static char *nonblank_text(const cJSON *md, const char *key)
{
	char *v = meta_text(md, key);

	if (v && !*v) {
		free(v);
		return NULL;
	}
	return v;
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

/* The drain key (reference section 5.1): the thread key of the subject for a
 * multi-threaded agent, else the agent's name; in lower case, since thread
 * notes are one note whatever the case of their path. */
static char *drain_key(const struct agent_spec *spec, const char *subject)
{
	char *key = spec->mode != MODE_MULTI || !subject ? strdup(spec->name)
							 : notes_thread_key(spec->name, subject);

	for (char *p = key; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return key;
}

static struct turn_request *request_from(const struct note *n, const struct agent_spec *spec)
{
	struct turn_request *r = calloc(1, sizeof *r);
	const cJSON *md = n->metadata;
	char *subject = meta_text(md, "subject");

	if (!r) {
		free(subject);
		return NULL;
	}
	r->inbound_id = strdup(n->id);
	r->agent = strdup(spec->name);
	r->content = strdup(n->content ? n->content : "");
	r->sender = meta_text(md, "sender");
	r->subject = blank(subject) ? NULL : subject;
	if (!r->subject)
		free(subject);
	r->reply_to = nonblank_text(md, "reply_to");
	r->correlation_id = nonblank_text(md, "correlation_id");
	r->depth = delegation_depth(md);
	r->drain_key = drain_key(spec, r->subject);
	if (r->inbound_id && r->agent && r->content && r->drain_key)
		return r;
	turn_request_free(r);
	return NULL;
}

/* Records the note id and the turn; 1 when new, 0 when the note was
 * accepted before, -1 on error. */
static int accept(struct agent_runtime *rt, const struct turn_request *req)
{
	cJSON *j = turn_request_to_json(req);
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;
	char key[NOTE_ID_MAX + 16];
	int rc = text ? 0 : -1;

	snprintf(key, sizeof key, "inbound|%s", req->inbound_id);
	if (rc == 0)
		rc = state_mark_seen(rt->state, key);
	if (rc == 1 && state_turn_add(rt->state, req->inbound_id, req->drain_key, text) != 0)
		rc = -1;
	cJSON_Delete(j);
	free(text);
	return rc;
}

/* Why `req` cannot wait, or NULL when it can. */
static const char *queue_full(struct agent_runtime *rt, const struct turn_request *req,
			      char *why, size_t len)
{
	size_t on_key = queues_waiting(&rt->queues, req->drain_key) +
			queues_waiting(&rt->accepted, req->drain_key);
	size_t all = rt->queues.queued + rt->accepted.queued;

	if (all >= (size_t)rt->opt.max_queued)
		snprintf(why, len, "queue full: %d turns already waiting in all", rt->opt.max_queued);
	else if (on_key >= (size_t)rt->opt.queue_limit)
		snprintf(why, len, "queue full: %d turns already waiting for %s",
			 rt->opt.queue_limit, req->drain_key);
	else
		return NULL;
	return why;
}

static int queue_or_refuse(struct agent_runtime *rt, struct turn_request *req,
			   const struct bus_message *msg)
{
	char why[160];
	struct queued *it;
	int rc = 0;

	if (queue_full(rt, req, why, sizeof why)) {
		ctx_deadletter(rt, msg, REASON_QUEUE_FULL, "%s", why);
		rc = turn_refuse(rt, req, why);
	} else if (!(it = queued_new(req->inbound_id, req->drain_key)) ||
		   queues_push(&rt->accepted, it) != 0) {
		queued_free(it);
		rc = turn_refuse(rt, req, "out of memory queueing the turn");
	}
	turn_request_free(req);
	return rc;
}

char *inbound_agent_name(const struct note *n)
{
	char *name = nonblank_text(n->metadata, "agent");

	return name ? name : nonblank_text(n->metadata, "channel");
}

int inbound_receive(struct agent_runtime *rt, const struct vault_event *ev,
		    const struct bus_message *msg)
{
	const struct note *n = &ev->note;
	const char *direction = meta_str(n->metadata, "direction");
	char *name;
	const struct agent_spec *spec;
	struct turn_request *req;
	int rc;

	if (tags_contain(n->tags, "agent/message/outbound") ||
	    (direction && strcmp(direction, "outbound") == 0))
		return 0;
	name = inbound_agent_name(n);
	spec = name ? strmap_get(&rt->agents, name) : NULL;
	if (!name)
		ctx_deadletter(rt, msg, REASON_NO_ROUTE, "note.metadata.agent (or legacy channel) "
			       "is required to route the message");
	else if (!spec)
		ctx_deadletter(rt, msg, REASON_UNKNOWN_AGENT, "no agent named \"%.64s\" is registered",
			       name);
	else if (spec->backend == BACKEND_ATTACHED)
		log_info("%s: agent %s is attached; the note is its queue", n->id, name);
	free(name);
	if (!spec || spec->backend == BACKEND_ATTACHED)
		return 0;
	req = request_from(n, spec);
	if (!req) {
		log_error("%s: out of memory accepting the message", n->id);
		state_fail(rt->state);
		return -1;
	}
	rc = accept(rt, req);
	if (rc != 1) {
		turn_request_free(req);	/* seen before, or not recorded (logged) */
		return rc < 0 ? -1 : 0;
	}
	crash_point("inbound-accepted");
	return queue_or_refuse(rt, req, msg);
}
