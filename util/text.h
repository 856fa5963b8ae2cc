/* text: small string rules shared by the contract's names and paths. */
#ifndef AB_UTIL_TEXT_H
#define AB_UTIL_TEXT_H

#include <stdbool.h>

/* docs/CONTRACT.md safe(): every character outside [A-Za-z0-9_-] becomes '-'. */
void text_safe_name(char *s);

/* One MQTT topic level a name may fill: non-empty, no '/', '+', '#' or NUL. */
bool text_is_topic_level(const char *s);

/* A topic prefix such as "parachute" or "org/parachute": levels as above,
 * separated by single '/', none empty. */
bool text_is_topic_prefix(const char *s);

/* A whole decimal number from `min` to `max`, and nothing else: 0 with it in
 * `out`, or -1 (out of range, overflow, trailing characters, empty). */
int text_parse_long(const char *s, long min, long max, long *out);

#endif
