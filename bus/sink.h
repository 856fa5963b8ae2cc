/* bus/sink: how a module publishes without holding the connection. The
 * daemon provides one; modules (the store, the handlers) encode documents
 * through sink_publish_doc() so the encoding and the content type are chosen
 * in one place. */
#ifndef AB_BUS_SINK_H
#define AB_BUS_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "bus/codec.h"
#include "bus/error.h"
#include "bus/message.h"

struct cJSON;

struct bus_sink {
	/* Publishes; returns 0, -1 (may pass) or -2 (never possible), as
	 * bus_conn_publish(). For QoS 1, `done` (may be NULL) gets the broker's
	 * answer. */
	int (*publish)(void *arg, const struct bus_publish *pub, bus_publish_done_fn *done,
		       void *done_arg);
	/* Answers an unusable input on the dead-letter topic and logs it once. */
	void (*deadletter)(void *arg, const struct bus_message *msg, const struct bus_error *err);
	void *arg;
	enum payload_encoding encoding;	/* of everything published */
};

/* Encodes `doc` in the sink's encoding: the caller frees `out` with
 * codec_buf_free(). Returns 0 or -1. */
int sink_encode(const struct bus_sink *sink, const struct cJSON *doc, struct codec_buf *out);

/* Encodes `doc` in the sink's encoding and publishes it on `topic`.
 * Returns 0 or -1. */
int sink_publish_doc(const struct bus_sink *sink, const char *topic, const struct cJSON *doc,
		     int qos, bool retain);
/* The same, on the response topic of `answer_to` with its correlation data,
 * at QoS 1; 0 without doing anything when it has no response topic. */
int sink_answer_doc(const struct bus_sink *sink, const struct bus_message *answer_to,
		    const struct cJSON *doc);

#endif
