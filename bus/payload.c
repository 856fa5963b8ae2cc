/* bus/payload: JSON through cJSON after a strict UTF-8 check (cJSON does not
 * check), MessagePack through msgpack-c's unpacker and a converter into cJSON
 * that enforces the same depth, size and UTF-8 rules, so everything after
 * this file sees one kind of document. */
#include "bus/payload.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <msgpack.h>
#include <string.h>

#include "bus/codec.h"
#include "bus/utf8.h"

bool payload_is_msgpack(const void *data, size_t len, const char *content_type)
{
	unsigned char first = len ? *(const unsigned char *)data : 0;

	if (content_type && strcmp(content_type, CONTENT_TYPE_MSGPACK) == 0)
		return true;
	return (first >= 0x80 && first <= 0x8f) || first == 0xde || first == 0xdf;
}

/* Depth and value count of a parsed JSON document; stops counting past the
 * limits. */
static void json_measure(const cJSON *v, int depth, int *max_depth, long *values)
{
	if (depth > *max_depth)
		*max_depth = depth;
	if (++*values > PAYLOAD_MAX_VALUES || depth > PAYLOAD_MAX_DEPTH)
		return;
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		for (const cJSON *c = v->child; c; c = c->next)
			json_measure(c, depth + 1, max_depth, values);
}

/* True when a string in the JSON text holds the escape \u0000: cJSON would
 * cut the string there (C strings end at NUL), so "RT\u0000x" would read as
 * "RT". MessagePack strings with NUL are refused the same way. */
static bool json_has_nul_escape(const char *p, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '"') {
			in_string = !in_string;
		} else if (in_string && p[i] == '\\' && i + 1 < len) {
			if (p[i + 1] == 'u' && i + 5 < len && memcmp(p + i + 2, "0000", 4) == 0)
				return true;
			i++;	/* the escaped character */
		}
	}
	return false;
}

static int decode_json(const char *data, size_t len, cJSON **out, struct bus_error *err)
{
	const char *end = NULL;
	size_t bad;
	int depth = 0;
	long values = 0;
	cJSON *doc;

	if (!utf8_valid(data, len, &bad))
		return bus_fail(err, REASON_INVALID_ENCODING, "invalid UTF-8 at byte %zu", bad);
	if (json_has_nul_escape(data, len))
		return bus_fail(err, REASON_INVALID_ENCODING, "a JSON string contains NUL (\\u0000)");
	doc = cJSON_ParseWithLengthOpts(data, len, &end, false);
	if (!doc)
		return bus_fail(err, REASON_INVALID_ENCODING,
				"not JSON or MessagePack: parse error at byte %td",
				end ? end - data : (ptrdiff_t)0);
	/* Only white space may follow the value. */
	while (end && (size_t)(end - data) < len && strchr(" \t\r\n", *end) && *end)
		end++;
	if (end && (size_t)(end - data) < len) {
		cJSON_Delete(doc);
		return bus_fail(err, REASON_INVALID_ENCODING,
				"not JSON: unexpected data after the value at byte %td", end - data);
	}
	json_measure(doc, 1, &depth, &values);
	/* The root is level 1, as in mp_to_json(): both encodings allow the
	 * same 32 levels. */
	if (depth > PAYLOAD_MAX_DEPTH || values > PAYLOAD_MAX_VALUES) {
		cJSON_Delete(doc);
		return bus_fail(err, REASON_INVALID_ENCODING,
				values > PAYLOAD_MAX_VALUES ? "more than %d values"
							    : "nested deeper than %d levels",
				values > PAYLOAD_MAX_VALUES ? PAYLOAD_MAX_VALUES : PAYLOAD_MAX_DEPTH);
	}
	*out = doc;
	return 0;
}

struct mp_walk {
	long values;
	struct bus_error *err;
};

static cJSON *mp_to_json(const msgpack_object *o, int depth, struct mp_walk *w);

static cJSON *mp_string(const char *ptr, uint32_t size, struct mp_walk *w)
{
	char *s;
	cJSON *v;

	/* msgpack-c gives an empty string a NULL pointer. */
	if (size == 0)
		return cJSON_CreateString("");
	if (!utf8_valid(ptr, size, NULL)) {
		bus_fail(w->err, REASON_INVALID_ENCODING, "MessagePack string is not valid UTF-8");
		return NULL;
	}
	if (memchr(ptr, '\0', size)) {
		bus_fail(w->err, REASON_INVALID_ENCODING, "MessagePack string contains NUL");
		return NULL;
	}
	s = strndup(ptr, size);
	v = s ? cJSON_CreateString(s) : NULL;
	free(s);
	return v;
}

static cJSON *mp_container(const msgpack_object *o, int depth, struct mp_walk *w)
{
	bool is_map = o->type == MSGPACK_OBJECT_MAP;
	uint32_t n = is_map ? o->via.map.size : o->via.array.size;
	cJSON *c = is_map ? cJSON_CreateObject() : cJSON_CreateArray();

	for (uint32_t i = 0; c && i < n; i++) {
		const msgpack_object *key = is_map ? &o->via.map.ptr[i].key : NULL;
		const msgpack_object *val = is_map ? &o->via.map.ptr[i].val : &o->via.array.ptr[i];
		cJSON *k = NULL, *v;

		if (key && key->type != MSGPACK_OBJECT_STR) {
			bus_fail(w->err, REASON_INVALID_ENCODING, "MessagePack map key is not a string");
			goto fail;
		}
		if (key && !(k = mp_string(key->via.str.ptr, key->via.str.size, w)))
			goto fail;
		v = mp_to_json(val, depth + 1, w);
		if (!v) {
			cJSON_Delete(k);
			goto fail;
		}
		if (k)
			cJSON_AddItemToObject(c, k->valuestring, v);
		else
			cJSON_AddItemToArray(c, v);
		cJSON_Delete(k);
	}
	return c;
fail:
	cJSON_Delete(c);
	return NULL;
}

static cJSON *mp_to_json(const msgpack_object *o, int depth, struct mp_walk *w)
{
	if (++w->values > PAYLOAD_MAX_VALUES) {
		bus_fail(w->err, REASON_INVALID_ENCODING, "more than %d values", PAYLOAD_MAX_VALUES);
		return NULL;
	}
	if (depth > PAYLOAD_MAX_DEPTH) {
		bus_fail(w->err, REASON_INVALID_ENCODING, "nested deeper than %d levels",
			 PAYLOAD_MAX_DEPTH);
		return NULL;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return cJSON_CreateNull();
	case MSGPACK_OBJECT_BOOLEAN:
		return cJSON_CreateBool(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return cJSON_CreateNumber((double)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return cJSON_CreateNumber((double)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64))
			break;
		return cJSON_CreateNumber(o->via.f64);
	case MSGPACK_OBJECT_STR:
		return mp_string(o->via.str.ptr, o->via.str.size, w);
	case MSGPACK_OBJECT_ARRAY:
	case MSGPACK_OBJECT_MAP:
		return mp_container(o, depth, w);
	default:
		break;
	}
	bus_fail(w->err, REASON_INVALID_ENCODING,
		 "MessagePack value has no JSON equivalent (binary, extension or non-finite)");
	return NULL;
}

/* Big-endian unsigned of `n` bytes at `p`. */
static uint64_t be(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Size of the header at p[0] and of the body after it, and how many child
 * values follow (map entries count twice). -1 for the unused byte 0xc1. */
static int mp_header(const unsigned char *p, size_t avail, size_t *head, uint64_t *body,
		     uint64_t *children)
{
	static const unsigned char fixed_body[] = {	/* 0xca..0xd8 */
		4, 8, 1, 2, 4, 8, 1, 2, 4, 8, 2, 3, 5, 9, 17,
	};
	unsigned char b = p[0];
	size_t lenbytes = 0;

	*head = 1;
	*body = *children = 0;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return 0;
	if (b <= 0x8f || (b >= 0x90 && b <= 0x9f)) {
		*children = (uint64_t)(b & 0x0f) * (b <= 0x8f ? 2 : 1);
		return 0;
	}
	if (b <= 0xbf) {
		*body = b & 0x1f;
		return 0;
	}
	if (b >= 0xca && b <= 0xd8) {
		*body = fixed_body[b - 0xca];
		return 0;
	}
	switch (b) {
	case 0xc4: case 0xc7: case 0xd9: lenbytes = 1; break;
	case 0xc5: case 0xc8: case 0xda: case 0xdc: case 0xde: lenbytes = 2; break;
	case 0xc6: case 0xc9: case 0xdb: case 0xdd: case 0xdf: lenbytes = 4; break;
	default: return -1;	/* 0xc1 */
	}
	if (avail < 1 + lenbytes)
		return -1;
	*head = 1 + lenbytes;
	if (b == 0xdc || b == 0xdd)
		*children = be(p + 1, lenbytes);
	else if (b == 0xde || b == 0xdf)
		*children = be(p + 1, lenbytes) * 2;
	else
		*body = be(p + 1, lenbytes) + (b >= 0xc7 && b <= 0xc9);	/* ext: +type */
	return 0;
}

/* msgpack-c allocates what a container header declares before it reads the
 * elements, so 5 bytes claiming 2^32 entries cost it gigabytes. Walk the
 * headers first: every declared element needs at least one byte, and the
 * whole payload at most PAYLOAD_MAX_VALUES values. */
static int mp_precheck(const unsigned char *p, size_t len, struct bus_error *err)
{
	size_t pos = 0, head;
	uint64_t pending = 1, values = 0, body, children;

	while (pending > 0) {
		if (pos >= len || mp_header(p + pos, len - pos, &head, &body, &children) != 0)
			return bus_fail(err, REASON_INVALID_ENCODING, "not MessagePack: %s at byte %zu",
					pos >= len ? "truncated" : "invalid header", pos);
		pos += head;
		pending--;
		if (++values > PAYLOAD_MAX_VALUES)
			return bus_fail(err, REASON_INVALID_ENCODING, "more than %d values",
					PAYLOAD_MAX_VALUES);
		if (body > len - pos)
			return bus_fail(err, REASON_INVALID_ENCODING,
					"not MessagePack: truncated at byte %zu", pos);
		pos += body;
		pending += children;
		if (pending > len - pos)
			return bus_fail(err, REASON_INVALID_ENCODING,
					"not MessagePack: declares more elements than it has bytes");
	}
	if (pos != len)
		return bus_fail(err, REASON_INVALID_ENCODING,
				"not MessagePack: unexpected data after the value at byte %zu", pos);
	return 0;
}

static int decode_msgpack(const char *data, size_t len, cJSON **out, struct bus_error *err)
{
	msgpack_unpacked up;
	size_t off = 0;
	struct mp_walk w = { 0, err };
	int rc;

	if (mp_precheck((const unsigned char *)data, len, err) != 0)
		return -1;
	msgpack_unpacked_init(&up);
	rc = msgpack_unpack_next(&up, data, len, &off);
	if (rc != MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&up);
		return bus_fail(err, REASON_INVALID_ENCODING, "not MessagePack: %s",
				rc == MSGPACK_UNPACK_CONTINUE ? "truncated"
				: rc == MSGPACK_UNPACK_NOMEM_ERROR ? "too deep or too large"
								    : "parse error");
	}
	if (off != len) {
		msgpack_unpacked_destroy(&up);
		return bus_fail(err, REASON_INVALID_ENCODING,
				"not MessagePack: unexpected data after the value at byte %zu", off);
	}
	*out = mp_to_json(&up.data, 1, &w);
	msgpack_unpacked_destroy(&up);
	return *out ? 0 : -1;
}

int payload_decode(const void *data, size_t len, const char *content_type, size_t max_len,
		   cJSON **out, struct bus_error *err)
{
	*out = NULL;
	if (len > max_len)
		return bus_fail(err, REASON_TOO_LARGE, "payload of %zu bytes exceeds the limit of %zu",
				len, max_len);
	if (len == 0)
		return bus_fail(err, REASON_INVALID_ENCODING, "empty payload");
	if (payload_is_msgpack(data, len, content_type))
		return decode_msgpack(data, len, out, err);
	return decode_json(data, len, out, err);
}
