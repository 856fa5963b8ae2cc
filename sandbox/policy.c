/* sandbox/policy: the confinement fields of a definition, and their JSON. */
#include "sandbox/policy.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int push_egress(struct sandbox_policy *p, const char *s, size_t n)
{
	char **grown, *copy;

	if (n == 0 || p->n_egress >= SANDBOX_EGRESS_MAX)
		return 0;
	copy = strndup(s, n);
	grown = copy ? realloc(p->egress, (p->n_egress + 1) * sizeof *grown) : NULL;
	if (!grown) {
		free(copy);
		return -1;
	}
	p->egress = grown;
	p->egress[p->n_egress++] = copy;
	return 0;
}

/* The reference's metaList on text: split on commas and white space. */
static int egress_from_text(struct sandbox_policy *p, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, ", \t\r\n");

		if (push_egress(p, s, n) != 0)
			return -1;
		s += n;
		s += strspn(s, ", \t\r\n");
	}
	return 0;
}

static int read_egress(const cJSON *v, struct sandbox_policy *p)
{
	const cJSON *item;

	if (cJSON_IsString(v))
		return egress_from_text(p, v->valuestring);
	if (!cJSON_IsArray(v))
		return 0;
	cJSON_ArrayForEach(item, v) {
		char *text = cJSON_IsString(item) ? NULL : cJSON_PrintUnformatted(item);
		const char *s = cJSON_IsString(item) ? item->valuestring : text;
		int rc;

		if (!s)
			return -1;
		while (isspace((unsigned char)*s))
			s++;
		rc = push_egress(p, s, strlen(s));
		if (rc == 0 && p->n_egress > 0) {
			char *last = p->egress[p->n_egress - 1], *end = last + strlen(last);

			while (end > last && isspace((unsigned char)end[-1]))
				*--end = '\0';
			if (!*last)
				free(p->egress[--p->n_egress]);
		}
		free(text);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* An absolute path with no empty, "." or ".." component: what it names is
 * what it says, so a mount cannot climb out of where it appears to go. */
static bool clean_absolute(const char *s)
{
	if (!s || s[0] != '/' || strlen(s) > 4096)
		return false;
	for (const char *c = s + 1; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
		if (*c == '/' && !*++c)
			return false;	/* a trailing slash */
	}
	return true;
}

/* Where a mount may not go: over the root, or what the sandbox itself sets up. */
static bool reserved_target(const char *s)
{
	static const char *const reserved[] = { "/proc", "/dev", "/tmp", "/run/agentbus" };

	if (strcmp(s, "/") == 0)
		return true;
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
		size_t n = strlen(reserved[i]);

		if (strncmp(s, reserved[i], n) == 0 && (s[n] == '\0' || s[n] == '/'))
			return true;
	}
	return false;
}

static int read_mount(const cJSON *item, struct sandbox_policy *p)
{
	const char *host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "hostPath"));
	const char *target = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "mountPath"));
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(item, "mode");
	const char *m = cJSON_GetStringValue(mode);
	struct sandbox_mount *grown;

	if (!cJSON_IsObject(item) || !clean_absolute(host) || !clean_absolute(target) ||
	    reserved_target(target) || (mode && (!m || (strcmp(m, "ro") && strcmp(m, "rw")))) ||
	    p->n_mounts >= SANDBOX_MOUNTS_MAX) {
		p->mounts_dropped++;
		return 0;
	}
	grown = realloc(p->mounts, (p->n_mounts + 1) * sizeof *grown);
	if (!grown)
		return -1;
	p->mounts = grown;
	grown += p->n_mounts;
	grown->host_path = strdup(host);
	grown->mount_path = strdup(target);
	grown->rw = m && strcmp(m, "rw") == 0;
	if (!grown->host_path || !grown->mount_path) {
		free(grown->host_path);
		free(grown->mount_path);
		return -1;
	}
	p->n_mounts++;
	return 0;
}

static int read_mounts(const cJSON *v, struct sandbox_policy *p)
{
	cJSON *parsed = cJSON_IsString(v) ? cJSON_Parse(v->valuestring) : NULL;
	const cJSON *list = parsed ? parsed : v, *item;
	int rc = 0;

	if (!v)
		return 0;
	if (!cJSON_IsArray(list)) {
		p->mounts_dropped++;
		cJSON_Delete(parsed);
		return 0;
	}
	cJSON_ArrayForEach(item, list)
		if ((rc = read_mount(item, p)) != 0)
			break;
	cJSON_Delete(parsed);
	return rc;
}

int sandbox_policy_read_lists(const cJSON *metadata, struct sandbox_policy *p)
{
	if (read_egress(cJSON_GetObjectItemCaseSensitive(metadata, "egress"), p) != 0 ||
	    read_mounts(cJSON_GetObjectItemCaseSensitive(metadata, "mounts"), p) != 0)
		return -1;
	return 0;
}

int sandbox_policy_to_json(const struct sandbox_policy *p, cJSON *obj)
{
	cJSON *egress = NULL, *mounts = NULL;

	if (!cJSON_AddStringToObject(obj, "filesystem",
				     p->fs == SANDBOX_FS_FULL ? "full" : "workspace") ||
	    !cJSON_AddStringToObject(obj, "network",
				     p->net == SANDBOX_NET_RESTRICTED ? "restricted" : "open") ||
	    (p->workspace && !cJSON_AddStringToObject(obj, "workspace", p->workspace)))
		return -1;
	if (p->n_egress &&
	    !(egress = cJSON_CreateStringArray((const char *const *)p->egress, (int)p->n_egress)))
		return -1;
	if (egress && !cJSON_AddItemToObject(obj, "egress", egress)) {
		cJSON_Delete(egress);
		return -1;
	}
	if (!p->n_mounts)
		return 0;
	if (!(mounts = cJSON_AddArrayToObject(obj, "mounts")))
		return -1;
	for (size_t i = 0; i < p->n_mounts; i++) {
		cJSON *m = cJSON_CreateObject();

		if (!m || !cJSON_AddItemToArray(mounts, m) ||
		    !cJSON_AddStringToObject(m, "hostPath", p->mounts[i].host_path) ||
		    !cJSON_AddStringToObject(m, "mountPath", p->mounts[i].mount_path) ||
		    !cJSON_AddStringToObject(m, "mode", p->mounts[i].rw ? "rw" : "ro"))
			return -1;
	}
	return 0;
}

int sandbox_policy_from_json(const cJSON *obj, struct sandbox_policy *p)
{
	const char *fs = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "filesystem"));
	const char *net = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "network"));
	const char *ws = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "workspace"));

	memset(p, 0, sizeof *p);
	p->fs = fs && strcmp(fs, "full") == 0 ? SANDBOX_FS_FULL : SANDBOX_FS_WORKSPACE;
	p->net = net && strcmp(net, "restricted") == 0 ? SANDBOX_NET_RESTRICTED : SANDBOX_NET_OPEN;
	if ((ws && !(p->workspace = strdup(ws))) || sandbox_policy_read_lists(obj, p) != 0) {
		sandbox_policy_free(p);
		return -1;
	}
	return 0;
}

int sandbox_policy_copy(struct sandbox_policy *dst, const struct sandbox_policy *src)
{
	cJSON *j = cJSON_CreateObject();
	int rc = j && sandbox_policy_to_json(src, j) == 0 ? sandbox_policy_from_json(j, dst) : -1;

	cJSON_Delete(j);
	if (rc != 0)
		memset(dst, 0, sizeof *dst);
	return rc;
}

void sandbox_policy_free(struct sandbox_policy *p)
{
	for (size_t i = 0; i < p->n_egress; i++)
		free(p->egress[i]);
	for (size_t i = 0; i < p->n_mounts; i++) {
		free(p->mounts[i].host_path);
		free(p->mounts[i].mount_path);
	}
	free(p->egress);
	free(p->mounts);
	free(p->workspace);
	memset(p, 0, sizeof *p);
}

bool sandbox_egress_allows(const char *entry, const char *host, int port)
{
	const char *colon = strrchr(entry, ':');
	size_t n = colon && !strchr(colon + 1, ']') ? (size_t)(colon - entry) : strlen(entry);
	size_t hn = strlen(host);

	if (n < strlen(entry)) {
		char *end;
		long want = strtol(colon + 1, &end, 10);

		if (*end || end == colon + 1 || want != port)
			return false;
	}
	if (n > 2 && entry[0] == '*' && entry[1] == '.')
		/* "*.example.com": a host under example.com, never example.com itself. */
		return hn > n - 1 && strncasecmp(host + hn - (n - 1), entry + 1, n - 1) == 0;
	return hn == n && strncasecmp(host, entry, n) == 0;
}
