/* bus/error: reason names and the error constructor. */
#include "bus/error.h"

#include <stdio.h>

static const char *const reason_names[] = {
	[REASON_TOO_LARGE] = "too_large",
	[REASON_INVALID_ENCODING] = "invalid_encoding",
	[REASON_INVALID_EVENT] = "invalid_event",
	[REASON_INVALID_DEFINITION] = "invalid_definition",
	[REASON_NO_ROUTE] = "no_route",
	[REASON_UNKNOWN_AGENT] = "unknown_agent",
	[REASON_QUEUE_FULL] = "queue_full",
	[REASON_INVALID_WRITE] = "invalid_write",
};

const char *bus_reason_name(enum bus_reason reason)
{
	return reason_names[reason];
}

int bus_fail(struct bus_error *err, enum bus_reason reason, const char *fmt, ...)
{
	va_list ap;

	err->reason = reason;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return -1;
}
