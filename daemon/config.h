/* config: every setting of the daemon, from defaults, a config file and the
 * command line, in that order of precedence (the command line wins). */
#ifndef AB_DAEMON_CONFIG_H
#define AB_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bus/codec.h"
#include "bus/trigger.h"

/* When to run a private mosquitto instead of connecting to a broker. */
enum embedded_broker { EMBEDDED_AUTO, EMBEDDED_YES, EMBEDDED_NO };

struct config {
	char *config_file;	/* -c; NULL when none */
	char *host;
	int port;
	char *username;		/* NULL: connect anonymously */
	char *password;
	char *password_file;	/* wins over password */
	char *root;		/* topic root R */
	char *vault;		/* vault name V */
	char *engine;
	char *state_dir;
	char *id;		/* instance id; NULL until resolved from the host name */
	enum payload_encoding encoding;
	bool no_store;
	bool no_demo;		/* no demo agent on a first start */
	char *vault_url;	/* a real vault to bridge; NULL: the embedded store */
	char *vault_token_file;
	char *hook_token_file;	/* the webhooks' bearer; NULL: loopback only */
	char *hook_url;		/* NULL: derived from --http */
	int vault_feed;		/* 0: on, 1: off (the order of the option's choices) */
	bool register_triggers;	/* register them, then exit */
	char *http;		/* [ADDR:]PORT of the console, /metrics and health; NULL: off */
	char *http_token_file;	/* the console's token; needed off 127.0.0.1 */
	bool console_send;	/* the console may send to inboxes */
	bool verbose;
	int keepalive;		/* seconds */
	int session_expiry;	/* seconds */
	int reconnect_max;	/* seconds, cap of the reconnect backoff */
	enum embedded_broker embedded_broker;
	char *mosquitto;	/* broker binary for the embedded broker */
	bool test_config;	/* --test-config: check and exit */
	int max_payload;	/* bytes; larger inputs are dead letters */
	int max_turns;		/* turns running at once, all agents */
	int queue_limit;	/* waiting turns per drain key */
	int max_queued;		/* waiting turns, all keys */
	int turn_timeout;	/* seconds, unless a definition says otherwise */
	int echo_delay;		/* milliseconds the echo engine waits */
	char *gate;		/* FIFO of the test engine "gate"; NULL: none */
	struct str_list triggers;	/* `trigger` specs, applied over the defaults */
	struct str_list engine_defs;	/* `engine-def` specs, checked; later names win */
	int sandbox;		/* 0: on, 1: off (the order of the option's choices) */
	char *sandbox_bwrap;
	char *sandbox_user;	/* sandboxes' user when the daemon is root */
	int sandbox_pids;
	struct str_list sandbox_binds;	/* read-only in every sandbox */

	bool store_only;	/* the embedded store and nothing else (no agents) */
	char *fleet;		/* --fleet NAME; NULL: a lone instance */
	int partitions;		/* the fleet's partition count */
	int fleet_partition;	/* -1, or the partition this process serves (set by the fleet) */
	int drain_timeout;	/* seconds a handed-over partition waits for its turns */
	char *fleet_instance;	/* a partition's process: the instance that runs it */

	bool host_set, port_set;	/* given explicitly, not defaulted */
};

/* What config_parse_args() decided the process should do. */
enum config_action {
	CONFIG_RUN,
	CONFIG_HELP,
	CONFIG_VERSION,
	CONFIG_ERROR,		/* message already written to the error stream */
};

/* Fills `cfg` from defaults, the -c file, then argv. Errors are written to
 * `err` as "FILE:LINE: message" or "agentbus: --option: message".
 * The caller frees `cfg` with config_free() whatever the result. */
enum config_action config_parse_args(struct config *cfg, int argc, char **argv, FILE *err);

/* Sets option `name` (its long name) to `value` with the same checks as the
 * command line. Returns 0, or -1 with a message in `msg`. */
int config_set(struct config *cfg, const char *name, const char *value, char *msg,
	       size_t msglen);

/* Applies `key value` lines from `path` on top of `cfg`. Returns 0 or -1
 * after writing "path:line: message" to `err`. */
int config_load_file(struct config *cfg, const char *path, FILE *err);

/* Sets the defaults; the instance id stays NULL until config_resolve(). */
void config_defaults(struct config *cfg);

/* Fills what depends on the machine (instance id from the host name). */
int config_resolve(struct config *cfg, FILE *err);

/* A fleet's partition process (fleet_partition >= 0): its own instance id
 * (<instance>-p<N>: its status topic and the client id it publishes with), state dir (<state-dir>/fleet/p<N>), no web server, no
 * store. Returns 0 or -1 (out of memory). */
int config_fleet_child(struct config *cfg);

/* True when the daemon should start its own private broker. */
bool config_wants_embedded_broker(const struct config *cfg);

void config_print_help(FILE *out);
void config_free(struct config *cfg);

#endif
