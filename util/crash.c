/* crash: the test hook behind crash_point(). */
#include "util/crash.h"

#ifdef AGENTBUS_CRASH_POINTS
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* Hits of the named point so far. Test builds only, hence no context. */
static long crash_hits;

void crash_point(const char *name)
{
	const char *at = getenv("AGENTBUS_CRASH_AT");
	const char *skip = getenv("AGENTBUS_CRASH_SKIP");

	if (!at || strcmp(at, name) != 0 || crash_hits++ < (skip ? atol(skip) : 0))
		return;
	log_warn("crash point %s: killing myself", name);
	raise(SIGKILL);
}
#endif
