/* fuzz_vault: what a vault sends the bridge, from outside: a webhook body
 * (whoever can reach POST /vault/V/hook), and a feed message's note, each made
 * into the contract's event and encoded as it would be published. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "bridge/incoming.h"
#include "bus/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void publish(const struct incoming *in)
{
	struct codec_buf buf;

	if (codec_encode(in->doc, ENCODING_JSON, &buf) == 0)
		codec_buf_free(&buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct incoming in;
	struct bus_error err;
	cJSON *msg;

	if (incoming_from_hook((const char *)data, size, "default", 1 << 20, &in, &err) == 0) {
		publish(&in);
		incoming_free(&in);
	}
	/* The same bytes as a feed frame: {"type":"upsert","note":{...}}. */
	msg = cJSON_ParseWithLength((const char *)data, size);
	if (msg && incoming_from_feed(cJSON_GetObjectItemCaseSensitive(msg, "note"), "default", &in,
				      &err) == 0) {
		publish(&in);
		incoming_free(&in);
	}
	cJSON_Delete(msg);
	return 0;
}
