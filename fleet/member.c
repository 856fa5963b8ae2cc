/* fleet/member: the member record as JSON and back. */
#include "fleet/member.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/text.h"

static cJSON *bits_array(const uint64_t *bits, int n)
{
	cJSON *a = cJSON_CreateArray();

	for (int p = 0; a && p < n; p++)
		if (fleet_bit_get(bits, p) && !cJSON_AddItemToArray(a, cJSON_CreateNumber(p))) {
			cJSON_Delete(a);
			return NULL;
		}
	return a;
}

cJSON *fleet_member_encode(const struct fleet_member *m, const char *fleet)
{
	cJSON *doc = cJSON_CreateObject(), *owned = bits_array(m->owned, m->partitions + 1);
	cJSON *serving = bits_array(m->serving, m->partitions + 1);

	if (!doc || !owned || !serving || !cJSON_AddStringToObject(doc, "instance", m->id) ||
	    !cJSON_AddStringToObject(doc, "fleet", fleet) ||
	    !cJSON_AddNumberToObject(doc, "partitions", m->partitions) ||
	    !cJSON_AddStringToObject(doc, "state", m->leaving ? "leaving" : "active") ||
	    !cJSON_AddNumberToObject(doc, "started_at", (double)m->started_at))
		goto fail;
	cJSON_AddItemToObject(doc, "owned", owned);
	cJSON_AddItemToObject(doc, "serving", serving);
	return doc;
fail:
	cJSON_Delete(owned);
	cJSON_Delete(serving);
	cJSON_Delete(doc);
	return NULL;
}

static int decode_bits(const cJSON *list, int n, uint64_t *bits, char *why, size_t len)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, list) {
		if (!cJSON_IsNumber(p) || p->valuedouble < 0 || p->valuedouble >= n) {
			snprintf(why, len, "a partition outside 0 to %d", n - 1);
			return -1;
		}
		fleet_bit_set(bits, p->valueint, true);
	}
	return 0;
}

static int decode_fields(const cJSON *doc, struct fleet_member *out, char *why, size_t len)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "instance");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(doc, "partitions");
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(doc, "state");
	const cJSON *started = cJSON_GetObjectItemCaseSensitive(doc, "started_at");
	const cJSON *owned = cJSON_GetObjectItemCaseSensitive(doc, "owned");
	const cJSON *serving = cJSON_GetObjectItemCaseSensitive(doc, "serving");

	if (!cJSON_IsString(id) || !text_is_topic_level(id->valuestring) ||
	    strlen(id->valuestring) >= sizeof out->id) {
		snprintf(why, len, "no usable \"instance\"");
		return -1;
	}
	if (!cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > FLEET_PARTITIONS_MAX ||
	    n->valuedouble != (int)n->valuedouble) {
		snprintf(why, len, "\"partitions\" is not 1 to %d", FLEET_PARTITIONS_MAX);
		return -1;
	}
	snprintf(out->id, sizeof out->id, "%s", id->valuestring);
	out->partitions = n->valueint;
	out->leaving = cJSON_IsString(state) && strcmp(state->valuestring, "leaving") == 0;
	out->started_at = cJSON_IsNumber(started) ? (int64_t)started->valuedouble : 0;
	return decode_bits(owned, out->partitions + 1, out->owned, why, len) != 0 ||
			       decode_bits(serving, out->partitions + 1, out->serving, why, len) != 0
		       ? -1 : 0;
}

int fleet_member_decode(const void *payload, size_t len, struct fleet_member *out, char *why,
			size_t why_len)
{
	cJSON *doc = cJSON_ParseWithLength(payload, len);
	int rc;

	memset(out, 0, sizeof *out);
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		snprintf(why, why_len, "not a JSON object");
		return -1;
	}
	rc = decode_fields(doc, out, why, why_len);
	cJSON_Delete(doc);
	return rc;
}

void fleet_bits_text(const uint64_t *bits, int n, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int p = 0; p < n && used + 1 < len; p++) {
		int q = p, w;

		if (!fleet_bit_get(bits, p))
			continue;
		while (q + 1 < n && fleet_bit_get(bits, q + 1))
			q++;
		w = q > p ? snprintf(out + used, len - used, "%s%d-%d", used ? "," : "", p, q)
			  : snprintf(out + used, len - used, "%s%d", used ? "," : "", p);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
		p = q;
	}
}
