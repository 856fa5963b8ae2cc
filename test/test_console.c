/* test_console: the web console of a real daemon. Its /events stream over
 * a plain socket (what a page gets first, Last-Event-ID replay, a page that
 * never reads dropped while the daemon goes on), the token when it is not on
 * 127.0.0.1, and the page itself in Debian's Chromium, driven by
 * console_browser.cjs: agent rows, an invalid definition's error, a reply
 * growing as it streams, a failure and a dead letter with their reasons, a
 * message sent from the page. Screenshots go to build/test-artifacts/. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/check.h"
#include "test/rig.h"

#define EVENTS "parachute/vault/default/event/note.created"

static int dial(const char *addr, int rcvbuf)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	int port, fd = socket(AF_INET, SOCK_STREAM, 0);

	REQUIRE(fd >= 0 && sscanf(addr, "%63[^:]:%d", host, &port) == 2);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	sa.sin_port = htons((uint16_t)port);
	REQUIRE(inet_pton(AF_INET, host, &sa.sin_addr) == 1);
	REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	return fd;
}

static void send_all(int fd, const char *text)
{
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
}

/* Reads into `buf` until it holds `want` (or, NULL, the peer closes), at
 * most 10 s. Returns whether it came. */
static bool read_until(int fd, char **buf, size_t *len, const char *want)
{
	for (int waited = 0; waited < TH_TIMEOUT_MS;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char chunk[65536];
		ssize_t n;

		if (*buf && want && strstr(*buf, want))
			return true;
		if (poll(&p, 1, 100) == 0) {
			waited += 100;
			continue;
		}
		n = read(fd, chunk, sizeof chunk);
		if (n <= 0)
			return !want;
		*buf = realloc(*buf, *len + (size_t)n + 1);
		memcpy(*buf + *len, chunk, (size_t)n);
		*len += (size_t)n;
		(*buf)[*len] = '\0';
	}
	return false;
}

/* A whole response to `request`; the status code. */
static int fetch(const char *addr, const char *request, char **out)
{
	int fd = dial(addr, 0), status = 0;
	size_t len = 0;

	*out = NULL;
	send_all(fd, request);
	read_until(fd, out, &len, NULL);
	close(fd);
	if (*out)
		sscanf(*out, "HTTP/1.%*d %d", &status);
	return status;
}

static int open_stream(const char *addr, const char *last_id, int rcvbuf)
{
	int fd = dial(addr, rcvbuf);
	char *req = rig_fmt("GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n%s%s%s"
			    "\r\n", last_id ? "Last-Event-ID: " : "", last_id ? last_id : "",
			    last_id ? "\r\n" : "");

	send_all(fd, req);
	free(req);
	return fd;
}

/* The highest "id: N" in what a stream sent. */
static unsigned long last_id(const char *text)
{
	unsigned long id = 0;

	for (const char *p = text; (p = strstr(p, "\nid: ")) != NULL; p++)
		id = strtoul(p + 5, NULL, 10);
	return id;
}

static void test_stream(struct rig *r, const char *addr)
{
	char *text = NULL, *again = NULL, id[32];
	size_t len = 0, len2 = 0;
	int fd = open_stream(addr, NULL, 0);
	unsigned long seen;
	cJSON *reply;

	/* A new page: a reset, who it talks to, every agent, then what is kept. */
	CHECK(read_until(fd, &text, &len, "\"name\":\"eng\""));
	CHECK_CONTAINS(text, "Content-Type: text/event-stream");
	CHECK_CONTAINS(text, "event: reset");
	CHECK_CONTAINS(text, "event: instance");
	CHECK_CONTAINS(text, "event: agent");
	rig_send_inbound(r, "s-1", "eng", "first", "");
	CHECK(read_until(fd, &text, &len, "\"reply\":\"echo: first\""));
	seen = last_id(text);
	CHECK(seen > 0);
	close(fd);

	/* Away while a turn runs; back with Last-Event-ID: only what it missed. */
	reply = rig_reply(r, "eng", "s-1");
	cJSON_Delete(reply);
	rig_send_inbound(r, "s-2", "eng", "second", "");
	cJSON_Delete(rig_reply(r, "eng", "s-2"));
	snprintf(id, sizeof id, "%lu", seen);
	fd = open_stream(addr, id, 0);
	CHECK(read_until(fd, &again, &len2, "\"reply\":\"echo: second\""));
	CHECK_MSG(!strstr(again, "event: reset"), "a page that comes back gets no reset");
	{
		char *first_id = strstr(again, "id: ");

		CHECK_MSG(first_id && strtoul(first_id + 4, NULL, 10) == seen + 1,
			  "the replay starts after %lu", seen);
	}
	CHECK_MSG(!strstr(again, "echo: first"), "nothing it had already is sent again");
	close(fd);
	free(text);
	free(again);
}

/* A page that never reads is dropped, and the daemon and the other pages go on. */
static void test_slow_page(struct rig *r, const char *addr)
{
	int stuck = open_stream(addr, NULL, 4096), live = open_stream(addr, NULL, 0);
	char *big = malloc(100001), *text = NULL;
	size_t len = 0;

	/* 6 MB of events: more than the kernel's socket buffers (up to 4 MB on
	 * loopback) and the page's 256 KiB limit together. */
	memset(big, 'x', 100000);
	big[100000] = '\0';
	for (int i = 0; i < 60; i++) {
		char id[16];

		snprintf(id, sizeof id, "b-%d", i);
		rig_send_inbound(r, id, "eng", big, "");
		cJSON_Delete(rig_reply(r, "eng", id));
		/* The page that reads keeps up. */
		len = 0;
		free(text);
		text = NULL;
		CHECK(read_until(live, &text, &len, "\"kind\":\"done\""));
	}
	CHECK_MSG(th_daemon_wait_output(&r->daemon, false, "console: a page fell more than 262144 "
					"bytes behind and was dropped", TH_TIMEOUT_MS),
		  "the page that never read is dropped");
	rig_send_inbound(r, "b-after", "eng", "still here", "");
	cJSON_Delete(rig_reply(r, "eng", "b-after"));
	CHECK(read_until(live, &text, &len, "echo: still here"));
	close(stuck);
	close(live);
	free(text);
	free(big);
}

static void test_token(void)
{
	char *dir = th_tmpdir("console-token"), *token = th_write_file(dir, "token", "s3cr3t\n");
	const char *const bare[] = { "--http", "127.0.0.2:0", NULL };
	const char *const guarded[] = { "--http", "127.0.0.2:0", "--http-token-file", token, NULL };
	struct rig r = { 0 };
	char addr[64], *out;

	rig_start(&r, bare);
	rig_http_addr(&r, addr);
	CHECK_INT(fetch(addr, "GET / HTTP/1.0\r\n\r\n", &out), 403);
	CHECK_CONTAINS(out, "--http-token-file");
	free(out);
	CHECK_INT(fetch(addr, "GET /metrics HTTP/1.0\r\n\r\n", &out), 200);
	free(out);
	rig_stop(&r);

	memset(&r, 0, sizeof r);
	rig_start(&r, guarded);
	rig_http_addr(&r, addr);
	CHECK_INT(fetch(addr, "GET / HTTP/1.0\r\n\r\n", &out), 401);
	free(out);
	CHECK_INT(fetch(addr, "GET /events HTTP/1.0\r\nAuthorization: Bearer wrong\r\n\r\n", &out),
		  401);
	free(out);
	CHECK_INT(fetch(addr, "GET / HTTP/1.0\r\nAuthorization: Bearer s3cr3t\r\n\r\n", &out), 200);
	CHECK_CONTAINS(out, "<title>agentbus console</title>");
	CHECK_MSG(!strstr(out, "s3cr3t"), "the page does not carry the token");
	free(out);
	CHECK_INT(fetch(addr, "GET /?token=s3cr3t HTTP/1.0\r\n\r\n", &out), 200);
	CHECK_CONTAINS(out, "Set-Cookie: agentbus_console=s3cr3t; HttpOnly; SameSite=Strict");
	free(out);
	CHECK_INT(fetch(addr, "POST /send HTTP/1.0\r\nCookie: agentbus_console=s3cr3t\r\n"
		  "X-Agentbus-Console: 1\r\nContent-Length: 27\r\n\r\n{\"agent\":\"eng\",\"text\":\"hi\"}",
		  &out), 403);	/* authorised, but --console-send is off */
	free(out);
	rig_stop(&r);
	free(token);
	free(dir);
}

/* Whether Chromium, node and playwright-core are here (test setup installs them). */
static const char *browser_missing(void)
{
	struct stat st;

	if (stat("/usr/bin/chromium", &st) != 0)
		return "no /usr/bin/chromium (apt-get install chromium)";
	if (stat("/usr/bin/node", &st) != 0 && stat("/usr/local/bin/node", &st) != 0)
		return "no node";
	if (stat(NODE_DEPS "/node_modules/playwright-core", &st) != 0)
		return "no playwright-core in " NODE_DEPS " (scripts/browser-deps installs it)";
	return NULL;
}

static void test_browser(struct rig *r, const char *addr)
{
	const char *missing = browser_missing();
	char *url = rig_fmt("http://%s/", addr), *script = rig_fmt("%s/test/console_browser.cjs",
								    SOURCE_DIR);
	const char *node = access("/usr/bin/node", X_OK) == 0 ? "/usr/bin/node" : "/usr/local/bin/node";
	const char *argv[] = { node, script, url, ARTIFACTS, NULL };
	struct th_daemon b = { 0 };
	int status;

	if (missing) {
		printf("SKIP test_browser: %s\n", missing);
		free(url);
		free(script);
		return;
	}
	mkdir(ARTIFACTS, 0755);
	setenv("NODE_PATH", NODE_DEPS "/node_modules", 1);
	th_process_start(&b, argv);
	/* Bounds for a hung script only: its steps have their own (see there). */
	CHECK_MSG(th_daemon_wait_output(&b, true, "READY", 90000), "the page shows the agents");
	/* A reply that streams, a failure, a dead letter: made on the bus now. */
	rig_send_inbound(r, "w-1", "writer", "write", "");
	rig_send_inbound(r, "f-1", "broken", "break", "");
	th_client_publish_text(&r->client, EVENTS, "{\"event\":\"note.created\",\"note\":42}");
	status = th_daemon_wait_exit(&b, 180000);
	printf("%s", b.out ? b.out : "");
	CHECK_MSG(status != -1, "the browser script finished within 180 s");
	CHECK_MSG(status == 0, "the browser's checks passed (exit status %d)", status);
	CHECK_CONTAINS(b.out, "streamed reply grows");
	CHECK_CONTAINS(b.out, "failure shown");
	CHECK_CONTAINS(b.out, "dead letter shown");
	CHECK_CONTAINS(b.out, "sent from the page");
	CHECK_CONTAINS(b.out, "no commands on the page");
	th_daemon_free(&b);
	free(url);
	free(script);
}

int main(void)
{
	const char *const extra[] = {
		"--http", "127.0.0.1:0", "--console-send",
		"--engine-def", "writer exec format=text command=\"for i in 1 2 3 4 5 6 7 8; do "
				"echo part-$i; sleep 0.4; done\"",
		"--engine-def", "broken exec format=text command=\"echo oops >&2; exit 3\"",
		NULL };
	struct rig r = { 0 };
	char addr[64];

	rig_start(&r, extra);
	rig_http_addr(&r, addr);
	rig_define(&r, "eng");
	rig_define_meta(&r, "writer", ",\"engine\":\"writer\"");
	rig_define_meta(&r, "broken", ",\"engine\":\"broken\"");
	/* An invalid definition, for its error on the page. */
	th_client_publish_text(&r.client, "parachute/vault/default/write",
			       "{\"op\":\"upsert\",\"request_id\":\"def-bad\",\"note\":{\"id\":\"d-bad\","
			       "\"path\":\"Agents/bad\",\"tags\":[\"agent/definition\"],\"metadata\":"
			       "{\"name\":\"bad\",\"mode\":\"sometimes\"}}}");
	cJSON_Delete(rig_expect(&r, "parachute/agent/bad/definition", NULL, "mode must be"));
	printf("-- test_stream\n");
	test_stream(&r, addr);
	printf("-- test_slow_page\n");
	test_slow_page(&r, addr);
	printf("-- test_browser\n");
	test_browser(&r, addr);
	rig_stop(&r);
	RUN(test_token);
	return check_summary();
}
