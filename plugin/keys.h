/* keys: the RS256 verification keys of a JWKS document, as the SPKI PEM text
 * libjwt takes, looked up by `kid`. */
#ifndef AB_PLUGIN_KEYS_H
#define AB_PLUGIN_KEYS_H

#include <stddef.h>

struct key {
	char *kid;
	char *pem;		/* "-----BEGIN PUBLIC KEY-----" ... */
	size_t pem_len;
};

struct keyset {
	struct key *keys;
	size_t count;
	size_t skipped;		/* JWKs that are not RSA signing keys for RS256 */
};

/* Parses a JWKS document (`{"keys":[…]}`). Keys with `kty` other than RSA,
 * an `alg` other than RS256, a `use` other than sig, or no `kid` are
 * skipped (counted). Returns NULL with `*why` set when the document is not
 * a JWKS at all or a usable-looking key does not decode. */
struct keyset *keyset_parse(const char *json, size_t len, const char **why);
const struct key *keyset_find(const struct keyset *ks, const char *kid);
void keyset_free(struct keyset *ks);

#endif
