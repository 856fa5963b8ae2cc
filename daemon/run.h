/* run: the daemon's life from start to a clean stop. */
#ifndef AB_DAEMON_RUN_H
#define AB_DAEMON_RUN_H

#include "daemon/config.h"

/* A fleet's partition process lost its session (another instance took the
 * partition, or the broker dropped it): its instance decides what next. */
#define AGENTBUS_EXIT_PARTITION_LOST 3
/* The descriptor on which a partition's process says it serves (one byte,
 * once its subscriptions are confirmed). */
#define FLEET_READY_FD_ENV "AGENTBUS_FLEET_READY_FD"


/* Runs until SIGINT/SIGTERM (returns 0) or a fatal error (returns 1). */
int agentbus_run(const struct config *cfg);

#endif
