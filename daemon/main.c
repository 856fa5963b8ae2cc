/* main: command line to running daemon. */
#include <stdio.h>
#include <string.h>

#include "bus/client.h"
#include "cli/cli.h"
#include "cli/frontmatter.h"
#include "daemon/config.h"
#include "daemon/fleet.h"
#include "daemon/run.h"
#include "daemon/token.h"
#include "engines/http.h"
#include "state/state.h"

static void print_config(const struct config *cfg)
{
	if (config_wants_embedded_broker(cfg))
		printf("configuration OK\nbroker     private mosquitto (embedded)\n");
	else
		printf("configuration OK\nbroker     %s:%d\n", cfg->host, cfg->port);
	printf("root       %s\nvault      %s\nengine     %s\nstate-dir  %s\nid         %s\n"
	       "encoding   %s\nstore      %s\nsandbox    %s\n",
	       cfg->root, cfg->vault, cfg->engine, cfg->state_dir, cfg->id,
	       cfg->encoding == ENCODING_JSON ? "json" : "msgpack",
	       cfg->no_store ? "off" : "embedded",
	       cfg->sandbox == 1 ? "off (exec turns run unconfined)" : "on (bubblewrap)");
}

/* The version, and those of the libraries it runs with (which may differ
 * from the ones it was built against: they are shared). */
static void print_version(void)
{
	char bus[256];

	bus_library_versions(bus, sizeof bus);
	printf("agentbus %s\n%s, SQLite %s, libcurl %s, libyaml %s\n", AGENTBUS_VERSION, bus,
	       state_library_version(), http_library_version(), frontmatter_library_version());
}

int main(int argc, char **argv)
{
	struct config cfg;
	int rc = 0;

	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} subcommands[] = { { "token", token_main }, { "ask", cli_ask }, { "agents", cli_agents },
			    { "status", cli_status }, { "tail", cli_tail },
			    { "define", cli_define } };

	for (size_t i = 0; argc > 1 && i < sizeof subcommands / sizeof subcommands[0]; i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	switch (config_parse_args(&cfg, argc, argv, stderr)) {
	case CONFIG_HELP:
		config_print_help(stdout);
		break;
	case CONFIG_VERSION:
		print_version();
		break;
	case CONFIG_ERROR:
		rc = 2;
		break;
	case CONFIG_RUN:
		if (cfg.test_config)
			print_config(&cfg);
		else if (cfg.fleet && cfg.fleet_partition < 0)
			rc = fleet_run(&cfg, argc, argv);
		else if (cfg.fleet && config_fleet_child(&cfg) != 0)
			rc = 1;
		else
			rc = agentbus_run(&cfg);
		break;
	}
	config_free(&cfg);
	return rc;
}
