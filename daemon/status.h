/* status: the retained instance status of docs/CONTRACT.md section 8, and when to
 * publish it again. */
#ifndef AB_DAEMON_STATUS_H
#define AB_DAEMON_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/codec.h"
#include "util/clock.h"

struct cJSON;

/* Changes are published at most this often while online. */
#define STATUS_REFRESH_MS 10000

struct status_counts {
	int agents;
	int queued;
	int running;
	unsigned long long metrics_generation;	/* moves whenever a counter does */
	unsigned long long vault;	/* moves when the bridge's state does (bridge_version()) */
};

/* Totals since the start, as /metrics counts them; summed only when a
 * status is published, never to decide whether one is due. */
struct status_totals {
	long turns_ok, turns_failed, deadletters, reconnects, state_write_failures;
	const struct cJSON *vault;	/* the bridge's state (bridge_status()); NULL: none */
};

struct status {
	const char *instance;	/* borrowed from the config */
	char started_at[CLOCK_ISO_LEN];
	struct status_counts published;	/* what the retained message says */
	int64_t published_at;	/* monotonic ms; 0: never */
};

void status_init(struct status *st, const char *instance);

/* Encodes the status payload for `online` with `counts` and `totals`. */
int status_encode(const struct status *st, bool online, const struct status_counts *counts,
		  const struct status_totals *totals, enum payload_encoding enc,
		  struct codec_buf *out);

/* True when `counts` differ from the retained message and the last publish is
 * at least STATUS_REFRESH_MS old. */
bool status_due(const struct status *st, const struct status_counts *counts, int64_t now_ms);

/* Milliseconds until status_due() can turn true, or -1 if nothing changed. */
int status_timeout_ms(const struct status *st, const struct status_counts *counts,
		      int64_t now_ms);

/* Records that `counts` were published at `now_ms`. */
void status_published(struct status *st, const struct status_counts *counts, int64_t now_ms);

#endif
