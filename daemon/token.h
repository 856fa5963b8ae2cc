/* token: `agentbus token`, which mints HS256 development tokens for a broker
 * running agentbus_auth with plugin_opt_hs256_secret_file. */
#ifndef AB_DAEMON_TOKEN_H
#define AB_DAEMON_TOKEN_H

/* argv[0] is "token". Prints the token on stdout; returns the exit status
 * (0, 1 on failure, 2 on a usage error). */
int token_main(int argc, char **argv);

#endif
