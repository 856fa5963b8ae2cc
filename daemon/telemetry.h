/* telemetry: the metric families agentbus exports, and the handlers of
 * /metrics, /healthz and /readyz. */
#ifndef AB_DAEMON_TELEMETRY_H
#define AB_DAEMON_TELEMETRY_H

#include <stddef.h>

#include "util/metrics.h"

extern const struct metric_family telemetry_families[];
extern const size_t telemetry_n_families;

#endif
