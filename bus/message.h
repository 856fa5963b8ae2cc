/* bus/message: a message as the rest of agentbus sees it, in and out, without
 * libmosquitto's types. Only the MQTT v5 properties the contract uses. */
#ifndef AB_BUS_MESSAGE_H
#define AB_BUS_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

/* A message received; all pointers borrowed for the duration of a call. */
struct bus_message {
	const char *topic;
	const void *payload;
	size_t len;
	int qos;
	int mid;		/* the broker's packet id (QoS 1), the same on a redelivery */
	bool retain;
	const char *content_type;	/* NULL when absent */
	const char *response_topic;	/* NULL when absent */
	const void *correlation;	/* correlation data; NULL when absent */
	size_t correlation_len;
};

/* A message to publish; NULL (or zero length) leaves a property out. */
struct bus_publish {
	const char *topic;
	const void *payload;
	size_t len;
	int qos;
	bool retain;
	const char *content_type;
	const void *correlation;	/* echoed on answers to a response topic */
	size_t correlation_len;
};

/* The broker's answer to one QoS 1 publish: `reason` 0 when it has the
 * message, else its MQTT v5 reason code. */
typedef void bus_publish_done_fn(void *arg, int mid, int reason);

#endif
