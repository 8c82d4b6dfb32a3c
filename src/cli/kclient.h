/*
 * Plumbing shared by the Kafka client commands (topics, produce, consume, perf, groups). They
 * talk to any Kafka broker through librdkafka and nothing else; this module gives them:
 *
 *   - the common options: --bootstrap HOST:PORT, --timeout-ms MS, --debug[=CONTEXTS] and
 *     -X KEY=VALUE (any librdkafka property, applied last so the user wins);
 *   - a librdkafka handle whose own logging is silenced (only --debug lets it through), with an
 *     error callback that remembers why the broker cannot be reached;
 *   - a bounded wait for the first broker (zcq_kc_connect) that fails fast when every broker
 *     refuses or does not resolve, instead of letting librdkafka retry until a timeout;
 *   - the one-line messages: "zcq <cmd>: ..." on stderr, exit 2 for usage, 1 for failures;
 *   - bounded waits for Admin API results, and JSON string output.
 *
 * Ownership: a zcq_kc_opts points into argv (nothing is copied); a zcq_kc owns its rd_kafka_t,
 * released by zcq_kc_destroy. Functions returning int give 0 or a count on success and -errno on
 * failure, and have already printed the one line by then unless their comment says otherwise.
 */
#ifndef ZCQ_CLI_KCLIENT_H
#define ZCQ_CLI_KCLIENT_H

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZCQ_KC_DEFAULT_BOOTSTRAP  "127.0.0.1:9092"
#define ZCQ_KC_DEFAULT_TIMEOUT_MS 10000
#define ZCQ_KC_MAX_PROPS          64

/* Exit statuses of every client command (cli/cmd.h). */
enum { ZCQ_KC_EXIT_OK = 0, ZCQ_KC_EXIT_FAIL = 1, ZCQ_KC_EXIT_USAGE = 2 };

/* getopt_long values of the common options that have no short form. */
enum {
    ZCQ_KC_OPT_TIMEOUT = 0x100,
    ZCQ_KC_OPT_DEBUG,
    ZCQ_KC_OPT_FIRST_FREE /* commands number their own long-only options from here */
};

/* Put these in every command's getopt_long table and optstring: the leading ':' makes a missing
 * argument come back as ':' so that zcq_kc_bad_option can word it. */
#define ZCQ_KC_SHORTOPTS ":b:X:h"
/* One option a line: the formatter would fold the list. */
/* clang-format off */
#define ZCQ_KC_LONGOPTS                                                                            \
    {"bootstrap", required_argument, NULL, 'b'},                                                   \
    {"timeout-ms", required_argument, NULL, ZCQ_KC_OPT_TIMEOUT},                                   \
    {"debug", optional_argument, NULL, ZCQ_KC_OPT_DEBUG},                                          \
    {"property", required_argument, NULL, 'X'},                                                    \
    {"help", no_argument, NULL, 'h'}
/* clang-format on */

/* The usage text of the common options, for each command's --help. */
#define ZCQ_KC_USAGE_COMMON                                                                        \
    "  -b, --bootstrap HOST:PORT  broker to start from (default " ZCQ_KC_DEFAULT_BOOTSTRAP ")\n"   \
    "  --timeout-ms MS            bound on every wait for the broker (default 10000)\n"            \
    "  --debug[=CONTEXTS]         show librdkafka's log; CONTEXTS sets its debug property\n"       \
    "  -X, --property KEY=VALUE   any librdkafka property (applied last)\n"                        \
    "  -h, --help                 this text\n"

struct zcq_kc_opts {
    const char *cmd;                     /* message prefix after "zcq ": "produce", "topics" */
    const char *bootstrap;               /* HOST:PORT[,HOST:PORT]... */
    int timeout_ms;                      /* > 0 */
    bool debug;                          /* librdkafka's log goes to stderr */
    const char *debug_contexts;          /* librdkafka "debug" property, or NULL */
    const char *props[ZCQ_KC_MAX_PROPS]; /* -X KEY=VALUE strings, in argv */
    int nprops;
};

struct zcq_kc {
    rd_kafka_t *rk;
    const struct zcq_kc_opts *o;
    void *user;          /* the command's own state, for its callbacks (zcq_kc_user) */
    int transport_fails; /* connection failures the error callback has seen */
    bool all_down;       /* librdkafka said every known broker is down */
    bool resolve_failed; /* a broker name does not resolve: no point in retrying */
    char why[256];       /* the last reason the broker could not be reached, or "" */
};

/* --- options ----------------------------------------------------------------------------- */

void zcq_kc_opts_init(struct zcq_kc_opts *o, const char *cmd);
/* Handle getopt_long's result c if it is a common option: 1 handled, 0 not a common option,
 * -EINVAL bad value (message printed). 'h' is left to the command. */
int zcq_kc_opt(struct zcq_kc_opts *o, int c, const char *arg);
/* Word getopt_long's '?' or ':' for argv (after the call that returned it); returns 2. */
int zcq_kc_bad_option(const struct zcq_kc_opts *o, int c, char **argv);
/* Parse a whole decimal integer in [min, max]: 0, or -EINVAL (prints nothing). */
int zcq_kc_parse_ll(const char *s, long long min, long long max, long long *out);

/* --- messages: "zcq <cmd>: ...\n" on stderr; they return the exit status ------------------ */

int zcq_kc_usage_error(const struct zcq_kc_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int zcq_kc_error(const struct zcq_kc_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The exit status for a command's result: 0 success, -EINVAL usage (a value only librdkafka
 * could judge), any other -errno failure. */
int zcq_kc_exit_status(int rc);

/* --- the librdkafka handle --------------------------------------------------------------- */

/* A configuration with the bootstrap servers, the silenced logger and the error callback;
 * NULL on failure (message printed). kc must outlive the handle: it is the callbacks' opaque. */
rd_kafka_conf_t *zcq_kc_conf(struct zcq_kc *kc, const struct zcq_kc_opts *o);
/* Set one property: 0, or -EINVAL with the message printed. */
int zcq_kc_set(struct zcq_kc *kc, rd_kafka_conf_t *conf, const char *key, const char *value);
/* Apply the -X properties and create the handle; conf is consumed either way. 0 or -EINVAL. */
int zcq_kc_create(struct zcq_kc *kc, rd_kafka_type_t type, rd_kafka_conf_t *conf);
/* Wait (at most timeout_ms) until a broker answers a metadata request. Fails early when every
 * broker refused a connection twice or a name does not resolve. 0 or -EHOSTUNREACH/-ETIMEDOUT. */
int zcq_kc_connect(struct zcq_kc *kc);
/* The partition count of topic, with *count set; -ENOENT "topic ... does not exist", or another
 * -errno. The handle's own policy decides whether asking creates the topic (producers may). */
int zcq_kc_topic_partitions(struct zcq_kc *kc, const char *topic, int *count);
void zcq_kc_destroy(struct zcq_kc *kc);

/* The command state set in kc->user, from a callback's opaque. */
void *zcq_kc_user(void *opaque);
/* Words for err; for errors that mean the broker is unreachable, with the remembered reason
 * ("Local: Broker transport failure (Connection refused)"). Returns buf. */
const char *zcq_kc_strerr(const struct zcq_kc *kc, rd_kafka_resp_err_t err, char *buf, size_t len);
/* Serve the main queue without blocking, so that the error callback sees what happened. */
void zcq_kc_serve(struct zcq_kc *kc);

/* --- the Admin API ----------------------------------------------------------------------- */

/* An admin client: a producer handle that never creates a topic by asking for its metadata,
 * connected (zcq_kc_connect). 0; -EINVAL for a bad option or property; another -errno when no
 * broker answers. kc->rk is set whenever the handle exists: zcq_kc_destroy it either way. */
int zcq_kc_admin_open(struct zcq_kc *kc, const struct zcq_kc_opts *o);
/* Options for one admin request of kind op, every wait bounded by --timeout-ms; NULL on
 * failure (message printed). The caller destroys them. */
rd_kafka_AdminOptions_t *zcq_kc_admin_options(struct zcq_kc *kc, rd_kafka_admin_op_t op);
/* The result event of the one request queued on q, or NULL with "zcq <cmd>: WHAT: why"
 * printed (no answer in time, or a request-level error). The caller destroys the event. */
rd_kafka_event_t *zcq_kc_admin_result(struct zcq_kc *kc, rd_kafka_queue_t *q, const char *what);

/* --- output ------------------------------------------------------------------------------ */

/* s as a JSON string literal, quotes included, on stdout. */
void zcq_kc_json_string(const char *s);

/* --- time and signals -------------------------------------------------------------------- */

uint64_t zcq_kc_now_ns(void); /* CLOCK_MONOTONIC */
/* SIGINT and SIGTERM set a flag (no SA_RESTART) instead of killing the process. */
void zcq_kc_catch_stop_signals(void);
bool zcq_kc_stop_requested(void);

#endif
