/* bus/sink: encode once, publish through whatever the daemon plugged in. */
#include "bus/sink.h"

int sink_encode(const struct bus_sink *sink, const struct cJSON *doc, struct codec_buf *out)
{
	return codec_encode(doc, sink->encoding, out);
}

/* Fills in `pub`'s payload and content type from `doc` and publishes it. */
static int publish_encoded(const struct bus_sink *sink, struct bus_publish *pub,
			   const struct cJSON *doc)
{
	struct codec_buf buf;
	int rc;

	if (codec_encode(doc, sink->encoding, &buf) != 0)
		return -1;
	pub->payload = buf.data;
	pub->len = buf.len;
	pub->content_type = buf.content_type;
	rc = sink->publish(sink->arg, pub, NULL, NULL);
	codec_buf_free(&buf);
	return rc;
}

int sink_publish_doc(const struct bus_sink *sink, const char *topic, const struct cJSON *doc,
		     int qos, bool retain)
{
	struct bus_publish pub = { .topic = topic, .qos = qos, .retain = retain };

	return publish_encoded(sink, &pub, doc);
}

int sink_answer_doc(const struct bus_sink *sink, const struct bus_message *answer_to,
		    const struct cJSON *doc)
{
	struct bus_publish pub = {
		.topic = answer_to->response_topic,
		.qos = 1,
		.correlation = answer_to->correlation,
		.correlation_len = answer_to->correlation_len,
	};

	if (!answer_to->response_topic)
		return 0;
	return publish_encoded(sink, &pub, doc);
}
