/* plugin: the mosquitto 2.0 entry points of agentbus_auth and its four event
 * handlers. Everything here runs on the broker's one thread; the only other
 * thread is the fetcher's, reached through fetch_take() and
 * fetch_want_keys(). The only file that includes mosquitto's headers. */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin/clients.h"
#include "plugin/fetch.h"
#include "plugin/options.h"
#include "plugin/scope.h"
#include "plugin/token.h"

#define LOG_PREFIX "agentbus_auth: "
/* How long a disconnected client's entry waits for a delayed Last Will. */
#define GONE_KEEP_S 120
#define PURGE_EVERY_S 10
/* The library is built with hidden visibility; these three are its ABI. */
#define PLUGIN_ENTRY __attribute__((visibility("default")))

struct plugin {
	mosquitto_plugin_id_t *id;
	struct auth_options opt;
	struct fetcher *fetcher;	/* NULL without jwks_url and revocation_url */
	struct keyset *keys;		/* the newest key set fetched */
	struct revocation_list *revoked;	/* the newest list fetched */
	struct client_table clients;
	time_t next_purge;
};

/* Adopts what the fetch thread has brought since the last call. */
static void take_news(struct plugin *p)
{
	struct fetch_news news;
	char *line, *save = NULL;

	fetch_take(p->fetcher, &news);
	if (news.keys) {
		keyset_free(p->keys);
		p->keys = news.keys;
	}
	if (news.revoked) {
		revocation_free(p->revoked);
		p->revoked = news.revoked;
	}
	for (line = news.log ? strtok_r(news.log, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		mosquitto_log_printf(strstr(line, "failed") ? MOSQ_LOG_WARNING : MOSQ_LOG_NOTICE,
				     LOG_PREFIX "%s", line);
	free(news.log);
}

static const char *client_name(struct mosquitto *client)
{
	const char *id = mosquitto_client_id(client);

	return id ? id : "(no id)";
}

/* A JWT always begins with the base64url of '{"'. */
static bool looks_like_jwt(const char *s)
{
	return s && strncmp(s, "eyJ", 3) == 0;
}

static int refuse(struct mosquitto *client, const char *reason)
{
	const char *address = mosquitto_client_address(client);

	mosquitto_log_printf(MOSQ_LOG_NOTICE, LOG_PREFIX "client %s from %s refused: %s",
			     client_name(client), address ? address : "?", reason);
	return MOSQ_ERR_AUTH;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ev = event_data;
	struct plugin *p = userdata;
	const struct token_keys keys = { .rs256 = p->keys, .revoked = p->revoked };
	struct token_claims claims;
	enum token_verdict v;
	struct grants grants;

	(void)event;
	take_news(p);	/* the only way keys arrive when TICK is off */
	if (!ev->password || !ev->password[0]) {
		clients_remove(&p->clients, ev->client);
		return refuse(ev->client, looks_like_jwt(ev->username)
					 ? "shape (the token goes in the password, not the username)"
					 : "shape (no token in the password)");
	}
	v = token_verify(ev->password, &p->opt, &keys, time(NULL), &claims);
	if (v == TOKEN_KID)
		fetch_want_keys(p->fetcher);
	if (v != TOKEN_OK) {
		/* Grants of an earlier connection at this address must not linger. */
		clients_remove(&p->clients, ev->client);
		return refuse(ev->client, token_verdict_name(v));
	}
	if (grants_build(&grants, p->opt.root, claims.scope,
			 p->opt.admin_subject && strcmp(claims.sub, p->opt.admin_subject) == 0) != 0 ||
	    clients_put(&p->clients, ev->client, &grants, claims.exp + p->opt.leeway) != 0) {
		token_claims_free(&claims);
		return refuse(ev->client, "out_of_memory");
	}
	mosquitto_log_printf(MOSQ_LOG_INFO, LOG_PREFIX "client %s authenticated as %s (scope \"%s\")",
			     client_name(ev->client), claims.sub, claims.scope);
	token_claims_free(&claims);
	return MOSQ_ERR_SUCCESS;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ev = event_data;
	struct plugin *p = userdata;
	struct client_entry *e = clients_get(&p->clients, ev->client);
	const char *topic = ev->topic;
	enum grant_access access;

	(void)event;
	if (!e)
		return MOSQ_ERR_ACL_DENIED;
	/* After the disconnect event the only check left is the Last Will's,
	 * which goes out by the grants even when the token has just expired. */
	if (e->gone)
		return ev->access == MOSQ_ACL_WRITE &&
				       grants_allow(&e->grants, GRANT_PUBLISH, ev->topic)
			       ? MOSQ_ERR_SUCCESS
			       : MOSQ_ERR_ACL_DENIED;
	/* Also covers the gap before the tick disconnects an expired client. */
	if (e->expires <= time(NULL))
		return MOSQ_ERR_ACL_DENIED;
	switch (ev->access) {
	case MOSQ_ACL_UNSUBSCRIBE:
		return MOSQ_ERR_SUCCESS;
	case MOSQ_ACL_SUBSCRIBE:
		topic = subscription_filter(ev->topic);
		access = GRANT_READ;
		break;
	case MOSQ_ACL_READ:
		access = GRANT_READ;
		break;
	case MOSQ_ACL_WRITE:
		access = GRANT_PUBLISH;
		break;
	default:
		return MOSQ_ERR_ACL_DENIED;
	}
	return topic && grants_allow(&e->grants, access, topic) ? MOSQ_ERR_SUCCESS
								: MOSQ_ERR_ACL_DENIED;
}

struct expired_ids {
	char **ids;
	size_t count;
};

static void collect_expired(struct client_entry *e, void *arg)
{
	struct expired_ids *out = arg;
	const char *id = mosquitto_client_id((struct mosquitto *)e->conn);
	char **grown;

	if (!id)
		return;
	grown = realloc(out->ids, (out->count + 1) * sizeof *out->ids);
	if (grown)
		out->ids = grown;
	if (grown && (out->ids[out->count] = strdup(id)))
		out->count++;
	else
		e->kicked = false;	/* the next tick tries again; ACL denies meanwhile */
}

static int on_tick(int event, void *event_data, void *userdata)
{
	struct plugin *p = userdata;
	struct expired_ids expired = { 0 };
	time_t now = time(NULL);
	size_t i;

	(void)event;
	(void)event_data;
	take_news(p);
	if (now >= p->next_purge) {
		clients_purge_gone(&p->clients, now - GONE_KEEP_S);
		p->next_purge = now + PURGE_EVERY_S;
	}
	/* Kicking runs the disconnect handler at once, which changes the table:
	 * collect first, kick afterwards. */
	clients_expired(&p->clients, now, collect_expired, &expired);
	for (i = 0; i < expired.count; i++) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE, LOG_PREFIX "client %s disconnected: token expired",
				     expired.ids[i]);
		mosquitto_kick_client_by_clientid(expired.ids[i], true);
		free(expired.ids[i]);
	}
	free(expired.ids);
	return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_disconnect *ev = event_data;
	struct plugin *p = userdata;

	(void)event;
	clients_mark_gone(&p->clients, ev->client, time(NULL));
	return MOSQ_ERR_SUCCESS;
}

PLUGIN_ENTRY int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	int i;

	for (i = 0; i < supported_version_count; i++)
		if (supported_versions[i] == 5)
			return 5;
	return -1;
}

static void plugin_free(struct plugin *p)
{
	fetch_stop(p->fetcher);
	keyset_free(p->keys);
	revocation_free(p->revoked);
	clients_free(&p->clients);
	auth_options_free(&p->opt);
	free(p);
}

static int configure(struct plugin *p, struct mosquitto_opt *options, int option_count,
		     char *err, size_t errlen)
{
	int i;

	auth_options_init(&p->opt);
	for (i = 0; i < option_count; i++)
		if (auth_options_set(&p->opt, options[i].key, options[i].value, err, errlen) != 0)
			return -1;
	if (auth_options_finish(&p->opt, err, errlen) != 0 || clients_init(&p->clients) != 0)
		return -1;
	if (p->opt.jwks_url || p->opt.revocation_url) {
		p->fetcher = fetch_start(p->opt.jwks_url, p->opt.revocation_url, err, errlen);
		if (!p->fetcher)
			return -1;
	}
	return 0;
}

static const struct {
	int event;
	MOSQ_FUNC_generic_callback cb;
} handlers[] = {
	{ MOSQ_EVT_BASIC_AUTH, on_basic_auth },
	{ MOSQ_EVT_ACL_CHECK, on_acl_check },
	{ MOSQ_EVT_TICK, on_tick },
	{ MOSQ_EVT_DISCONNECT, on_disconnect },
};

static int register_all(struct plugin *p)
{
	size_t i;

	for (i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
		if (mosquitto_callback_register(p->id, handlers[i].event, handlers[i].cb, NULL, p) !=
		    MOSQ_ERR_SUCCESS)
			return -1;
	return 0;
}

PLUGIN_ENTRY int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
			  struct mosquitto_opt *options, int option_count)
{
	struct plugin *p = calloc(1, sizeof *p);
	char err[512] = "out of memory";

	if (!p || (p->id = identifier, configure(p, options, option_count, err, sizeof err)) != 0 ||
	    register_all(p) != 0) {
		mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "%s", err);
		if (p)
			plugin_free(p);
		return MOSQ_ERR_INVAL;
	}
	mosquitto_log_printf(MOSQ_LOG_NOTICE,
			     LOG_PREFIX "ready: root %s, %s%s%s, leeway %ld s%s",
			     p->opt.root, p->opt.jwks_url ? "RS256 keys from " : "",
			     p->opt.jwks_url ? p->opt.jwks_url : "",
			     p->opt.hs256_secret ? (p->opt.jwks_url ? " and HS256" : "HS256") : "",
			     p->opt.leeway, p->opt.revocation_url ? ", revocation list" : "");
	*userdata = p;
	return MOSQ_ERR_SUCCESS;
}

PLUGIN_ENTRY int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	struct plugin *p = userdata;
	size_t i;

	(void)options;
	(void)option_count;
	if (!p)
		return MOSQ_ERR_SUCCESS;
	for (i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
		mosquitto_callback_unregister(p->id, handlers[i].event, handlers[i].cb, NULL);
	plugin_free(p);
	return MOSQ_ERR_SUCCESS;
}
