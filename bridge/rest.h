/* bridge/rest: a note write (docs/CONTRACT.md section 3) as calls of a
 * vault's REST API, and what each answer means. Pure: it builds requests
 * and judges answers; bridge/writer makes the calls.
 *
 *   create  POST /api/notes {id, path, ...}; a 409 or 500 is followed by a
 *           GET of the id: the same note there is this write, applied before.
 *   upsert  PATCH /api/notes/<path> {metadata, content?, force}; 404 (no
 *           note, or a vault without if_missing:create) → POST; that POST's
 *           409 (created meanwhile) → PATCH once more. A write proposing an
 *           id never creates through PATCH, which would give the note an id
 *           of the vault's choosing instead of the one replies name.
 *   patch   PATCH /api/notes/<id or path> {metadata, force}; 404 is refused.
 *   delete  DELETE /api/notes/<id or path>; 404 means already gone.
 * 401, 403, 408, 429, 5xx and transport errors are worth another try; any
 * other 4xx refuses the write with the vault's own message. */
#ifndef AB_BRIDGE_REST_H
#define AB_BRIDGE_REST_H

#include <stddef.h>

#include "bus/write.h"

struct cJSON;

enum rest_step {
	REST_FIRST,	/* the op's own call */
	REST_CHECK,	/* create: GET the proposed id after a 409 or 500 */
	REST_POST,	/* upsert: create what PATCH did not find */
	REST_REPATCH,	/* upsert: PATCH what POST found created meanwhile */
};

struct rest_call {
	const char *method;	/* "POST", "PATCH", "GET", "DELETE" */
	char *path;		/* below the vault's URL: "/api/notes/..." (owned) */
	char *body;		/* JSON, or NULL (owned) */
};

/* The request of `step` for `w`. Returns 0, or -1 when out of memory. */
int rest_call_build(const struct note_write *w, enum rest_step step, struct rest_call *out);
void rest_call_free(struct rest_call *c);

enum rest_verdict {
	REST_DONE,	/* applied (now or before): answer ok */
	REST_NEXT,	/* make the call of `*next` */
	REST_RETRY,	/* the same write again later, from REST_FIRST */
	REST_REFUSED,	/* the vault will never apply it: `msg` says why */
};

/* What `status` (0: no answer) with `body` (NULL when not JSON) means for
 * `w` at `step`; `first_status` is the answer of REST_FIRST. */
enum rest_verdict rest_judge(const struct note_write *w, enum rest_step step, long first_status,
			     long status, const struct cJSON *body, enum rest_step *next,
			     char *msg, size_t msglen);

/* `s` percent-encoded for one path segment (every '/' too). malloc'd. */
char *rest_encode_segment(const char *s);

#endif
