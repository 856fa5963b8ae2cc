/* engines/claude_stream: the NDJSON `claude -p --output-format stream-json
 * --verbose` prints, one line at a time: the session from `system/init`,
 * text to stream from `assistant` messages, and the verdict, usage and cost
 * from the final `result`. Pure: no fds, no loop. */
#ifndef AB_ENGINES_CLAUDE_STREAM_H
#define AB_ENGINES_CLAUDE_STREAM_H

#include <stdbool.h>
#include <stddef.h>

struct claude_stream {
	char *session;		/* the last session_id seen */
	bool result_seen;
	bool ok;		/* result: subtype success and is_error false */
	char *result;		/* result.result, the whole reply */
	char *error;		/* why not ok */
	long input_tokens, output_tokens;
	double cost_usd;
};

/* Feeds one line (without its newline). Text to stream, if the line carries
 * any, is returned in `*text` (malloc'd; NULL: none). Lines that are not
 * JSON objects or of types not listed above are ignored: claude prints
 * tool results, rate-limit events and more. Returns 0, or -1 when out of
 * memory. */
int claude_stream_line(struct claude_stream *cs, const char *line, size_t len, char **text);
void claude_stream_free(struct claude_stream *cs);

#endif
