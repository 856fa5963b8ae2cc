/* fuzz_definition: a definition note's event through the definition parser,
 * and the spec it yields through the state's JSON form and back. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "bus/event.h"
#include "bus/payload.h"
#include "handlers/agentdef.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct agentdef_defaults defaults = { "echo", 300, NULL };
	struct vault_event ev;
	struct agent_spec spec, back;
	struct bus_error err;
	char msg[512];
	cJSON *doc;

	if (payload_decode(data, size, NULL, 1 << 20, &doc, &err) != 0)
		return 0;
	if (event_decode(doc, "default", NOTE_CREATED, &ev, &err) == 0 &&
	    agentdef_parse(&ev.note, "default", &defaults, &spec, msg, sizeof msg) == 0) {
		cJSON *j = agent_spec_to_json(&spec);

		if (j && agent_spec_from_json(j, &back) == 0)
			agent_spec_free(&back);
		cJSON_Delete(j);
		agent_spec_free(&spec);
	}
	event_free(&ev);
	return 0;
}
