/* bridge/register: upserting triggers through the vault's trigger API
 * (POST /api/triggers, one call per trigger, in order) on the loop. */
#ifndef AB_BRIDGE_REGISTER_H
#define AB_BRIDGE_REGISTER_H

struct loop;
struct http;
struct cJSON;
struct registration;

enum reg_result {
	REG_OK,		/* every trigger registered */
	REG_NO_API,	/* 404: triggers live in the vault's config.yaml */
	REG_FORBIDDEN,	/* 401/403: the token is not vault:V:admin */
	REG_FAILED,	/* another answer, or none */
};

/* Registers `triggers` (an array, taken) at `base`/api/triggers with
 * `token`; `done` runs once with the result and a line saying why. NULL
 * when it cannot start (then `done` does not run). */
struct registration *registration_start(struct http *http, const char *base, const char *token,
					struct cJSON *triggers,
					void (*done)(void *arg, enum reg_result r, const char *why),
					void *arg);
/* Stops it (no callback) and frees it; also what frees a finished one. */
void registration_free(struct registration *r);

#endif
