/* handlers/registry: agents from definition notes (docs/CONTRACT.md section 4):
 * (re)register on created/updated, unregister on deleted or when the tag is
 * gone, refuse a bad definition while the previous registration keeps
 * running, skip an unchanged one, and say what happened on the retained
 * R/agent/A/definition and in the definition note's status (written with
 * agentbus's origin, so the stamp never causes a reload). */
#ifndef AB_HANDLERS_REGISTRY_H
#define AB_HANDLERS_REGISTRY_H

#include "bus/event.h"
#include "bus/message.h"

struct agent_runtime;

/* Loads the registered agents from the state. Returns 0 or -1. */
int registry_load(struct agent_runtime *rt);
/* Warns of each agent loaded from the state whose turns cannot run here
 * (their engine needs a sandbox that cannot be made): registered before,
 * they stay registered, and each of their turns fails with the reason. */
void registry_warn_unusable(struct agent_runtime *rt);
/* The definition trigger fired. Inside the caller's state transaction;
 * returns 0, or -1 when the state failed (the caller then reloads the
 * registry, since the maps may have moved ahead of it). */
int registry_definition(struct agent_runtime *rt, const struct vault_event *ev,
			const struct bus_message *msg);
/* Any event: a known definition note updated without its tag unregisters. */
int registry_observe(struct agent_runtime *rt, const struct vault_event *ev);
/* Frees the registry (not the state). */
void registry_free(struct agent_runtime *rt);

#endif
