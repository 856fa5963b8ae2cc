/* options: the plugin's `plugin_opt_*` settings from mosquitto.conf, checked
 * once at start so that a typo stops the broker instead of opening it. */
#ifndef AB_PLUGIN_OPTIONS_H
#define AB_PLUGIN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

struct auth_options {
	char *root;			/* topic root; "parachute" */
	char **issuers;			/* accepted `iss` values, trailing '/' removed */
	size_t n_issuers;
	char **audiences;		/* `aud` must contain one; none: not checked */
	size_t n_audiences;
	char *jwks_url;			/* RS256 keys; NULL: no RS256 */
	char *revocation_url;		/* NULL: no revocation list */
	unsigned char *hs256_secret;	/* development only; NULL: no HS256 */
	size_t hs256_len;
	long leeway;			/* seconds of clock skew allowed on exp and nbf */
	char *admin_subject;		/* NULL: none */
};

/* Sets defaults. */
void auth_options_init(struct auth_options *o);

/* Applies one `plugin_opt_KEY VALUE`. Returns 0, or -1 with a message naming
 * the option in `err`. */
int auth_options_set(struct auth_options *o, const char *key, const char *value, char *err,
		     size_t errlen);

/* Checks what one option cannot check alone. Returns 0 or -1 with `err`. */
int auth_options_finish(struct auth_options *o, char *err, size_t errlen);

void auth_options_free(struct auth_options *o);

#endif
