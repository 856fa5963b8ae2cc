/* bus/write: the note write of docs/CONTRACT.md section 3, read by a vault (the
 * embedded store) and built by the handlers that write notes back. */
#ifndef AB_BUS_WRITE_H
#define AB_BUS_WRITE_H

#include "bus/error.h"

struct cJSON;

enum write_op { WRITE_CREATE, WRITE_UPSERT, WRITE_PATCH, WRITE_DELETE };

/* A decoded write; pointers borrow from `doc`, absent fields are NULL. */
struct note_write {
	struct cJSON *doc;	/* owned */
	enum write_op op;
	const char *request_id;
	const char *origin;
	const char *id;
	const char *path;
	const char *content;
	const struct cJSON *tags;	/* array of strings */
	const struct cJSON *metadata;	/* object; a null value deletes the key */
};

#define WRITE_PATH_MAX 1024
#define WRITE_REQUEST_ID_MAX 128

const char *write_op_name(enum write_op op);

/* Takes ownership of `doc` and checks the write's shape; the caller frees
 * `out` with write_free() whatever the result. Returns 0, or -1 with `err`
 * (invalid_write); `out->request_id` is still set when the document had a
 * usable one, so the caller can answer the writer. */
int write_decode(struct cJSON *doc, struct note_write *out, struct bus_error *err);
void write_free(struct note_write *w);

/* {v:1, op, request_id, origin, note}; takes `note` (also on failure). */
struct cJSON *write_build(enum write_op op, const char *request_id, const char *origin,
			  struct cJSON *note);

#endif
