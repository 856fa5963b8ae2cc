/* fuzz_inbox: a direct message on an agent's inbox, as text or as the JSON
 * (or MessagePack) form, through the inbox parser. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "handlers/inbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bus_message msg = { .topic = "parachute/agent/eng/inbox", .payload = data,
				   .len = size, .qos = 1 };
	struct inbox_msg m;
	struct bus_error err;
	cJSON *doc = NULL;

	inbox_parse(&msg, 1 << 20, &m, &doc, &err);
	free(m.depth);
	cJSON_Delete(doc);
	return 0;
}
