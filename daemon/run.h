/* run: the daemon's life from start to a clean stop. */
#ifndef AB_DAEMON_RUN_H
#define AB_DAEMON_RUN_H

#include "daemon/config.h"

/* Runs until SIGINT/SIGTERM (returns 0) or a fatal error (returns 1). */
int agentbus_run(const struct config *cfg);

#endif
