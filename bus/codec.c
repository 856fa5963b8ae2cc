/* bus/codec: cJSON tree -> JSON text or MessagePack bytes. MessagePack keeps
 * the JSON field names and types: integral numbers become integers, others
 * doubles, so a decoder sees the same document either way. */
#include "bus/codec.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for any payload we build; decoders enforce their own limit. */
#define MAX_DEPTH 64

static int pack_value(msgpack_packer *pk, const cJSON *v, int depth)
{
	const cJSON *child;
	size_t n = 0;

	if (depth > MAX_DEPTH)
		return -1;
	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		for (child = v->child; child; child = child->next)
			n++;
	if (cJSON_IsObject(v)) {
		if (msgpack_pack_map(pk, n) != 0)
			return -1;
		for (child = v->child; child; child = child->next) {
			size_t klen = strlen(child->string);

			if (msgpack_pack_str(pk, klen) != 0 ||
			    msgpack_pack_str_body(pk, child->string, klen) != 0 ||
			    pack_value(pk, child, depth + 1) != 0)
				return -1;
		}
		return 0;
	}
	if (cJSON_IsArray(v)) {
		if (msgpack_pack_array(pk, n) != 0)
			return -1;
		for (child = v->child; child; child = child->next)
			if (pack_value(pk, child, depth + 1) != 0)
				return -1;
		return 0;
	}
	if (cJSON_IsString(v)) {
		size_t len = strlen(v->valuestring);

		return msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, v->valuestring, len)
			       ? -1 : 0;
	}
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;

		if (d == floor(d) && fabs(d) < 9007199254740992.0)	/* 2^53 */
			return msgpack_pack_int64(pk, (int64_t)d);
		return msgpack_pack_double(pk, d);
	}
	if (cJSON_IsTrue(v))
		return msgpack_pack_true(pk);
	if (cJSON_IsFalse(v))
		return msgpack_pack_false(pk);
	return msgpack_pack_nil(pk);
}

int codec_encode(const cJSON *doc, enum payload_encoding enc, struct codec_buf *out)
{
	memset(out, 0, sizeof *out);
	if (enc == ENCODING_JSON) {
		out->data = cJSON_PrintUnformatted(doc);
		if (!out->data)
			return -1;
		out->len = strlen(out->data);
		out->content_type = CONTENT_TYPE_JSON;
		return 0;
	}
	{
		msgpack_sbuffer sbuf;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sbuf);
		msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
		if (pack_value(&pk, doc, 0) != 0) {
			msgpack_sbuffer_destroy(&sbuf);
			return -1;
		}
		/* The sbuffer's storage is malloc'd; hand it over as is. */
		out->data = sbuf.data;
		out->len = sbuf.size;
		out->content_type = CONTENT_TYPE_MSGPACK;
		return 0;
	}
}

void codec_buf_free(struct codec_buf *buf)
{
	/* cJSON_Print and msgpack_sbuffer both allocate with malloc. */
	free(buf->data);
	buf->data = NULL;
	buf->len = 0;
}
