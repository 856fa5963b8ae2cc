/* bus/codec: the wire encodings of docs/CONTRACT.md section 10. Payloads are built
 * as cJSON trees and encoded once, as JSON or MessagePack, at the edge. */
#ifndef AB_BUS_CODEC_H
#define AB_BUS_CODEC_H

#include <stddef.h>

struct cJSON;

enum payload_encoding { ENCODING_JSON, ENCODING_MSGPACK };

#define CONTENT_TYPE_JSON "application/json"
#define CONTENT_TYPE_MSGPACK "application/msgpack"

/* An encoded payload; free `data` with codec_buf_free(). */
struct codec_buf {
	char *data;
	size_t len;
	const char *content_type;	/* static string */
};

/* Encodes `doc` as `enc`. Returns 0, or -1 on allocation failure. */
int codec_encode(const struct cJSON *doc, enum payload_encoding enc, struct codec_buf *out);
void codec_buf_free(struct codec_buf *buf);

#endif
