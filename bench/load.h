/* bench/load: a pipelined MQTT v5 load client for the benchmarks: keeps a
 * window of items in flight, counts completions, reads the broker's $SYS
 * counters. One thread; libmosquitto's own loop drives the socket. */
#ifndef AB_BENCH_LOAD_H
#define AB_BENCH_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto.h>

struct load;

/* Publishes item `i` of a run. Returns 0, or -1 to abandon the run. */
typedef int load_publish_fn(struct load *l, long i, void *arg);
/* Whether `m` completes one item in flight. */
typedef bool load_match_fn(const struct mosquitto_message *m, const mosquitto_property *props,
			   void *arg);

/* Connects to 127.0.0.1:port with TCP_NODELAY and a receive maximum of
 * 65,535, subscribed to the broker's publish counters. Exits on failure. */
struct load *load_open(int port, const char *client_id);
void load_close(struct load *l);
/* Subscribes at QoS 1 and waits for the SUBACK. */
void load_subscribe(struct load *l, const char *filter);
/* A QoS 1 publish; `content_type` and `response_topic` (with correlation
 * data "c") may be NULL. */
int load_publish(struct load *l, const char *topic, const void *payload, size_t len,
		 const char *content_type, const char *response_topic);

/* Runs `n` items with at most `window` in flight: publishes the first
 * `window`, one more per completion. With `lat` (window 1), each item's
 * publish-to-completion time in ns. Returns the items completed before
 * `timeout_ms` ran out. */
long load_run(struct load *l, long n, int window, load_publish_fn *publish,
	      load_match_fn *match, void *arg, int64_t *lat, int timeout_ms);

/* The broker's publish counters once nothing moves any more (the broker
 * must run with sys_interval 1). `own` is how many $SYS messages this client
 * received, so they can be left out. */
struct load_sys {
	long received, sent, own;
};
void load_sys_quiet(struct load *l, struct load_sys *out);
/* Messages the broker handled between two samples (PUBLISH in and out),
 * not counting the $SYS updates sent to this client. */
long load_sys_messages(const struct load_sys *a, const struct load_sys *b);

#endif
