/* handlers/context: the helpers every handler publishes through. */
#include "handlers/context.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "util/hash.h"
#include "util/log.h"

char *ctx_new_id(struct agent_runtime *rt, char out[ULID_LEN + 1])
{
	if (ulid_next(&rt->ids, out) != 0) {
		/* getrandom() failed: still unique within this process. */
		snprintf(out, ULID_LEN + 1, "X%025llu", (unsigned long long)++rt->next_turn);
	}
	return out;
}

char *ctx_step_id(const char *inbound_id, const char *step, char out[ULID_LEN + 1])
{
	_Static_assert(ULID_LEN == 26, "a step id is as long as a ULID");
	hash_id_join(inbound_id, step, out);
	/* A ULID's 10 digits of time kept: a turn's notes sort with its message. */
	if (ulid_valid(inbound_id))
		memcpy(out, inbound_id, 10);
	return out;
}

int ctx_send(struct agent_runtime *rt, const struct bus_publish *pub)
{
	struct bus_publish p = *pub;

	p.qos = 1;
	return state_send(rt->state, &p);
}

int ctx_send_doc(struct agent_runtime *rt, const char *topic, const cJSON *doc, bool retain,
		 size_t limit)
{
	struct codec_buf buf;
	int rc;

	if (!doc || sink_encode(&rt->sink, doc, &buf) != 0) {
		log_error("cannot encode a publish on %s", topic);
		state_fail(rt->state);
		return -1;
	}
	if (buf.len > limit) {
		codec_buf_free(&buf);
		return -2;
	}
	rc = ctx_send(rt, &(struct bus_publish){ .topic = topic, .payload = buf.data,
						  .len = buf.len, .retain = retain,
						  .content_type = buf.content_type });
	codec_buf_free(&buf);
	return rc;
}

size_t ctx_write_limit(const struct agent_runtime *rt)
{
	return rt->opt.max_payload > 2 * WRITE_HEADROOM ? rt->opt.max_payload - WRITE_HEADROOM
							: rt->opt.max_payload / 2;
}

int ctx_write(struct agent_runtime *rt, cJSON *write)
{
	int rc = ctx_send_doc(rt, rt->topics->vault_write, write, false, ctx_write_limit(rt));

	cJSON_Delete(write);
	return rc;
}

void ctx_publish_live(struct agent_runtime *rt, const char *topic, const cJSON *doc)
{
	if (sink_publish_doc(&rt->sink, topic, doc, 0, false) != 0)
		log_debug("a live event on %s was not published", topic);
}

void ctx_deadletter(struct agent_runtime *rt, const struct bus_message *msg,
		    enum bus_reason reason, const char *fmt, ...)
{
	struct bus_error err = { .reason = reason };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.message, sizeof err.message, fmt, ap);
	va_end(ap);
	rt->sink.deadletter(rt->sink.arg, msg, &err);
}

bool ctx_agent_known(const struct agent_runtime *rt, const char *name)
{
	return strmap_get(&rt->agents, name) || strmap_get(&rt->directory, name);
}

bool ctx_owns(const struct agent_runtime *rt, const char *name)
{
	return !rt->opt.owns || rt->opt.owns(rt->opt.owns_arg, name);
}
