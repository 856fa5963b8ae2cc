/* cli: the subcommands people type: agentbus ask, agents, status, tail.
 * Each takes the daemon's connection options (-h -p -u -P --password-file
 * --root --vault, -c FILE) and talks to the bus through bus/client. */
#ifndef AB_CLI_CLI_H
#define AB_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "bus/client.h"
#include "daemon/config.h"

/* Exit statuses: 0 done, 1 failed (a failure note, an unreachable or
 * refusing broker), 2 usage, 3 timed out. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2, CLI_TIMEOUT = 3 };

/* A subcommand's own option: `val` is passed to its handler. */
typedef int cli_option_fn(void *ctx, int val, const char *arg);

/* Parses the connection options and the subcommand's own (`own`, ending in
 * a zero entry, handled by `fn`) into `cfg`; argv[0] is the subcommand.
 * Returns the index of the first operand, or -1 after printing why. */
int cli_parse(int argc, char **argv, const struct option *own, cli_option_fn *fn, void *ctx,
	      struct config *cfg, const char *usage);

/* Connects as `cfg` says; prints why not (stderr) and returns NULL. */
struct bus_client *cli_connect(const struct config *cfg);

/* Subscribes to `filter`, then returns every retained message on it: a
 * second subscription's SUBACK comes after them (the broker answers in
 * order). Calls `fn` for each. Returns 0 or -1 (printed). */
int cli_retained(struct bus_client *c, const char *filter, const char *fence,
		 void (*fn)(void *arg, const struct bus_client_msg *m), void *arg);

/* The whole of file `path` ("-": stdin), NUL-terminated, malloc'd; NULL
 * when it cannot be read. */
char *cli_read_file(const char *path, size_t *len);

int cli_ask(int argc, char **argv);
int cli_agents(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_tail(int argc, char **argv);
int cli_define(int argc, char **argv);

#endif
