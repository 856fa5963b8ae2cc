/* console: the live feed behind the web console. The daemon's loop pushes
 * what agentbus publishes (registry entries, turn events, dead letters, its
 * status) and the agents' load into it as Server-Sent Events, numbered; the
 * last CONSOLE_RING of them are kept, so a page that reconnects with
 * Last-Event-ID misses nothing still kept. Each browser has a buffer of what
 * it has not read yet, filled on the loop and never waited for: one that
 * falls more than the client limit behind is dropped. Nothing here touches
 * MQTT, SQLite or the network: web.c reads the clients' buffers. What a
 * page gets when it attaches does not count against its limit. */
#ifndef AB_DAEMON_CONSOLE_H
#define AB_DAEMON_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_RING 2048
#define CONSOLE_RING_BYTES (8u << 20)	/* and at most this much of them */

struct console;
struct console_client;

/* `client_limit`: bytes a browser may be behind before it is dropped. */
int console_open(size_t client_limit, struct console **out);
void console_close(struct console *c);

/* One event of kind `kind` ("agent", "turn", "deadletter", "status", "load")
 * with `json` as its data (one line of JSON). Kept in the ring; "agent"
 * (the entry of agent `agent`) and "status" are also remembered, the latest
 * of each, for new pages. */
void console_publish(struct console *c, const char *kind, const char *agent, const char *json);
/* An agent's registry entry was removed. */
void console_forget_agent(struct console *c, const char *name);
/* A comment line to every page, so proxies keep idle streams open. */
void console_keepalive(struct console *c);

/* A new page. With `last_id` (has_last), the events after it when still
 * kept and within half the client limit; otherwise a "reset", who it talks
 * to, every agent's entry, the status, then the newest kept events that fit
 * in half the limit. `wake` is called when the client has bytes to read or
 * was dropped. NULL when out of memory. */
struct console_client *console_attach(struct console *c, bool has_last, uint64_t last_id,
				      void (*wake)(void *arg), void *wake_arg);
/* Copies up to `max` pending bytes; 0 when none. */
size_t console_read(struct console_client *cl, char *buf, size_t max);
/* Whether it fell behind and was dropped: its stream must end. */
bool console_dropped(const struct console_client *cl);
void console_detach(struct console_client *cl);

/* Wakes every page (before the server stops: it ends their streams). */
void console_wake_all(struct console *c);

/* Pages attached now, and pages dropped since the start. */
size_t console_clients(const struct console *c);
uint64_t console_drops(const struct console *c);

#endif
