/* bench/load: the benchmarks' pipelined load client (see load.h). */
#include "bench/load.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/measure.h"

#define SYS_RECEIVED "$SYS/broker/publish/messages/received"
#define SYS_SENT "$SYS/broker/publish/messages/sent"

struct load {
	struct mosquitto *mosq;
	bool connected;
	int subacks;
	/* the broker's counters, as last published, and how many updates */
	struct load_sys sys;
	long rx_updates, tx_updates;
	struct load_sys quiet;	/* the last settled sample */
	long quiet_rx;
	bool quiet_valid;
	/* the run in progress */
	load_publish_fn *publish;
	load_match_fn *match;
	void *arg;
	long n, sent, done;
	int64_t *lat, started;
	bool failed;
};

static void die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	exit(1);
}

static void pump(struct load *l, int timeout_ms)
{
	int rc = mosquitto_loop(l->mosq, timeout_ms, 1);

	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "bench: connection: %s\n", mosquitto_strerror(rc));
		exit(1);
	}
}

static void on_connect(struct mosquitto *m, void *arg, int rc, int flags,
		       const mosquitto_property *p)
{
	struct load *l = arg;

	(void)m;
	(void)flags;
	(void)p;
	if (rc != 0)
		die("the broker refused the connection");
	l->connected = true;
}

static void on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *granted,
			 const mosquitto_property *p)
{
	struct load *l = arg;

	(void)m;
	(void)mid;
	(void)p;
	if (n < 1 || granted[0] > 2)
		die("a subscription was refused");
	l->subacks++;
}

static void next_item(struct load *l)
{
	if (l->sent >= l->n || l->failed)
		return;
	if (l->lat)
		l->started = now_ns();
	if (l->publish(l, l->sent, l->arg) != 0)
		l->failed = true;
	else
		l->sent++;
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg,
		       const mosquitto_property *p)
{
	struct load *l = arg;

	(void)m;
	(void)p;
	if (strncmp(msg->topic, "$SYS/", 5) == 0) {
		long v = msg->payloadlen > 0 ? strtol(msg->payload, NULL, 10) : 0;

		l->sys.own++;
		if (strcmp(msg->topic, SYS_RECEIVED) == 0) {
			l->sys.received = v;
			l->rx_updates++;
		} else if (strcmp(msg->topic, SYS_SENT) == 0) {
			l->sys.sent = v;
			l->tx_updates++;
		}
		return;
	}
	if (!l->match || l->done >= l->n || !l->match(msg, p, l->arg))
		return;
	if (l->lat)
		l->lat[l->done] = now_ns() - l->started;
	l->done++;
	next_item(l);
}

struct load *load_open(int port, const char *client_id)
{
	struct load *l = calloc(1, sizeof *l);

	if (!l)
		die("out of memory");
	mosquitto_lib_init();
	l->mosq = mosquitto_new(client_id, true, l);
	if (!l->mosq ||
	    mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5) != 0 ||
	    mosquitto_int_option(l->mosq, MOSQ_OPT_TCP_NODELAY, 1) != 0 ||
	    mosquitto_int_option(l->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, 65535) != 0)
		die("cannot create the load client");
	mosquitto_connect_v5_callback_set(l->mosq, on_connect);
	mosquitto_subscribe_v5_callback_set(l->mosq, on_subscribe);
	mosquitto_message_v5_callback_set(l->mosq, on_message);
	if (mosquitto_connect_bind_v5(l->mosq, "127.0.0.1", port, 60, NULL, NULL) != 0)
		die("cannot connect to the broker");
	for (int64_t until = now_ns() + 10 * 1000000000LL; !l->connected; pump(l, 100))
		if (now_ns() > until)
			die("no CONNACK");
	load_subscribe(l, SYS_RECEIVED);
	load_subscribe(l, SYS_SENT);
	return l;
}

void load_close(struct load *l)
{
	if (!l)
		return;
	mosquitto_disconnect(l->mosq);
	mosquitto_loop(l->mosq, 10, 1);
	mosquitto_destroy(l->mosq);
	free(l);
}

void load_subscribe(struct load *l, const char *filter)
{
	int want = l->subacks + 1;

	if (mosquitto_subscribe_v5(l->mosq, NULL, filter, 1, 0, NULL) != 0)
		die("cannot subscribe");
	for (int64_t until = now_ns() + 10 * 1000000000LL; l->subacks < want; pump(l, 100))
		if (now_ns() > until)
			die("no SUBACK");
}

int load_publish(struct load *l, const char *topic, const void *payload, size_t len,
		 const char *content_type, const char *response_topic)
{
	mosquitto_property *props = NULL;
	int rc = 0;

	l->quiet_valid = false;	/* the counters move again */
	if (content_type &&
	    mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, content_type) != 0)
		rc = -1;
	if (rc == 0 && response_topic &&
	    (mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic) ||
	     mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, "c", 1)))
		rc = -1;
	if (rc == 0 && mosquitto_publish_v5(l->mosq, NULL, topic, (int)len, payload, 1, false,
					    props) != 0)
		rc = -1;
	mosquitto_property_free_all(&props);
	return rc;
}

long load_run(struct load *l, long n, int window, load_publish_fn *publish,
	      load_match_fn *match, void *arg, int64_t *lat, int timeout_ms)
{
	int64_t until = now_ns() + (int64_t)timeout_ms * 1000000;
	long done;

	l->publish = publish;
	l->match = match;
	l->arg = arg;
	l->n = n;
	l->sent = l->done = 0;
	l->lat = window == 1 ? lat : NULL;
	l->failed = false;
	for (int i = 0; i < window; i++)
		next_item(l);
	while (l->done < n && !l->failed && now_ns() < until)
		pump(l, 50);
	done = l->done;
	l->match = NULL;
	l->lat = NULL;
	return done;
}

/* $SYS values are published when they change, at most once per interval:
 * `received` is settled once an interval has passed without an update. The
 * `sent` counter never settles (its own updates to this client move it), so
 * it is taken from the next update after that, with those updates counted
 * in `own`. */
void load_sys_quiet(struct load *l, struct load_sys *out)
{
	long rx, tx;

	if (l->quiet_valid && l->rx_updates == l->quiet_rx) {
		*out = l->quiet;
		return;
	}
	do {
		int64_t until = now_ns() + 1200 * 1000000LL;

		rx = l->rx_updates;
		while (now_ns() < until)
			pump(l, 100);
	} while (l->rx_updates != rx);
	tx = l->tx_updates;
	for (int64_t until = now_ns() + 5 * 1000000000LL; l->tx_updates == tx; pump(l, 100))
		if (now_ns() > until)
			die("no $SYS update within 5 s (is sys_interval 1 set?)");
	l->quiet = l->sys;
	l->quiet_rx = l->rx_updates;
	l->quiet_valid = true;
	*out = l->sys;
}

long load_sys_messages(const struct load_sys *a, const struct load_sys *b)
{
	return (b->received - a->received) + (b->sent - a->sent) - (b->own - a->own);
}
