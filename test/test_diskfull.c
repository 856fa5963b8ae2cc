/* test_diskfull: the state dir on a small tmpfs that fills up. Messages that
 * cannot be committed are not acknowledged: agentbus says so (log, and the
 * status goes offline as it drops the connection), takes no work while it
 * cannot write, and once space returns it reconnects by itself and the
 * broker's redeliveries are answered, each exactly once. Needs root to
 * mount; elsewhere it reports itself skipped (exit 77). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "test/check.h"
#include "test/httpd.h"
#include "test/rig.h"

#define MESSAGES 5
#define MESSAGE_BYTES (200 * 1024)

/* Writes zeros into `path` until the filesystem has no room left. */
static void fill(const char *path)
{
	static char block[64 * 1024];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	REQUIRE(fd >= 0);
	while (write(fd, block, sizeof block) > 0)
		;
	CHECK_INT(errno, ENOSPC);
	close(fd);
}

static void publish_all(struct rig *r, char *text)
{
	for (int i = 0; i < MESSAGES; i++) {
		char topic[32], corr[16];

		snprintf(topic, sizeof topic, "me/full/%d", i);
		snprintf(corr, sizeof corr, "f%d", i);
		text[0] = (char)('0' + i);	/* each message its own */
		th_client_publish(&r->client, "parachute/agent/eng/inbox", text, SIZE_MAX, NULL,
				  topic, corr);
	}
}

int main(void)
{
	struct rig r = { .id = "full", .persistence = true };
	char *mnt = th_tmpdir("tmpfs"), *filler, *state, *text = malloc(MESSAGE_BYTES + 1);
	const char *extra[] = { "--state-dir", NULL, "--http", "127.0.0.1:0", NULL };
	char addr[64] = "", *body;
	struct th_msg *m;

	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64m") != 0) {
		printf("cannot mount a tmpfs (%s): skipped\n", strerror(errno));
		return 77;
	}
	state = rig_fmt("%s/state", mnt);
	filler = rig_fmt("%s/filler", mnt);
	extra[1] = state;
	rig_start(&r, extra);
	rig_http_addr(&r, addr);
	rig_define(&r, "eng");
	th_client_publish_text(&r.client, "parachute/agent/eng/inbox", "room");
	cJSON_Delete(rig_expect(&r, "parachute/agent/eng/reply", NULL, "echo: room"));

	fill(filler);
	memset(text, 'z', MESSAGE_BYTES);
	text[MESSAGE_BYTES] = '\0';
	publish_all(&r, text);
	CHECK(th_daemon_wait_output(&r.daemon, false, "the state cannot be written", TH_TIMEOUT_MS));
	/* The connection dropped before any acknowledgement: the Will says so,
	 * and nothing was answered (agentbus is no longer connected). */
	m = th_client_wait_for(&r.client, "parachute/agentbus/status/full", "offline",
			       TH_TIMEOUT_MS);
	CHECK(m != NULL);
	th_msg_free(m);
	for (int i = 0; i < MESSAGES; i++) {
		char topic[32];

		snprintf(topic, sizeof topic, "me/full/%d", i);
		CHECK_INT(th_client_count(&r.client, topic, ""), 0);
	}
	/* Health says why. */
	CHECK_INT(th_http_get(addr, "/healthz", &body), 503);
	CHECK_CONTAINS(body, "the state cannot be written");
	free(body);

	/* Room again: agentbus finds out by itself. */
	REQUIRE(unlink(filler) == 0);
	CHECK(th_daemon_wait_output(&r.daemon, false, "can be written again", TH_TIMEOUT_MS));
	for (int i = 0; i < MESSAGES; i++) {
		char topic[32];

		snprintf(topic, sizeof topic, "me/full/%d", i);
		m = th_client_next(&r.client, topic, TH_TIMEOUT_MS);
		CHECK_MSG(m && strncmp(m->payload, "echo: ", 6) == 0, "no answer on %s", topic);
		th_msg_free(m);
	}
	/* Exactly once: fenced by one more message answered after them. */
	th_client_publish(&r.client, "parachute/agent/eng/inbox", "fence", SIZE_MAX, NULL,
			  "me/fence", NULL);
	th_msg_free(th_client_next(&r.client, "me/fence", TH_TIMEOUT_MS));
	for (int i = 0; i < MESSAGES; i++) {
		char topic[32];

		snprintf(topic, sizeof topic, "me/full/%d", i);
		CHECK_INT(th_client_count(&r.client, topic, ""), 0);
	}
	CHECK_INT(th_client_count(&r.client, "parachute/agent/eng/reply", "echo: 0zzz"), 1);
	CHECK_INT(th_http_get(addr, "/healthz", &body), 200);
	free(body);
	rig_stop(&r);
	umount2(mnt, MNT_DETACH);
	free(text);
	free(filler);
	free(state);
	free(mnt);
	return check_summary();
}
