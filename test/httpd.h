/* httpd: a small HTTP/1.1 server in the test process, on a free loopback
 * port, for the remote services a test cannot reach (a hub's JWKS and
 * revocation list). Each path answers what the test last set; a path can be
 * made to stall, holding its requests until released. */
#ifndef AB_TEST_HTTPD_H
#define AB_TEST_HTTPD_H

#include <stdbool.h>

struct th_httpd;

struct th_httpd *th_httpd_start(void);
int th_httpd_port(const struct th_httpd *h);
/* `path` answers `status` with `body` (application/json) from now on. */
void th_httpd_set(struct th_httpd *h, const char *path, int status, const char *body);
/* While on, requests for `path` wait; off releases them. */
void th_httpd_stall(struct th_httpd *h, const char *path, bool on);
/* Waits until `path` has been requested `n` times in all, counting requests
 * still stalled. Returns whether it has. */
bool th_httpd_wait_requests(struct th_httpd *h, const char *path, int n, int timeout_ms);
int th_httpd_requests(struct th_httpd *h, const char *path);
void th_httpd_stop(struct th_httpd *h);

/* The client side: GET http://`addr``path`; returns the status (0 when no
 * answer came within 10 s) and the body (malloc'd, never NULL). */
long th_http_get(const char *addr, const char *path, char **body);
/* Any request to `url` with an optional bearer and JSON body (NULL: none);
 * the status (0: no answer within 30 s) and the answer (malloc'd). */
long th_http_request(const char *method, const char *url, const char *bearer,
		     const char *body, char **answer);

#endif
