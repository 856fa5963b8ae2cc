/* fleet: one instance of a fleet (--fleet NAME): its member record, the
 * partitions it owns, and one process per owned partition. */
#ifndef AB_DAEMON_FLEET_H
#define AB_DAEMON_FLEET_H

#include "daemon/config.h"

/* Runs the instance until SIGINT/SIGTERM, then drains its partitions and
 * hands them over. `argv` (the instance's own command line) starts each
 * partition's process, with --fleet-partition N added. Returns the exit
 * status: 0, 1 (an error), 2 (the fleet runs another partition count). */
int fleet_run(const struct config *cfg, int argc, char **argv);

#endif
