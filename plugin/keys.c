/* keys: JWK (RFC 7517) RSA members to a public key with OpenSSL 3's
 * EVP_PKEY_fromdata, written out as PEM because that is what libjwt 1.10
 * verifies with. Runs on the fetch thread; OpenSSL is thread-safe. */
#include "plugin/keys.h"

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/b64url.h"

static BIGNUM *member_bn(const cJSON *jwk, const char *name)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, name));
	unsigned char *bin;
	size_t len;
	BIGNUM *bn;

	if (!s)
		return NULL;
	bin = b64url_decode(s, strlen(s), &len);
	if (!bin || len == 0) {
		free(bin);
		return NULL;
	}
	bn = BN_bin2bn(bin, (int)len, NULL);
	free(bin);
	return bn;
}

static EVP_PKEY *rsa_from_members(BIGNUM *n, BIGNUM *e)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		params = OSSL_PARAM_BLD_to_param(bld);
	if (params)
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

/* The PEM text of `pkey`, malloc'd; NULL on failure. */
static char *pem_of(EVP_PKEY *pkey, size_t *len)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data, *pem = NULL;
	long n;

	if (mem && PEM_write_bio_PUBKEY(mem, pkey) == 1) {
		n = BIO_get_mem_data(mem, &data);
		pem = n > 0 ? malloc((size_t)n + 1) : NULL;
		if (pem) {
			memcpy(pem, data, (size_t)n);
			pem[n] = '\0';
			*len = (size_t)n;
		}
	}
	BIO_free(mem);
	return pem;
}

/* 1: a usable RS256 signing key; 0: not one of ours (skip it). */
static int is_rs256_signing_key(const cJSON *jwk)
{
	const char *kty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "kty"));
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(jwk, "alg");
	const cJSON *use = cJSON_GetObjectItemCaseSensitive(jwk, "use");

	if (!kty || strcmp(kty, "RSA") != 0)
		return 0;
	if (alg && !(cJSON_IsString(alg) && strcmp(alg->valuestring, "RS256") == 0))
		return 0;
	if (use && !(cJSON_IsString(use) && strcmp(use->valuestring, "sig") == 0))
		return 0;
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "kid")) != NULL;
}

static int key_from_jwk(const cJSON *jwk, struct key *out)
{
	BIGNUM *n = member_bn(jwk, "n"), *e = member_bn(jwk, "e");
	EVP_PKEY *pkey = n && e ? rsa_from_members(n, e) : NULL;
	const char *kid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "kid"));

	memset(out, 0, sizeof *out);
	if (pkey) {
		out->pem = pem_of(pkey, &out->pem_len);
		out->kid = strdup(kid);
	}
	EVP_PKEY_free(pkey);
	BN_free(n);
	BN_free(e);
	if (!out->pem || !out->kid) {
		free(out->pem);
		free(out->kid);
		return -1;
	}
	return 0;
}

struct keyset *keyset_parse(const char *json, size_t len, const char **why)
{
	cJSON *doc = cJSON_ParseWithLength(json, len);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "keys"), *jwk;
	struct keyset *ks = NULL;

	*why = "not a JWKS document (no \"keys\" array)";
	if (!cJSON_IsArray(list))
		goto out;
	ks = calloc(1, sizeof *ks);
	if (ks)
		ks->keys = calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof *ks->keys);
	if (!ks || !ks->keys) {
		*why = "out of memory";
		keyset_free(ks);
		ks = NULL;
		goto out;
	}
	cJSON_ArrayForEach(jwk, list) {
		if (!is_rs256_signing_key(jwk)) {
			ks->skipped++;
			continue;
		}
		if (key_from_jwk(jwk, &ks->keys[ks->count]) != 0) {
			*why = "an RSA key's n or e does not decode";
			keyset_free(ks);
			ks = NULL;
			goto out;
		}
		ks->count++;
	}
out:
	cJSON_Delete(doc);
	return ks;
}

const struct key *keyset_find(const struct keyset *ks, const char *kid)
{
	size_t i;

	for (i = 0; ks && i < ks->count; i++)
		if (strcmp(ks->keys[i].kid, kid) == 0)
			return &ks->keys[i];
	return NULL;
}

void keyset_free(struct keyset *ks)
{
	size_t i;

	if (!ks)
		return;
	for (i = 0; i < ks->count; i++) {
		free(ks->keys[i].kid);
		free(ks->keys[i].pem);
	}
	free(ks->keys);
	free(ks);
}
