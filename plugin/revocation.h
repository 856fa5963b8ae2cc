/* revocation: the hub's list of revoked token ids
 * (`{"generated_at": …, "jtis": […]}`), sorted for lookup. */
#ifndef AB_PLUGIN_REVOCATION_H
#define AB_PLUGIN_REVOCATION_H

#include <stdbool.h>
#include <stddef.h>

struct revocation_list {
	char **jtis;		/* sorted */
	size_t count;
};

/* NULL with `*why` set when the document is not a revocation list. */
struct revocation_list *revocation_parse(const char *json, size_t len, const char **why);
bool revocation_contains(const struct revocation_list *list, const char *jti);
void revocation_free(struct revocation_list *list);

#endif
