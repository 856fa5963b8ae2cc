/* handlers/events: decode, then the predicates. */
#include "handlers/events.h"

#include <cjson/cJSON.h>

#include "bus/payload.h"

int events_decode(const struct events_decoder *d, const struct bus_message *msg,
		  const char *event_name, size_t name_len, struct vault_event *ev,
		  bool matched[TRIGGER_SET_MAX], struct bus_error *err)
{
	cJSON *doc;
	int n = 0;

	*ev = (struct vault_event){ 0 };
	if (payload_decode(msg->payload, msg->len, msg->content_type, d->max_payload, &doc,
			   err) != 0)
		return -1;
	if (event_decode(doc, d->vault, note_event_parse(event_name, name_len), ev, err) != 0)
		return -1;
	for (size_t i = 0; i < d->triggers->n; i++)
		n += matched[i] = trigger_match(&d->triggers->v[i], ev);
	return n;
}
