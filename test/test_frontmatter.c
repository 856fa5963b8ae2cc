/* test_frontmatter: YAML front matter to metadata, the rest to the body. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli/frontmatter.h"
#include "test/check.h"

static cJSON *parse_ok(const char *text, char **body)
{
	cJSON *md = NULL;
	char err[256] = "";

	CHECK_MSG(frontmatter_parse(text, strlen(text), &md, body, err, sizeof err) == 0, "%s", err);
	return md;
}

static void parse_bad(const char *text, const char *why)
{
	cJSON *md = NULL;
	char *body = NULL, err[256] = "";

	CHECK(frontmatter_parse(text, strlen(text), &md, &body, err, sizeof err) != 0);
	CHECK_CONTAINS(err, why);
	CHECK(md == NULL && body == NULL);
}

int main(void)
{
	char *body = NULL, *json;
	cJSON *md;

	md = parse_ok("---\nname: eng\ntimeout: 60\nlive: true\nwants:\n  - vault:default:read\n"
		      "mounts:\n  - {hostPath: /srv, mountPath: /data, mode: ro}\n---\n\nYou are eng.\n\nBe brief.\n",
		      &body);
	json = cJSON_PrintUnformatted(md);
	CHECK_STR(json, "{\"name\":\"eng\",\"timeout\":\"60\",\"live\":\"true\",\"wants\":"
		  "[\"vault:default:read\"],\"mounts\":[{\"hostPath\":\"/srv\",\"mountPath\":\"/data\","
		  "\"mode\":\"ro\"}]}");
	CHECK_STR(body, "You are eng.\n\nBe brief.\n");
	free(json);
	free(body);
	cJSON_Delete(md);

	/* CRLF, a byte order mark, "..." as the end, an empty front matter. */
	md = parse_ok("\xEF\xBB\xBF---\r\nname: x\r\n...\r\nbody\r\n", &body);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(md, "name")), "x");
	CHECK_STR(body, "body\r\n");
	free(body);
	cJSON_Delete(md);
	md = parse_ok("---\n---\nonly a body", &body);
	CHECK(cJSON_IsObject(md) && md->child == NULL);
	CHECK_STR(body, "only a body");
	free(body);
	cJSON_Delete(md);

	parse_bad("no front matter", "must start with a line '---'");
	parse_bad("---\nname: x\n", "no closing '---' line");
	parse_bad("---\n- a\n- b\n---\n", "must be a mapping");
	parse_bad("---\nname: [unclosed\n---\n", "not YAML");
	parse_bad("---\n? [a, b]\n: c\n---\n", "not text");
	return check_summary();
}
