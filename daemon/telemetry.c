/* telemetry: one table of what is counted, with the help Prometheus shows. */
#include "daemon/telemetry.h"

const struct metric_family telemetry_families[] = {
	{ "agentbus_connected", METRIC_GAUGE, "1 while connected to the broker" },
	{ "agentbus_reconnects_total", METRIC_COUNTER, "connections made after the first" },
	{ "agentbus_messages_total", METRIC_COUNTER, "messages received, by kind of topic" },
	{ "agentbus_events_total", METRIC_COUNTER, "vault events received, by type" },
	{ "agentbus_triggers_fired_total", METRIC_COUNTER, "triggers that fired, by trigger" },
	{ "agentbus_deadletters_total", METRIC_COUNTER, "inputs refused, by reason" },
	{ "agentbus_turns_total", METRIC_COUNTER, "turns ended, by agent and outcome" },
	{ "agentbus_turn_duration_seconds", METRIC_HISTOGRAM, "turn durations, by agent" },
	{ "agentbus_tokens_total", METRIC_COUNTER, "tokens used, by agent and direction" },
	{ "agentbus_cost_usd_total", METRIC_COUNTER, "what turns cost, by agent" },
	{ "agentbus_engine_requests_total", METRIC_COUNTER, "engine calls (attempts), by engine" },
	{ "agentbus_engine_retries_total", METRIC_COUNTER, "engine calls tried again, by engine" },
	{ "agentbus_engine_errors_total", METRIC_COUNTER, "engine calls that failed, by engine" },
	{ "agentbus_agents", METRIC_GAUGE, "registered agents" },
	{ "agentbus_turns_queued", METRIC_GAUGE, "turns waiting" },
	{ "agentbus_turns_running", METRIC_GAUGE, "turns running" },
	{ "agentbus_outbox_unacked", METRIC_GAUGE, "QoS 1 publishes the broker has not confirmed" },
	{ "agentbus_vault_webhooks_total", METRIC_COUNTER,
	  "vault webhooks received, by outcome (recorded, duplicate, refused, failed)" },
	{ "agentbus_vault_feed_frames_total", METRIC_COUNTER, "change feed frames, by type" },
	{ "agentbus_vault_rest_calls_total", METRIC_COUNTER,
	  "REST calls to the vault, by method and outcome (ok, retry, refused)" },
	{ "agentbus_vault_writes_pending", METRIC_GAUGE, "writes the vault has not yet taken" },
	{ "agentbus_vault_feed_live", METRIC_GAUGE, "1 while the vault's change feed is live" },
	{ "agentbus_state_write_failures_total", METRIC_COUNTER,
	  "times the state could not be written (agentbus then stops taking input)" },
	{ "agentbus_fleet_members", METRIC_GAUGE, "a fleet instance: the active members it knows" },
	{ "agentbus_fleet_partition", METRIC_GAUGE,
	  "a fleet instance: 1 for each partition it owns, by partition and state (starting, "
	  "serving, draining)" },
	{ "agentbus_fleet_partitions_taken_total", METRIC_COUNTER,
	  "a fleet instance: partitions it started serving" },
	{ "agentbus_fleet_partitions_handed_over_total", METRIC_COUNTER,
	  "a fleet instance: partitions it stopped for another member" },
	{ "agentbus_fleet_partition_failures_total", METRIC_COUNTER,
	  "a fleet instance: partition processes that ended other than by a handover" },
};

const size_t telemetry_n_families = sizeof telemetry_families / sizeof telemetry_families[0];
