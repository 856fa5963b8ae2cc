/* test_plugin: agentbus_auth loaded into a real mosquitto, a local HTTP
 * server standing in for the hub's JWKS and revocation list, RSA keys made
 * with the openssl CLI and tokens minted here for every case; real MQTT v5
 * clients connect, publish and subscribe. Ends with the whole agent pipeline
 * through a locked-down broker. */
#include <cjson/cJSON.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test/check.h"
#include "test/harness.h"
#include "test/httpd.h"
#include "test/rig.h"

#define ISSUER "http://127.0.0.1:1939"
#define SECRET "dev-secret-for-tests-0123456789"
#define JWKS_PATH "/.well-known/jwks.json"
#define REVOCATION_PATH "/.well-known/parachute-revocation.json"
#define NOT_AUTHORIZED 0x87

static char *workdir;
static struct th_httpd *hub;

/* Every token minted, so the end can check none reached a log. */
static char *minted[256];
static int n_minted;

/* --- keys and tokens ------------------------------------------------------ */

static char *in_workdir(const char *name)
{
	return rig_fmt("%s/%s", workdir, name);
}

struct rsa_key {
	char *priv;		/* PEM */
	char *pub;		/* SPKI PEM */
	char kid[16];
	char *jwk;		/* JSON object */
};

static char *b64url_of_bn(const BIGNUM *bn)
{
	unsigned char bin[1024];
	int n = BN_bn2bin(bn, bin);
	unsigned char b64[2048];
	int len = EVP_EncodeBlock(b64, bin, n), i, out = 0;

	for (i = 0; i < len; i++) {
		if (b64[i] == '=')
			break;
		b64[out++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	}
	b64[out] = '\0';
	return strdup((char *)b64);
}

/* A 2048-bit RSA key from the openssl CLI, and its JWK as the hub lists it. */
static void make_key(struct rsa_key *k, const char *kid)
{
	char name[64], *priv, *pub;
	BIGNUM *n = NULL, *e = NULL;
	char *so, *se, *ns, *es;
	EVP_PKEY *pkey;
	BIO *bio;

	snprintf(name, sizeof name, "key-%s.pem", kid);
	priv = in_workdir(name);
	snprintf(name, sizeof name, "key-%s.pub", kid);
	pub = in_workdir(name);
	const char *gen[] = { "/usr/bin/openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
			      "rsa_keygen_bits:2048", "-quiet", "-out", priv, NULL };
	const char *out[] = { "/usr/bin/openssl", "pkey", "-in", priv, "-pubout", "-out", pub, NULL };

	REQUIRE(th_run(gen, &so, &se) == 0);
	free(so);
	free(se);
	REQUIRE(th_run(out, &so, &se) == 0);
	free(so);
	free(se);
	k->priv = th_read_file(priv);
	k->pub = th_read_file(pub);
	snprintf(k->kid, sizeof k->kid, "%s", kid);
	bio = BIO_new_mem_buf(k->pub, -1);
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	REQUIRE(pkey != NULL);
	REQUIRE(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
	REQUIRE(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1);
	ns = b64url_of_bn(n);
	es = b64url_of_bn(e);
	k->jwk = rig_fmt("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\",\"kid\":\"%s\","
			 "\"alg\":\"RS256\",\"use\":\"sig\"}", ns, es, kid);
	free(ns);
	free(es);
	BN_free(n);
	BN_free(e);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	free(priv);
	free(pub);
}

/* Serves a JWKS of `a` (and `b`, when not NULL) on `path`. */
static void serve_jwks(const char *path, const struct rsa_key *a, const struct rsa_key *b)
{
	char *doc = rig_fmt("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":\"sym\"},%s%s%s]}",
			    a->jwk, b ? "," : "", b ? b->jwk : "");

	th_httpd_set(hub, path, 200, doc);
	free(doc);
}

static void free_key(struct rsa_key *k)
{
	free(k->priv);
	free(k->pub);
	free(k->jwk);
}

/* `alg` "RS256" signs with `k` (its kid in the header), "HS256" with `secret`
 * (NULL: SECRET), "none" not at all. `claims`: the JSON payload. */
static char *mint_with(const char *alg, const struct rsa_key *k, const char *secret,
		       const char *kid, const char *claims)
{
	jwt_t *jwt = NULL;
	char *token;

	REQUIRE(jwt_new(&jwt) == 0);
	REQUIRE(jwt_add_grants_json(jwt, claims) == 0);
	if (kid)
		REQUIRE(jwt_add_header(jwt, "kid", kid) == 0);
	if (strcmp(alg, "RS256") == 0) {
		REQUIRE(jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)k->priv,
				    (int)strlen(k->priv)) == 0);
	} else if (strcmp(alg, "HS256") == 0) {
		if (!secret)
			secret = SECRET;
		REQUIRE(jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret,
				    (int)strlen(secret)) == 0);
	} else {
		REQUIRE(jwt_set_alg(jwt, JWT_ALG_NONE, NULL, 0) == 0);
	}
	token = jwt_encode_str(jwt);
	REQUIRE(token != NULL);
	jwt_free(jwt);
	if (n_minted < 256)
		minted[n_minted++] = token;
	return token;
}

/* Claims as the hub mints them; `extra` (JSON members) replaces or adds
 * members: libjwt refuses a payload with a member twice. */
static char *claims(const char *scope, long exp_in, const char *extra)
{
	static int serial;
	long now = (long)time(NULL);
	char *base = rig_fmt("{\"iss\":\"" ISSUER "\",\"sub\":\"usr_test\",\"aud\":\"mqtt\","
			     "\"iat\":%ld,\"exp\":%ld,\"jti\":\"jti-%d\",\"scope\":\"%s\"}",
			     now, now + exp_in, ++serial, scope);
	char *more = rig_fmt("{%s}", extra);
	cJSON *doc = cJSON_Parse(base), *add = cJSON_Parse(more), *item;
	char *out;

	REQUIRE(doc && add);
	while ((item = add->child) != NULL) {
		cJSON_DetachItemViaPointer(add, item);
		cJSON_DeleteItemFromObjectCaseSensitive(doc, item->string);
		if (cJSON_IsNull(item))
			cJSON_Delete(item);	/* null: leave the member out */
		else
			cJSON_AddItemToObject(doc, item->string, item);
	}
	out = cJSON_PrintUnformatted(doc);
	REQUIRE(out != NULL);
	cJSON_Delete(doc);
	cJSON_Delete(add);
	free(base);
	free(more);
	return out;
}

static char *hs256(const char *scope, long exp_in)
{
	char *c = claims(scope, exp_in, "");
	char *t = mint_with("HS256", NULL, NULL, NULL, c);

	free(c);
	return t;
}

/* --- brokers ----------------------------------------------------------- */

static char *hub_url(const char *path)
{
	return rig_fmt("http://127.0.0.1:%d%s", th_httpd_port(hub), path);
}

/* A locked-down broker with the plugin and `options` (plugin_opt_ lines). */
static void start_broker(struct th_broker *b, const char *name, const char *options)
{
	char *extra = rig_fmt("plugin %s\n%s", PLUGIN_PATH, options);

	th_broker_start_locked(b, name, extra);
	free(extra);
}

/* The full configuration: RS256 from the local hub, HS256, revocation. */
static void start_full_broker(struct th_broker *b, const char *secret_file)
{
	char *jwks = hub_url(JWKS_PATH), *rev = hub_url(REVOCATION_PATH);
	char *opts = rig_fmt("plugin_opt_issuer " ISSUER ", https://box.example.com\n"
			     "plugin_opt_audience mqtt, agent\n"
			     "plugin_opt_jwks_url %s\nplugin_opt_revocation_url %s\n"
			     "plugin_opt_hs256_secret_file %s\nplugin_opt_admin_subject agentbus\n",
			     jwks, rev, secret_file);

	start_broker(b, "full", opts);
	REQUIRE(th_broker_wait_log(b, "RS256 key", 1, TH_TIMEOUT_MS));
	REQUIRE(th_broker_wait_log(b, "revocation: list of 1 revoked", 1, TH_TIMEOUT_MS));
	free(jwks);
	free(rev);
	free(opts);
}

/* Logs in with `token` as client `id`; returns the CONNACK reason code. */
static int login(struct th_broker *b, const char *id, const char *token)
{
	struct th_client c;
	struct th_login l = { .id = id, .username = "x", .password = token };
	int rc = th_client_login(&c, b->child.port, &l);

	th_client_close(&c);
	return rc;
}

/* The client is refused with 0x87 and the log names it and `reason`. */
static void expect_refused(struct th_broker *b, const char *id, const char *token,
			   const char *reason)
{
	char *line = rig_fmt("client %s from 127.0.0.1 refused: %s", id, reason);

	CHECK_MSG(login(b, id, token) == NOT_AUTHORIZED, "%s is refused", id);
	CHECK_MSG(th_broker_wait_log(b, line, 1, TH_TIMEOUT_MS), "log: %s", line);
	free(line);
}

static void expect_accepted(struct th_broker *b, const char *id, const char *token)
{
	CHECK_MSG(login(b, id, token) == 0, "%s is accepted", id);
}

/* Stops the broker, then checks that no token reached its log and, in the
 * sanitizer build, that the plugin left no sanitizer report in it. */
static void broker_done(struct th_broker *b)
{
	int i;

	th_broker_stop(b);
	CHECK_INT(th_broker_log_count(b, "Sanitizer"), 0);
	CHECK_INT(th_broker_log_count(b, "runtime error"), 0);
	for (i = 0; i < n_minted; i++) {
		const char *sig = strrchr(minted[i], '.');

		if (sig && strlen(sig) > 8)
			CHECK_MSG(th_broker_log_count(b, sig) == 0, "token %d is not in the log", i);
	}
	th_broker_free(b);
}

/* --- authentication ------------------------------------------------------- */

static void test_authentication(const struct rsa_key *k1, const struct rsa_key *k2,
				const char *secret_file)
{
	struct th_broker b;
	char *c, *t, extra[64];

	serve_jwks(JWKS_PATH, k1, NULL);
	start_full_broker(&b, secret_file);

#define RS(id, scope, exp, extra, reason) \
	do { \
		c = claims((scope), (exp), (extra)); \
		t = mint_with("RS256", k1, NULL, k1->kid, c); \
		if (reason) \
			expect_refused(&b, (id), t, (reason)); \
		else \
			expect_accepted(&b, (id), t); \
		free(c); \
	} while (0)

	RS("rs-valid", "agent:read", 600, "", NULL);
	expect_accepted(&b, "hs-valid", hs256("agent:read", 600));
	RS("wrong-iss", "agent:read", 600, "\"iss\":\"http://evil.example\"", "issuer");
	RS("second-iss", "agent:read", 600, "\"iss\":\"https://box.example.com\"", NULL);
	RS("iss-slash", "agent:read", 600, "\"iss\":\"" ISSUER "/\"", "issuer");
	RS("wrong-aud", "agent:read", 600, "\"aud\":\"vault.work\"", "audience");
	RS("aud-array", "agent:read", 600, "\"aud\":[\"vault.work\",\"agent\"]", NULL);
	RS("aud-array-no", "agent:read", 600, "\"aud\":[\"vault.work\",\"hub\"]", "audience");
	RS("no-aud", "agent:read", 600, "\"aud\":null", "audience");
	RS("expired", "agent:read", -5, "", "expired");
	snprintf(extra, sizeof extra, "\"nbf\":%ld", (long)time(NULL) + 300);
	RS("not-yet", "agent:read", 600, extra, "not_yet_valid");
	RS("no-sub", "agent:read", 600, "\"sub\":\"\"", "shape");
	RS("no-jti", "agent:read", 600, "\"jti\":null", "shape");
	RS("string-exp", "agent:read", 600, "\"exp\":\"9999999999\"", "shape");
	RS("revoked", "agent:read", 600, "\"jti\":\"revoked-jti-1\"", "revoked");

	/* A bad signature: one character of the signature changed. */
	c = claims("agent:read", 600, "");
	t = strdup(mint_with("RS256", k1, NULL, k1->kid, c));
	t[strlen(t) - 5] = t[strlen(t) - 5] == 'A' ? 'B' : 'A';
	expect_refused(&b, "bad-sig", t, "signature");
	free(t);
	/* alg none, with and without a kid. */
	expect_refused(&b, "alg-none", mint_with("none", NULL, NULL, k1->kid, c), "algorithm");
	/* HS256 keyed with the RSA public key: the broker's HS256 secret differs. */
	expect_refused(&b, "hs-pubkey", mint_with("HS256", NULL, k1->pub, k1->kid, c),
		       "signature");
	expect_refused(&b, "hs-other", mint_with("HS256", NULL, "another secret", NULL, c),
		       "signature");
	free(c);
	expect_refused(&b, "garbage", "not-a-token", "shape");
	expect_refused(&b, "garbage2", "eyJhbGciOiJSUzI1NiJ9.e30", "shape");
	expect_refused(&b, "garbage3", "eyJub3QganNvbg.e30.sig", "shape");
	{
		/* A token as username and nothing as password. */
		struct th_client cl;
		struct th_login l = { .id = "as-username", .username = hs256("agent:read", 600) };

		CHECK_INT(th_client_login(&cl, b.child.port, &l), NOT_AUTHORIZED);
		th_client_close(&cl);
		CHECK(th_broker_wait_log(&b, "client as-username from 127.0.0.1 refused: shape "
					 "(the token goes in the password", 1, TH_TIMEOUT_MS));
	}

	/* Key rotation: a kid the set lacks is refused and fetched; then accepted. */
	serve_jwks(JWKS_PATH, k1, k2);
	c = claims("agent:read", 600, "");
	t = mint_with("RS256", k2, NULL, k2->kid, c);
	expect_refused(&b, "new-kid", t, "kid");
	CHECK(th_broker_wait_log(&b, "jwks: 2 RS256 keys loaded", 1, TH_TIMEOUT_MS));
	expect_accepted(&b, "new-kid-again", t);
	free(c);
	c = claims("agent:read", 600, "");
	expect_refused(&b, "unknown-kid", mint_with("RS256", k2, NULL, "nobody", c), "kid");
	free(c);
#undef RS
	broker_done(&b);
}

/* Leeway allows clock skew both ways, and no more. */
static void test_leeway(const char *secret_file)
{
	struct th_broker b;
	char *opts = rig_fmt("plugin_opt_issuer " ISSUER "\nplugin_opt_hs256_secret_file %s\n"
			     "plugin_opt_leeway 30\n", secret_file);
	long now = (long)time(NULL);
	char *c, extra[64];

	start_broker(&b, "leeway", opts);
	expect_accepted(&b, "late-10", hs256("agent:read", -10));
	expect_refused(&b, "late-60", hs256("agent:read", -60), "expired");
	snprintf(extra, sizeof extra, "\"nbf\":%ld", now + 10);
	c = claims("agent:read", 600, extra);
	expect_accepted(&b, "early-10", mint_with("HS256", NULL, NULL, NULL, c));
	free(c);
	snprintf(extra, sizeof extra, "\"nbf\":%ld", now + 120);
	c = claims("agent:read", 600, extra);
	expect_refused(&b, "early-120", mint_with("HS256", NULL, NULL, NULL, c), "not_yet_valid");
	free(c);
	/* No audience configured: any aud passes; RS256 is not configured at all. */
	c = claims("agent:read", 600, "\"aud\":\"anything\"");
	expect_accepted(&b, "any-aud", mint_with("HS256", NULL, NULL, NULL, c));
	free(c);
	broker_done(&b);
	free(opts);
}

/* RS256 only, and a revocation list that never loads. */
static void test_revocation_unavailable_and_algorithms(const struct rsa_key *k1)
{
	struct th_broker b;
	char *jwks = hub_url(JWKS_PATH), *rev = hub_url("/missing-revocation.json");
	char *opts = rig_fmt("plugin_opt_issuer " ISSUER "\nplugin_opt_jwks_url %s\n"
			     "plugin_opt_revocation_url %s\n", jwks, rev);
	char *c = claims("agent:read", 600, "");

	start_broker(&b, "norevocation", opts);
	REQUIRE(th_broker_wait_log(&b, "RS256 key", 1, TH_TIMEOUT_MS));
	REQUIRE(th_broker_wait_log(&b, "revocation: fetching", 1, TH_TIMEOUT_MS));
	CHECK(th_broker_log_count(&b, "HTTP 404") >= 1);
	expect_refused(&b, "no-list", mint_with("RS256", k1, NULL, k1->kid, c),
		       "revocation_unavailable");
	/* No HS256 secret here: HS256 keyed with the public key is an algorithm
	 * this broker does not take, whatever the signature says. */
	expect_refused(&b, "confused", mint_with("HS256", NULL, k1->pub, k1->kid, c), "algorithm");
	expect_refused(&b, "hs-plain", mint_with("HS256", NULL, NULL, NULL, c), "algorithm");
	free(c);
	broker_done(&b);
	free(jwks);
	free(rev);
	free(opts);
}

/* An unknown or invalid option keeps mosquitto from starting, named. */
static void test_bad_options(const char *secret_file)
{
	static const struct {
		const char *options;
		const char *secret_suffix;	/* NULL: no secret file line */
		const char *message;
	} cases[] = {
		{ "plugin_opt_issuer x\nplugin_opt_bogus 1\n", "", "unknown option plugin_opt_bogus" },
		{ "", "", "plugin_opt_issuer is required" },
		{ "plugin_opt_issuer x\nplugin_opt_leeway soon\n", "", "plugin_opt_leeway" },
		{ "plugin_opt_issuer x\n", ".missing", "plugin_opt_hs256_secret_file" },
		{ "plugin_opt_issuer x\nplugin_opt_root a/#\n", "", "plugin_opt_root" },
		{ "plugin_opt_issuer x\n", NULL,
		  "plugin_opt_jwks_url or plugin_opt_hs256_secret_file" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *opts = cases[i].secret_suffix
				     ? rig_fmt("%splugin_opt_hs256_secret_file %s%s\n", cases[i].options,
					       secret_file, cases[i].secret_suffix)
				     : rig_fmt("%s", cases[i].options);
		/* As root, mosquitto reads plugin options as its own user, who
		 * could not read our private directory. */
		char *conf = rig_fmt("listener 0 127.0.0.1\nlog_dest stderr\n%splugin %s\n%s",
				     geteuid() == 0 ? "user root\n" : "", PLUGIN_PATH, opts);
		char *path = th_write_file(workdir, "bad.conf", conf);
#ifdef SANITIZER_RUNTIME
		const char *argv[] = { "/usr/bin/env", "LD_PRELOAD=" SANITIZER_RUNTIME,
				       "/usr/sbin/mosquitto", "-c", path, NULL };
#else
		const char *argv[] = { "/usr/sbin/mosquitto", "-c", path, NULL };
#endif
		char *out = NULL, *err = NULL;
		int status = th_run(argv, &out, &err);

		CHECK_MSG(status != 0, "mosquitto refuses to start (case %zu)", i);
		CHECK_CONTAINS(err, cases[i].message);
		free(out);
		free(err);
		free(path);
		free(conf);
		free(opts);
	}
}

/* --- authorization -------------------------------------------------------- */

static int pub_rc(struct th_client *c, const char *topic)
{
	return th_client_publish_acked(c, topic, "x", false);
}

/* A PUBACK below 0x80 is a success (0x10: nobody subscribed). */
#define PUB_ALLOWED(c, t) CHECK_MSG(pub_rc((c), (t)) < 0x80, "may publish %s", t)
#define PUB_DENIED(c, t) CHECK_MSG(pub_rc((c), (t)) == NOT_AUTHORIZED, "may not publish %s", t)
#define SUB_ALLOWED(c, f) CHECK_MSG(th_client_subscribe_rc((c), (f)) == 1, "may subscribe %s", f)
#define SUB_DENIED(c, f) \
	CHECK_MSG(th_client_subscribe_rc((c), (f)) == NOT_AUTHORIZED, "may not subscribe %s", f)

static void open_as(struct th_client *c, struct th_broker *b, const char *id, const char *token)
{
	struct th_login l = { .id = id, .username = "x", .password = token };

	REQUIRE(th_client_login(c, b->child.port, &l) == 0);
}

static void test_authorization(const char *secret_file)
{
	struct th_broker b;
	struct th_client send, read, admin, vr, vw, va, broad, boss;
	struct th_msg *m;

	start_full_broker(&b, secret_file);
	open_as(&send, &b, "send", hs256("agent:send", 600));
	PUB_ALLOWED(&send, "parachute/agent/eng/inbox");
	PUB_DENIED(&send, "parachute/agent/eng/reply");
	PUB_DENIED(&send, "parachute/agent/eng/cancel");
	PUB_DENIED(&send, "parachute/vault/default/write");
	SUB_DENIED(&send, "parachute/agent/eng/reply");

	open_as(&read, &b, "read", hs256("agent:read", 600));
	SUB_ALLOWED(&read, "parachute/agent/+/reply");
	SUB_ALLOWED(&read, "parachute/agent/eng/reply/me");
	SUB_ALLOWED(&read, "parachute/agent/+/events");
	SUB_ALLOWED(&read, "parachute/agentbus/status/+");
	SUB_ALLOWED(&read, "$share/g1/parachute/agent/+/definition");
	SUB_DENIED(&read, "$share/g1/parachute/agent/+/inbox");
	SUB_DENIED(&read, "parachute/agent/#");
	SUB_DENIED(&read, "parachute/agent/eng/+");
	SUB_DENIED(&read, "#");
	SUB_DENIED(&read, "$SYS/#");
	PUB_DENIED(&read, "parachute/agent/eng/inbox");

	open_as(&admin, &b, "admin", hs256("agent:admin", 600));
	SUB_ALLOWED(&admin, "parachute/agent/#");
	SUB_ALLOWED(&admin, "$share/workers/parachute/agentbus/#");
	SUB_DENIED(&admin, "parachute/#");
	SUB_DENIED(&admin, "parachute/vault/default/event/#");
	PUB_ALLOWED(&admin, "parachute/agent/eng/cancel");
	PUB_DENIED(&admin, "parachute/vault/default/write");

	/* Delivery, retained messages included, follows the grants. */
	CHECK(th_client_publish_acked(&admin, "parachute/agentbus/status/i1", "{\"state\":\"online\"}",
				      true) < 0x80);
	{
		struct th_client late;

		open_as(&late, &b, "late-reader", hs256("agent:read", 600));
		SUB_ALLOWED(&late, "parachute/agentbus/status/+");
		m = th_client_next(&late, "parachute/agentbus/status/i1", TH_TIMEOUT_MS);
		CHECK(m && m->retain);
		th_msg_free(m);
		th_client_close(&late);
	}
	PUB_ALLOWED(&send, "parachute/agent/eng/inbox");
	m = th_client_next(&admin, "parachute/agent/eng/inbox", TH_TIMEOUT_MS);
	CHECK(m != NULL);	/* admin reads inboxes... */
	th_msg_free(m);
	CHECK_INT(th_client_count(&read, "parachute/agent/eng/inbox", NULL), 0);	/* read does not */

	open_as(&vr, &b, "vault-read", hs256("vault:default:read", 600));
	SUB_ALLOWED(&vr, "parachute/vault/default/event/#");
	SUB_DENIED(&vr, "parachute/vault/default/write");
	SUB_DENIED(&vr, "parachute/vault/+/event/#");
	SUB_DENIED(&vr, "parachute/vault/work/event/#");
	PUB_DENIED(&vr, "parachute/vault/default/write");

	open_as(&vw, &b, "vault-write", hs256("vault:default:write", 600));
	PUB_ALLOWED(&vw, "parachute/vault/default/write");
	PUB_DENIED(&vw, "parachute/vault/default/event/note.created");
	SUB_ALLOWED(&vw, "parachute/vault/default/event/+");

	open_as(&va, &b, "vault-admin", hs256("vault:default:admin", 600));
	PUB_ALLOWED(&va, "parachute/vault/default/event/note.created");
	SUB_ALLOWED(&va, "parachute/vault/default/#");
	SUB_DENIED(&va, "parachute/vault/#");

	open_as(&broad, &b, "broad", hs256("vault:read vault::read vault:de+fault:read", 600));
	SUB_DENIED(&broad, "parachute/vault/default/event/#");
	SUB_DENIED(&broad, "parachute/vault/+/event/#");

	{
		/* The admin subject may do anything under the root, nothing outside. */
		char *c = claims("", 600, "\"sub\":\"agentbus\"");

		open_as(&boss, &b, "boss", mint_with("HS256", NULL, NULL, NULL, c));
		free(c);
	}
	SUB_ALLOWED(&boss, "parachute/#");
	PUB_ALLOWED(&boss, "parachute/vault/default/event/note.created");
	SUB_DENIED(&boss, "#");

	th_client_close(&send);
	th_client_close(&read);
	th_client_close(&admin);
	th_client_close(&vr);
	th_client_close(&vw);
	th_client_close(&va);
	th_client_close(&broad);
	th_client_close(&boss);
	broker_done(&b);
}

/* --- expiry and takeover -------------------------------------------------- */

static void test_expiry_and_same_id(const char *secret_file)
{
	struct th_broker b;
	struct th_client watcher, doomed, first, second;
	struct th_login l = { .id = "doomed", .username = "x",
			      .will_topic = "parachute/agentbus/status/doomed",
			      .will_payload = "{\"state\":\"offline\"}" };
	long exp;
	struct th_msg *m;
	double late_ms;

	start_full_broker(&b, secret_file);
	open_as(&watcher, &b, "watcher", hs256("agent:read", 600));
	SUB_ALLOWED(&watcher, "parachute/agentbus/status/+");

	exp = (long)time(NULL) + 3;
	l.password = hs256("agent:admin", exp - (long)time(NULL));
	REQUIRE(th_client_login(&doomed, b.child.port, &l) == 0);
	m = th_client_wait_for(&watcher, "parachute/agentbus/status/doomed", "offline",
			       TH_TIMEOUT_MS);
	CHECK_MSG(m != NULL, "the Last Will of the expired client is published");
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		late_ms = ((double)ts.tv_sec - (double)exp) * 1000 + (double)ts.tv_nsec / 1e6;
	}
	th_msg_free(m);
	CHECK(th_client_wait_disconnect(&doomed, TH_TIMEOUT_MS));
	CHECK(th_broker_wait_log(&b, "client doomed disconnected: token expired", 1, TH_TIMEOUT_MS));
	printf("expired client disconnected %.0f ms after its exp\n", late_ms);
	th_client_close(&doomed);

	/* The same client id twice: the newer connection keeps its own grants
	 * although the older one's disconnect event comes after its login. */
	open_as(&first, &b, "twin", hs256("agent:read", 600));
	open_as(&second, &b, "twin", hs256("agent:admin", 600));
	CHECK(th_client_wait_disconnect(&first, TH_TIMEOUT_MS));
	SUB_ALLOWED(&second, "parachute/agent/#");
	PUB_ALLOWED(&second, "parachute/agent/eng/cancel");
	th_client_close(&first);
	th_client_close(&second);
	th_client_close(&watcher);
	broker_done(&b);
}

/* --- a stalled hub -------------------------------------------------------- */

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* QoS 1 round trips through the broker, publish to delivery, in µs. */
static void round_trips(struct th_client *c, const char *label, int n, double *p50, double *max)
{
	double *us = calloc((size_t)n, sizeof *us);
	int i;

	REQUIRE(us != NULL);
	for (i = 0; i < n; i++) {
		char text[32];
		double t0 = now_us();
		struct th_msg *m;

		snprintf(text, sizeof text, "%s-%05d", label, i);
		th_client_publish_text(c, "parachute/agent/probe/events", text);
		m = th_client_wait_for(c, "parachute/agent/probe/events", text, TH_TIMEOUT_MS);
		REQUIRE(m != NULL);
		th_msg_free(m);
		us[i] = now_us() - t0;
	}
	qsort(us, (size_t)n, sizeof *us, compare_double);
	*p50 = us[n / 2];
	*max = us[n - 1];
	free(us);
}

static void test_stalled_hub(const struct rsa_key *k1, const char *secret_file)
{
	struct th_broker b;
	struct th_client probe;
	char *jwks = hub_url("/stall/jwks.json");
	char *opts = rig_fmt("plugin_opt_issuer " ISSUER "\nplugin_opt_jwks_url %s\n"
			     "plugin_opt_hs256_secret_file %s\n", jwks, secret_file);
	double base50, basemax, stall50, stallmax;
	char *c;

	serve_jwks("/stall/jwks.json", k1, NULL);
	start_broker(&b, "stall", opts);
	REQUIRE(th_broker_wait_log(&b, "jwks: 1 RS256 key loaded", 1, TH_TIMEOUT_MS));
	open_as(&probe, &b, "probe", hs256("agent:admin", 600));
	SUB_ALLOWED(&probe, "parachute/agent/probe/events");
	round_trips(&probe, "before", 200, &base50, &basemax);

	/* An unknown kid sends the fetcher to a hub that does not answer. */
	th_httpd_stall(hub, "/stall/jwks.json", true);
	c = claims("agent:read", 600, "");
	expect_refused(&b, "stranger", mint_with("RS256", k1, NULL, "k-unknown", c), "kid");
	REQUIRE(th_httpd_wait_requests(hub, "/stall/jwks.json", 2, TH_TIMEOUT_MS));
	round_trips(&probe, "during", 200, &stall50, &stallmax);
	/* Logins go on too, with the keys already held. */
	expect_accepted(&b, "during-rs256", mint_with("RS256", k1, NULL, k1->kid, c));
	expect_accepted(&b, "during-hs256", hs256("agent:read", 600));
	CHECK_INT(th_httpd_requests(hub, "/stall/jwks.json"), 2);	/* still held */
	th_httpd_stall(hub, "/stall/jwks.json", false);
	printf("QoS 1 round trip while the JWKS fetch stalls: p50 %.0f µs, max %.0f µs "
	       "(before: p50 %.0f µs, max %.0f µs; 200 each)\n",
	       stall50, stallmax, base50, basemax);
	free(c);
	th_client_close(&probe);
	broker_done(&b);
	free(jwks);
	free(opts);
}

/* --- the pipeline through a locked-down broker --------------------------- */

static void test_pipeline(const char *secret_file)
{
	struct th_broker b;
	struct th_client module, asker;
	struct th_daemon d;
	char *opts = rig_fmt("plugin_opt_issuer " ISSUER "\nplugin_opt_hs256_secret_file %s\n",
			     secret_file);
	char *state = th_tmpdir("state"), *port, *pwfile;
	struct th_msg *m;
	char *c;

	start_broker(&b, "pipeline", opts);
	port = rig_fmt("%d", b.child.port);
	/* A stale token first: agentbus retries, then reads the rotated file. */
	c = claims("agent:admin vault:default:admin", -100, "\"sub\":\"svc-agentbus\"");
	pwfile = th_write_file(workdir, "agentbus.token", mint_with("HS256", NULL, NULL, NULL, c));
	free(c);
	{
		const char *args[] = { "-p", port, "--id", "locked", "--state-dir", state,
				       "--password-file", pwfile, "--reconnect-max", "1", NULL };

		th_daemon_start(&d, args);
	}
	CHECK(th_broker_wait_log(&b, "refused: expired", 1, TH_TIMEOUT_MS));
	c = claims("agent:admin vault:default:admin", 600, "\"sub\":\"svc-agentbus\"");
	free(th_write_file(workdir, "agentbus.token", mint_with("HS256", NULL, NULL, NULL, c)));
	free(c);
	REQUIRE(th_broker_wait_log(&b, "authenticated as svc-agentbus", 1, TH_TIMEOUT_MS));

	open_as(&module, &b, "module", hs256("vault:default:write", 600));
	SUB_ALLOWED(&module, "parachute/vault/default/event/#");
	open_as(&asker, &b, "asker", hs256("agent:send agent:read", 600));
	SUB_ALLOWED(&asker, "parachute/agent/eng/definition");
	SUB_ALLOWED(&asker, "parachute/agent/eng/reply/asker");
	SUB_ALLOWED(&asker, "parachute/agentbus/status/+");
	m = th_client_wait_for(&asker, "parachute/agentbus/status/locked", "online", TH_TIMEOUT_MS);
	CHECK_MSG(m != NULL, "the asker reads agentbus's status");
	th_msg_free(m);

	th_client_publish_text(&module, "parachute/vault/default/write",
			       "{\"op\":\"upsert\",\"request_id\":\"def-eng\",\"note\":{\"id\":\"d-eng\","
			       "\"path\":\"Agents/eng\",\"tags\":[\"agent/definition\"],"
			       "\"metadata\":{\"name\":\"eng\"}}}");
	m = th_client_wait_for(&module, "parachute/vault/default/event/note.created", "d-eng",
			       TH_TIMEOUT_MS);
	CHECK_MSG(m != NULL, "the module sees the vault event of its write");
	th_msg_free(m);
	m = th_client_wait_for(&asker, "parachute/agent/eng/definition", "enabled", TH_TIMEOUT_MS);
	CHECK_MSG(m != NULL, "the agent is registered");
	th_msg_free(m);

	th_client_publish(&asker, "parachute/agent/eng/inbox", "hello through the plugin",
			  SIZE_MAX, NULL, "parachute/agent/eng/reply/asker", "corr-1");
	m = th_client_wait_for(&asker, "parachute/agent/eng/reply/asker", "hello through the plugin",
			       TH_TIMEOUT_MS);
	CHECK_MSG(m != NULL, "the inbox message is answered on the response topic");
	if (m)
		CHECK_STR(m->correlation, "corr-1");
	th_msg_free(m);
	CHECK_INT(th_broker_log_count(&b, "Denied PUBLISH"), 0);

	/* Killed, agentbus leaves by its Last Will, which the plugin lets out. */
	th_daemon_stop(&d, SIGKILL);
	m = th_client_wait_for(&asker, "parachute/agentbus/status/locked", "offline", TH_TIMEOUT_MS);
	CHECK_MSG(m != NULL, "agentbus's Last Will passes the plugin");
	th_msg_free(m);
	th_daemon_free(&d);
	th_client_close(&module);
	th_client_close(&asker);
	broker_done(&b);
	free(pwfile);
	free(port);
	free(state);
	free(opts);
}

/* `agentbus token` mints what the plugin takes. */
static void test_token_command(const char *secret_file)
{
	struct th_broker b;
	char *opts = rig_fmt("plugin_opt_issuer " ISSUER "\nplugin_opt_audience vault.default\n"
			     "plugin_opt_hs256_secret_file %s\n", secret_file);
	const char *argv[] = { th_agentbus_bin(), "token", "--secret-file", secret_file, "--scope",
			       "vault:default:write", "--ttl", "60", NULL };
	const char *bad[] = { th_agentbus_bin(), "token", "--scope", "x", NULL };
	char *out = NULL, *err = NULL;

	start_broker(&b, "tokencmd", opts);
	REQUIRE(th_run(argv, &out, &err) == 0);
	out[strcspn(out, "\n")] = '\0';
	expect_accepted(&b, "minted", out);
	free(out);
	free(err);
	CHECK(th_run(bad, &out, &err) != 0);
	CHECK_CONTAINS(err, "usage: agentbus token");
	free(out);
	free(err);
	broker_done(&b);
	free(opts);
}

int main(void)
{
	struct rsa_key k1, k2;
	char *secret_file;
	int i;

	workdir = th_tmpdir("plugin");
#ifdef SANITIZER_RUNTIME
	{
		/* mosquitto 2.0.11 leaks a few of its own allocations at exit;
		 * the plugin never allocates through mosquitto's allocator, so
		 * its leaks still show. Set before any thread or child exists. */
		char *supp = th_write_file(workdir, "lsan.supp",
					   "leak:mosquitto__calloc\nleak:mosquitto__malloc\n"
					   "leak:mosquitto__strdup\nleak:mosquitto__realloc\n");
		char *opts = rig_fmt("suppressions=%s:print_suppressions=0", supp);

		setenv("LSAN_OPTIONS", opts, 1);
		free(opts);
		free(supp);
	}
#endif
	secret_file = th_write_file(workdir, "hs256.secret", SECRET "\n");
	make_key(&k1, "k1");
	make_key(&k2, "k2");
	hub = th_httpd_start();
	serve_jwks(JWKS_PATH, &k1, NULL);
	th_httpd_set(hub, REVOCATION_PATH, 200,
		     "{\"generated_at\":\"2026-12-01T00:00:00Z\",\"jtis\":[\"revoked-jti-1\"]}");

	RUN2(test_authentication, &k1, &k2, secret_file);
	RUN2(test_leeway, secret_file);
	RUN2(test_revocation_unavailable_and_algorithms, &k1);
	RUN2(test_bad_options, secret_file);
	RUN2(test_authorization, secret_file);
	RUN2(test_expiry_and_same_id, secret_file);
	RUN2(test_stalled_hub, &k1, secret_file);
	RUN2(test_token_command, secret_file);
	RUN2(test_pipeline, secret_file);

	th_httpd_stop(hub);
	free_key(&k1);
	free_key(&k2);
	for (i = 0; i < n_minted; i++)
		free(minted[i]);
	free(secret_file);
	free(workdir);
	return check_summary();
}
