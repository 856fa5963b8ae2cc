/* fuzz_claude_stream: bytes as the stdout of `claude -p --output-format
 * stream-json`, cut into lines as the exec engine cuts them, through the
 * line parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/claude_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct claude_stream cs = { 0 };
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *text = NULL;

		if (claude_stream_line(&cs, p, len, &text) != 0)
			break;
		free(text);
		p += len + 1;
	}
	claude_stream_free(&cs);
	return 0;
}
