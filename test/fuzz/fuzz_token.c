/* fuzz_token: what the broker plugin does with bytes a client or a hub
 * sends before anything is trusted: a CONNECT password verified as a token,
 * the same bytes as the claims of a token signed here (so the claim checks
 * run on arbitrary JSON), as a scope claim turned into grants and checked
 * against a topic, and as a JWKS and a revocation document. */
#include <jwt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/keys.h"
#include "plugin/options.h"
#include "plugin/revocation.h"
#include "plugin/scope.h"
#include "plugin/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "fuzz-secret"

static struct auth_options opt;

static void setup(void)
{
	char err[256];

	if (opt.root)
		return;
	auth_options_init(&opt);
	if (auth_options_set(&opt, "issuer", "http://127.0.0.1:1939", err, sizeof err) != 0 ||
	    auth_options_set(&opt, "audience", "mqtt,agent", err, sizeof err) != 0 ||
	    auth_options_set(&opt, "jwks_url", "http://127.0.0.1:1/jwks.json", err, sizeof err) != 0 ||
	    auth_options_set(&opt, "leeway", "5", err, sizeof err) != 0)
		abort();
	opt.hs256_secret = (unsigned char *)strdup(SECRET);
	opt.hs256_len = strlen(SECRET);
	if (auth_options_finish(&opt, err, sizeof err) != 0)
		abort();
}

static void verify(const char *token, const struct token_keys *keys)
{
	struct token_claims claims;

	if (token_verify(token, &opt, keys, 1800000000, &claims) == TOKEN_OK) {
		struct grants g;

		if (grants_build(&g, opt.root, claims.scope, false) == 0) {
			grants_allow(&g, GRANT_READ, "parachute/agent/+/reply");
			grants_free(&g);
		}
		token_claims_free(&claims);
	}
}

/* Signs `claims` with the HS256 secret, when libjwt takes them. */
static void verify_signed(const char *claims, const struct token_keys *keys)
{
	jwt_t *jwt = NULL;
	char *token;

	if (jwt_new(&jwt) == 0 && jwt_add_grants_json(jwt, claims) == 0 &&
	    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)SECRET, (int)strlen(SECRET)) == 0 &&
	    (token = jwt_encode_str(jwt)) != NULL) {
		verify(token, keys);
		free(token);
	}
	jwt_free(jwt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	const char *why;
	struct keyset *ks;
	struct revocation_list *rl;
	struct grants g;

	if (!text)
		return 0;
	setup();
	memcpy(text, data, size);
	text[size] = '\0';
	ks = keyset_parse(text, size, &why);
	rl = revocation_parse(text, size, &why);
	{
		const struct token_keys keys = { .rs256 = ks, .revoked = rl };

		verify(text, &keys);
		verify_signed(text, &keys);
	}
	if (grants_build(&g, "parachute", text, text[0] == '!') == 0) {
		grants_allow(&g, GRANT_PUBLISH, "parachute/agent/eng/inbox");
		grants_allow(&g, GRANT_READ, "parachute/vault/default/#");
		grants_free(&g);
	}
	if (subscription_filter(text))
		filter_covers("parachute/agent/+/reply/#", subscription_filter(text));
	keyset_free(ks);
	revocation_free(rl);
	free(text);
	return 0;
}
