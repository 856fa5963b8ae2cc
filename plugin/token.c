/* token: libjwt 1.10 checks a signature with whatever algorithm the token
 * names, and with no key checks nothing. So the header is read here first,
 * the key is chosen by the algorithm it names (RS256: the JWKS key of its
 * kid; HS256: the configured secret; nothing else), and after jwt_decode the
 * algorithm libjwt used must still be that one. libjwt checks no claims:
 * they are read from its parsed payload with their JSON types checked. */
#include "plugin/token.h"

#include <cjson/cJSON.h>
#include <jwt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/b64url.h"

const char *token_verdict_name(enum token_verdict v)
{
	static const char *const names[] = {
		[TOKEN_OK] = "ok",
		[TOKEN_SHAPE] = "shape",
		[TOKEN_ALGORITHM] = "algorithm",
		[TOKEN_KID] = "kid",
		[TOKEN_SIGNATURE] = "signature",
		[TOKEN_ISSUER] = "issuer",
		[TOKEN_AUDIENCE] = "audience",
		[TOKEN_EXPIRED] = "expired",
		[TOKEN_NOT_YET_VALID] = "not_yet_valid",
		[TOKEN_REVOKED] = "revoked",
		[TOKEN_REVOCATION_UNAVAILABLE] = "revocation_unavailable",
		[TOKEN_NO_MEMORY] = "out_of_memory",
	};

	return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "unknown";
}

/* The protected header, decoded; NULL when the token is not three
 * base64url segments with a JSON object first. */
static cJSON *read_header(const char *token)
{
	const char *dot1 = strchr(token, '.'), *dot2;
	unsigned char *json;
	size_t len;
	cJSON *header;

	if (!dot1 || !(dot2 = strchr(dot1 + 1, '.')) || strchr(dot2 + 1, '.'))
		return NULL;
	json = b64url_decode(token, (size_t)(dot1 - token), &len);
	if (!json)
		return NULL;
	header = cJSON_ParseWithLength((const char *)json, len);
	free(json);
	if (!cJSON_IsObject(header)) {
		cJSON_Delete(header);
		return NULL;
	}
	return header;
}

/* Chooses the key for the header's algorithm. */
static enum token_verdict choose_key(const cJSON *header, const struct auth_options *opt,
				     const struct token_keys *keys, jwt_alg_t *alg,
				     const unsigned char **key, size_t *key_len)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(header, "alg"));
	const char *kid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(header, "kid"));
	const struct key *k;

	if (!name)
		return TOKEN_SHAPE;
	if (strcmp(name, "RS256") == 0 && opt->jwks_url) {
		if (!kid || !(k = keyset_find(keys->rs256, kid)))
			return TOKEN_KID;
		*alg = JWT_ALG_RS256;
		*key = (const unsigned char *)k->pem;
		*key_len = k->pem_len;
		return TOKEN_OK;
	}
	if (strcmp(name, "HS256") == 0 && opt->hs256_secret) {
		*alg = JWT_ALG_HS256;
		*key = opt->hs256_secret;
		*key_len = opt->hs256_len;
		return TOKEN_OK;
	}
	return TOKEN_ALGORITHM;
}

static bool in_list(char *const *list, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* `aud` is a string or an array of strings; one must be accepted. */
static enum token_verdict check_audience(const cJSON *aud, const struct auth_options *opt)
{
	const cJSON *item;

	if (opt->n_audiences == 0)
		return TOKEN_OK;
	if (!aud || cJSON_IsNull(aud))
		return TOKEN_AUDIENCE;
	if (cJSON_IsString(aud))
		return in_list(opt->audiences, opt->n_audiences, aud->valuestring) ? TOKEN_OK
										 : TOKEN_AUDIENCE;
	if (!cJSON_IsArray(aud))
		return TOKEN_SHAPE;
	cJSON_ArrayForEach(item, aud) {
		if (!cJSON_IsString(item))
			return TOKEN_SHAPE;
		if (in_list(opt->audiences, opt->n_audiences, item->valuestring))
			return TOKEN_OK;
	}
	return TOKEN_AUDIENCE;
}

static const char *nonempty_string(const cJSON *claims, const char *name)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(claims, name));

	return s && s[0] ? s : NULL;
}

/* NumericDate (RFC 7519: seconds, possibly fractional); false when it is
 * absent or not a finite number. */
static bool numeric_date(const cJSON *claims, const char *name, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(claims, name);

	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return false;
	*out = v->valuedouble;
	return true;
}

static enum token_verdict check_claims(const cJSON *claims, const struct auth_options *opt,
				       const struct token_keys *keys, time_t now,
				       struct token_claims *out)
{
	const char *iss = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(claims, "iss"));
	const cJSON *scope = cJSON_GetObjectItemCaseSensitive(claims, "scope");
	const char *sub = nonempty_string(claims, "sub"), *jti = nonempty_string(claims, "jti");
	double exp, nbf;
	enum token_verdict v;

	if (!iss || !in_list(opt->issuers, opt->n_issuers, iss))
		return TOKEN_ISSUER;
	/* A token without exp would never expire: refused, unlike jose. */
	if (!numeric_date(claims, "exp", &exp))
		return TOKEN_SHAPE;
	if ((double)now >= exp + (double)opt->leeway)
		return TOKEN_EXPIRED;
	if (cJSON_GetObjectItemCaseSensitive(claims, "nbf")) {
		if (!numeric_date(claims, "nbf", &nbf))
			return TOKEN_SHAPE;
		if ((double)now + (double)opt->leeway < nbf)
			return TOKEN_NOT_YET_VALID;
	}
	if (!sub || !jti || (scope && !cJSON_IsString(scope)))
		return TOKEN_SHAPE;
	v = check_audience(cJSON_GetObjectItemCaseSensitive(claims, "aud"), opt);
	if (v != TOKEN_OK)
		return v;
	if (opt->revocation_url && !keys->revoked)
		return TOKEN_REVOCATION_UNAVAILABLE;
	if (revocation_contains(keys->revoked, jti))
		return TOKEN_REVOKED;
	out->sub = strdup(sub);
	out->jti = strdup(jti);
	out->scope = strdup(scope ? scope->valuestring : "");
	out->exp = exp > 4e18 ? (time_t)4e18 : (time_t)exp;
	if (!out->sub || !out->jti || !out->scope) {
		token_claims_free(out);
		return TOKEN_NO_MEMORY;
	}
	return TOKEN_OK;
}

enum token_verdict token_verify(const char *token, const struct auth_options *opt,
				const struct token_keys *keys, time_t now,
				struct token_claims *out)
{
	cJSON *header = read_header(token), *claims = NULL;
	const unsigned char *key = NULL;
	size_t key_len = 0;
	jwt_alg_t alg = JWT_ALG_NONE;
	enum token_verdict v;
	jwt_t *jwt = NULL;
	char *json = NULL;

	memset(out, 0, sizeof *out);
	if (!header)
		return TOKEN_SHAPE;
	v = choose_key(header, opt, keys, &alg, &key, &key_len);
	cJSON_Delete(header);
	if (v != TOKEN_OK)
		return v;
	/* Never a NULL or empty key: libjwt would then verify nothing. */
	if (!key || key_len == 0 || key_len > 65536)
		return TOKEN_ALGORITHM;
	if (jwt_decode(&jwt, token, key, (int)key_len) != 0)
		return TOKEN_SIGNATURE;
	if (jwt_get_alg(jwt) != alg) {
		v = TOKEN_ALGORITHM;
		goto out;
	}
	json = jwt_get_grants_json(jwt, NULL);
	claims = json ? cJSON_Parse(json) : NULL;
	v = cJSON_IsObject(claims) ? check_claims(claims, opt, keys, now, out) : TOKEN_SHAPE;
out:
	cJSON_Delete(claims);
	free(json);
	jwt_free(jwt);
	return v;
}

void token_claims_free(struct token_claims *c)
{
	free(c->sub);
	free(c->jti);
	free(c->scope);
	memset(c, 0, sizeof *c);
}
