/* fleet/forward: "ABF1", packet id (2 bytes, big-endian), QoS, retain, then
 * topic, response topic, content type (each a 4-byte length and its bytes,
 * the terminating NUL included; length 0: absent) and correlation data (a
 * length and its bytes), then the payload to the end. A string carries its
 * NUL so the partition can point into the received buffer. */
#include "fleet/forward.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "ABF1"
#define MAGIC_LEN 4
#define HEAD_LEN (MAGIC_LEN + 4)

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static char *put_field(char *p, const void *data, size_t len)
{
	p[0] = (char)(len >> 24);
	p[1] = (char)(len >> 16);
	p[2] = (char)(len >> 8);
	p[3] = (char)len;
	if (len)
		memcpy(p + 4, data, len);
	return p + 4 + len;
}

int fleet_forward_encode(const struct bus_message *m, char **out, size_t *out_len)
{
	size_t topic = str_size(m->topic), rt = str_size(m->response_topic);
	size_t ct = str_size(m->content_type), n = HEAD_LEN + 16 + topic + rt + ct +
						      m->correlation_len + m->len;
	char *buf = malloc(n ? n : 1), *p = buf;

	if (!buf)
		return -1;
	memcpy(p, MAGIC, MAGIC_LEN);
	p[4] = (char)(m->mid >> 8);
	p[5] = (char)m->mid;
	p[6] = (char)m->qos;
	p[7] = m->retain ? 1 : 0;
	p = put_field(p + HEAD_LEN, m->topic, topic);
	p = put_field(p, m->response_topic, rt);
	p = put_field(p, m->content_type, ct);
	p = put_field(p, m->correlation, m->correlation_len);
	if (m->len)
		memcpy(p, m->payload, m->len);
	*out = buf;
	*out_len = n;
	return 0;
}

/* One field at `*at`; a string (`text`) must end with its only NUL. */
static int take_field(const unsigned char *buf, size_t len, size_t *at, bool text,
		      const void **data, size_t *n)
{
	size_t f;

	if (len - *at < 4)
		return -1;
	f = (size_t)buf[*at] << 24 | (size_t)buf[*at + 1] << 16 | (size_t)buf[*at + 2] << 8 |
	    buf[*at + 3];
	*at += 4;
	if (f > len - *at)
		return -1;
	if (text && f && (buf[*at + f - 1] != '\0' || memchr(buf + *at, '\0', f - 1)))
		return -1;
	*data = f ? buf + *at : NULL;
	*n = f;
	*at += f;
	return 0;
}

int fleet_forward_decode(const void *buf, size_t len, struct bus_message *m)
{
	const unsigned char *b = buf;
	const void *topic, *rt, *ct, *corr;
	size_t at = HEAD_LEN, n;

	if (len < HEAD_LEN || memcmp(b, MAGIC, MAGIC_LEN) != 0 || b[6] > 2 || b[7] > 1 ||
	    take_field(b, len, &at, true, &topic, &n) != 0 || n < 2 ||
	    take_field(b, len, &at, true, &rt, &n) != 0 ||
	    take_field(b, len, &at, true, &ct, &n) != 0 ||
	    take_field(b, len, &at, false, &corr, &m->correlation_len) != 0)
		return -1;
	m->mid = b[4] << 8 | b[5];
	m->qos = b[6];
	m->retain = b[7] == 1;
	m->topic = topic;
	m->response_topic = rt;
	m->content_type = ct;
	m->correlation = corr;
	m->payload = b + at;
	m->len = len - at;
	return 0;
}
