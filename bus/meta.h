/* bus/meta: reading note metadata and tags the way the reference does:
 * metadata values of any JSON type read as strings, tags compared bare
 * (a leading '#' never matters). */
#ifndef AB_BUS_META_H
#define AB_BUS_META_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

/* The string value of `key`, borrowed, when it is a JSON string; else NULL. */
const char *meta_str(const struct cJSON *metadata, const char *key);

/* A copy of the string value of `key`, or NULL (absent, not a string, or
 * out of memory). The caller frees it. */
char *meta_strdup(const struct cJSON *metadata, const char *key);

/* `key` as text: strings as they are, numbers in their shortest exact form,
 * booleans "true"/"false", arrays and objects as compact JSON. NULL when the
 * key is absent or null (or out of memory). The caller frees the result. */
char *meta_text(const struct cJSON *metadata, const char *key);

/* True when `key` is present and not null (an empty string counts). */
bool meta_present(const struct cJSON *metadata, const char *key);

/* JavaScript truthiness of `key` (the vault's marker rule): a non-empty
 * string, a non-zero number, true, any array or object. */
bool meta_truthy(const struct cJSON *metadata, const char *key);

/* The bare form of `tag`: leading '#' and white space removed, trailing white
 * space trimmed. Returns a pointer into `tag`; `*len` is the bare length. */
const char *tag_bare(const char *tag, size_t *len);

/* True when the tag array holds `tag`, both compared bare. */
bool tags_contain(const struct cJSON *tags, const char *tag);

#endif
