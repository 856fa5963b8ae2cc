/* revocation: parsing and lookup of the revoked-jti list. */
#include "plugin/revocation.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static int compare_jti(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct revocation_list *revocation_parse(const char *json, size_t len, const char **why)
{
	cJSON *doc = cJSON_ParseWithLength(json, len);
	const cJSON *jtis = cJSON_GetObjectItemCaseSensitive(doc, "jtis"), *item;
	struct revocation_list *list = NULL;

	*why = "not a revocation list (no \"jtis\" array of strings)";
	if (!cJSON_IsArray(jtis))
		goto out;
	list = calloc(1, sizeof *list);
	if (list)
		list->jtis = calloc((size_t)cJSON_GetArraySize(jtis) + 1, sizeof *list->jtis);
	if (!list || !list->jtis) {
		*why = "out of memory";
		goto fail;
	}
	cJSON_ArrayForEach(item, jtis) {
		if (!cJSON_IsString(item))
			goto fail;
		list->jtis[list->count] = strdup(item->valuestring);
		if (!list->jtis[list->count]) {
			*why = "out of memory";
			goto fail;
		}
		list->count++;
	}
	qsort(list->jtis, list->count, sizeof *list->jtis, compare_jti);
	goto out;
fail:
	revocation_free(list);
	list = NULL;
out:
	cJSON_Delete(doc);
	return list;
}

bool revocation_contains(const struct revocation_list *list, const char *jti)
{
	return list && bsearch(&jti, list->jtis, list->count, sizeof *list->jtis, compare_jti);
}

void revocation_free(struct revocation_list *list)
{
	size_t i;

	if (!list)
		return;
	for (i = 0; i < list->count; i++)
		free(list->jtis[i]);
	free(list->jtis);
	free(list);
}
