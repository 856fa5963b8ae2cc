/* fuzz_event: everything a vault event payload goes through before a handler
 * sees it: payload decoding (JSON or MessagePack, chosen as on the bus by the
 * first byte), the event shape checks, the dedupe key, every default trigger,
 * metadata read as text, and encoding the document back in both encodings. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "bus/codec.h"
#include "bus/event.h"
#include "bus/meta.h"
#include "bus/payload.h"
#include "bus/trigger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const struct vault_event *ev, const struct trigger_set *set)
{
	struct codec_buf buf;
	const cJSON *m;
	char *key = event_dedupe_key(ev);

	free(key);
	for (size_t i = 0; i < set->n; i++)
		trigger_match(&set->v[i], ev);
	cJSON_ArrayForEach(m, ev->note.metadata)
		free(meta_text(ev->note.metadata, m->string));
	if (codec_encode(ev->doc, ENCODING_MSGPACK, &buf) == 0)
		codec_buf_free(&buf);
	if (codec_encode(ev->doc, ENCODING_JSON, &buf) == 0)
		codec_buf_free(&buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trigger_set set;
	struct vault_event ev;
	struct bus_error err;
	cJSON *doc;

	if (!set.n && trigger_set_defaults(&set) != 0)
		abort();
	if (payload_decode(data, size, NULL, 1 << 20, &doc, &err) != 0)
		return 0;
	if (event_decode(doc, "default", NOTE_CREATED, &ev, &err) == 0)
		exercise(&ev, &set);
	event_free(&ev);
	return 0;
}
