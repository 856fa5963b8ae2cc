/* bus/meta: metadata and tag reading rules shared by triggers, routing and
 * the store. */
#include "bus/meta.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *meta_str(const cJSON *metadata, const char *key)
{
	const cJSON *v = metadata ? cJSON_GetObjectItemCaseSensitive(metadata, key) : NULL;

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *meta_strdup(const cJSON *metadata, const char *key)
{
	const char *v = meta_str(metadata, key);

	return v ? strdup(v) : NULL;
}

/* Shortest "%.*g" form that reads back as the same double, as JavaScript's
 * String(n) prints it: 0.1 stays "0.1", 3 is "3". */
static char *number_text(double d)
{
	char buf[32];

	if (d == floor(d) && fabs(d) < 1e15) {
		snprintf(buf, sizeof buf, "%.0f", d);
		return strdup(buf);
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return strdup(buf);
}

char *meta_text(const cJSON *metadata, const char *key)
{
	const cJSON *v = metadata ? cJSON_GetObjectItemCaseSensitive(metadata, key) : NULL;

	if (!v || cJSON_IsNull(v))
		return NULL;
	if (cJSON_IsString(v))
		return strdup(v->valuestring);
	if (cJSON_IsNumber(v))
		return number_text(v->valuedouble);
	if (cJSON_IsBool(v))
		return strdup(cJSON_IsTrue(v) ? "true" : "false");
	return cJSON_PrintUnformatted(v);
}

bool meta_present(const cJSON *metadata, const char *key)
{
	const cJSON *v = metadata ? cJSON_GetObjectItemCaseSensitive(metadata, key) : NULL;

	return v && !cJSON_IsNull(v);
}

bool meta_truthy(const cJSON *metadata, const char *key)
{
	const cJSON *v = metadata ? cJSON_GetObjectItemCaseSensitive(metadata, key) : NULL;

	if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v))
		return false;
	if (cJSON_IsString(v))
		return v->valuestring[0] != '\0';
	if (cJSON_IsNumber(v))
		return v->valuedouble != 0 && !isnan(v->valuedouble);
	return true;
}

const char *tag_bare(const char *tag, size_t *len)
{
	size_t n;

	while (*tag == '#' || isspace((unsigned char)*tag))
		tag++;
	n = strlen(tag);
	while (n > 0 && isspace((unsigned char)tag[n - 1]))
		n--;
	*len = n;
	return tag;
}

bool tags_contain(const cJSON *tags, const char *tag)
{
	size_t want_len, have_len;
	const char *want = tag_bare(tag, &want_len);
	const cJSON *t;

	cJSON_ArrayForEach(t, tags) {
		const char *have;

		if (!cJSON_IsString(t))
			continue;
		have = tag_bare(t->valuestring, &have_len);
		if (have_len == want_len && memcmp(have, want, want_len) == 0)
			return true;
	}
	return false;
}
