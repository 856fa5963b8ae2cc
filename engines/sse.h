/* engines/sse: an incremental Server-Sent Events parser (the WHATWG rules):
 * bytes in as the transport delivers them, split anywhere; events out.
 * Lines end with "\n", "\r\n" or "\r"; ":" starts a comment; one space after
 * a field's colon is dropped; data lines join with "\n"; a blank line ends an
 * event; an event with no data is none. Pure: no I/O. */
#ifndef AB_ENGINES_SSE_H
#define AB_ENGINES_SSE_H

#include <stdbool.h>
#include <stddef.h>

/* Called per event; `type` is "message" when no event: line came. Returns
 * 0 to go on, non-zero to stop (sse_feed returns that value). */
typedef int sse_event_fn(void *arg, const char *type, const char *data, size_t len);

struct sse_parser {
	char *line;		/* the line being read */
	size_t line_len, line_cap;
	char *data;		/* the event's data so far */
	size_t data_len, data_cap;
	char type[64];
	size_t max_line;	/* longer lines are an error */
	bool after_cr;		/* the last byte was '\r': a following '\n' is part of it */
	sse_event_fn *fn;
	void *arg;
};

void sse_init(struct sse_parser *p, size_t max_line, sse_event_fn *fn, void *arg);
/* Feeds `len` bytes. Returns 0, the callback's non-zero value, or -1 when a
 * line passes max_line or memory runs out. */
int sse_feed(struct sse_parser *p, const char *buf, size_t len);
void sse_free(struct sse_parser *p);

#endif
