/* fake_claude: prints what `claude -p --output-format stream-json --verbose`
 * prints, recorded shapes with the reply made from what it was given: the
 * message on stdin, --resume SESSION, the AGENTBUS_* variables. The message
 * picks a failure mode: "is_error", "exit", "no result", "tool". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(FILE *f)
{
	size_t cap = 4096, len = 0, n;
	char *buf = malloc(cap);

	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *grown = realloc(buf, cap *= 2);

			if (!grown) {
				free(buf);
				return NULL;
			}
			buf = grown;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* The first line of the system prompt file, or "none". */
static void first_prompt_line(char *out, size_t cap)
{
	const char *path = getenv("AGENTBUS_SYSTEM_PROMPT_FILE");
	FILE *f = path && *path ? fopen(path, "r") : NULL;

	snprintf(out, cap, "none");
	if (f && fgets(out, (int)cap, f))
		out[strcspn(out, "\n")] = '\0';
	if (f)
		fclose(f);
}

static void line(const char *text)
{
	fputs(text, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *resume = NULL, *model = getenv("AGENTBUS_MODEL");
	char *message = read_all(stdin), prompt[256], buf[4096], reply[1024];
	const char *session;

	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--resume") == 0)
			resume = argv[i + 1];
	if (!message)
		return 1;
	session = resume ? resume : "sess-new";
	first_prompt_line(prompt, sizeof prompt);
	if (strstr(message, "exit")) {
		fprintf(stderr, "fake_claude: API Error: 500 boom\n");
		free(message);
		return 2;
	}
	snprintf(buf, sizeof buf, "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"%s\","
		 "\"model\":\"%s\",\"cwd\":\"/tmp\",\"tools\":[],\"permissionMode\":\"default\"}",
		 session, model && *model ? model : "claude-default");
	line(buf);
	snprintf(reply, sizeof reply, "resumed=%s prompt=%s model=%s", resume ? resume : "none",
		 prompt, model && *model ? model : "none");
	snprintf(buf, sizeof buf, "{\"type\":\"assistant\",\"message\":{\"id\":\"m1\",\"content\":"
		 "[{\"type\":\"text\",\"text\":\"Hello. \"}]},\"session_id\":\"%s\"}", session);
	line(buf);
	if (strstr(message, "tool")) {
		snprintf(buf, sizeof buf, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":"
			 "\"tool_use\",\"id\":\"t1\",\"name\":\"Bash\",\"input\":{}}]},\"session_id\":\"%s\"}",
			 session);
		line(buf);
		snprintf(buf, sizeof buf, "{\"type\":\"user\",\"message\":{\"content\":[{\"type\":"
			 "\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"ok\"}]},\"session_id\":\"%s\"}",
			 session);
		line(buf);
	}
	snprintf(buf, sizeof buf, "{\"type\":\"assistant\",\"message\":{\"id\":\"m2\",\"content\":"
		 "[{\"type\":\"text\",\"text\":\"%s\"}]},\"session_id\":\"%s\"}", reply, session);
	line(buf);
	if (strstr(message, "no result")) {
		free(message);
		return 0;
	}
	snprintf(buf, sizeof buf, "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":%s,"
		 "\"duration_ms\":12,\"num_turns\":1,\"session_id\":\"%s\",\"result\":\"%s%s\","
		 "\"total_cost_usd\":0.25,\"usage\":{\"input_tokens\":10,\"output_tokens\":5,"
		 "\"cache_read_input_tokens\":0}}",
		 strstr(message, "is_error") ? "true" : "false", session,
		 strstr(message, "is_error") ? "" : "Hello. ",
		 strstr(message, "is_error") ? "Credit balance is too low" : reply);
	line(buf);
	free(message);
	return 0;
}
