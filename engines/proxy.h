/* engines/proxy: the egress proxy of one sandboxed turn with a restricted
 * network. The sandbox has no network of its own; its helper hands every
 * connection made to 127.0.0.1:SANDBOX_PROXY_PORT inside over a Unix socket,
 * and this proxy, on the daemon's loop, answers HTTP CONNECT to an allowed
 * host by tunnelling to it and refuses (403, logged) everything else. */
#ifndef AB_ENGINES_PROXY_H
#define AB_ENGINES_PROXY_H

#include <stddef.h>

struct loop;
struct http;
struct egress_proxy;

/* Serves connections arriving on `ctl` (taken, also on failure) for `agent`,
 * allowing the egress entries `allow` (copied; see sandbox_egress_allows).
 * `http` may be NULL: then every CONNECT fails with 502. 0 or -1. */
int egress_proxy_open(struct loop *l, struct http *http, int ctl, const char *agent,
		      char *const *allow, size_t n_allow, struct egress_proxy **out);
/* Closes every tunnel and the socket. */
void egress_proxy_close(struct egress_proxy *p);

#endif
