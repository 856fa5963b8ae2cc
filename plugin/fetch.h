/* fetch: a thread that keeps the JWKS and the revocation list fresh over
 * HTTP(S) with libcurl, so nothing on the broker's thread ever waits for the
 * network. The broker's thread collects the results with fetch_take(); the
 * thread never calls a broker function (not even to log). */
#ifndef AB_PLUGIN_FETCH_H
#define AB_PLUGIN_FETCH_H

#include <stddef.h>

#include "plugin/keys.h"
#include "plugin/revocation.h"

struct fetcher;

/* What arrived since the last fetch_take(); each pointer is NULL or a new
 * object the caller now owns. `log` holds one line per event worth logging,
 * '\n'-separated. */
struct fetch_news {
	struct keyset *keys;
	struct revocation_list *revoked;
	char *log;
};

/* Either URL may be NULL (not fetched). Returns NULL with `err` set when the
 * thread cannot start. */
struct fetcher *fetch_start(const char *jwks_url, const char *revocation_url, char *err,
			    size_t errlen);
/* A token named a kid the key set lacks: fetch the JWKS again now, unless
 * that was done in the last 10 s or the last fetch failed under 30 s ago. */
void fetch_want_keys(struct fetcher *f);
/* Never blocks on the network: only a mutex the thread holds briefly. */
void fetch_take(struct fetcher *f, struct fetch_news *news);
/* Ends the thread, aborting a transfer in progress, and frees everything. */
void fetch_stop(struct fetcher *f);

#endif
