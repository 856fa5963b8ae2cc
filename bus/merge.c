/* bus/merge: RFC 7386, section 2, on cJSON trees. */
#include "bus/merge.h"

#include <cjson/cJSON.h>

int merge_patch(cJSON **target, const cJSON *patch)
{
	const cJSON *p;

	if (!cJSON_IsObject(patch)) {
		cJSON *copy = cJSON_Duplicate(patch, 1);

		if (!copy)
			return -1;
		cJSON_Delete(*target);
		*target = copy;
		return 0;
	}
	if (!cJSON_IsObject(*target)) {
		cJSON *obj = cJSON_CreateObject();

		if (!obj)
			return -1;
		cJSON_Delete(*target);
		*target = obj;
	}
	cJSON_ArrayForEach(p, patch) {
		cJSON *cur;

		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(*target, p->string);
			continue;
		}
		cur = cJSON_DetachItemFromObjectCaseSensitive(*target, p->string);
		if (merge_patch(&cur, p) != 0) {
			cJSON_Delete(cur);
			return -1;
		}
		cJSON_AddItemToObject(*target, p->string, cur);
	}
	return 0;
}
