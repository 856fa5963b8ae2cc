/* bus/client: libmosquitto driven with mosquitto_loop() from the caller's
 * waits; received messages queue until bus_client_next takes them. */
#include "bus/client.h"

#include <errno.h>
#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <msgpack.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/secret.h"

struct queued_msg {
	struct bus_client_msg m;
	struct queued_msg *next;
};

struct bus_client {
	struct mosquitto *mosq;
	int timeout_ms;
	int connack;		/* -1 until the CONNACK */
	bool lost;
	int acked_mid, ack_rc;	/* the latest PUBACK */
	int subacked_mid, suback_rc;
	struct queued_msg *head, *tail;
};

static void on_connect(struct mosquitto *m, void *arg, int rc, int flags,
		       const mosquitto_property *p)
{
	struct bus_client *c = arg;

	(void)m;
	(void)flags;
	(void)p;
	c->connack = rc;
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc, const mosquitto_property *p)
{
	struct bus_client *c = arg;

	(void)m;
	(void)rc;
	(void)p;
	c->lost = true;
}

static void on_publish(struct mosquitto *m, void *arg, int mid, int rc,
		       const mosquitto_property *p)
{
	struct bus_client *c = arg;

	(void)m;
	(void)p;
	c->acked_mid = mid;
	c->ack_rc = rc;
}

static void on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *granted,
			 const mosquitto_property *p)
{
	struct bus_client *c = arg;

	(void)m;
	(void)p;
	c->subacked_mid = mid;
	c->suback_rc = n > 0 ? granted[0] : 0x80;
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg,
		       const mosquitto_property *p)
{
	struct bus_client *c = arg;
	struct queued_msg *q = calloc(1, sizeof *q);
	void *corr = NULL;
	uint16_t corr_len = 0;

	(void)m;
	if (!q)
		return;
	q->m.topic = strdup(msg->topic);
	q->m.payload = malloc((size_t)msg->payloadlen + 1);
	if (!q->m.topic || !q->m.payload) {
		bus_client_msg_free(&q->m);
		free(q);
		return;
	}
	if (msg->payloadlen > 0)
		memcpy(q->m.payload, msg->payload, (size_t)msg->payloadlen);
	q->m.payload[msg->payloadlen] = '\0';
	q->m.len = (size_t)msg->payloadlen;
	q->m.retain = msg->retain;
	if (mosquitto_property_read_binary(p, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len, false)) {
		q->m.correlation = strndup(corr, corr_len);
		free(corr);
	}
	if (c->tail)
		c->tail->next = q;
	else
		c->head = q;
	c->tail = q;
}

/* Runs the network until `done(c, arg)` or the deadline; false on timeout or loss. */
static bool drive(struct bus_client *c, bool (*done)(struct bus_client *, int), int arg,
		  int64_t deadline)
{
	while (!done(c, arg)) {
		int64_t left = deadline < 0 ? 1000 : deadline - clock_mono_ms();

		if (c->lost || left <= 0)
			return false;
		if (mosquitto_loop(c->mosq, (int)(left < 1000 ? left : 1000), 1) != MOSQ_ERR_SUCCESS &&
		    !done(c, arg)) {
			c->lost = true;
			return false;
		}
	}
	return true;
}

static bool got_connack(struct bus_client *c, int unused)
{
	(void)unused;
	return c->connack >= 0;
}

int bus_client_connect(const struct bus_client_options *opt, struct bus_client **out, char *err,
		       size_t errlen)
{
	struct bus_client *c = calloc(1, sizeof *c);
	unsigned char pw[65536];
	size_t pw_len;
	int rc;

	*out = NULL;
	mosquitto_lib_init();
	if (!c || !(c->mosq = mosquitto_new(NULL, true, c))) {
		snprintf(err, errlen, "out of memory");
		free(c);
		return -1;
	}
	c->connack = -1;
	c->timeout_ms = opt->timeout_ms;
	mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(c->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(c->mosq, on_disconnect);
	mosquitto_publish_v5_callback_set(c->mosq, on_publish);
	mosquitto_subscribe_v5_callback_set(c->mosq, on_subscribe);
	mosquitto_message_v5_callback_set(c->mosq, on_message);
	if (opt->password_file) {
		if (secret_read(opt->password_file, pw, sizeof pw, &pw_len, err, errlen) != 0)
			goto fail;
		rc = mosquitto_username_pw_set(c->mosq, opt->username, (char *)pw);
		memset(pw, 0, sizeof pw);
	} else {
		rc = opt->username || opt->password
			     ? mosquitto_username_pw_set(c->mosq, opt->username, opt->password)
			     : 0;
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot use these credentials: %s", mosquitto_strerror(rc));
		goto fail;
	}
	rc = mosquitto_connect_bind_v5(c->mosq, opt->host, opt->port, 30, NULL, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot connect to %s:%d: %s", opt->host, opt->port,
			 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		goto fail;
	}
	if (!drive(c, got_connack, 0, clock_mono_ms() + opt->timeout_ms)) {
		snprintf(err, errlen, "no answer from the broker at %s:%d", opt->host, opt->port);
		goto fail;
	}
	if (c->connack != 0) {
		snprintf(err, errlen, "the broker at %s:%d refused the connection: %s", opt->host,
			 opt->port, mosquitto_reason_string(c->connack));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	bus_client_close(c);
	return -1;
}

static bool got_suback(struct bus_client *c, int mid)
{
	return c->subacked_mid == mid;
}

int bus_client_subscribe(struct bus_client *c, const char *filter, char *err, size_t errlen)
{
	int mid = 0;

	if (mosquitto_subscribe_v5(c->mosq, &mid, filter, 1, 0, NULL) != 0 ||
	    !drive(c, got_suback, mid, clock_mono_ms() + c->timeout_ms)) {
		snprintf(err, errlen, "no answer to the subscription to %s", filter);
		return -1;
	}
	if (c->suback_rc >= 0x80) {
		snprintf(err, errlen, "the broker refused the subscription to %s: %s", filter,
			 mosquitto_reason_string(c->suback_rc));
		return -1;
	}
	return 0;
}

static bool got_puback(struct bus_client *c, int mid)
{
	return c->acked_mid == mid;
}

int bus_client_publish(struct bus_client *c, const char *topic, const char *payload, size_t len,
		       const char *response_topic, const char *correlation, char *err,
		       size_t errlen)
{
	mosquitto_property *props = NULL;
	int mid = 0, rc = 0;

	if (response_topic)
		rc = mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic);
	if (rc == 0 && correlation)
		rc = mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation,
						   (uint16_t)strlen(correlation));
	if (rc == 0)
		rc = mosquitto_publish_v5(c->mosq, &mid, topic, (int)len, payload, 1, false, props);
	mosquitto_property_free_all(&props);
	if (rc != 0) {
		snprintf(err, errlen, "cannot publish on %s: %s", topic, mosquitto_strerror(rc));
		return -1;
	}
	if (!drive(c, got_puback, mid, clock_mono_ms() + c->timeout_ms)) {
		snprintf(err, errlen, "no answer to the publish on %s", topic);
		return -1;
	}
	if (c->ack_rc >= 0x80) {
		snprintf(err, errlen, "the broker refused the publish on %s: %s", topic,
			 mosquitto_reason_string(c->ack_rc));
		return -1;
	}
	return 0;
}

static bool got_message(struct bus_client *c, int unused)
{
	(void)unused;
	return c->head != NULL;
}

int bus_client_next(struct bus_client *c, struct bus_client_msg *out, int timeout_ms)
{
	struct queued_msg *q;

	if (!drive(c, got_message, 0, timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms))
		return c->lost && !c->head ? -1 : 0;
	q = c->head;
	c->head = q->next;
	if (!c->head)
		c->tail = NULL;
	*out = q->m;
	free(q);
	return 1;
}

void bus_client_msg_free(struct bus_client_msg *m)
{
	free(m->topic);
	free(m->payload);
	free(m->correlation);
	memset(m, 0, sizeof *m);
}

void bus_client_close(struct bus_client *c)
{
	if (!c)
		return;
	if (c->mosq) {
		if (c->connack == 0 && !c->lost) {
			mosquitto_disconnect(c->mosq);
			mosquitto_loop(c->mosq, 100, 1);
		}
		mosquitto_destroy(c->mosq);
	}
	while (c->head) {
		struct queued_msg *q = c->head;

		c->head = q->next;
		bus_client_msg_free(&q->m);
		free(q);
	}
	free(c);
	mosquitto_lib_cleanup();
}

bool bus_topic_matches(const char *filter, const char *topic)
{
	bool result = false;

	return mosquitto_topic_matches_sub(filter, topic, &result) == MOSQ_ERR_SUCCESS && result;
}

void bus_library_versions(char *buf, size_t len)
{
	int major, minor, rev;

	mosquitto_lib_version(&major, &minor, &rev);
	snprintf(buf, len, "libmosquitto %d.%d.%d, msgpack-c %s, cJSON %s", major, minor, rev,
		 msgpack_version(), cJSON_Version());
}
