/* fleet/restore: a partition's next owner reads back what the previous one
 * kept on the bus (handlers/replica.h: the registered agents, each thread
 * note as last written) into its fresh state, before it takes the
 * partition's session. Blocking: it runs before the process's loop starts. */
#ifndef AB_FLEET_RESTORE_H
#define AB_FLEET_RESTORE_H

struct bus_client_options;
struct cJSON;
struct state;

struct fleet_restored {
	int agents;
	int threads;
	int exchanges;		/* of the API engines' thread histories */
	char *inbox;		/* the inbox record's JSON, the caller's to free; NULL: none */
	struct cJSON *directory;	/* agent name -> its registry entry (text); the caller's */
};

/* Subscribes to `prefix`/# and to the fleet's registry entries
 * (`registry`, a filter), takes every retained message until its own fence
 * message comes back (the broker sends the retained messages of a
 * subscription before anything published after it), and records the
 * partition's in `st`. Returns 0, or -1 after logging (the broker
 * unreachable, the state not written). */
int fleet_restore(const struct bus_client_options *opt, const char *prefix,
		  const char *registry, struct state *st, struct fleet_restored *out);

#endif
