/* handlers/request: the turn request and its JSON form in the state. */
#include "handlers/request.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "bus/meta.h"
#include "handlers/notes.h"

void turn_request_free(struct turn_request *r)
{
	if (!r)
		return;
	free(r->inbound_id);
	free(r->agent);
	free(r->drain_key);
	free(r->content);
	free(r->sender);
	free(r->subject);
	free(r->reply_to);
	free(r->correlation_id);
	free(r);
}

cJSON *turn_request_to_json(const struct turn_request *r)
{
	cJSON *j = cJSON_CreateObject();

	if (!j || !notes_add(j, "inbound_id", r->inbound_id) || !notes_add(j, "agent", r->agent) ||
	    !notes_add(j, "drain_key", r->drain_key) || !notes_add(j, "content", r->content) ||
	    !notes_add(j, "sender", r->sender) || !notes_add(j, "subject", r->subject) ||
	    !notes_add(j, "reply_to", r->reply_to) ||
	    !notes_add(j, "correlation_id", r->correlation_id) ||
	    !cJSON_AddNumberToObject(j, "depth", r->depth)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

struct turn_request *turn_request_from_json(const cJSON *doc)
{
	struct turn_request *r = calloc(1, sizeof *r);
	const cJSON *depth = cJSON_GetObjectItemCaseSensitive(doc, "depth");

	if (!r)
		return NULL;
	r->inbound_id = meta_strdup(doc, "inbound_id");
	r->agent = meta_strdup(doc, "agent");
	r->drain_key = meta_strdup(doc, "drain_key");
	r->content = meta_strdup(doc, "content");
	r->sender = meta_strdup(doc, "sender");
	r->subject = meta_strdup(doc, "subject");
	r->reply_to = meta_strdup(doc, "reply_to");
	r->correlation_id = meta_strdup(doc, "correlation_id");
	r->depth = cJSON_IsNumber(depth) ? depth->valueint : 0;
	if (r->inbound_id && r->agent && r->drain_key && r->content)
		return r;
	turn_request_free(r);
	return NULL;
}
