/* engines/sse: the parser. Buffers grow to the longest line and the largest
 * event seen, both bounded by max_line. */
#include "engines/sse.h"

#include <stdlib.h>
#include <string.h>

void sse_init(struct sse_parser *p, size_t max_line, sse_event_fn *fn, void *arg)
{
	memset(p, 0, sizeof *p);
	p->max_line = max_line;
	p->fn = fn;
	p->arg = arg;
}

void sse_free(struct sse_parser *p)
{
	free(p->line);
	free(p->data);
	memset(p, 0, sizeof *p);
}

static int grow(char **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 256;
	char *bigger;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	bigger = realloc(*buf, n);
	if (!bigger)
		return -1;
	*buf = bigger;
	*cap = n;
	return 0;
}

static int dispatch(struct sse_parser *p)
{
	int rc = 0;

	if (p->data_len > 0) {
		p->data_len--;	/* the "\n" after the last data line */
		p->data[p->data_len] = '\0';
		rc = p->fn(p->arg, p->type[0] ? p->type : "message", p->data, p->data_len);
	}
	p->data_len = 0;
	p->type[0] = '\0';
	return rc;
}

/* One complete line (without its end). */
static int take_line(struct sse_parser *p)
{
	const char *line = p->line ? p->line : "", *colon, *value;
	size_t len = p->line_len, name_len, value_len;

	if (len == 0)
		return dispatch(p);
	if (line[0] == ':')
		return 0;
	colon = memchr(line, ':', len);
	name_len = colon ? (size_t)(colon - line) : len;
	value = colon ? colon + 1 : line + len;
	value_len = len - (size_t)(value - line);
	if (value_len > 0 && value[0] == ' ') {
		value++;
		value_len--;
	}
	if (name_len == 4 && memcmp(line, "data", 4) == 0) {
		if (p->data_len + value_len + 2 > p->max_line + 2 ||
		    grow(&p->data, &p->data_cap, p->data_len + value_len + 2) != 0)
			return -1;
		memcpy(p->data + p->data_len, value, value_len);
		p->data_len += value_len;
		p->data[p->data_len++] = '\n';
	} else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
		size_t n = value_len < sizeof p->type - 1 ? value_len : sizeof p->type - 1;

		memcpy(p->type, value, n);
		p->type[n] = '\0';
	}
	/* id, retry and unknown fields: nothing the engines use. */
	return 0;
}

int sse_feed(struct sse_parser *p, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		int rc;

		if (c == '\n' && p->after_cr) {
			p->after_cr = false;
			continue;
		}
		p->after_cr = c == '\r';
		if (c == '\n' || c == '\r') {
			rc = take_line(p);
			p->line_len = 0;
			if (rc != 0)
				return rc;
			continue;
		}
		if (p->line_len + 1 > p->max_line ||
		    grow(&p->line, &p->line_cap, p->line_len + 1) != 0)
			return -1;
		p->line[p->line_len++] = c;
	}
	return 0;
}
