/* engines/defs: engine instances, configured (never defined in notes) as
 * `engine-def NAME KIND key=value ...`. A definition note's metadata.engine
 * names an instance, or a bare kind, which runs with that kind's defaults. */
#ifndef AB_ENGINES_DEFS_H
#define AB_ENGINES_DEFS_H

#include <stdbool.h>
#include <stddef.h>

/* engine-def lines one configuration may hold. */
#define ENGINE_DEFS_MAX 64

enum engine_format {
	ENGINE_FORMAT_TEXT,			/* exec: stdout is the reply */
	ENGINE_FORMAT_CLAUDE_STREAM_JSON,	/* exec: `claude -p --output-format stream-json` */
};

struct engine_def {
	char *name;
	char *kind;		/* "echo", "gate", "exec", "openai" or "anthropic" */
	char *base_url;		/* API engines */
	char *model;		/* default model; a definition's metadata.model wins */
	char *api_key_env;	/* the name of the variable holding the key, never the key */
	char *command;		/* exec: run as written by /bin/sh */
	enum engine_format format;
	int timeout;		/* seconds; 0: the turn's own limit only */
	int max_output;		/* bytes of reply (exec: of stdout) */
	double price_in;	/* USD per million input tokens */
	double price_out;	/* USD per million output tokens */
	int idle_timeout;	/* seconds without a byte from a stream */
	int history_turns;	/* API engines: previous turns sent along */
	int attempts;		/* API engines: tries per turn, the first included */
	char **env;		/* exec: variables a sandboxed command gets from ours */
	size_t n_env;
};

/* The kinds, and whether `kind` is one. */
bool engine_kind_known(const char *kind);

/* The defaults of `kind` as an instance named `name`. 0 or -1 (memory). */
int engine_def_defaults(struct engine_def *d, const char *name, const char *kind);

/* Parses `NAME KIND key=value ...`: values with spaces in double quotes,
 * `\"` and `\\` inside them. Returns 0, or -1 with a message in `err`. */
int engine_def_parse(const char *spec, struct engine_def *d, char *err, size_t errlen);

void engine_def_free(struct engine_def *d);

#endif
