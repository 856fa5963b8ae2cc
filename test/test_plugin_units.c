/* test_plugin_units: the broker plugin's pure parts — the scope table of
 * CONTRACT.md section 11, filter coverage, $share, options, base64url. */
#include <stdlib.h>
#include <string.h>

#include "plugin/b64url.h"
#include "plugin/options.h"
#include "plugin/scope.h"
#include "test/check.h"

static bool allows(const char *scope, enum grant_access a, const char *topic)
{
	struct grants g;
	bool ok;

	REQUIRE(grants_build(&g, "parachute", scope, false) == 0);
	ok = grants_allow(&g, a, topic);
	grants_free(&g);
	return ok;
}

#define PUB_OK(s, t) CHECK_MSG(allows((s), GRANT_PUBLISH, (t)), "%s may publish %s", s, t)
#define PUB_NO(s, t) CHECK_MSG(!allows((s), GRANT_PUBLISH, (t)), "%s may not publish %s", s, t)
#define SUB_OK(s, t) CHECK_MSG(allows((s), GRANT_READ, (t)), "%s may read %s", s, t)
#define SUB_NO(s, t) CHECK_MSG(!allows((s), GRANT_READ, (t)), "%s may not read %s", s, t)

static void test_filter_covers(void)
{
	CHECK(filter_covers("a/b", "a/b"));
	CHECK(!filter_covers("a/b", "a/c"));
	CHECK(!filter_covers("a/b", "a/b/c"));
	CHECK(!filter_covers("a/b/c", "a/b"));
	CHECK(filter_covers("a/+", "a/x"));
	CHECK(filter_covers("a/+", "a/+"));
	CHECK(filter_covers("a/+", "a/"));
	CHECK(!filter_covers("a/+", "a/#"));
	CHECK(!filter_covers("a/+", "a/x/y"));
	CHECK(!filter_covers("a/x", "a/+"));
	CHECK(filter_covers("a/#", "a"));
	CHECK(filter_covers("a/#", "a/#"));
	CHECK(filter_covers("a/#", "a/+/c/#"));
	CHECK(filter_covers("a/+/#", "a/x"));
	CHECK(!filter_covers("a/+/#", "a/#"));
	CHECK(!filter_covers("a/b/#", "a/#"));
	CHECK(!filter_covers("a/b/#", "+/b/c"));
	CHECK(!filter_covers("a/#", "#"));
	CHECK(!filter_covers("+/#", "$SYS/x"));
}

static void test_agent_scopes(void)
{
	PUB_OK("agent:send", "parachute/agent/eng/inbox");
	PUB_NO("agent:send", "parachute/agent/eng/reply");
	PUB_NO("agent:send", "parachute/agent/eng/cancel");
	SUB_NO("agent:send", "parachute/agent/eng/reply");
	SUB_NO("agent:send", "parachute/agent/eng/inbox");

	SUB_OK("agent:read", "parachute/agent/+/reply");
	SUB_OK("agent:read", "parachute/agent/eng/reply/me");
	SUB_OK("agent:read", "parachute/agent/+/events");
	SUB_OK("agent:read", "parachute/agent/eng/definition");
	SUB_OK("agent:read", "parachute/agentbus/status/+");
	SUB_NO("agent:read", "parachute/agent/+/inbox");
	SUB_NO("agent:read", "parachute/agent/eng/+");
	SUB_NO("agent:read", "parachute/agent/#");
	SUB_NO("agent:read", "parachute/agentbus/deadletter");
	PUB_NO("agent:read", "parachute/agent/eng/inbox");

	/* The ladder: write and admin hold read; nothing holds send but admin's # */
	SUB_OK("agent:write", "parachute/agent/+/reply");
	PUB_NO("agent:write", "parachute/agent/eng/inbox");
	SUB_OK("agent:admin", "parachute/agent/#");
	SUB_OK("agent:admin", "parachute/agentbus/#");
	PUB_OK("agent:admin", "parachute/agent/eng/cancel");
	PUB_OK("agent:admin", "parachute/agentbus/status/x");
	SUB_NO("agent:admin", "parachute/#");
	SUB_NO("agent:admin", "#");
	SUB_NO("agent:admin", "parachute/vault/default/event/#");
	PUB_NO("agent:send agent:read", "parachute/agent/eng/reply");

	/* Narrowed to one agent. */
	PUB_OK("agent:eng:send", "parachute/agent/eng/inbox");
	PUB_NO("agent:eng:send", "parachute/agent/ops/inbox");
	SUB_OK("agent:eng:read", "parachute/agent/eng/events");
	SUB_NO("agent:eng:read", "parachute/agent/+/events");
	SUB_OK("agent:eng:admin", "parachute/agent/eng/#");
	SUB_NO("agent:eng:admin", "parachute/agentbus/#");
}

static void test_vault_scopes(void)
{
	SUB_OK("vault:default:read", "parachute/vault/default/event/#");
	SUB_OK("vault:default:read", "parachute/vault/default/event/note.created");
	SUB_NO("vault:default:read", "parachute/vault/default/write");
	SUB_NO("vault:default:read", "parachute/vault/default/#");
	SUB_NO("vault:default:read", "parachute/vault/work/event/#");
	SUB_NO("vault:default:read", "parachute/vault/+/event/#");
	PUB_NO("vault:default:read", "parachute/vault/default/write");

	PUB_OK("vault:default:write", "parachute/vault/default/write");
	PUB_NO("vault:default:write", "parachute/vault/default/event/note.created");
	SUB_OK("vault:default:write", "parachute/vault/default/event/+");

	PUB_OK("vault:default:admin", "parachute/vault/default/event/note.created");
	PUB_OK("vault:default:admin", "parachute/vault/default/write");
	SUB_OK("vault:default:admin", "parachute/vault/default/#");
	SUB_NO("vault:default:admin", "parachute/vault/#");

	/* A broad vault scope names no vault. */
	SUB_NO("vault:read", "parachute/vault/default/event/#");
	PUB_NO("vault:admin", "parachute/vault/default/write");
}

static void test_malformed_scopes(void)
{
	static const char *const bad[] = { "vault::read", "vault:de+fault:read", "vault:#:admin",
					   "vault:a/b:admin", "vault:default:read:x",
					   "vault:default:", "agent:", "agent::admin", ":admin",
					   "agent:Admin", "agent:eng:sned", "hub:admin", "" };
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct grants g;

		REQUIRE(grants_build(&g, "parachute", bad[i], false) == 0);
		CHECK_MSG(g.n_publish == 0 && g.n_read == 0, "\"%s\" grants nothing", bad[i]);
		grants_free(&g);
	}
	/* Any whitespace separates; unknown scopes do not spoil the others. */
	SUB_OK("bogus\tvault:default:read\n x:y", "parachute/vault/default/event/#");
}

static void test_admin_subject_and_share(void)
{
	struct grants g;

	REQUIRE(grants_build(&g, "bus/one", "", true) == 0);
	CHECK(grants_allow(&g, GRANT_READ, "bus/one/#"));
	CHECK(grants_allow(&g, GRANT_PUBLISH, "bus/one/vault/default/event/note.created"));
	CHECK(!grants_allow(&g, GRANT_READ, "#"));
	CHECK(!grants_allow(&g, GRANT_READ, "bus/two/x"));
	CHECK(!grants_allow(&g, GRANT_READ, "$SYS/broker/uptime"));
	grants_free(&g);

	CHECK_STR(subscription_filter("$share/g/parachute/agent/+/reply"), "parachute/agent/+/reply");
	CHECK_STR(subscription_filter("parachute/x"), "parachute/x");
	CHECK(subscription_filter("$share/g") == NULL);
	CHECK(subscription_filter("$share//x") == NULL);
	CHECK(subscription_filter("$share/g/") == NULL);
}

static void test_options(void)
{
	struct auth_options o;
	char err[256];

	auth_options_init(&o);
	CHECK(auth_options_set(&o, "issuer", "http://127.0.0.1:1939/, https://box.example.com", err,
			       sizeof err) == 0);
	CHECK_INT(o.n_issuers, 2);
	CHECK_STR(o.issuers[0], "http://127.0.0.1:1939");
	CHECK_STR(o.issuers[1], "https://box.example.com");
	CHECK(auth_options_set(&o, "audience", "agent,vault.default", err, sizeof err) == 0);
	CHECK_INT(o.n_audiences, 2);
	CHECK(auth_options_set(&o, "bogus", "1", err, sizeof err) != 0);
	CHECK_CONTAINS(err, "plugin_opt_bogus");
	CHECK(auth_options_set(&o, "leeway", "-1", err, sizeof err) != 0);
	CHECK_CONTAINS(err, "plugin_opt_leeway");
	CHECK(auth_options_set(&o, "leeway", "30", err, sizeof err) == 0 && o.leeway == 30);
	CHECK(auth_options_set(&o, "root", "a/+/b", err, sizeof err) != 0);
	CHECK_CONTAINS(err, "plugin_opt_root");
	CHECK(auth_options_set(&o, "jwks_url", "file:///etc/passwd", err, sizeof err) != 0);
	CHECK(auth_options_set(&o, "audience", "a,,b", err, sizeof err) != 0);
	CHECK(auth_options_finish(&o, err, sizeof err) != 0);
	CHECK_CONTAINS(err, "plugin_opt_jwks_url or plugin_opt_hs256_secret_file");
	CHECK(auth_options_set(&o, "hs256_secret_file", "/nonexistent/secret", err, sizeof err) != 0);
	CHECK_CONTAINS(err, "plugin_opt_hs256_secret_file");
	CHECK(auth_options_set(&o, "jwks_url", "http://127.0.0.1:1/jwks.json", err, sizeof err) == 0);
	CHECK(auth_options_finish(&o, err, sizeof err) == 0);
	CHECK_STR(o.root, "parachute");
	auth_options_free(&o);

	auth_options_init(&o);
	CHECK(auth_options_set(&o, "jwks_url", "http://127.0.0.1:1/jwks.json", err, sizeof err) == 0);
	CHECK(auth_options_finish(&o, err, sizeof err) != 0);
	CHECK_CONTAINS(err, "plugin_opt_issuer");
	auth_options_free(&o);
}

static void test_b64url(void)
{
	size_t n;
	unsigned char *d = b64url_decode("eyJhIjoxfQ", 10, &n);

	CHECK(d && n == 7 && memcmp(d, "{\"a\":1}", 7) == 0);
	free(d);
	CHECK(b64url_decode("eyJhIjoxfQ==", 12, &n) == NULL);	/* padding */
	CHECK(b64url_decode("ab+/", 4, &n) == NULL);		/* not url-safe */
	CHECK(b64url_decode("a", 1, &n) == NULL);		/* impossible length */
	CHECK(b64url_decode("eyJhIjoxfR", 10, &n) == NULL);	/* stray low bits */
	d = b64url_decode("", 0, &n);
	CHECK(d && n == 0);
	free(d);
}

int main(void)
{
	RUN(test_filter_covers);
	RUN(test_agent_scopes);
	RUN(test_vault_scopes);
	RUN(test_malformed_scopes);
	RUN(test_admin_subject_and_share);
	RUN(test_options);
	RUN(test_b64url);
	return check_summary();
}
