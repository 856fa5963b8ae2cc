/* token: claims as the hub mints them (iss, sub, aud, iat, exp, jti of 16
 * random bytes, space-separated scope), signed HS256 with libjwt. */
#include "daemon/token.h"

#include <errno.h>
#include <getopt.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/secret.h"

#define TTL_MAX (365L * 24 * 3600)

struct token_request {
	const char *secret_file;
	const char *scope;
	const char *subject;
	const char *issuer;
	const char *audience;	/* NULL: inferred from the scope, as the hub does */
	long ttl;
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: agentbus token --secret-file FILE [--scope 'S1 S2'] [--sub SUBJECT]\n"
		"                      [--ttl SECS] [--issuer URL] [--audience AUD]\n"
		"Prints an HS256 development token for a broker whose agentbus_auth plugin has\n"
		"plugin_opt_hs256_secret_file FILE. Defaults: --sub dev, --ttl 3600,\n"
		"--issuer http://127.0.0.1:1939, --audience as the hub infers it (vault.V for a\n"
		"first vault:V:verb scope, else the first scope's resource, else hub).\n");
}

/* The hub's rule: vault:V:verb → vault.V; resource:... → resource; else hub. */
static char *infer_audience(const char *scope)
{
	size_t len = strcspn(scope, " \t"), ns;
	const char *c2;

	ns = strcspn(scope, ":");
	if (len == 0 || ns >= len)
		return strdup("hub");
	c2 = memchr(scope + ns + 1, ':', len - ns - 1);
	if (ns == 5 && memcmp(scope, "vault", 5) == 0 && c2) {
		char *aud;

		if (asprintf(&aud, "vault.%.*s", (int)(c2 - scope - ns - 1), scope + ns + 1) < 0)
			return NULL;
		return aud;
	}
	return strndup(scope, ns);
}

/* 22 characters of base64url from 16 random bytes, like the hub's jti. */
static int random_jti(char out[23])
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char bytes[16];
	unsigned bits = 0, acc = 0;
	int i, n = 0;

	if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes)
		return -1;
	for (i = 0; i < 16; i++) {
		acc = (acc << 8) | bytes[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[n++] = alphabet[(acc >> bits) & 63];
		}
	}
	out[n++] = alphabet[(acc << (6 - bits)) & 63];
	out[n] = '\0';
	return 0;
}

static int mint(const struct token_request *req, char **out)
{
	unsigned char secret[4096];
	size_t secret_len;
	char jti[23], *aud = NULL;
	time_t now = time(NULL);
	jwt_t *jwt = NULL;
	char why[512];
	int rc = -1;

	if (secret_read(req->secret_file, secret, sizeof secret, &secret_len, why, sizeof why) != 0) {
		fprintf(stderr, "agentbus token: %s\n", why);
		return -1;
	}
	aud = req->audience ? strdup(req->audience) : infer_audience(req->scope);
	if (aud && random_jti(jti) == 0 && jwt_new(&jwt) == 0 &&
	    jwt_add_grant(jwt, "iss", req->issuer) == 0 &&
	    jwt_add_grant(jwt, "sub", req->subject) == 0 && jwt_add_grant(jwt, "aud", aud) == 0 &&
	    jwt_add_grant_int(jwt, "iat", (long)now) == 0 &&
	    jwt_add_grant_int(jwt, "exp", (long)now + req->ttl) == 0 &&
	    jwt_add_grant(jwt, "jti", jti) == 0 && jwt_add_grant(jwt, "scope", req->scope) == 0 &&
	    jwt_set_alg(jwt, JWT_ALG_HS256, secret, (int)secret_len) == 0)
		*out = jwt_encode_str(jwt);
	if (*out)
		rc = 0;
	else
		fprintf(stderr, "agentbus token: cannot build the token\n");
	memset(secret, 0, sizeof secret);
	jwt_free(jwt);
	free(aud);
	return rc;
}

int token_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "secret-file", required_argument, NULL, 's' },
		{ "scope", required_argument, NULL, 'S' },
		{ "sub", required_argument, NULL, 'u' },
		{ "ttl", required_argument, NULL, 't' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "audience", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	struct token_request req = { .scope = "", .subject = "dev",
				     .issuer = "http://127.0.0.1:1939", .ttl = 3600 };
	char *token = NULL, *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': req.secret_file = optarg; break;
		case 'S': req.scope = optarg; break;
		case 'u': req.subject = optarg; break;
		case 'i': req.issuer = optarg; break;
		case 'a': req.audience = optarg; break;
		case 't':
			errno = 0;
			req.ttl = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || req.ttl < 1 || req.ttl > TTL_MAX) {
				fprintf(stderr, "agentbus token: --ttl must be 1..%ld seconds\n",
					TTL_MAX);
				return 2;
			}
			break;
		case 'H': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!req.secret_file || optind != argc || !req.subject[0]) {
		usage(stderr);
		return 2;
	}
	if (mint(&req, &token) != 0)
		return 1;
	printf("%s\n", token);
	free(token);
	return 0;
}
