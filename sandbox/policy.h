/* sandbox/policy: what a definition says about how its turns are confined
 * (the reference's filesystem, network, egress, mounts and workspace fields),
 * parsed with the reference's coercions and kept as JSON in the agent spec.
 * Pure: no processes, no files. */
#ifndef AB_SANDBOX_POLICY_H
#define AB_SANDBOX_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

#define SANDBOX_MOUNTS_MAX 32
#define SANDBOX_EGRESS_MAX 64

enum sandbox_fs {
	SANDBOX_FS_WORKSPACE,	/* the system's directories read-only, the workspace, the mounts */
	SANDBOX_FS_FULL,	/* the whole root read-only, the workspace */
};

enum sandbox_net {
	SANDBOX_NET_OPEN,	/* the host's network */
	SANDBOX_NET_RESTRICTED,	/* none, but a proxy that lets CONNECT reach `egress` */
};

struct sandbox_mount {
	char *host_path;
	char *mount_path;
	bool rw;
};

/* All strings owned. */
struct sandbox_policy {
	enum sandbox_fs fs;
	enum sandbox_net net;
	char *workspace;		/* absolute host path; NULL: one per thread key */
	char **egress;			/* host or host:port, `*.` for a domain's hosts */
	size_t n_egress;
	struct sandbox_mount *mounts;
	size_t n_mounts;
	size_t mounts_dropped;		/* entries the reference's leniency ignored (not kept) */
};

/* Reads metadata `egress` (a list, or text split on commas and white
 * space) and `mounts` (a JSON array, real or in a string) into `p`. Bad
 * mounts are dropped, as the reference drops them, and counted. Returns 0, or
 * -1 when out of memory. */
int sandbox_policy_read_lists(const struct cJSON *metadata, struct sandbox_policy *p);

/* Adds the policy's fields to `obj` (the agent spec's JSON). 0 or -1. */
int sandbox_policy_to_json(const struct sandbox_policy *p, struct cJSON *obj);
/* Reads them back from what to_json wrote. 0 or -1 (memory). */
int sandbox_policy_from_json(const struct cJSON *obj, struct sandbox_policy *p);

int sandbox_policy_copy(struct sandbox_policy *dst, const struct sandbox_policy *src);
void sandbox_policy_free(struct sandbox_policy *p);

/* Whether `host` (a CONNECT target's host, without the port) at `port` is
 * allowed by `entry` of an egress list: the same name (any case), or a
 * subdomain of `*.name`; `name:port` allows only that port. */
bool sandbox_egress_allows(const char *entry, const char *host, int port);

#endif
