/* handlers/runtime: start-up (registry and accepted turns from the state),
 * the trigger actions, scheduling under the global cap, and the engine pool's
 * results coming back to the main loop. */
#include "handlers/runtime.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/inbound.h"
#include "handlers/inbox.h"
#include "handlers/registry.h"
#include "handlers/turn.h"
#include "state/outbox.h"
#include "state/state.h"
#include "util/clock.h"
#include "util/crash.h"
#include "util/log.h"

void runtime_new_id(struct agent_runtime *rt, char out[ULID_LEN + 1])
{
	if (ulid_next(&rt->ids, out) != 0) {
		/* getrandom() failed: still unique within this process. */
		snprintf(out, ULID_LEN + 1, "X%025llu", (unsigned long long)++rt->next_turn);
	}
}

void runtime_send(struct agent_runtime *rt, const struct bus_publish *pub)
{
	struct bus_publish p = *pub;

	p.qos = 1;
	if (outbox_add(state_outbox(rt->state), &p) != 0)
		log_error("cannot record a publish on %s", pub->topic);
}

void runtime_send_doc(struct agent_runtime *rt, const char *topic, const cJSON *doc,
		      bool retain)
{
	struct codec_buf buf;

	if (!doc || sink_encode(&rt->sink, doc, &buf) != 0) {
		log_error("cannot encode a publish on %s", topic);
		return;
	}
	runtime_send(rt, &(struct bus_publish){ .topic = topic, .payload = buf.data,
						 .len = buf.len, .retain = retain,
						 .content_type = buf.content_type });
	codec_buf_free(&buf);
}

void runtime_write(struct agent_runtime *rt, cJSON *write)
{
	runtime_send_doc(rt, rt->topics->vault_write, write, false);
	cJSON_Delete(write);
}

static int send_recorded(void *arg, const struct bus_publish *pub, int *mid)
{
	struct agent_runtime *rt = arg;
	int rc = rt->sink.publish(rt->sink.arg, pub, mid);

	crash_point("published");
	return rc;
}

void runtime_flush(struct agent_runtime *rt)
{
	outbox_flush(state_outbox(rt->state), send_recorded, rt);
}

void runtime_acked(struct agent_runtime *rt, int mid)
{
	outbox_acked(state_outbox(rt->state), mid);
}

void runtime_settle(struct agent_runtime *rt)
{
	outbox_settle(state_outbox(rt->state));
}

void runtime_schedule(struct agent_runtime *rt)
{
	struct turn_request *req;

	while (rt->queues.running < (size_t)rt->opt.max_running &&
	       (req = queues_next(&rt->queues)) != NULL)
		turn_start(rt, req);
}

/* A turn accepted before a restart: queued again in its original order. */
static void requeue_row(void *arg, const char *const cols[4])
{
	struct agent_runtime *rt = arg;
	cJSON *doc = cJSON_Parse(cols[1]);
	struct turn_request *req = doc ? turn_request_from_json(doc) : NULL;

	cJSON_Delete(doc);
	if (!req || queues_push(&rt->queues, req) != 0) {
		log_error("cannot queue the accepted turn for %s again", cols[0]);
		turn_request_free(req);
	}
}

int runtime_open(struct agent_runtime *rt, const struct runtime_options *opt,
		 struct state *state, const struct topics *topics, const struct bus_sink *sink)
{
	memset(rt, 0, sizeof *rt);
	rt->opt = *opt;
	rt->state = state;
	rt->topics = topics;
	rt->sink = *sink;
	if (registry_load(rt) != 0 || state_turns_load(state, requeue_row, rt) != 0 ||
	    engine_pool_start(opt->max_running, &opt->engine, &rt->pool) != 0) {
		log_error("cannot start the agent runtime");
		runtime_close(rt);
		return -1;
	}
	if (rt->queues.queued)
		log_info("%zu accepted turns from before the restart are queued again",
			 rt->queues.queued);
	return 0;
}

void runtime_close(struct agent_runtime *rt)
{
	engine_pool_stop(rt->pool);
	rt->pool = NULL;
	turn_free_all(rt);
	queues_free(&rt->queues);
	registry_free(rt);
}

void runtime_trigger_fired(struct agent_runtime *rt, const struct trigger *t,
			   const struct vault_event *ev, const struct bus_message *msg)
{
	if (t->action == TRIGGER_DEFINITION)
		registry_definition(rt, ev, msg);
	else
		inbound_receive(rt, ev, msg);
}

void runtime_observe(struct agent_runtime *rt, const struct vault_event *ev)
{
	registry_observe(rt, ev);
}

void runtime_inbox(struct agent_runtime *rt, const struct bus_message *msg, const char *agent,
		   size_t agent_len)
{
	inbox_receive(rt, msg, agent, agent_len);
}

int runtime_fd(const struct agent_runtime *rt)
{
	return engine_pool_fd(rt->pool);
}

int runtime_timeout_ms(const struct agent_runtime *rt, int64_t now_ms)
{
	return turn_timeout_ms(rt, now_ms);
}

void runtime_tick(struct agent_runtime *rt, int64_t now_ms)
{
	struct engine_result *res;

	while ((res = engine_pool_take(rt->pool)) != NULL)
		turn_engine_done(rt, res);
	turn_expire(rt, now_ms);
	runtime_schedule(rt);
}

int runtime_agents(const struct agent_runtime *rt)
{
	return (int)rt->agents.used;
}

int runtime_queued(const struct agent_runtime *rt)
{
	return (int)rt->queues.queued;
}

int runtime_running(const struct agent_runtime *rt)
{
	return (int)rt->queues.running;
}
