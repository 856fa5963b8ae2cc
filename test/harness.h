/* harness: what the end-to-end tests share. A real mosquitto per test on a
 * free loopback port, the real agentbus binary as a child process, and an MQTT
 * client whose received messages a test can wait for. Every wait is on an
 * event (a message, a log line, a process exit) with a timeout only as a
 * safety net. */
#ifndef AB_TEST_HARNESS_H
#define AB_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemon/broker_child.h"

/* The safety-net timeout of every wait: it catches a hang, and decides
 * nothing else, so it is generous. 10 s proved too little for a sanitizer
 * build on a CI machine running four tests on two CPUs; a wait that is
 * meant to expire (nothing must arrive) has a short bound of its own. */
#define TH_TIMEOUT_MS 30000

/* A fresh directory under the build tree for one test; malloc'd path. */
char *th_tmpdir(const char *name);

/* The whole of file `path` (malloc'd, NUL-terminated); the program stops
 * when it cannot be read. */
char *th_read_file(const char *path);

/* Writes `text` to `dir/name`; returns the malloc'd path. */
char *th_write_file(const char *dir, const char *name, const char *text);

/* --- the gate engine ------------------------------------------------------ */

/* A FIFO in `dir` for agentbus --gate; malloc'd path. */
char *th_gate_new(const char *dir);
/* Releases waiting gate turns, oldest first: one per byte of `tokens`
 * ('!' fails the turn). */
void th_gate_release(const char *path, const char *tokens);

/* --- broker ---------------------------------------------------------- */

struct th_broker {
	struct broker_child child;
	char *dir;
	bool persistence;
	char *extra;		/* appended to mosquitto.conf */
	bool locked;		/* clients must log in (through the plugin) */
	pthread_t drain;	/* copies the broker's log to dir/mosquitto.log */
	bool draining;
	pthread_mutex_t lock;
	pthread_cond_t logged;
	char *log;		/* everything it logged so far, across restarts */
	size_t log_len;
};

/* Starts a broker in a new tmp dir (port 0: any free port). */
void th_broker_start(struct th_broker *b, const char *name, bool persistence);
/* Starts a broker that refuses anonymous clients, with `extra` appended to
 * its mosquitto.conf (a plugin and its options). */
void th_broker_start_locked(struct th_broker *b, const char *name, const char *extra);
/* An open broker with `extra` appended to its mosquitto.conf. */
void th_broker_start_with(struct th_broker *b, const char *name, const char *extra);
/* Starts it again on the same port and dir, after a stop or kill. */
void th_broker_restart(struct th_broker *b);
/* Waits until the broker's log holds `count` lines containing `text`. */
bool th_broker_wait_log(struct th_broker *b, const char *text, int count, int timeout_ms);
/* How many lines of the broker's log so far contain `text`. */
int th_broker_log_count(struct th_broker *b, const char *text);
/* SIGKILL: the broker saves nothing. */
void th_broker_kill(struct th_broker *b);
/* SIGTERM: a persistent broker saves its state. */
void th_broker_stop(struct th_broker *b);
void th_broker_free(struct th_broker *b);

/* --- the agentbus daemon ------------------------------------------------ */

struct th_daemon {
	pid_t pid;
	int out_fd, err_fd;
	pthread_t reader;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	char *out;		/* everything it printed on stdout so far */
	size_t out_len;
	char *err;		/* and on stderr (its log) */
	size_t err_len;
	bool eof;
	bool own_group;		/* leads its own process group, like a terminal job */
};

/* Runs the program argv[0] (an absolute path) like a daemon: its output is
 * captured, th_daemon_wait_output and th_daemon_stop work on it. */
void th_process_start(struct th_daemon *d, const char *const *argv);
/* Runs the agentbus under test with `args` (NULL-terminated). */
void th_daemon_start(struct th_daemon *d, const char *const *args);
/* The same, as the leader of a new process group; th_daemon_stop() then
 * signals the whole group, as Ctrl-C in a terminal does. */
void th_daemon_start_in_group(struct th_daemon *d, const char *const *args);
/* Waits until stdout (`on_stdout`) or the log contains `text`. */
bool th_daemon_wait_output(struct th_daemon *d, bool on_stdout, const char *text,
			   int timeout_ms);
/* Waits for the daemon to exit by itself; returns the wait status or -1. */
int th_daemon_wait_exit(struct th_daemon *d, int timeout_ms);
/* Sends `sig` and waits for the exit; returns the wait status or -1. */
int th_daemon_stop(struct th_daemon *d, int sig);
/* Sends `sig` and reports whether agentbus exited with status 0 (which, in
 * the sanitizer build, also means LeakSanitizer found nothing). */
bool th_daemon_stop_cleanly(struct th_daemon *d, int sig);
/* Frees the captured output; the process must have exited. */
void th_daemon_free(struct th_daemon *d);

/* Resident memory of process `pid` in kB (VmRSS), or -1. */
long th_rss_kb(pid_t pid);
/* The number after "key:" in /proc/PID/FILE ("status", "io"), or -1. */
long long th_proc_field(pid_t pid, const char *file, const char *key);

/* Runs a command to completion, capturing stdout and stderr (malloc'd). */
int th_run(const char *const *argv, char **out, char **err);

/* Path of the agentbus binary under test. */
const char *th_agentbus_bin(void);

/* --- an MQTT v5 client for assertions ----------------------------------- */

struct th_msg {
	char *topic;
	char *payload;		/* NUL-terminated copy */
	int len;
	bool retain;
	char *content_type;	/* NULL when absent */
	char *correlation;	/* correlation data, NUL-terminated; NULL when absent */
	struct th_msg *next;
};

struct th_client {
	struct mosquitto *mosq;
	int connack;		/* CONNACK reason code; -1 until one arrives */
	bool login;		/* opened by th_client_login: never reconnects */
	int acks[16][2];	/* the latest PUBACKs: mid, reason code */
	int n_acks;
	int suback;		/* reason code of the latest SUBACK */
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct th_msg *head, *tail;
	bool connected;
	bool disconnected;	/* the broker closed the connection */
	int subscribed;		/* SUBACKs received */
};

/* Connects to 127.0.0.1:port and subscribes to `filter` (QoS 1), waiting for
 * the SUBACK so nothing published afterwards can be missed. */
void th_client_open(struct th_client *c, int port, const char *filter);
/* How a client logs in; NULL members are left out. */
struct th_login {
	const char *id;		/* NULL: a random client id */
	const char *username;
	const char *password;
	const char *will_topic;	/* with will_payload: a QoS 1 Last Will */
	const char *will_payload;
};

/* Connects with MQTT v5 and waits for the CONNACK. Returns its reason code
 * (0: accepted), or -1 when the broker closed the connection without one.
 * A refused client is closed and must still be freed with th_client_close. */
int th_client_login(struct th_client *c, int port, const struct th_login *login);
/* Publishes text at QoS 1 and returns the PUBACK's reason code (0, or e.g.
 * 0x87 not authorized); -1 when none arrived. */
int th_client_publish_acked(struct th_client *c, const char *topic, const char *text,
			    bool retain);
/* Subscribes at QoS 1 and returns the SUBACK's reason code (1: granted QoS 1,
 * 0x87: not authorized); -1 when none arrived. */
int th_client_subscribe_rc(struct th_client *c, const char *filter);

/* Adds a subscription (QoS 1) and waits for its SUBACK. */
void th_client_subscribe(struct th_client *c, const char *filter);

/* Publishes at QoS 1 with the MQTT v5 properties that are not NULL.
 * `len` SIZE_MAX: the payload is NUL-terminated text. */
void th_client_publish(struct th_client *c, const char *topic, const void *payload, size_t len,
		       const char *content_type, const char *response_topic,
		       const char *correlation);
/* The same for a NUL-terminated text payload without properties. */
void th_client_publish_text(struct th_client *c, const char *topic, const char *text);

/* Next message on `topic` (exact), or NULL after the timeout. Free with
 * th_msg_free(). Earlier messages on other topics stay queued. */
struct th_msg *th_client_next(struct th_client *c, const char *topic, int timeout_ms);
/* Like th_client_next, skipping messages whose payload lacks `text`. */
struct th_msg *th_client_wait_for(struct th_client *c, const char *topic, const char *text,
				  int timeout_ms);
/* Waits until the broker has closed the connection. */
bool th_client_wait_disconnect(struct th_client *c, int timeout_ms);
/* Removes and counts the queued messages on `topic` containing `text`. */
int th_client_count(struct th_client *c, const char *topic, const char *text);
void th_client_close(struct th_client *c);
void th_msg_free(struct th_msg *m);

/* A new subscriber on `port` gets the retained message on `topic`, and it
 * contains `text`. */
bool th_retained_contains(int port, const char *topic, const char *text);

/* Validates a JSON payload against schemas/<name>.schema.json with Python's
 * jsonschema (draft 2020-12). Returns true when valid; prints why not. */
bool th_schema_valid(const char *name, const char *json);

#endif
