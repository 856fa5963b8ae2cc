/* llm_server: a local stand-in for OpenAI-compatible and Anthropic streaming
 * APIs, byte for byte as the field notes describe them, in the test process
 * on a free loopback port. What it does with a request is chosen by a word
 * in the request body (the test's message): see llm_server.c. It keeps
 * every request body for the test to read. */
#ifndef AB_TEST_LLM_SERVER_H
#define AB_TEST_LLM_SERVER_H

#include <stdbool.h>

struct llm_server;

struct llm_server *llm_start(void);
int llm_port(const struct llm_server *s);
/* Requests whose body contains `word` so far. */
int llm_count(struct llm_server *s, const char *word);
/* The latest request body containing `word` (malloc'd), or NULL. */
char *llm_body(struct llm_server *s, const char *word);
/* Monotonic ms of the n-th (1-based) request containing `word`, or -1. */
long long llm_arrival_ms(struct llm_server *s, const char *word, int n);
/* Waits until `n` requests containing `word` have arrived. */
bool llm_wait(struct llm_server *s, const char *word, int n, int timeout_ms);
/* Lets stalled streams go on (they end). */
void llm_release(struct llm_server *s);
/* Peak number of connections open at once. */
int llm_peak(struct llm_server *s);
void llm_stop(struct llm_server *s);

#endif
