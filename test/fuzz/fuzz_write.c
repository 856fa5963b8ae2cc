/* fuzz_write: a note write as the embedded store reads it: payload decoding,
 * the write shape checks, and the RFC 7386 merge of its metadata into a note. */
#include <cjson/cJSON.h>
#include <stdint.h>

#include "bus/payload.h"
#include "bus/write.h"
#include "bus/merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct note_write w;
	struct bus_error err;
	cJSON *doc, *target;

	if (payload_decode(data, size, NULL, 1 << 20, &doc, &err) != 0)
		return 0;
	if (write_decode(doc, &w, &err) == 0 && w.metadata) {
		target = cJSON_Parse("{\"agent\":\"eng\",\"obj\":{\"a\":\"1\"}}");
		merge_patch(&target, w.metadata);
		cJSON_Delete(target);
	}
	write_free(&w);
	return 0;
}
