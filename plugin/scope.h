/* scope: what a token's `scope` claim grants on the bus (CONTRACT.md
 * section 11) as two lists of topic filters, and the check of a topic or a
 * subscription filter against them. Pure: no broker, no JWT. */
#ifndef AB_PLUGIN_SCOPE_H
#define AB_PLUGIN_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

enum grant_access {
	GRANT_PUBLISH,		/* PUBLISH from the client */
	GRANT_READ,		/* SUBSCRIBE, and delivery (retained messages too) */
};

struct grants {
	char **publish;
	size_t n_publish;
	char **read;
	size_t n_read;
};

/* Builds the grants of a space-separated scope list under topic root `root`.
 * Unknown and malformed scopes grant nothing. `everything`: the admin
 * subject, granted `root/#` both ways. Returns 0 or -1 (out of memory). */
int grants_build(struct grants *g, const char *root, const char *scope, bool everything);
void grants_free(struct grants *g);

/* Whether `topic` (a topic name, or for GRANT_READ also a subscription
 * filter) is granted: a filter only when every topic it can match is. */
bool grants_allow(const struct grants *g, enum grant_access access, const char *topic);

/* Whether every topic `filter` can match also matches `grant`. */
bool filter_covers(const char *grant, const char *filter);

/* The filter of a subscription: `$share/GROUP/filter` loses its prefix.
 * NULL when a shared subscription is malformed. */
const char *subscription_filter(const char *sub);

/* Whether `name` can stand for V or A in a topic and in a scope: 1–64 of
 * [A-Za-z0-9_-]. */
bool scope_name_valid(const char *name, size_t len);

#endif
