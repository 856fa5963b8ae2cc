/* bus/utf8: the UTF-8 rules for payloads read from the bus. */
#ifndef AB_BUS_UTF8_H
#define AB_BUS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Strict UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
 * On failure `*bad_at` (may be NULL) is the offset of the first bad byte. */
bool utf8_valid(const char *s, size_t len, size_t *bad_at);

/* A printable excerpt of at most the first `max` bytes of `s`: valid UTF-8
 * is copied, a control byte or an invalid byte becomes "\xNN", and a
 * character cut by the limit is dropped. Returns a malloc'd string or NULL. */
char *utf8_excerpt(const char *s, size_t len, size_t max);

#endif
