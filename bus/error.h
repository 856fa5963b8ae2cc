/* bus/error: why an input could not be used; becomes a dead letter (docs/CONTRACT.md
 * section 9). */
#ifndef AB_BUS_ERROR_H
#define AB_BUS_ERROR_H

#include <stdarg.h>

enum bus_reason {
	REASON_TOO_LARGE,
	REASON_INVALID_ENCODING,
	REASON_INVALID_EVENT,
	REASON_INVALID_DEFINITION,
	REASON_NO_ROUTE,
	REASON_UNKNOWN_AGENT,
	REASON_QUEUE_FULL,
	REASON_INVALID_WRITE,	/* not in docs/CONTRACT.md v1's list: a note write we cannot apply */
};

struct bus_error {
	enum bus_reason reason;
	char message[256];
};

/* The wire name of `reason` ("too_large", ...). */
const char *bus_reason_name(enum bus_reason reason);

/* Fills `err`; always returns -1 so callers can `return bus_fail(...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int bus_fail(struct bus_error *err, enum bus_reason reason, const char *fmt, ...);

#endif
