/* cli/frontmatter: a markdown file with YAML front matter, as `agentbus
 * define` reads a definition: the front matter becomes the note's metadata
 * (scalars as strings, lists as arrays, maps as objects), the rest its body,
 * the system prompt. libyaml parses; nothing else here does I/O. */
#ifndef AB_CLI_FRONTMATTER_H
#define AB_CLI_FRONTMATTER_H

#include <stddef.h>

struct cJSON;

/* Splits and parses `text`. Returns 0 with `*metadata` (a JSON object,
 * owned) and `*body` (malloc'd), or -1 with a message in `err`. */
int frontmatter_parse(const char *text, size_t len, struct cJSON **metadata, char **body,
		      char *err, size_t errlen);

/* libyaml's version ("0.2.5"). */
const char *frontmatter_library_version(void);

#endif
