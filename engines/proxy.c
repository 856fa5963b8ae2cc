/* engines/proxy: each tunnel reads the request head, checks the target
 * against the agent's egress list, has curl connect (its resolver never
 * blocks the loop), answers 200 and then copies bytes both ways with a
 * bounded buffer per direction: a side that does not read stops the other
 * from being read, never the daemon. */
#include "engines/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engines/http.h"
#include "sandbox/policy.h"
#include "util/log.h"
#include "util/loop.h"

#define HEAD_MAX 8192
#define RELAY_BUF 16384
#define TUNNELS_MAX 64
#define HEAD_TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_S 10

struct relay {
	char buf[RELAY_BUF];
	size_t off, len;
	bool eof;		/* the reading side closed: shut the writing side when drained */
};

struct tunnel {
	struct egress_proxy *p;
	int client, upstream;	/* -1: closed */
	char head[HEAD_MAX + 1];
	size_t head_len, body_off;	/* body_off: where the head ended */
	char target[300];
	uint64_t timer;
	struct http_transfer *connecting;
	struct relay up, down;	/* client -> upstream, upstream -> client */
	struct tunnel *prev, *next;
};

struct egress_proxy {
	struct loop *loop;
	struct http *http;
	int ctl;
	char *agent;
	char **allow;
	size_t n_allow, n_tunnels;
	struct tunnel *tunnels;
};

static void tunnel_free(struct tunnel *t)
{
	struct egress_proxy *p = t->p;

	if (t->prev)
		t->prev->next = t->next;
	else
		p->tunnels = t->next;
	if (t->next)
		t->next->prev = t->prev;
	p->n_tunnels--;
	http_cancel(t->connecting);
	loop_timer_cancel(p->loop, t->timer);
	loop_close(p->loop, &t->client);
	loop_close(p->loop, &t->upstream);
	free(t);
}

/* A short answer before closing: the socket's buffer takes it whole. */
static void refuse(struct tunnel *t, const char *status, const char *why)
{
	char text[768];
	int n = snprintf(text, sizeof text, "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
			 "Connection: close\r\n\r\nagentbus: %s\n", status, why);

	if (n > 0 && send(t->client, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1,
			  MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("sandbox %s: the refusal could not be sent: %s", t->p->agent,
			  strerror(errno));
	tunnel_free(t);
}

/* What each side should wait for, from the buffers' state. */
static void set_masks(struct tunnel *t)
{
	struct loop *l = t->p->loop;

	if (t->client >= 0)
		loop_set_mask(l, t->client,
			      (!t->up.eof && t->up.len < RELAY_BUF ? LOOP_READ : 0) |
			      (t->down.len ? LOOP_WRITE : 0));
	if (t->upstream >= 0)
		loop_set_mask(l, t->upstream,
			      (!t->down.eof && t->down.len < RELAY_BUF ? LOOP_READ : 0) |
			      (t->up.len ? LOOP_WRITE : 0));
}

/* Reads from `from` into `r`: -1 on an error (the tunnel ends). */
static int fill(int from, struct relay *r)
{
	ssize_t n;

	if (r->off > 0 && r->off == r->len)
		r->off = r->len = 0;
	if (r->eof || r->len == RELAY_BUF)
		return 0;
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	n = recv(from, r->buf + r->len, RELAY_BUF - r->len, MSG_DONTWAIT);
	if (n > 0)
		r->len += (size_t)n;
	else if (n == 0)
		r->eof = true;
	else if (errno != EAGAIN && errno != EINTR)
		return -1;
	return 0;
}

/* Writes what `r` holds to `to`; once drained after EOF, half-closes it. */
static int drain(int to, struct relay *r)
{
	while (r->off < r->len) {
		ssize_t n = send(to, r->buf + r->off, r->len - r->off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		r->off += (size_t)n;
	}
	r->off = r->len = 0;
	if (r->eof)
		shutdown(to, SHUT_WR);
	return 0;
}

static void on_relay(void *arg, int fd, int mask)
{
	struct tunnel *t = arg;
	bool client = fd == t->client;
	struct relay *in = client ? &t->up : &t->down, *out = client ? &t->down : &t->up;
	int other = client ? t->upstream : t->client;

	if (((mask & LOOP_READ) && (fill(fd, in) != 0 || drain(other, in) != 0)) ||
	    ((mask & LOOP_WRITE) && drain(fd, out) != 0) ||
	    (t->up.eof && t->down.eof && !t->up.len && !t->down.len)) {
		tunnel_free(t);
		return;
	}
	set_masks(t);
}

static void on_connected(void *arg, int fd, const char *error)
{
	struct tunnel *t = arg;
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	size_t early = t->head_len - t->body_off;
	char why[600];

	t->connecting = NULL;
	if (fd < 0) {
		log_warn("sandbox %s: CONNECT %s failed: %s", t->p->agent, t->target, error);
		snprintf(why, sizeof why, "cannot connect to %s: %s", t->target, error);
		refuse(t, "502 Bad Gateway", why);
		return;
	}
	t->upstream = fd;
	log_info("sandbox %s: CONNECT %s", t->p->agent, t->target);
	/* The answer goes first, then whatever the client sent after its head. */
	memcpy(t->down.buf, ok, sizeof ok - 1);
	t->down.len = sizeof ok - 1;
	memcpy(t->up.buf, t->head + t->body_off, early);
	t->up.len = early;
	if (loop_watch(t->p->loop, t->upstream, 0, on_relay, t) != 0 ||
	    loop_watch(t->p->loop, t->client, 0, on_relay, t) != 0) {
		tunnel_free(t);
		return;
	}
	set_masks(t);
}

/* "CONNECT host:port HTTP/1.x": the host (IPv6 in brackets) and the port. */
static int parse_connect(char *line, char **host, int *port)
{
	char *target, *version, *colon, *end;
	long n;

	if (strncmp(line, "CONNECT ", 8) != 0)
		return -1;
	target = line + 8;
	version = strchr(target, ' ');
	if (!version || strncmp(version + 1, "HTTP/1.", 7) != 0)
		return -2;
	*version = '\0';
	colon = strrchr(target, ':');
	if (!colon || colon == target || (target[0] == '[' && colon[-1] != ']'))
		return -2;
	n = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || n < 1 || n > 65535)
		return -2;
	*colon = '\0';
	if (strspn(target, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-[]:") !=
	    strlen(target) || strlen(target) > 255)
		return -2;
	*host = target;
	*port = (int)n;
	return 0;
}

static bool allowed(const struct egress_proxy *p, const char *host, int port)
{
	for (size_t i = 0; i < p->n_allow; i++)
		if (sandbox_egress_allows(p->allow[i], host, port))
			return true;
	return false;
}

static void decide(struct tunnel *t)
{
	struct egress_proxy *p = t->p;
	char *host, why[400];
	int port, rc;

	t->head[strcspn(t->head, "\r\n")] = '\0';	/* the request line; the rest stays */
	rc = parse_connect(t->head, &host, &port);
	loop_timer_cancel(p->loop, t->timer);
	t->timer = 0;
	if (rc != 0) {
		log_warn("sandbox %s: refused a request that is not CONNECT host:port: %.80s",
			 p->agent, t->head);
		refuse(t, rc == -1 ? "405 Method Not Allowed" : "400 Bad Request",
		       "only CONNECT host:port is proxied");
		return;
	}
	snprintf(t->target, sizeof t->target, "%s:%d", host, port);
	if (!allowed(p, host, port)) {
		log_warn("sandbox %s: CONNECT %s refused: not in the agent's egress list",
			 p->agent, t->target);
		snprintf(why, sizeof why, "%s is not in this agent's egress list", t->target);
		refuse(t, "403 Forbidden", why);
		return;
	}
	loop_unwatch(p->loop, t->client);
	t->connecting = p->http ? http_connect(p->http, host, port, CONNECT_TIMEOUT_S,
					       on_connected, t) : NULL;
	if (!t->connecting)
		refuse(t, "502 Bad Gateway", "the daemon cannot make connections");
}

static void on_head(void *arg, int fd, int mask)
{
	struct tunnel *t = arg;
	ssize_t n = recv(fd, t->head + t->head_len, HEAD_MAX - t->head_len, MSG_DONTWAIT);
	char *end;

	(void)mask;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		tunnel_free(t);
		return;
	}
	t->head_len += (size_t)n;
	t->head[t->head_len] = '\0';
	end = strstr(t->head, "\r\n\r\n");
	if (end) {
		t->body_off = (size_t)(end + 4 - t->head);
		decide(t);
		return;
	}
	if (t->head_len == HEAD_MAX)
		refuse(t, "431 Request Header Fields Too Large", "the request head is too long");
}

static void on_head_timeout(void *arg)
{
	struct tunnel *t = arg;

	t->timer = 0;
	refuse(t, "408 Request Timeout", "no request head");
}

static void accept_fd(struct egress_proxy *p, int fd)
{
	struct tunnel *t = p->n_tunnels < TUNNELS_MAX ? calloc(1, sizeof *t) : NULL;

	if (!t) {
		log_warn("sandbox %s: a connection refused: %zu tunnels open", p->agent,
			 p->n_tunnels);
		close(fd);
		return;
	}
	t->p = p;
	t->client = fd;
	t->upstream = -1;
	t->next = p->tunnels;
	if (p->tunnels)
		p->tunnels->prev = t;
	p->tunnels = t;
	p->n_tunnels++;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	t->timer = loop_timer(p->loop, HEAD_TIMEOUT_MS, on_head_timeout, t);
	if (!t->timer || loop_watch(p->loop, fd, LOOP_READ, on_head, t) != 0)
		tunnel_free(t);
}

/* One fd per message from the helper; anything else on the socket is noise. */
static void on_ctl(void *arg, int fd, int mask)
{
	struct egress_proxy *p = arg;
	char byte, space[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = space,
			      .msg_controllen = sizeof space };
	struct cmsghdr *c;
	ssize_t n;
	int passed;

	(void)mask;
	n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		loop_close(p->loop, &p->ctl);
		return;
	}
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int))) {
		memcpy(&passed, CMSG_DATA(c), sizeof passed);
		accept_fd(p, passed);
	}
}

int egress_proxy_open(struct loop *l, struct http *http, int ctl, const char *agent,
		      char *const *allow, size_t n_allow, struct egress_proxy **out)
{
	struct egress_proxy *p = calloc(1, sizeof *p);

	*out = NULL;
	if (!p) {
		close(ctl);
		return -1;
	}
	p->loop = l;
	p->http = http;
	p->ctl = ctl;
	p->agent = strdup(agent);
	p->allow = n_allow ? calloc(n_allow, sizeof *p->allow) : NULL;
	for (size_t i = 0; p->allow && i < n_allow; i++, p->n_allow++)
		if (!(p->allow[i] = strdup(allow[i])))
			break;
	fcntl(ctl, F_SETFL, O_NONBLOCK);
	if (!p->agent || p->n_allow != n_allow ||
	    loop_watch(l, ctl, LOOP_READ, on_ctl, p) != 0) {
		egress_proxy_close(p);
		return -1;
	}
	*out = p;
	return 0;
}

void egress_proxy_close(struct egress_proxy *p)
{
	if (!p)
		return;
	while (p->tunnels)
		tunnel_free(p->tunnels);
	loop_close(p->loop, &p->ctl);
	for (size_t i = 0; i < p->n_allow; i++)
		free(p->allow[i]);
	free(p->allow);
	free(p->agent);
	free(p);
}
