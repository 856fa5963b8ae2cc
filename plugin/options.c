/* options: parsing and checking of the plugin's options. */
#include "plugin/options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/secret.h"


void auth_options_init(struct auth_options *o)
{
	memset(o, 0, sizeof *o);
}

static void free_list(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void auth_options_free(struct auth_options *o)
{
	free(o->root);
	free_list(o->issuers, o->n_issuers);
	free_list(o->audiences, o->n_audiences);
	free(o->jwks_url);
	free(o->revocation_url);
	if (o->hs256_secret)
		memset(o->hs256_secret, 0, o->hs256_len);
	free(o->hs256_secret);
	free(o->admin_subject);
	memset(o, 0, sizeof *o);
}

/* A comma list with blanks around items; empty items are refused. With
 * `strip_slash`, one trailing '/' goes (an origin is compared without). */
static int parse_list(const char *value, bool strip_slash, char ***out, size_t *n)
{
	const char *p = value;

	free_list(*out, *n);
	*out = NULL;
	*n = 0;
	for (;;) {
		size_t len;
		char **grown;

		p += strspn(p, " \t");
		len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (strip_slash && len > 1 && p[len - 1] == '/')
			len--;
		if (len == 0)
			return -1;
		grown = realloc(*out, (*n + 1) * sizeof **out);
		if (!grown)
			return -1;
		*out = grown;
		if (!((*out)[*n] = strndup(p, len)))
			return -1;
		(*n)++;
		p += strcspn(p, ",");
		if (*p == '\0')
			return 0;
		p++;
	}
}

static bool root_valid(const char *root)
{
	size_t len = strlen(root);

	return len > 0 && strpbrk(root, "+#") == NULL && root[0] != '/' && root[0] != '$' &&
	       root[len - 1] != '/' && strstr(root, "//") == NULL;
}

static int read_secret(struct auth_options *o, const char *path, char *err, size_t errlen)
{
	unsigned char buf[4096];
	char why[512];
	size_t n;

	if (secret_read(path, buf, sizeof buf, &n, why, sizeof why) != 0) {
		snprintf(err, errlen, "plugin_opt_hs256_secret_file: %s", why);
		return -1;
	}
	free(o->hs256_secret);
	o->hs256_secret = malloc(n);
	if (o->hs256_secret) {
		memcpy(o->hs256_secret, buf, n);
		o->hs256_len = n;
	}
	memset(buf, 0, sizeof buf);
	if (!o->hs256_secret) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int set_string(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	return *field ? 0 : -1;
}

static bool is_http_url(const char *v)
{
	return strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0;
}

int auth_options_set(struct auth_options *o, const char *key, const char *value, char *err,
		     size_t errlen)
{
	int rc = -1;

	if (!value)
		value = "";
	if (strcmp(key, "root") == 0) {
		if (!root_valid(value)) {
			snprintf(err, errlen, "plugin_opt_root: \"%s\" is not a topic root "
				 "(no wildcards, no leading $ or /, no empty levels)", value);
			return -1;
		}
		rc = set_string(&o->root, value);
	} else if (strcmp(key, "issuer") == 0) {
		rc = parse_list(value, true, &o->issuers, &o->n_issuers);
	} else if (strcmp(key, "audience") == 0) {
		rc = parse_list(value, false, &o->audiences, &o->n_audiences);
	} else if (strcmp(key, "jwks_url") == 0 || strcmp(key, "revocation_url") == 0) {
		if (!is_http_url(value)) {
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" is not an http:// or https:// URL",
				 key, value);
			return -1;
		}
		rc = set_string(key[0] == 'j' ? &o->jwks_url : &o->revocation_url, value);
	} else if (strcmp(key, "hs256_secret_file") == 0) {
		return read_secret(o, value, err, errlen);
	} else if (strcmp(key, "leeway") == 0) {
		char *end;

		errno = 0;
		o->leeway = strtol(value, &end, 10);
		rc = errno == 0 && end != value && *end == '\0' && o->leeway >= 0 &&
				     o->leeway <= 3600 ? 0 : -1;
		if (rc != 0) {
			snprintf(err, errlen, "plugin_opt_leeway: \"%s\" is not 0–3600 seconds", value);
			return -1;
		}
	} else if (strcmp(key, "admin_subject") == 0) {
		rc = value[0] ? set_string(&o->admin_subject, value) : -1;
	} else {
		snprintf(err, errlen, "unknown option plugin_opt_%s", key);
		return -1;
	}
	if (rc != 0)
		snprintf(err, errlen, "plugin_opt_%s: invalid value \"%s\"", key, value);
	return rc;
}

int auth_options_finish(struct auth_options *o, char *err, size_t errlen)
{
	if (!o->root && set_string(&o->root, "parachute") != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (o->n_issuers == 0) {
		snprintf(err, errlen, "plugin_opt_issuer is required (the hub origin tokens carry "
			 "in iss)");
		return -1;
	}
	if (!o->jwks_url && !o->hs256_secret) {
		snprintf(err, errlen, "plugin_opt_jwks_url or plugin_opt_hs256_secret_file is "
			 "required (no key would verify any token)");
		return -1;
	}
	return 0;
}
