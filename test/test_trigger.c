/* test_trigger: the trigger predicate's truth table (the reference's V15 and
 * the vault's rules), '#' never mattering, deleted events, the default set,
 * and trigger specs as the config file writes them. */
#include <cjson/cJSON.h>

#include "bus/event.h"
#include "bus/trigger.h"
#include "test/check.h"

/* Does the event {event, note: <note_json>} fire `spec`? */
static bool fires(const char *spec, const char *event, const char *note_json)
{
	char *text;
	struct trigger t;
	struct vault_event ev;
	struct bus_error err;
	char msg[256];
	bool match;

	REQUIRE(asprintf(&text, "{\"event\":\"%s\",\"note\":%s}", event, note_json) > 0);
	REQUIRE(trigger_parse(spec, &t, msg, sizeof msg) == 0);
	REQUIRE(event_decode(cJSON_Parse(text), "default", 0, &ev, &err) == 0);
	match = trigger_match(&t, &ev);
	event_free(&ev);
	trigger_free(&t);
	free(text);
	return match;
}

/* The reference's inbound trigger, named as the reference names it. */
static const char *inbound = "conn_agentinbound-default inbound events=created "
			     "tags=agent/message/inbound has_metadata=agent "
			     "missing_metadata=channel_inbound_rendered_at";

static void test_v15_truth_table(void)
{
	CHECK(fires(inbound, "created", "{\"id\":\"1\",\"tags\":[\"agent/message\","
		    "\"agent/message/inbound\"],\"metadata\":{\"agent\":\"eng\"}}"));
	CHECK(!fires(inbound, "created", "{\"id\":\"1\",\"tags\":[\"agent/message\"],"
		     "\"metadata\":{\"agent\":\"eng\"}}"));
	CHECK(!fires(inbound, "created", "{\"id\":\"1\",\"tags\":[\"agent/message/inbound\"],"
		     "\"metadata\":{\"channel\":\"eng\"}}"));
	CHECK(!fires(inbound, "created", "{\"id\":\"1\",\"tags\":[\"agent/message/inbound\"],"
		     "\"metadata\":{\"agent\":\"eng\",\"channel_inbound_rendered_at\":\"2026\"}}"));
	/* The trigger's own marker, even though no clause names it. */
	CHECK(!fires(inbound, "created", "{\"id\":\"1\",\"tags\":[\"agent/message/inbound\"],"
		     "\"metadata\":{\"agent\":\"eng\","
		     "\"conn_agentinbound-default_rendered_at\":\"x\"}}"));
	CHECK(!fires(inbound, "created", "{\"id\":\"1\",\"tags\":[\"agent/message/inbound\"],"
		     "\"metadata\":{\"agent\":\"eng\","
		     "\"conn_agentinbound-default_pending_at\":\"x\"}}"));
	/* A falsy marker does not block (JavaScript truthiness). */
	CHECK(fires(inbound, "created", "{\"id\":\"1\",\"tags\":[\"agent/message/inbound\"],"
		    "\"metadata\":{\"agent\":\"eng\",\"conn_agentinbound-default_rendered_at\":\"\"}}"));
	/* An empty routing key is present: the trigger fires, routing decides. */
	CHECK(fires(inbound, "created", "{\"id\":\"1\",\"tags\":[\"agent/message/inbound\"],"
		    "\"metadata\":{\"agent\":\"\"}}"));
	/* Wrong event. */
	CHECK(!fires(inbound, "updated", "{\"id\":\"1\",\"tags\":[\"agent/message/inbound\"],"
		     "\"metadata\":{\"agent\":\"eng\"}}"));
}

/* Deliberate difference: a leading '#' never matters, on either side. */
static void test_hash_never_matters(void)
{
	const char *hashed = "t inbound events=created tags=#agent/message/inbound";

	CHECK(fires(inbound, "created", "{\"id\":\"1\",\"tags\":[\"#agent/message/inbound\"],"
		    "\"metadata\":{\"agent\":\"eng\"}}"));
	CHECK(fires(hashed, "created", "{\"id\":\"1\",\"tags\":[\"agent/message/inbound\"]}"));
	CHECK(fires(hashed, "created", "{\"id\":\"1\",\"tags\":[\"##agent/message/inbound\"]}"));
	CHECK(!fires(hashed, "created", "{\"id\":\"1\",\"tags\":[\"Agent/message/inbound\"]}"));
}

static void test_clauses(void)
{
	const char *content = "t inbound events=created,updated has_content=true";
	const char *blank = "t inbound has_content=false";
	const char *both = "t definition tags=a,b";

	CHECK(fires(content, "updated", "{\"id\":\"1\",\"content\":\" x \"}"));
	CHECK(!fires(content, "created", "{\"id\":\"1\",\"content\":\" \\n \"}"));
	CHECK(!fires(content, "created", "{\"id\":\"1\"}"));
	CHECK(fires(blank, "created", "{\"id\":\"1\",\"content\":\"\\t\"}"));
	CHECK(!fires(blank, "updated", "{\"id\":\"1\",\"content\":\"x\"}"));
	/* all-of */
	CHECK(fires(both, "created", "{\"id\":\"1\",\"tags\":[\"b\",\"a\",\"c\"]}"));
	CHECK(!fires(both, "created", "{\"id\":\"1\",\"tags\":[\"a\"]}"));
	CHECK(!fires(both, "created", "{\"id\":\"1\"}"));
	/* has_metadata: an empty string or false is present; null is not. */
	CHECK(fires("t inbound has_metadata=k", "created", "{\"id\":\"1\",\"metadata\":{\"k\":false}}"));
	CHECK(!fires("t inbound has_metadata=k", "created", "{\"id\":\"1\",\"metadata\":{\"k\":null}}"));
	CHECK(!fires("t inbound missing_metadata=k", "created",
		     "{\"id\":\"1\",\"metadata\":{\"k\":\"\"}}"));
	/* Default events: created and updated, not deleted. */
	CHECK(!fires("t inbound", "deleted", "{\"id\":\"1\"}"));
}

/* A deleted note carries no tags: only the event is checked. */
static void test_deleted_events(void)
{
	const char *def = "definition definition events=created,updated,deleted tags=agent/definition";

	CHECK(fires(def, "deleted", "{\"id\":\"1\",\"path\":\"Agents/x\"}"));
	CHECK(!fires(def, "updated", "{\"id\":\"1\",\"tags\":[]}"));
}

static void test_defaults_and_replacement(void)
{
	struct trigger_set set = { 0 };
	struct trigger t;
	char msg[256];

	REQUIRE(trigger_set_defaults(&set) == 0);
	REQUIRE(set.n == 2);
	CHECK_STR(set.v[0].name, "definition");
	CHECK_INT(set.v[0].events, NOTE_CREATED | NOTE_UPDATED | NOTE_DELETED);
	CHECK_STR(set.v[1].name, "inbound");
	CHECK_INT(set.v[1].action, TRIGGER_INBOUND);
	CHECK_INT(set.v[1].events, NOTE_CREATED);
	CHECK_STR(set.v[1].missing_metadata.v[0], "channel_inbound_rendered_at");
	REQUIRE(trigger_parse("inbound inbound tags=x", &t, msg, sizeof msg) == 0);
	REQUIRE(trigger_set_put(&set, &t) == 0);
	CHECK_INT(set.n, 2);
	CHECK_STR(set.v[1].tags.v[0], "x");
	REQUIRE(trigger_parse("jobs inbound tags=agent/job", &t, msg, sizeof msg) == 0);
	REQUIRE(trigger_set_put(&set, &t) == 0);
	CHECK_INT(set.n, 3);
	trigger_set_free(&set);
}

static void expect_spec_error(const char *spec, const char *text)
{
	struct trigger t;
	char msg[256] = "";

	CHECK_MSG(trigger_parse(spec, &t, msg, sizeof msg) != 0, "accepted '%s'", spec);
	CHECK_CONTAINS(msg, text);
}

static void test_spec_errors(void)
{
	expect_spec_error("", "NAME and an ACTION");
	expect_spec_error("x", "NAME and an ACTION");
	expect_spec_error("x reply", "unknown trigger action");
	expect_spec_error("x inbound tags", "not a key=value");
	expect_spec_error("x inbound colour=red", "unknown trigger clause");
	expect_spec_error("x inbound events=moved", "bad value for events");
	expect_spec_error("x inbound tags=a,,b", "bad value for tags");
	expect_spec_error("x inbound tags=#", "bad value for tags");
	expect_spec_error("x inbound has_content=maybe", "bad value for has_content");
	expect_spec_error("a=b inbound", "starts with its NAME");
}

int main(void)
{
	RUN(test_v15_truth_table);
	RUN(test_hash_never_matters);
	RUN(test_clauses);
	RUN(test_deleted_events);
	RUN(test_defaults_and_replacement);
	RUN(test_spec_errors);
	return check_summary();
}
