/* engines/echo: a deterministic engine for trying agentbus out and for
 * measuring it: the reply is a function of the message alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engines/engine.h"

void echo_run(const struct engine_request *req, const struct engine_options *opt,
	      struct engine_result *out)
{
	if (opt->echo_delay_ms > 0) {
		struct timespec ts = { opt->echo_delay_ms / 1000,
				       (long)(opt->echo_delay_ms % 1000) * 1000000 };

		while (nanosleep(&ts, &ts) != 0)
			;
	}
	out->ok = asprintf(&out->reply, "echo: %s", req->message) >= 0;
	if (!out->ok) {
		out->reply = NULL;
		out->error = strdup("echo: out of memory");
		return;
	}
	/* Resume the session asked for, or start one named after the turn. */
	if (req->session)
		out->session = strdup(req->session);
	else if (asprintf(&out->session, "echo-%016llx", (unsigned long long)req->turn) < 0)
		out->session = NULL;
	out->input_tokens = (long)strlen(req->message);
	out->output_tokens = (long)strlen(out->reply);
}
