/* rig: a broker, an agentbus on it (with its embedded store) and a client
 * subscribed to everything, for the end-to-end tests of the pipeline. */
#ifndef AB_TEST_RIG_H
#define AB_TEST_RIG_H

#include "test/harness.h"

struct cJSON;

struct rig {
	struct th_broker broker;
	struct th_daemon daemon;
	struct th_client client;	/* subscribed to '#' */
	char *state;
	char port[16];
	const char *id;			/* instance id */
	bool persistence;		/* the broker saves its state */
};

/* Starts broker, client and daemon (with `extra` args, NULL-terminated or
 * NULL) and waits for the daemon's status. */
void rig_start(struct rig *r, const char *const *extra);
/* Starts the daemon again on the same state after it exited by itself (and
 * was freed); waits for its status. */
void rig_start_daemon(struct rig *r, const char *const *extra);
/* Stops the daemon (must exit 0) and starts it again on the same state. */
void rig_restart_daemon(struct rig *r, const char *const *extra);
void rig_stop(struct rig *r);

/* The next message on `topic` containing `text` (NULL: any), its payload
 * parsed as JSON and checked against schemas/<schema>.schema.json (NULL:
 * not checked). Fails the program when nothing comes. Free with cJSON_Delete. */
struct cJSON *rig_expect(struct rig *r, const char *topic, const char *schema, const char *text);

/* Registers agent `name` from definition note "d-<name>", written through
 * the embedded store, and waits for its registry entry to say enabled. */
void rig_define(struct rig *r, const char *name);

/* Writes an inbound note `id` for `agent` through the store; `meta` is extra
 * JSON members of its metadata (may be ""). */
void rig_send_inbound(struct rig *r, const char *id, const char *agent, const char *content,
		      const char *meta);
/* Waits for the marker on inbound note `id`, the last write of its turn:
 * then every event the turn caused is queued in the client. */
void rig_wait_turn_end(struct rig *r, const char *inbound_id);
/* The last message on `topic` containing `text` and `also` (NULL:
 * anything), parsed; NULL if none came. Waits up to `wait_ms` for the first
 * one, then takes the rest as they stand, all off the queue. rig_latest()
 * waits TH_TIMEOUT_MS: for what is known to come. */
struct cJSON *rig_latest_with(struct rig *r, const char *topic, const char *text,
			      const char *also, int wait_ms);
struct cJSON *rig_latest(struct rig *r, const char *topic, const char *text);
/* A metadata value of the note in event `ev`. */
const char *rig_meta(const struct cJSON *ev, const char *key);
/* asprintf that cannot fail (the program stops). */
char *rig_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* rig_start() with a gate FIFO for the "gate" engine: `extra` must begin
 * with "--gate", NULL (filled in here). Returns the FIFO's path (malloc'd). */
char *rig_start_gated(struct rig *r, const char **extra);
/* rig_define() with extra JSON members of the metadata (may be ""). */
void rig_define_meta(struct rig *r, const char *name, const char *meta);

/* The reply (or failure) note of inbound `id` on `agent`, schema-checked,
 * after waiting for the end of its turn. Free with cJSON_Delete. */
struct cJSON *rig_reply(struct rig *r, const char *agent, const char *id);
/* The streamed text events of `agent`'s turn `id` that are queued, joined in
 * order (malloc'd); checks that their seq counts from 1. */
char *rig_streamed_text(struct rig *r, const char *agent, const char *id);

/* The address (HOST:PORT, at most 63 characters) the daemon's log says its
 * --http serves on; waits for that line. */
void rig_http_addr(struct rig *r, char addr[64]);

/* A string in `doc` at key `a` (and then `b`, when not NULL). */
const char *rig_str(const struct cJSON *doc, const char *a, const char *b);

#endif
