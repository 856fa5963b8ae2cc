/* secret: reading a secret (a token, an HMAC key) from a file, the one way
 * the daemon, `agentbus token` and the broker plugin all do it. */
#ifndef AB_UTIL_SECRET_H
#define AB_UTIL_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* Reads `path` into `buf` (at most `cap` - 1 bytes, NUL-terminated), minus
 * one trailing newline ("\n" or "\r\n"), which editors add and which is never
 * part of the secret. Returns 0 with `*len`, or -1 with a message in `why`
 * when the file cannot be read, is empty or does not fit. */
int secret_read(const char *path, unsigned char *buf, size_t cap, size_t *len, char *why,
		size_t whylen);

/* Whether `a` equals `b`, in a time that does not tell how much of them
 * matched (a bearer checked against the expected one). */
bool secret_equal(const char *a, const char *b);

#endif
