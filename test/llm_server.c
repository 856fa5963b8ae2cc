/* llm_server: raw sockets and a thread per connection, so a test controls
 * every byte: where the transport splits an event, a stall mid-stream, a
 * connection reset. The path says the protocol: /v1/chat/completions is
 * OpenAI's, /v1/messages Anthropic's. A word in the body picks the scenario:
 *   (none)       a normal stream: "Hello", " from", " the test" and usage
 *   chunky       the same split mid-line over many writes, CRLF line ends, a
 *                comment, a field without the space after its colon
 *   retry429     the first request gets 429 with retry-after-ms: 1500
 *   retry503     the first request gets 503 with retry-after: 1 (seconds)
 *   fail500      every request gets 500
 *   stall        sends "Hello", then nothing until llm_release(), then the rest
 *   malformed    a data line that is not JSON
 *   errorchunk   OpenAI: an {"error":…} chunk; Anthropic: an error event
 *                (overloaded_error) before any text, on the first request
 *   latefail     Anthropic: overloaded_error after "Hello"
 *   reset        the first connection is reset before any text
 *   slow         a normal stream with 20 ms between events
 *   nousage      OpenAI: no usage chunk at all
 */
#include "test/llm_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUESTS 4096

struct llm_server {
	int listen_fd;
	int port;
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	char *bodies[MAX_REQUESTS];
	long long arrivals[MAX_REQUESTS];
	int n_bodies;
	bool released, stopping;
	int open, peak, threads;
};

struct conn {
	struct llm_server *s;
	int fd;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Reads the request; returns its body (malloc'd) and path, or NULL. */
static char *read_request(int fd, char *path, size_t pathlen)
{
	size_t cap = 65536, len = 0, body_len = 0, head = 0;
	char *buf = malloc(cap), *end;

	while (buf) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *grown = realloc(buf, cap *= 2);

			if (!grown)
				break;
			buf = grown;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (!head && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			char *cl = strcasestr(buf, "\r\nContent-Length:");

			head = (size_t)(end - buf) + 4;
			body_len = cl ? strtoul(cl + 17, NULL, 10) : 0;
			sscanf(buf, "%*s %127s", path);
			(void)pathlen;
		}
		if (head && len >= head + body_len) {
			char *body = strndup(buf + head, body_len);

			free(buf);
			return body;
		}
	}
	free(buf);
	return NULL;
}

static void record(struct llm_server *s, const char *body, int *nth, const char *word)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_bodies < MAX_REQUESTS) {
		s->bodies[s->n_bodies] = strdup(body);
		s->arrivals[s->n_bodies] = now_ms();
		s->n_bodies++;
	}
	/* Attempts of one turn send the same body: this is attempt *nth. */
	*nth = 0;
	for (int i = 0; i < s->n_bodies; i++)
		if (strcmp(s->bodies[i], body) == 0)
			(*nth)++;
	(void)word;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static const char *const scenarios[] = { "chunky", "retry429", "retry503", "fail500", "stall", "malformed",
					 "errorchunk", "latefail", "reset", "slow", "nousage" };

static const char *scenario_of(const char *body)
{
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
		if (strstr(body, scenarios[i]))
			return scenarios[i];
	return NULL;
}

static void stall_until_released(struct llm_server *s)
{
	pthread_mutex_lock(&s->lock);
	while (!s->released && !s->stopping)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

static void reset(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
			       "Cache-Control: no-cache\r\nConnection: close\r\n\r\n";

static void error_response(int fd, int status, const char *extra_header, const char *json)
{
	char head[512];

	snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%s"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n", status,
		 status == 429 ? "Too Many Requests" : status == 503 ? "Service Unavailable"
							    : "Internal Server Error",
		 extra_header ? extra_header : "", strlen(json));
	send_str(fd, head);
	send_str(fd, json);
}

static void openai_chunk(int fd, const char *text)
{
	char buf[512];

	snprintf(buf, sizeof buf, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
		 "\"created\":1,\"model\":\"test\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
		 "\"%s\"},\"finish_reason\":null}],\"usage\":null}\n\n", text);
	send_str(fd, buf);
}

static void openai_stream(struct llm_server *s, int fd, const char *sc, int nth)
{
	static const char *const parts[] = { "Hello", " from", " the test" };

	if (sc && strcmp(sc, "reset") == 0 && nth == 1) {
		reset(fd);
		return;
	}
	send_str(fd, sse_head);
	if (sc && strcmp(sc, "chunky") == 0) {
		static const char body[] =
			": keep-alive comment\r\n\r\n"
			"data:{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\r\n\r\n"
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"thinking\"}}]}\r\n\r\n"
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo from\"}}]}\r\n\r\n"
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the test\"},\"finish_reason\":\"stop\"}],"
			"\"timings\":{\"prompt_n\":7,\"predicted_n\":4}}\r\n\r\n"
			"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":4,\"total_tokens\":11}}\r\n\r\n"
			"data: [DONE]\r\n\r\n";

		for (size_t i = 0; i < sizeof body - 1; i += 7) {
			send_all(fd, body + i, sizeof body - 1 - i < 7 ? sizeof body - 1 - i : 7);
			pause_ms(1);
		}
		return;
	}
	if (sc && strcmp(sc, "malformed") == 0) {
		send_str(fd, "data: {\"choices\": [oops\n\n");
		return;
	}
	if (sc && strcmp(sc, "errorchunk") == 0) {
		openai_chunk(fd, "Hel");
		send_str(fd, "data: {\"error\":{\"message\":\"the model crashed\",\"type\":\"server_error\"}}\n\n");
		return;
	}
	for (size_t i = 0; i < 3; i++) {
		openai_chunk(fd, parts[i]);
		if (sc && strcmp(sc, "stall") == 0 && i == 0)
			stall_until_released(s);
		if (sc && strcmp(sc, "slow") == 0)
			pause_ms(20);
	}
	if (!sc || strcmp(sc, "nousage") != 0)
		send_str(fd, "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
			     "\"completion_tokens\":3,\"total_tokens\":15}}\n\n");
	send_str(fd, "data: [DONE]\n\n");
}

static void anthropic_event(int fd, const char *type, const char *json)
{
	char buf[1024];

	snprintf(buf, sizeof buf, "event: %s\ndata: %s\n\n", type, json);
	send_str(fd, buf);
}

static void anthropic_text(int fd, const char *text)
{
	char buf[512];

	snprintf(buf, sizeof buf, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
		 "{\"type\":\"text_delta\",\"text\":\"%s\"}}", text);
	anthropic_event(fd, "content_block_delta", buf);
}

static void anthropic_stream(struct llm_server *s, int fd, const char *sc, int nth)
{
	static const char *const parts[] = { "Hello", " from", " the test" };

	if (sc && strcmp(sc, "reset") == 0 && nth == 1) {
		reset(fd);
		return;
	}
	send_str(fd, sse_head);
	if (sc && strcmp(sc, "errorchunk") == 0 && nth == 1) {
		anthropic_event(fd, "error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
				"\"message\":\"Overloaded\"}}");
		return;
	}
	anthropic_event(fd, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
			"\"type\":\"message\",\"role\":\"assistant\",\"model\":\"test\",\"content\":[],"
			"\"usage\":{\"input_tokens\":21,\"output_tokens\":1}}}");
	anthropic_event(fd, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
			"\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
	anthropic_event(fd, "ping", "{\"type\": \"ping\"}");
	if (sc && strcmp(sc, "malformed") == 0) {
		send_str(fd, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\n\n");
		return;
	}
	for (size_t i = 0; i < 3; i++) {
		anthropic_text(fd, parts[i]);
		if (sc && strcmp(sc, "latefail") == 0) {
			anthropic_event(fd, "error", "{\"type\":\"error\",\"error\":{\"type\":"
					"\"overloaded_error\",\"message\":\"Overloaded\"}}");
			return;
		}
		if (sc && strcmp(sc, "stall") == 0 && i == 0)
			stall_until_released(s);
		if (sc && strcmp(sc, "slow") == 0)
			pause_ms(20);
	}
	anthropic_event(fd, "future_event_type", "{\"type\":\"future_event_type\",\"x\":1}");
	anthropic_event(fd, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
	anthropic_event(fd, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
			"\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}");
	anthropic_event(fd, "message_stop", "{\"type\":\"message_stop\"}");
}

static void *serve(void *arg)
{
	struct conn *c = arg;
	struct llm_server *s = c->s;
	char path[128] = "";
	char *body = read_request(c->fd, path, sizeof path);
	const char *sc = body ? scenario_of(body) : NULL;
	int nth = 0;

	if (body) {
		record(s, body, &nth, sc);
		if (sc && strcmp(sc, "retry429") == 0 && nth == 1)
			error_response(c->fd, 429, "retry-after-ms: 1500\r\nretry-after: 2\r\n",
				       "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"rate_limit_error\"}}");
		else if (sc && strcmp(sc, "retry503") == 0 && nth == 1)
			error_response(c->fd, 503, "retry-after: 1\r\n",
				       "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
				       "\"message\":\"Overloaded\"}}");
		else if (sc && strcmp(sc, "fail500") == 0)
			error_response(c->fd, 500, NULL, "{\"error\":{\"message\":\"Internal server error\","
				       "\"type\":\"api_error\"}}");
		else if (strstr(path, "/messages"))
			anthropic_stream(s, c->fd, sc, nth);
		else
			openai_stream(s, c->fd, sc, nth);
	}
	free(body);
	close(c->fd);
	pthread_mutex_lock(&s->lock);
	s->open--;
	s->threads--;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	free(c);
	return NULL;
}

static void *accept_loop(void *arg)
{
	struct llm_server *s = arg;

	for (;;) {
		int fd = accept(s->listen_fd, NULL, NULL), one = 1;
		struct conn *c;
		pthread_t t;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;	/* the listening socket was shut down */
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = malloc(sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		pthread_mutex_lock(&s->lock);
		s->open++;
		s->threads++;
		if (s->open > s->peak)
			s->peak = s->open;
		pthread_mutex_unlock(&s->lock);
		if (pthread_create(&t, NULL, serve, c) != 0) {
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
}

struct llm_server *llm_start(void)
{
	struct llm_server *s = calloc(1, sizeof *s);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int one = 1;

	if (!s)
		exit(2);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(s->listen_fd, 512) != 0 ||
	    getsockname(s->listen_fd, (struct sockaddr *)&sa, &len) != 0 ||
	    pthread_create(&s->acceptor, NULL, accept_loop, s) != 0) {
		fprintf(stderr, "llm_server: cannot start: %s\n", strerror(errno));
		exit(2);
	}
	s->port = ntohs(sa.sin_port);
	return s;
}

int llm_port(const struct llm_server *s)
{
	return s->port;
}

int llm_count(struct llm_server *s, const char *word)
{
	int n = 0;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->n_bodies; i++)
		if (strstr(s->bodies[i], word))
			n++;
	pthread_mutex_unlock(&s->lock);
	return n;
}

char *llm_body(struct llm_server *s, const char *word)
{
	char *out = NULL;

	pthread_mutex_lock(&s->lock);
	for (int i = s->n_bodies - 1; i >= 0 && !out; i--)
		if (strstr(s->bodies[i], word))
			out = strdup(s->bodies[i]);
	pthread_mutex_unlock(&s->lock);
	return out;
}

long long llm_arrival_ms(struct llm_server *s, const char *word, int n)
{
	long long at = -1;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->n_bodies && at < 0; i++)
		if (strstr(s->bodies[i], word) && --n == 0)
			at = s->arrivals[i];
	pthread_mutex_unlock(&s->lock);
	return at;
}

bool llm_wait(struct llm_server *s, const char *word, int n, int timeout_ms)
{
	long long until = now_ms() + timeout_ms;

	while (llm_count(s, word) < n) {
		struct timespec ts;

		if (now_ms() >= until)
			return false;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&s->lock);
		pthread_cond_timedwait(&s->changed, &s->lock, &ts);
		pthread_mutex_unlock(&s->lock);
	}
	return true;
}

void llm_release(struct llm_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->released = true;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

int llm_peak(struct llm_server *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->peak;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void llm_stop(struct llm_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	shutdown(s->listen_fd, SHUT_RDWR);
	pthread_join(s->acceptor, NULL);
	close(s->listen_fd);
	/* Connection threads are detached: wait for the last to leave. */
	pthread_mutex_lock(&s->lock);
	while (s->threads > 0)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->n_bodies; i++)
		free(s->bodies[i]);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
