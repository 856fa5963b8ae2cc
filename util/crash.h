/* crash: named points where a test build stops the process as `kill -9`
 * would, when the environment variable AGENTBUS_CRASH_AT names the point
 * (after AGENTBUS_CRASH_SKIP earlier hits of it, if set).
 * Compiled in only for Debug builds (the sanitizer test build); in every
 * other build crash_point() is nothing at all. */
#ifndef AB_UTIL_CRASH_H
#define AB_UTIL_CRASH_H

#ifdef AGENTBUS_CRASH_POINTS
void crash_point(const char *name);
#else
#define crash_point(name) ((void)0)
#endif

#endif
