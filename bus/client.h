/* bus/client: a small blocking MQTT v5 client for the command-line tools
 * (`agentbus ask`, `agents`, `status`, `define`, `tail`). Unlike bus/conn it
 * owns its waiting: every call drives libmosquitto until its answer arrives
 * or the timeout passes. Never used by the daemon. */
#ifndef AB_BUS_CLIENT_H
#define AB_BUS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct bus_client;

struct bus_client_options {
	const char *host;
	int port;
	const char *username;
	const char *password;
	const char *password_file;	/* wins over password */
	int timeout_ms;			/* for connecting, subscribing, publishing */
};

struct bus_client_msg {
	char *topic;
	char *payload;		/* NUL-terminated copy */
	size_t len;
	bool retain;
	char *correlation;	/* NUL-terminated; NULL when absent */
};

/* Connects (clean start, a random client id). Returns 0, or -1 with a
 * message for a person in `err` (refused, unreachable, timed out). */
int bus_client_connect(const struct bus_client_options *opt, struct bus_client **out, char *err,
		       size_t errlen);
/* Subscribes at QoS 1 and waits for the SUBACK; -1 with `err` when refused. */
int bus_client_subscribe(struct bus_client *c, const char *filter, char *err, size_t errlen);
/* Publishes at QoS 1 and waits for the PUBACK; -1 with `err` when refused. */
int bus_client_publish(struct bus_client *c, const char *topic, const char *payload, size_t len,
		       const char *response_topic, const char *correlation, char *err,
		       size_t errlen);
/* The next message: 1 with `out` filled, 0 when `timeout_ms` passed (-1:
 * wait for ever), -1 when the connection was lost. */
int bus_client_next(struct bus_client *c, struct bus_client_msg *out, int timeout_ms);
void bus_client_msg_free(struct bus_client_msg *m);
void bus_client_close(struct bus_client *c);

/* "libmosquitto X.Y.Z, msgpack-c X.Y.Z, cJSON X.Y.Z" into `buf`. */
void bus_library_versions(char *buf, size_t len);

/* Whether `topic` matches subscription `filter` (MQTT's rules). */
bool bus_topic_matches(const char *filter, const char *topic);

#endif
