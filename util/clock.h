/* clock: monotonic milliseconds for timers, wall-clock ISO 8601 for payloads. */
#ifndef AB_UTIL_CLOCK_H
#define AB_UTIL_CLOCK_H

#include <stdint.h>

/* "2026-11-21T10:00:00.000Z" plus the terminating NUL. */
#define CLOCK_ISO_LEN 25

/* Milliseconds on a clock that never jumps; only differences mean anything. */
int64_t clock_mono_ms(void);

/* Writes the current UTC time as the vault writes timestamps. */
void clock_iso8601(char out[CLOCK_ISO_LEN]);

#endif
