/* bus/deadletter: building the dead-letter document. The excerpt is always
 * valid UTF-8 (bad bytes escaped), so the dead letter itself can never be a
 * payload some other consumer chokes on. */
#include "bus/deadletter.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "bus/utf8.h"
#include "util/clock.h"

cJSON *deadletter_build(const char *topic, const void *payload, size_t len,
			const struct bus_error *err)
{
	char at[CLOCK_ISO_LEN];
	char *excerpt = utf8_excerpt(payload, len, DEADLETTER_EXCERPT_MAX);
	cJSON *doc = cJSON_CreateObject();

	clock_iso8601(at);
	if (!excerpt || !doc || !cJSON_AddStringToObject(doc, "at", at) ||
	    !cJSON_AddStringToObject(doc, "topic", topic) ||
	    !cJSON_AddStringToObject(doc, "reason", bus_reason_name(err->reason)) ||
	    !cJSON_AddStringToObject(doc, "error", err->message[0] ? err->message : "rejected") ||
	    !cJSON_AddNumberToObject(doc, "size", (double)len) ||
	    !cJSON_AddStringToObject(doc, "excerpt", excerpt)) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	free(excerpt);
	return doc;
}
