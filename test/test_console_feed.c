/* test_console_feed: the console's feed without a server: the SSE frames, a
 * new page's snapshot (not counted against its limit, however many agents),
 * a page that falls behind dropped and woken, Last-Event-ID replay, and the
 * ring bounded in events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/console.h"
#include "test/check.h"

static int wakes;

static void on_wake(void *arg)
{
	(void)arg;
	wakes++;
}

/* Everything pending for `cl`, as text (malloc'd). */
static char *drain(struct console_client *cl)
{
	size_t cap = 1 << 20, len = 0, n;
	char *out = malloc(cap);

	while ((n = console_read(cl, out + len, cap - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	return out;
}

static void test_frames_and_replay(void)
{
	struct console *c;
	struct console_client *cl;
	char *text;

	REQUIRE(console_open(4096, &c) == 0);
	console_publish(c, "instance", NULL, "{\"instance\":\"i\"}");
	console_publish(c, "agent", "eng", "{\"name\":\"eng\",\"status\":\"enabled\"}");
	console_publish(c, "turn", "eng", "{\"kind\":\"start\"}");
	cl = console_attach(c, false, 0, on_wake, NULL);
	REQUIRE(cl != NULL);
	text = drain(cl);
	CHECK(strncmp(text, "event: reset\ndata: {}\n\n", 23) == 0);
	CHECK_CONTAINS(text, "event: instance\ndata: {\"instance\":\"i\"}\n\n");
	CHECK_CONTAINS(text, "id: 3\nevent: turn\ndata: {\"kind\":\"start\"}\n\n");
	free(text);
	wakes = 0;
	console_publish(c, "turn", "eng", "{\"kind\":\"done\"}");
	CHECK_INT(wakes, 1);
	text = drain(cl);
	CHECK_STR(text, "id: 4\nevent: turn\ndata: {\"kind\":\"done\"}\n\n");
	free(text);
	console_detach(cl);

	/* Back after id 3: only 4, no reset. */
	cl = console_attach(c, true, 3, on_wake, NULL);
	text = drain(cl);
	CHECK_STR(text, "id: 4\nevent: turn\ndata: {\"kind\":\"done\"}\n\n");
	free(text);
	console_detach(cl);
	/* An id never given: start over. */
	cl = console_attach(c, true, 999, on_wake, NULL);
	text = drain(cl);
	CHECK(strncmp(text, "event: reset", 12) == 0);
	free(text);
	console_detach(cl);
	console_close(c);
}

static void test_limits(void)
{
	struct console *c;
	struct console_client *cl;
	char entry[200], name[16], *text;

	REQUIRE(console_open(1000, &c) == 0);
	/* 100 agents: a 10 KB snapshot for a page allowed 1 KB behind. */
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "a%d", i);
		snprintf(entry, sizeof entry, "{\"name\":\"%s\",\"status\":\"enabled\",\"pad\":\"%080d\"}",
			 name, 0);
		console_publish(c, "agent", name, entry);
	}
	cl = console_attach(c, false, 0, on_wake, NULL);
	REQUIRE(cl != NULL);
	CHECK_MSG(!console_dropped(cl), "what a page gets first does not count");
	text = drain(cl);
	CHECK_CONTAINS(text, "\"name\":\"a99\"");
	free(text);
	/* Unread, it falls behind by more than 1,000 bytes: dropped, and woken
	 * so its stream ends. */
	wakes = 0;
	for (int i = 0; i < 20 && !console_dropped(cl); i++)
		console_publish(c, "turn", "a1", "{\"kind\":\"text\",\"text\":\"0123456789012345678901234567890123456789\"}");
	CHECK(console_dropped(cl));
	CHECK(wakes > 0);
	CHECK(console_drops(c) == 1);
	console_detach(cl);

	/* The ring keeps the last CONSOLE_RING events. */
	for (int i = 0; i < CONSOLE_RING + 500; i++)
		console_publish(c, "load", NULL, "{}");
	cl = console_attach(c, true, 1, on_wake, NULL);
	text = drain(cl);
	CHECK_MSG(strncmp(text, "event: reset", 12) == 0, "event 1 is no longer kept");
	free(text);
	console_detach(cl);
	CHECK_INT(console_clients(c), 0);
	console_close(c);
}

int main(void)
{
	RUN(test_frames_and_replay);
	RUN(test_limits);
	return check_summary();
}
