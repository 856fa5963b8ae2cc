/* cli/frontmatter: "---\n<YAML>\n---\n<body>". The YAML document is walked
 * node by node into cJSON; anchors and aliases resolve as libyaml gives
 * them, and a document nested deeper than 32 levels is refused. */
#include "cli/frontmatter.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define DEPTH_MAX 32

static cJSON *node_json(yaml_document_t *doc, yaml_node_t *node, int depth)
{
	cJSON *out = NULL;

	if (!node || depth > DEPTH_MAX)
		return NULL;
	switch (node->type) {
	case YAML_SCALAR_NODE:
		out = cJSON_CreateString((const char *)node->data.scalar.value);
		break;
	case YAML_SEQUENCE_NODE:
		out = cJSON_CreateArray();
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     out && it < node->data.sequence.items.top; it++) {
			cJSON *item = node_json(doc, yaml_document_get_node(doc, *it), depth + 1);

			if (!item || !cJSON_AddItemToArray(out, item)) {
				cJSON_Delete(item);
				cJSON_Delete(out);
				return NULL;
			}
		}
		break;
	case YAML_MAPPING_NODE:
		out = cJSON_CreateObject();
		for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
		     out && p < node->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			cJSON *v = node_json(doc, yaml_document_get_node(doc, p->value), depth + 1);

			if (!k || k->type != YAML_SCALAR_NODE || !v ||
			    !cJSON_AddItemToObject(out, (const char *)k->data.scalar.value, v)) {
				cJSON_Delete(v);
				cJSON_Delete(out);
				return NULL;
			}
		}
		break;
	default:
		break;
	}
	return out;
}

/* The end of the front matter: a line "---" or "..." after the first. */
static const char *closing_line(const char *start, const char *end, const char **after)
{
	for (const char *p = start; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		size_t n = (size_t)(line_end - p);

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 3 && (memcmp(p, "---", 3) == 0 || memcmp(p, "...", 3) == 0)) {
			*after = nl ? nl + 1 : end;
			return p;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return NULL;
}

int frontmatter_parse(const char *text, size_t len, cJSON **metadata, char **body, char *err,
		      size_t errlen)
{
	const char *end = text + len, *yaml_start, *yaml_end, *after;
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int rc = -1;

	*metadata = NULL;
	*body = NULL;
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		text += 3;	/* a byte order mark */
	if (!(strncmp(text, "---\n", 4) == 0 || strncmp(text, "---\r\n", 5) == 0)) {
		snprintf(err, errlen, "no front matter: the file must start with a line '---'");
		return -1;
	}
	yaml_start = strchr(text, '\n') + 1;
	yaml_end = closing_line(yaml_start, end, &after);
	if (!yaml_end) {
		snprintf(err, errlen, "the front matter has no closing '---' line");
		return -1;
	}
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml_start,
				     (size_t)(yaml_end - yaml_start));
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "the front matter is not YAML: %s at line %zu",
			 parser.problem ? parser.problem : "error", parser.problem_mark.line + 2);
		yaml_parser_delete(&parser);
		return -1;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		*metadata = cJSON_CreateObject();
	} else if (root->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "the front matter must be a mapping of keys to values");
		goto out;
	} else {
		*metadata = node_json(&doc, root, 0);
	}
	if (!*metadata) {
		snprintf(err, errlen, "the front matter has a key that is not text, or nests too deep");
		goto out;
	}
	/* One blank line after the front matter is layout, not prompt. */
	if (after < end && *after == '\n')
		after++;
	*body = strndup(after, (size_t)(end - after));
	rc = *body ? 0 : -1;
out:
	if (rc != 0) {
		cJSON_Delete(*metadata);
		*metadata = NULL;
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

const char *frontmatter_library_version(void)
{
	return yaml_get_version_string();
}
