/* test_readme: the README's tour, run as printed. agentbus starts as `make
 * run` starts it (a private broker, a first start); then every command of the
 * five-minute tour and of "The everyday tools" (following turns for ever
 * aside) runs in order with the printed port replaced by the real one, and
 * each must succeed, the answers the README shows among their output. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/check.h"
#include "test/rig.h"

/* The HTTP port agentbus serves on in this run, for the README's 9464. */
static char http_port[16];

/* `text` with every "40123" replaced by `port`, "9464" by the HTTP port,
 * and "agentbus " at the start of a command by the binary under test. */
static char *adapt(const char *line, const char *port)
{
	char *out = rig_fmt("%s", ""), *next;
	const char *p = line;

	if (strncmp(p, "agentbus ", 9) == 0) {
		next = rig_fmt("%s ", th_agentbus_bin());
		free(out);
		out = next;
		p += 9;
	}
	while (*p) {
		const char *hit = strstr(p, "40123"), *web = strstr(p, "9464");
		bool is_web = web && (!hit || web < hit);
		size_t n = is_web ? (size_t)(web - p) : hit ? (size_t)(hit - p) : strlen(p);

		if (is_web)
			hit = web;
		next = rig_fmt("%s%.*s%s", out, (int)n, p, hit ? (is_web ? http_port : port) : "");
		free(out);
		out = next;
		p += n + (hit ? (is_web ? 4 : 5) : 0);
	}
	return out;
}

struct command {
	char *script;
	const char *expect;	/* text its output must contain, or NULL */
};

/* The commands in ```sh blocks between `from` and `to`, in order; a
 * here-document is one command with its lines. */
static int commands(const char *readme, const char *from, const char *to, const char *port,
		    struct command *out, int max)
{
	const char *s = strstr(readme, from), *e = s ? strstr(s, to) : NULL, *p;
	bool in_sh = false;
	int n = 0;

	REQUIRE(s && e);
	for (p = s; p < e && n < max;) {
		const char *nl = strchr(p, '\n');
		char *line = strndup(p, (size_t)(nl - p));

		p = nl + 1;
		if (strncmp(line, "```", 3) == 0) {
			in_sh = !in_sh && strcmp(line, "```sh") == 0;
		} else if (in_sh) {
			char *cmd = line + (strncmp(line, "$ ", 2) == 0 ? 2 : 0);

			if (strstr(cmd, "<<'END'")) {	/* a here-document, to END */
				char *doc = rig_fmt("%s\n", cmd);

				while (p < e) {
					const char *l2 = strchr(p, '\n');
					char *more = rig_fmt("%s%.*s\n", doc, (int)(l2 - p), p);
					bool last = strncmp(p, "END\n", 4) == 0;

					free(doc);
					doc = more;
					p = l2 + 1;
					if (last)
						break;
				}
				out[n++] = (struct command){ doc, NULL };
			} else if ((strncmp(cmd, "mosquitto_", 10) == 0 ||
				    strncmp(cmd, "agentbus ", 9) == 0 || strncmp(cmd, "curl ", 5) == 0) &&
				   !strstr(cmd, " tail ")) {
				char *a = adapt(cmd, port);

				/* mosquitto_rr waits for ever without an answer. */
				if (strncmp(cmd, "mosquitto_rr", 12) == 0) {
					char *b = rig_fmt("%s -W 10", a);

					free(a);
					a = b;
				}
				out[n++] = (struct command){ a, NULL };
			}
		}
		free(line);
	}
	return n;
}

int main(void)
{
	char *readme, *dir = th_tmpdir("readme"), *state = th_tmpdir("readme-state"), port[16];
	const char *args[] = { "--id", "tour", "--state-dir", state, "--http", "127.0.0.1:0", NULL };
	struct command cmds[64];
	struct th_daemon d;
	FILE *f = fopen(SOURCE_DIR "/README.md", "r");
	size_t len = 0;
	int n, p = 0;

	REQUIRE(f != NULL && getdelim(&readme, &len, '\0', f) > 0);
	fclose(f);
	th_daemon_start_in_group(&d, args);
	REQUIRE(th_daemon_wait_output(&d, true, "Stop with Ctrl-C.", TH_TIMEOUT_MS));
	REQUIRE(sscanf(strstr(d.out, " -p ") + 4, "%d", &p) == 1);
	snprintf(port, sizeof port, "%d", p);
	REQUIRE(th_daemon_wait_output(&d, false, "agent eng registered", TH_TIMEOUT_MS));
	REQUIRE(sscanf(strstr(strstr(d.err, "http: serving"), "127.0.0.1:") + 10, "%15s", http_port) == 1);
	n = commands(readme, "\n## Five-minute tour\n", "\n## Engines\n", port, cmds, 64);
	n += commands(readme, "\n## Operations: metrics and health\n", "\n### Installing it", port,
		      cmds + n, 64 - n);
	CHECK_MSG(n >= 10, "the tour has its commands (%d)", n);
	printf("%d commands from the README\n", n);
	for (int i = 0; i < n; i++) {
		const char *argv[] = { "/bin/sh", "-c", cmds[i].script, NULL };
		char *out, *err;
		int status;

		if (chdir(dir) != 0)
			abort();
		status = th_run(argv, &out, &err);
		CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "`%s` failed: %s%s",
			  cmds[i].script, out, err);
		if (strstr(cmds[i].script, "-m 'hi'"))
			CHECK_CONTAINS(out, "echo: hi");
		if (strstr(cmds[i].script, "what now?"))
			CHECK_CONTAINS(out, "echo: what now?");
		if (strstr(cmds[i].script, " define ops.md"))
			CHECK_CONTAINS(out, "ops.md: enabled");
		if (strstr(cmds[i].script, " ask ops "))
			CHECK_CONTAINS(out, "echo: disk usage?");
		if (strstr(cmds[i].script, " agents "))
			CHECK_CONTAINS(out, "ops ");
		if (strstr(cmds[i].script, " status "))
			CHECK_CONTAINS(out, "tour ");
		if (strstr(cmds[i].script, "/metrics"))
			CHECK_CONTAINS(out, "agentbus_turns_total{agent=\"eng\",outcome=\"ok\"}");
		free(out);
		free(err);
		free(cmds[i].script);
	}
	CHECK(WEXITSTATUS(th_daemon_stop(&d, SIGINT)) == 0);
	th_daemon_free(&d);
	free(readme);
	free(state);
	free(dir);
	return check_summary();
}
