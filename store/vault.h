/* store/vault: the embedded note store as a vault module on the bus
 * (docs/CONTRACT.md section 12). It reads writes from R/vault/V/write, applies
 * them to store/notes, publishes the resulting events with the writer's
 * origin and a fresh event_id, and answers on the write's response topic.
 * It talks to the rest of agentbus only through the bus. */
#ifndef AB_STORE_VAULT_H
#define AB_STORE_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/message.h"
#include "bus/sink.h"
#include "bus/topics.h"
#include "util/ulid.h"

struct note_store;

struct store_vault {
	struct note_store *notes;	/* owned */
	const struct topics *topics;	/* borrowed */
	const char *vault;		/* borrowed: V */
	struct bus_sink sink;
	size_t max_payload;
	struct ulid_gen event_ids;
	bool failing;			/* notes.db could not be written */
	char why[256];
};

/* Opens the store in `state_dir`. Returns 0, or -1 after logging. */
int store_vault_open(struct store_vault *sv, const char *state_dir, const struct topics *topics,
		     const char *vault, const struct bus_sink *sink, size_t max_payload);
void store_vault_close(struct store_vault *sv);

/* Handles one message from R/vault/V/write: 0 when it is done with it (a
 * write it cannot apply is answered, when it asked, and dead-lettered), -1
 * when notes.db could not be written: nothing was applied, and the message
 * must not be acknowledged. */
int store_vault_receive(struct store_vault *sv, const struct bus_message *msg);

/* Sends the recorded events that are ready or due again (those left by an
 * earlier run included); `retry_ms` gets the time until the next one is
 * due, -1 when none. */
void store_vault_flush(struct store_vault *sv, int64_t now_ms, int *retry_ms);
/* Forgets the acknowledged events, once per loop iteration. */
void store_vault_settle(struct store_vault *sv);
/* Group commit of notes.db (note_store_group()): on from the daemon's start;
 * the commit returns 1, 0 or -1 (then the store is failing). */
int store_vault_group(struct store_vault *sv, bool on);
int store_vault_commit(struct store_vault *sv);
/* While failing: 0 once notes.db can be written again. */
int store_vault_probe(struct store_vault *sv);

#endif
