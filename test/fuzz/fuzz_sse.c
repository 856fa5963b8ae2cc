/* fuzz_sse: bytes as an HTTP response body of a streaming API, through the
 * SSE parser into the OpenAI and the Anthropic event handlers (the first
 * byte picks which), fed in two pieces split where the second byte says,
 * as the transport may split them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/api.h"
#include "engines/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_event(void *arg, const char *type, const char *d, size_t len)
{
	(void)type;
	(void)d;
	(void)len;
	++*(int *)arg;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct api_provider *p;
	struct sse_parser sse;
	char *reply = NULL;
	long in, out;
	size_t cut;
	int events = 0;

	if (size < 2)
		return 0;
	p = data[0] & 1 ? &anthropic_provider : &openai_provider;
	cut = data[1] % (size - 1);
	data += 2;
	size -= 2;
	/* The parser alone, split in two. */
	sse_init(&sse, 4096, count_event, &events);
	if (sse_feed(&sse, (const char *)data, cut) == 0)
		sse_feed(&sse, (const char *)data + cut, size - cut);
	sse_free(&sse);
	/* And through a provider, whole. */
	api_parse_stream(p, 65536, (const char *)data, size, &reply, &in, &out);
	free(reply);
	return 0;
}
