/* handlers/notes: the notes agentbus writes back (docs/CONTRACT.md section 6):
 * thread notes, replies, failure notes, callbacks and the inbound marker, as
 * note writes ready to publish. Pure builders: no bus, no state. Every
 * metadata value is a string, as the reference writes them. */
#ifndef AB_HANDLERS_NOTES_H
#define AB_HANDLERS_NOTES_H

#include <stdbool.h>

struct cJSON;

/* Longest turn failure reason quoted in a failure note. */
#define FAILURE_REASON_MAX 240
/* A callback is written only below this incoming delegation depth. */
#define MAX_DELEGATION_DEPTH 8

/* The longest subject part of a thread key; longer ones are shortened. */
#define THREAD_SUBJECT_MAX 200

/* The reference's threadKey: safe(name), plus "--" and the safe, trimmed
 * subject when it is not blank (NULL: none), shortened past
 * THREAD_SUBJECT_MAX bytes. The last level of a thread note's path and, in
 * lower case, the drain key of a multi-threaded agent's subject.
 * malloc'd, NULL when out of memory. */
char *notes_thread_key(const char *name, const char *subject);

/* upsert of a thread note: tags [agent/thread], `metadata` taken; `id` is
 * proposed for the first write. */
struct cJSON *notes_thread_write(const char *request_id, const char *path, const char *id,
				 struct cJSON *metadata);

/* A message note object {id, path, content, tags, metadata} in the channel of
 * `channel`: inbound (agent/message + agent/message/inbound) or outbound;
 * `metadata` taken. */
struct cJSON *notes_message(const char *id, const char *channel, const char *content,
			    bool outbound, struct cJSON *metadata);

/* The failure note's content for `reason`; malloc'd. */
char *notes_failure_text(const char *reason);
/* The callback note's content; malloc'd. */
char *notes_callback_text(const char *agent, bool ok);

/* patch of the inbound note: metadata {agentbus_rendered_at: at}. */
struct cJSON *notes_marker_write(const char *request_id, const char *inbound_id, const char *at);

/* Adds `key: value` to `obj` when `value` is not NULL. Returns false only
 * when out of memory. */
bool notes_add(struct cJSON *obj, const char *key, const char *value);
/* Adds `key: "<n>"` when `n` is not zero. */
bool notes_add_count(struct cJSON *obj, const char *key, long long n);

/* The demo agent's definition note: `eng` on the echo engine, offered once
 * on a first start (runtime_offer_demo). */
struct cJSON *notes_demo_definition(const char *request_id);

#endif
