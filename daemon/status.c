/* status: payload and refresh policy of the instance status. The online
 * message is republished on every (re)connect because a broker restarted
 * without persistence has forgotten it; between connects only a change in
 * the counts causes a publish, rate-limited so a busy daemon does not flood
 * every subscriber of R/agentbus/status/+ with retained updates. */
#include "daemon/status.h"

#include <cjson/cJSON.h>
#include <string.h>

void status_init(struct status *st, const char *instance)
{
	memset(st, 0, sizeof *st);
	st->instance = instance;
	clock_iso8601(st->started_at);
}

int status_encode(const struct status *st, bool online, const struct status_counts *counts,
		  const struct status_totals *totals, enum payload_encoding enc,
		  struct codec_buf *out)
{
	cJSON *doc = cJSON_CreateObject();
	int rc = -1;

	if (doc &&
	    cJSON_AddStringToObject(doc, "state", online ? "online" : "offline") &&
	    cJSON_AddStringToObject(doc, "instance", st->instance) &&
	    cJSON_AddStringToObject(doc, "version", AGENTBUS_VERSION) &&
	    cJSON_AddStringToObject(doc, "started_at", st->started_at) &&
	    cJSON_AddNumberToObject(doc, "agents", counts->agents) &&
	    cJSON_AddNumberToObject(doc, "queued", counts->queued) &&
	    cJSON_AddNumberToObject(doc, "running", counts->running) &&
	    cJSON_AddNumberToObject(doc, "turns_ok", (double)totals->turns_ok) &&
	    cJSON_AddNumberToObject(doc, "turns_failed", (double)totals->turns_failed) &&
	    cJSON_AddNumberToObject(doc, "deadletters", (double)totals->deadletters) &&
	    cJSON_AddNumberToObject(doc, "reconnects", (double)totals->reconnects) &&
	    cJSON_AddNumberToObject(doc, "state_write_failures",
				    (double)totals->state_write_failures) &&
	    (!totals->vault ||
	     cJSON_AddItemToObject(doc, "vault", cJSON_Duplicate(totals->vault, 1))))
		rc = codec_encode(doc, enc, out);
	cJSON_Delete(doc);
	return rc;
}

static bool counts_equal(const struct status_counts *a, const struct status_counts *b)
{
	return a->agents == b->agents && a->queued == b->queued && a->running == b->running &&
	       a->metrics_generation == b->metrics_generation && a->vault == b->vault;
}

int status_timeout_ms(const struct status *st, const struct status_counts *counts,
		      int64_t now_ms)
{
	int64_t due;

	if (counts_equal(&st->published, counts))
		return -1;
	due = st->published_at + STATUS_REFRESH_MS;
	return due <= now_ms ? 0 : (int)(due - now_ms);
}

bool status_due(const struct status *st, const struct status_counts *counts, int64_t now_ms)
{
	return status_timeout_ms(st, counts, now_ms) == 0;
}

void status_published(struct status *st, const struct status_counts *counts, int64_t now_ms)
{
	st->published = *counts;
	st->published_at = now_ms;
}
