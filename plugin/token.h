/* token: verification of a hub JWT as section 5.2 of the vault/hub notes
 * describes it, with the algorithm pinned to the key that verifies it. The
 * only code that includes jwt.h. */
#ifndef AB_PLUGIN_TOKEN_H
#define AB_PLUGIN_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "plugin/keys.h"
#include "plugin/options.h"
#include "plugin/revocation.h"

/* Why a token was refused; the names are what the broker log shows. */
enum token_verdict {
	TOKEN_OK,
	TOKEN_SHAPE,		/* not a JWT, or a claim missing or of the wrong type */
	TOKEN_ALGORITHM,	/* not RS256/HS256, or no key of that type configured */
	TOKEN_KID,		/* RS256 with a kid the key set does not hold */
	TOKEN_SIGNATURE,
	TOKEN_ISSUER,
	TOKEN_AUDIENCE,
	TOKEN_EXPIRED,
	TOKEN_NOT_YET_VALID,
	TOKEN_REVOKED,
	TOKEN_REVOCATION_UNAVAILABLE,
	TOKEN_NO_MEMORY,
};

const char *token_verdict_name(enum token_verdict v);

/* What verification needs besides the options: the current key set and
 * revocation list (either may be NULL: not loaded yet). */
struct token_keys {
	const struct keyset *rs256;
	const struct revocation_list *revoked;
};

struct token_claims {
	char *sub;
	char *jti;
	char *scope;		/* space-separated; "" when absent */
	time_t exp;
};

/* Verifies `token` at time `now`. On TOKEN_OK fills `out` (free with
 * token_claims_free). */
enum token_verdict token_verify(const char *token, const struct auth_options *opt,
				const struct token_keys *keys, time_t now,
				struct token_claims *out);
void token_claims_free(struct token_claims *c);

#endif
