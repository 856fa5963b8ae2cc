/* bus/merge: RFC 7386 JSON merge patch, as the vault applies metadata and as
 * agentbus keeps track of what its merged writes left on a note. */
#ifndef AB_BUS_MERGE_H
#define AB_BUS_MERGE_H

struct cJSON;

/* Applies `patch` to `*target` in place: object members merge recursively,
 * a null member deletes the key, anything else replaces. `*target` may be
 * replaced (and is then freed). Returns 0, or -1 when out of memory. */
int merge_patch(struct cJSON **target, const struct cJSON *patch);

#endif
