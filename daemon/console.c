/* console: each event is formatted once ("id: N\nevent: K\ndata: J\n\n")
 * and its bytes appended to every page's buffer; the ring holds the same
 * frames for pages that come back. */
#include "daemon/console.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/strmap.h"

struct frame {
	uint64_t id;
	char *text;
	size_t len;
};

struct console_client {
	struct console *c;
	char *buf;
	size_t off, len, cap;
	size_t head_start;		/* what it got first and has not read yet */
	bool dropped;
	void (*wake)(void *arg);
	void *wake_arg;
	struct console_client *prev, *next;
};

struct console {
	struct frame ring[CONSOLE_RING];
	size_t head, count;		/* oldest kept at ring[head] */
	size_t ring_bytes;		/* at most CONSOLE_RING_BYTES */
	uint64_t next_id;
	struct strmap agents;		/* name -> its latest entry's JSON */
	char *status;			/* the latest status JSON */
	char *instance;			/* who the page talks to */
	struct console_client *clients;
	size_t n_clients, client_limit;
	uint64_t drops;
};

int console_open(size_t client_limit, struct console **out)
{
	struct console *c = calloc(1, sizeof *c);

	*out = c;
	if (!c)
		return -1;
	c->next_id = 1;
	c->client_limit = client_limit;
	return 0;
}

static void free_agent(void *arg, const char *key, void *value)
{
	(void)arg;
	(void)key;
	free(value);
}

void console_close(struct console *c)
{
	if (!c)
		return;
	while (c->clients)
		console_detach(c->clients);
	for (size_t i = 0; i < c->count; i++)
		free(c->ring[(c->head + i) % CONSOLE_RING].text);
	strmap_each(&c->agents, free_agent, NULL);
	strmap_free(&c->agents);
	free(c->status);
	free(c->instance);
	free(c);
}

static void drop(struct console_client *cl)
{
	cl->dropped = true;
	free(cl->buf);
	cl->buf = NULL;
	cl->off = cl->len = cl->cap = 0;
	cl->c->drops++;
	log_warn("console: a page fell more than %zu bytes behind and was dropped",
		 cl->c->client_limit);
}

/* Appends to one page's buffer; 0, or -1 when it is dropped. */
static int append(struct console_client *cl, const char *text, size_t len)
{
	size_t pending;

	if (cl->dropped)
		return -1;
	if (cl->off > 0 && cl->off == cl->len)
		cl->off = cl->len = 0;
	pending = cl->len - cl->off;
	if (pending + len > cl->c->client_limit + cl->head_start) {
		drop(cl);
		return -1;
	}
	if (cl->len + len > cl->cap) {
		size_t cap = cl->cap ? cl->cap : 4096;
		char *grown;

		if (cl->off > 0) {	/* room at the front first */
			memmove(cl->buf, cl->buf + cl->off, pending);
			cl->off = 0;
			cl->len = pending;
		}
		while (cap < cl->len + len)
			cap *= 2;
		if (cap != cl->cap) {
			if (!(grown = realloc(cl->buf, cap))) {
				drop(cl);
				return -1;
			}
			cl->buf = grown;
			cl->cap = cap;
		}
	}
	memcpy(cl->buf + cl->len, text, len);
	cl->len += len;
	return 0;
}

static void deliver(struct console *c, const char *text, size_t len)
{
	for (struct console_client *cl = c->clients; cl; cl = cl->next) {
		bool was_dropped = cl->dropped;

		if (append(cl, text, len) == 0 || !was_dropped)
			cl->wake(cl->wake_arg);
	}
}

static char *format(uint64_t id, const char *kind, const char *json, size_t *len)
{
	char *text;
	int n = id ? asprintf(&text, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)id,
			      kind, json)
		   : asprintf(&text, "event: %s\ndata: %s\n\n", kind, json);

	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return text;
}

static void remember(struct console *c, const char *kind, const char *agent, const char *json)
{
	char *copy = strdup(json);

	if (!copy)
		return;
	if (strcmp(kind, "status") == 0) {
		free(c->status);
		c->status = copy;
	} else if (strcmp(kind, "instance") == 0) {
		free(c->instance);
		c->instance = copy;
	} else if (strcmp(kind, "agent") == 0 && agent) {
		free(strmap_get(&c->agents, agent));
		if (strmap_put(&c->agents, agent, copy) != 0)
			free(copy);
	} else {
		free(copy);
	}
}

void console_publish(struct console *c, const char *kind, const char *agent, const char *json)
{
	struct frame *f;
	size_t len;
	char *text;

	if (!c || !(text = format(c->next_id, kind, json, &len)))
		return;
	remember(c, kind, agent, json);
	while (c->count > 0 && (c->count == CONSOLE_RING ||
				c->ring_bytes + len > CONSOLE_RING_BYTES)) {
		c->ring_bytes -= c->ring[c->head].len;
		free(c->ring[c->head].text);
		c->head = (c->head + 1) % CONSOLE_RING;
		c->count--;
	}
	f = &c->ring[(c->head + c->count) % CONSOLE_RING];
	f->id = c->next_id++;
	f->text = text;
	f->len = len;
	c->count++;
	c->ring_bytes += len;
	deliver(c, text, len);
}

void console_forget_agent(struct console *c, const char *name)
{
	char *json;

	if (!c)
		return;
	free(strmap_remove(&c->agents, name));
	if (asprintf(&json, "{\"name\":\"%s\",\"removed\":true}", name) >= 0) {
		console_publish(c, "removed", NULL, json);
		free(json);
	}
}

void console_keepalive(struct console *c)
{
	static const char comment[] = ": keepalive\n\n";

	if (c)
		deliver(c, comment, sizeof comment - 1);
}

struct snapshot {
	struct console_client *cl;
	int rc;
};

static void snapshot_agent(void *arg, const char *key, void *value)
{
	struct snapshot *s = arg;
	size_t len;
	char *text = format(0, "agent", value, &len);

	(void)key;
	if (!text || append(s->cl, text, len) != 0)
		s->rc = -1;
	free(text);
}

/* What a page without a usable Last-Event-ID starts from. */
static int snapshot(struct console *c, struct console_client *cl)
{
	struct snapshot s = { cl, 0 };
	size_t len;
	char *text = format(0, "reset", "{}", &len);

	if (!text || append(cl, text, len) != 0) {
		free(text);
		return -1;
	}
	free(text);
	if (c->instance && (text = format(0, "instance", c->instance, &len))) {
		s.rc = append(cl, text, len);
		free(text);
	}
	if (s.rc == 0)
		strmap_each(&c->agents, snapshot_agent, &s);
	if (s.rc == 0 && c->status && (text = format(0, "status", c->status, &len))) {
		s.rc = append(cl, text, len);
		free(text);
	}
	return s.rc;
}

/* The first kept event a new page gets: the newest that fit in half its
 * limit (a page starts well inside it), and after `last_id` when given. */
static size_t first_to_send(const struct console *c, bool after, uint64_t last_id, bool *fits)
{
	size_t budget = c->client_limit / 2, used = 0, i = c->count;

	while (i > 0) {
		const struct frame *f = &c->ring[(c->head + i - 1) % CONSOLE_RING];

		if ((after && f->id <= last_id) || used + f->len > budget)
			break;
		used += f->len;
		i--;
	}
	*fits = !after || i == 0 || c->ring[(c->head + i - 1) % CONSOLE_RING].id <= last_id;
	return i;
}

struct console_client *console_attach(struct console *c, bool has_last, uint64_t last_id,
				      void (*wake)(void *arg), void *wake_arg)
{
	struct console_client *cl = calloc(1, sizeof *cl);
	uint64_t oldest = c->count ? c->ring[c->head].id : c->next_id;
	bool replay = has_last && last_id + 1 >= oldest && last_id < c->next_id, fits;
	size_t first = first_to_send(c, replay, last_id, &fits);

	if (!cl)
		return NULL;
	cl->c = c;
	cl->wake = wake;
	cl->wake_arg = wake_arg;
	/* What a page gets first (a snapshot of 10,000 agents is megabytes)
	 * does not count against how far behind it may fall. */
	cl->head_start = SIZE_MAX / 2;
	if (replay && !fits) {
		/* More was missed than a page may be sent at once: start over. */
		replay = false;
		first = first_to_send(c, false, 0, &fits);
	}
	if (!replay && snapshot(c, cl) != 0) {
		free(cl->buf);
		free(cl);
		return NULL;
	}
	for (size_t i = first; i < c->count && !cl->dropped; i++)
		append(cl, c->ring[(c->head + i) % CONSOLE_RING].text,
		       c->ring[(c->head + i) % CONSOLE_RING].len);
	cl->head_start = cl->len;
	cl->next = c->clients;
	if (c->clients)
		c->clients->prev = cl;
	c->clients = cl;
	c->n_clients++;
	return cl;
}

size_t console_read(struct console_client *cl, char *buf, size_t max)
{
	size_t n = cl->len - cl->off;

	if (n == 0)
		return 0;
	if (n > max)
		n = max;
	memcpy(buf, cl->buf + cl->off, n);
	cl->off += n;
	cl->head_start -= n < cl->head_start ? n : cl->head_start;
	return n;
}

bool console_dropped(const struct console_client *cl)
{
	return cl->dropped;
}

void console_detach(struct console_client *cl)
{
	struct console *c = cl->c;

	if (cl->prev)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	c->n_clients--;
	free(cl->buf);
	free(cl);
}

void console_wake_all(struct console *c)
{
	for (struct console_client *cl = c->clients; cl; cl = cl->next)
		cl->wake(cl->wake_arg);
}

size_t console_clients(const struct console *c)
{
	return c ? c->n_clients : 0;
}

uint64_t console_drops(const struct console *c)
{
	return c ? c->drops : 0;
}
