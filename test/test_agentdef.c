/* test_agentdef: definition notes -> specs with the reference's vectors
 * (V1-V7 of parachute-agent-behaviour.md section 8) and every validation
 * error in its wording, the `wants` vectors of the reference's grants.test.ts;
 * plus the pure pieces around turns: the string map, failure-note text. */
#include <cjson/cJSON.h>

#include "bus/event.h"
#include "handlers/agentdef.h"
#include "handlers/notes.h"
#include "test/check.h"
#include "util/strmap.h"

static const struct agentdef_defaults defaults = { "echo", 300, NULL };

/* Parses {"id":..., "content":..., "metadata":...} given as JSON. */
static int parse(const char *note_json, struct agent_spec *spec, char *err)
{
	char *text;
	struct vault_event ev;
	struct bus_error e;
	int rc;

	REQUIRE(asprintf(&text, "{\"event\":\"created\",\"note\":%s}", note_json) > 0);
	REQUIRE(event_decode(cJSON_Parse(text), "default", 0, &ev, &e) == 0);
	err[0] = '\0';
	rc = agentdef_parse(&ev.note, "default", &defaults, spec, err, 512);
	event_free(&ev);
	free(text);
	return rc;
}

static void expect_error(const char *note_json, const char *message)
{
	struct agent_spec spec;
	char err[512];

	CHECK_MSG(parse(note_json, &spec, err) != 0, "accepted %s", note_json);
	CHECK_STR(err, message);
}

static void test_v1_minimal(void)
{
	struct agent_spec s;
	char err[512];

	REQUIRE(parse("{\"id\":\"2026-06-20-07-30-56-487050\",\"path\":\"Agents/steward\","
		      "\"content\":\"You are the steward.\",\"metadata\":{\"name\":\"steward\"}}",
		      &s, err) == 0);
	CHECK_STR(s.name, "steward");
	CHECK_INT(s.backend, BACKEND_PROGRAMMATIC);
	CHECK_INT(s.mode, MODE_SINGLE);
	CHECK_STR(s.system_prompt, "You are the steward.");
	CHECK_STR(s.definition, "2026-06-20-07-30-56-487050");
	CHECK_STR(s.path, "Agents/steward");
	CHECK_STR(s.vault, "default");
	CHECK_STR(s.engine, "echo");
	CHECK_INT(s.timeout, 300);
	CHECK(s.model == NULL);
	agent_spec_free(&s);
}

static void test_v2_full_knobs(void)
{
	struct agent_spec s, back;
	char err[512];
	cJSON *j;

	REQUIRE(parse("{\"id\":\"n1\",\"content\":\"role prose\",\"metadata\":{\"name\":\"builder\","
		      "\"backend\":\"programmatic\",\"mode\":\"one-shot\",\"systemPromptMode\":\"replace\","
		      "\"model\":\"claude-opus-4-8\",\"workspace\":\"/srv/proj\",\"filesystem\":\"full\","
		      "\"network\":\"restricted\",\"egress\":\"api.github.com, registry.npmjs.org\","
		      "\"mounts\":\"[{\\\"hostPath\\\":\\\"/data\\\",\\\"mountPath\\\":\\\"/data\\\","
		      "\\\"mode\\\":\\\"ro\\\"},{\\\"hostPath\\\":\\\"rel\\\",\\\"mountPath\\\":"
		      "\\\"/x\\\",\\\"mode\\\":\\\"rw\\\"}]\","
		      "\"engine\":\"exec\",\"timeout\":42}}", &s, err) == 0);
	/* The reference's expectation: the mount with a relative hostPath dropped. */
	CHECK_INT(s.sandbox.fs, SANDBOX_FS_FULL);
	CHECK_INT(s.sandbox.net, SANDBOX_NET_RESTRICTED);
	CHECK_STR(s.sandbox.workspace, "/srv/proj");
	REQUIRE(s.sandbox.n_egress == 2);
	CHECK_STR(s.sandbox.egress[0], "api.github.com");
	CHECK_STR(s.sandbox.egress[1], "registry.npmjs.org");
	REQUIRE(s.sandbox.n_mounts == 1);
	CHECK_STR(s.sandbox.mounts[0].host_path, "/data");
	CHECK_STR(s.sandbox.mounts[0].mount_path, "/data");
	CHECK(!s.sandbox.mounts[0].rw);
	CHECK_INT(s.sandbox.mounts_dropped, 1);
	CHECK_INT(s.mode, MODE_MULTI);
	CHECK_INT(s.prompt_mode, PROMPT_REPLACE);
	CHECK_STR(s.model, "claude-opus-4-8");
	CHECK_STR(s.engine, "exec");
	CHECK_INT(s.timeout, 42);
	/* The state's JSON form reads back to the same spec. */
	j = agent_spec_to_json(&s);
	REQUIRE(agent_spec_from_json(j, &back) == 0);
	CHECK_STR(back.model, "claude-opus-4-8");
	CHECK_INT(back.mode, MODE_MULTI);
	CHECK_INT(back.prompt_mode, PROMPT_REPLACE);
	CHECK_STR(back.system_prompt, "role prose");
	CHECK_INT(back.timeout, 42);
	CHECK_INT(back.sandbox.fs, SANDBOX_FS_FULL);
	CHECK_INT(back.sandbox.net, SANDBOX_NET_RESTRICTED);
	CHECK_STR(back.sandbox.workspace, "/srv/proj");
	CHECK(back.sandbox.n_egress == 2 && back.sandbox.n_mounts == 1);
	cJSON_Delete(j);
	agent_spec_free(&back);
	agent_spec_free(&s);
}

/* The confinement fields' defaults, list forms, and what mounts drop. */
static void test_sandbox_fields(void)
{
	struct agent_spec s;
	char err[512];

	REQUIRE(parse("{\"id\":\"s1\",\"metadata\":{\"name\":\"a\"}}", &s, err) == 0);
	CHECK_INT(s.sandbox.fs, SANDBOX_FS_WORKSPACE);
	CHECK_INT(s.sandbox.net, SANDBOX_NET_OPEN);
	CHECK(s.sandbox.workspace == NULL && s.sandbox.n_egress == 0 && s.sandbox.n_mounts == 0);
	agent_spec_free(&s);
	REQUIRE(parse("{\"id\":\"s2\",\"metadata\":{\"name\":\"a\",\"egress\":[\" a.example \","
		      "\"\",\"b.example:443\"],\"mounts\":[{\"hostPath\":\"/h\",\"mountPath\":\"/m\","
		      "\"mode\":\"rw\"},{\"hostPath\":\"/h\",\"mountPath\":\"/\"},{\"hostPath\":\"/h/../etc\","
		      "\"mountPath\":\"/e\"},{\"hostPath\":\"/h\",\"mountPath\":\"/proc/x\"},{\"hostPath\":"
		      "\"/h\",\"mountPath\":\"/n\",\"mode\":\"rwx\"},\"nonsense\"]}}", &s, err) == 0);
	REQUIRE(s.sandbox.n_egress == 2);
	CHECK_STR(s.sandbox.egress[0], "a.example");
	CHECK_STR(s.sandbox.egress[1], "b.example:443");
	REQUIRE(s.sandbox.n_mounts == 1);
	CHECK(s.sandbox.mounts[0].rw);
	CHECK_INT(s.sandbox.mounts_dropped, 5);
	agent_spec_free(&s);
	REQUIRE(parse("{\"id\":\"s3\",\"metadata\":{\"name\":\"a\",\"mounts\":\"not json\"}}", &s,
		      err) == 0);
	CHECK_INT(s.sandbox.mounts_dropped, 1);
	agent_spec_free(&s);
	expect_error("{\"id\":\"s4\",\"metadata\":{\"name\":\"a\",\"workspace\":\"rel/dir\"}}",
		     "#agent/definition note s4: workspace must be an absolute path (start with \"/\")");
	expect_error("{\"id\":\"s5\",\"metadata\":{\"name\":\"a\",\"filesystem\":\"host\"}}",
		     "#agent/definition note s5: filesystem must be \"workspace\" or \"full\"");
	expect_error("{\"id\":\"s6\",\"metadata\":{\"name\":\"a\",\"network\":\"none\"}}",
		     "#agent/definition note s6: network must be \"open\" or \"restricted\"");
}

static void test_egress_match(void)
{
	CHECK(sandbox_egress_allows("api.github.com", "API.GitHub.com", 443));
	CHECK(sandbox_egress_allows("api.github.com", "api.github.com", 8080));
	CHECK(!sandbox_egress_allows("api.github.com", "github.com", 443));
	CHECK(!sandbox_egress_allows("api.github.com", "api.github.com.evil", 443));
	CHECK(sandbox_egress_allows("b.example:443", "b.example", 443));
	CHECK(!sandbox_egress_allows("b.example:443", "b.example", 80));
	CHECK(sandbox_egress_allows("*.example.com", "x.y.example.com", 443));
	CHECK(!sandbox_egress_allows("*.example.com", "example.com", 443));
	CHECK(!sandbox_egress_allows("*.example.com", "badexample.com", 443));
	CHECK(sandbox_egress_allows("[::1]:8080", "[::1]", 8080));
	CHECK(!sandbox_egress_allows("127.0.0.1:80x", "127.0.0.1", 80));
}

/* V5: legacy backend value; a blank body makes systemPromptMode irrelevant. */
static void test_v5_legacy_and_blank_body(void)
{
	struct agent_spec s;
	char err[512];

	REQUIRE(parse("{\"id\":\"n4\",\"content\":\"  \\n \",\"metadata\":{\"name\":\"a\","
		      "\"backend\":\"channel\",\"systemPromptMode\":\"bogus\"}}", &s, err) == 0);
	CHECK_INT(s.backend, BACKEND_ATTACHED);
	CHECK(s.system_prompt == NULL);
	agent_spec_free(&s);
	REQUIRE(parse("{\"id\":\"n8\",\"metadata\":{\"name\":\" a \",\"mode\":\"resident\"}}", &s,
		      err) == 0);
	CHECK_STR(s.name, "a");	/* metaStr trims */
	CHECK_INT(s.mode, MODE_SINGLE);
	agent_spec_free(&s);
	REQUIRE(parse("{\"id\":\"n9\",\"metadata\":{\"name\":\"a\",\"mode\":\"per-thread\","
		      "\"wants\":[\"vault:research:read#published\",\"env:github\",\"mcp:github\","
		      "\"mcp:https://x.example/mcp\",\"surface:ui:write\"]}}", &s, err) == 0);
	CHECK_INT(s.mode, MODE_MULTI);
	agent_spec_free(&s);
}

static void test_every_validation_error(void)
{
	expect_error("{\"id\":\"n0\",\"metadata\":{}}", "#agent/definition note n0 has no metadata.name");
	expect_error("{\"id\":\"n0\",\"metadata\":{\"name\":{\"x\":1}}}",
		     "#agent/definition note n0 has no metadata.name");
	expect_error("{\"id\":\"n2\",\"content\":\"x\",\"metadata\":{\"name\":\"Uni Dev\"}}",
		     "#agent/definition note n2: name \"Uni Dev\" must be a slug (alphanumeric, "
		     "dash, underscore)");
	expect_error("{\"id\":\"n2\",\"metadata\":{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}",
		     "#agent/definition note n2: name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		     "aaaaaaaaaaaaaaaaaaaa\" is longer than 64 characters");
	expect_error("{\"id\":\"n3\",\"content\":\"x\",\"metadata\":{\"name\":\"a\","
		     "\"backend\":\"interactive\"}}",
		     "#agent/definition note n3: the \"interactive\" backend is retired — use "
		     "\"programmatic\" (daemon-run turns, the default) or \"attached\" (handled by a "
		     "Claude Code session you connect to the channel).");
	expect_error("{\"id\":\"n3\",\"metadata\":{\"name\":\"a\",\"backend\":\"remote\"}}",
		     "#agent/definition note n3: backend must be \"programmatic\" or \"attached\"");
	expect_error("{\"id\":\"n3\",\"metadata\":{\"name\":\"a\",\"mode\":\"parallel\"}}",
		     "#agent/definition note n3: mode must be \"single-threaded\" or \"multi-threaded\"");
	expect_error("{\"id\":\"n3\",\"content\":\"x\",\"metadata\":{\"name\":\"a\","
		     "\"systemPromptMode\":\"bogus\"}}",
		     "#agent/definition note n3: systemPromptMode must be \"append\" or \"replace\"");
	expect_error("{\"id\":\"n5\",\"content\":\"x\",\"metadata\":{\"name\":\"a\","
		     "\"model\":\"opus 4.8\"}}",
		     "#agent/definition note n5: model \"opus 4.8\" is not a valid model name "
		     "(letters, numbers, dot, underscore, colon, dash)");
	expect_error("{\"id\":\"n5\",\"metadata\":{\"name\":\"a\",\"workspace\":\"srv\"}}",
		     "#agent/definition note n5: workspace must be an absolute path (start with \"/\")");
	expect_error("{\"id\":\"n5\",\"metadata\":{\"name\":\"a\",\"filesystem\":\"all\"}}",
		     "#agent/definition note n5: filesystem must be \"workspace\" or \"full\"");
	expect_error("{\"id\":\"n5\",\"metadata\":{\"name\":\"a\",\"network\":\"closed\"}}",
		     "#agent/definition note n5: network must be \"open\" or \"restricted\"");
	expect_error("{\"id\":\"n6\",\"content\":\"x\",\"metadata\":{\"name\":\"a\","
		     "\"wants\":\"vault:research\"}}",
		     "#agent/definition note n6: wants: \"vault:research\" is malformed — a vault "
		     "connection needs a verb: \"vault:<name>:<read|write>\".");
	expect_error("{\"id\":\"n6\",\"metadata\":{\"name\":\"a\",\"wants\":[\"env:github\","
		     "\"telepathy\"]}}",
		     "#agent/definition note n6: wants: \"telepathy\" is malformed — expected "
		     "\"<kind>:<target>…\" (e.g. \"vault:research:read\", \"env:github\", "
		     "\"mcp:https://…\").");
	expect_error("{\"id\":\"n7\",\"metadata\":{\"name\":\"a\",\"engine\":\"magic\"}}",
		     "#agent/definition note n7: engine \"magic\" is not configured (an engine-def "
		     "name, or \"echo\", \"exec\", \"openai\", \"anthropic\")");
	expect_error("{\"id\":\"n7\",\"metadata\":{\"name\":\"a\",\"timeout\":\"0\"}}",
		     "#agent/definition note n7: timeout must be a whole number of seconds from 1 "
		     "to 86400");
	expect_error("{\"id\":\"n7\",\"metadata\":{\"name\":\"a\",\"timeout\":\"5s\"}}",
		     "#agent/definition note n7: timeout must be a whole number of seconds from 1 "
		     "to 86400");
}

/* The wants vectors of the reference's grants.test.ts that apply. */
static void expect_wants_ok(const char *wants_json)
{
	struct agent_spec spec;
	char note[512], err[512];

	snprintf(note, sizeof note, "{\"id\":\"w\",\"metadata\":{\"name\":\"a\",\"wants\":%s}}",
		 wants_json);
	CHECK_MSG(parse(note, &spec, err) == 0, "refused %s: %s", wants_json, err);
	if (err[0] == '\0')
		agent_spec_free(&spec);
}

static void expect_wants_error(const char *wants_json, const char *message)
{
	char note[512], want[640];

	snprintf(note, sizeof note, "{\"id\":\"w\",\"metadata\":{\"name\":\"a\",\"wants\":%s}}",
		 wants_json);
	snprintf(want, sizeof want, "#agent/definition note w: %s", message);
	expect_error(note, want);
}

static void test_reference_wants(void)
{
	static const char *const ok[] = {
		"\"vault:research:read\"", "\"vault:ops:write\"", "\"vault:research:read#published\"",
		"\"vault:research:read#published#wip\"", "\"surface:gitcoin-brain:write\"",
		"\"surface:gitcoin-brain:read\"", "\"surface:GitCoin-Brain:write\"", "\"env:github\"",
		"\"mcp:github\"", "\"env:github, mcp:github\"", "\"mcp:github, env:github\"",
		"\"mcp:https://remote.example.com/mcp\"", "\"mcp:http://localhost:9000/mcp\"",
		"[\"vault:a:read\", \"env:github\"]", "\"\"", "\"  ,  \"", "[]", "null",
	};

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		expect_wants_ok(ok[i]);
	expect_wants_error("\"github\"", "wants: \"github\" is malformed — expected "
			   "\"<kind>:<target>…\" (e.g. \"vault:research:read\", \"env:github\", "
			   "\"mcp:https://…\").");
	expect_wants_error("\"smtp:server\"", "wants: \"smtp:server\" has unknown kind \"smtp\" — "
			   "expected one of vault | surface | env | mcp.");
	expect_wants_error("\"vault:research:admin\"", "wants: \"vault:research:admin\" — vault "
			   "access must be \"read\" or \"write\" (got \"admin\").");
	expect_wants_error("\"vault:research:delete\"", "wants: \"vault:research:delete\" — vault "
			   "access must be \"read\" or \"write\" (got \"delete\").");
	expect_wants_error("\"vault:bad.name:read\"", "wants: \"vault:bad.name:read\" — vault name "
			   "\"bad.name\" must be a slug (alphanumeric, dash, underscore).");
	expect_wants_error("\"env:bad.name\"", "wants: \"env:bad.name\" — service name "
			   "\"bad.name\" must be a slug (alphanumeric, dash, underscore).");
	expect_wants_error("\"surface:gitcoin-brain\"", "wants: \"surface:gitcoin-brain\" is "
			   "malformed — a surface connection needs a verb: "
			   "\"surface:<name>:<read|write>\".");
	expect_wants_error("\"surface:gitcoin-brain:admin\"", "wants: \"surface:gitcoin-brain:admin\""
			   " — surface access must be \"read\" or \"write\" (got \"admin\").");
	expect_wants_error("\"surface:bad/name:write\"", "wants: \"surface:bad/name:write\" — "
			   "surface name \"bad/name\" must be a slug (alphanumeric, dash, "
			   "underscore; no slashes or dots).");
	expect_wants_error("\"mcp:ftp://x\"", "wants: \"mcp:ftp://x\" — service name \"ftp://x\" "
			   "must be a slug (alphanumeric, dash, underscore).");
	expect_wants_error("\"env:claude-code-oauth\"", "wants: \"env:claude-code-oauth\" — service "
			   "\"claude-code-oauth\" maps to the protected env var "
			   "CLAUDE_CODE_OAUTH_TOKEN, which a grant can never set (it's the "
			   "session's managed Claude auth).");
	expect_wants_error("\"vault:a:read, garbage\"", "wants: \"garbage\" is malformed — "
			   "expected \"<kind>:<target>…\" (e.g. \"vault:research:read\", "
			   "\"env:github\", \"mcp:https://…\").");
}

static void test_strmap(void)
{
	struct strmap m = { 0 };
	char key[32];
	int vals[20000];

	for (int i = 0; i < 20000; i++) {
		vals[i] = i;
		snprintf(key, sizeof key, "agent-%d", i);
		REQUIRE(strmap_put(&m, key, &vals[i]) == 0);
	}
	for (int i = 0; i < 20000; i += 2) {
		snprintf(key, sizeof key, "agent-%d", i);
		CHECK(strmap_remove(&m, key) == &vals[i]);
	}
	CHECK_INT(m.used, 10000);
	for (int i = 0; i < 20000; i++) {
		int *v;

		snprintf(key, sizeof key, "agent-%d", i);
		v = strmap_get(&m, key);
		if (i % 2 ? !v || *v != i : v != NULL)
			CHECK_MSG(0, "key %s", key);
	}
	strmap_free(&m);
}

static void test_failure_text(void)
{
	char reason[400], *t;

	t = notes_failure_text("claude -p exited 1: auth failed");
	CHECK_STR(t, "⚠️ I couldn't complete that — the turn failed: claude -p exited 1: auth "
		     "failed\n\nThis is often temporary; please try again in a moment.");
	free(t);
	/* 239 ASCII bytes then 'é' (2 bytes) straddling the 240-byte limit. */
	memset(reason, 'x', 239);
	strcpy(reason + 239, "éyyyyyyyyyyyyy");
	t = notes_failure_text(reason);
	CHECK_CONTAINS(t, "xxx…\n\n");	/* cut before the 'é', not inside it */
	free(t);
	t = notes_callback_text("worker", true);
	CHECK_STR(t, "[callback] worker finished (ok) — see source_message / source_thread in "
		     "this note's metadata to pull the full result.");
	free(t);
	t = notes_callback_text("worker", false);
	CHECK_CONTAINS(t, "[callback] worker finished with an error — see");
	free(t);
}

int main(void)
{
	RUN(test_v1_minimal);
	RUN(test_v2_full_knobs);
	RUN(test_sandbox_fields);
	RUN(test_egress_match);
	RUN(test_v5_legacy_and_blank_body);
	RUN(test_every_validation_error);
	RUN(test_reference_wants);
	RUN(test_strmap);
	RUN(test_failure_text);
	return check_summary();
}
