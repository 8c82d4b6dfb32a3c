/*
 * Shared plumbing of the Kafka client commands; see kclient.h. librdkafka reports an unreachable
 * broker three ways (a log line, an error event, a failed request) and retries forever; this file
 * turns that into one bounded wait and one line of text.
 */
#include "cli/kclient.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- options ----------------------------------------------------------------------------- */

void zcq_kc_opts_init(struct zcq_kc_opts *o, const char *cmd)
{
    memset(o, 0, sizeof(*o));
    o->cmd = cmd;
    o->bootstrap = ZCQ_KC_DEFAULT_BOOTSTRAP;
    o->timeout_ms = ZCQ_KC_DEFAULT_TIMEOUT_MS;
}

int zcq_kc_parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (!s || !*s)
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int zcq_kc_opt(struct zcq_kc_opts *o, int c, const char *arg)
{
    long long v;

    switch (c) {
    case 'b':
        if (!arg[0] || strchr(arg, ' ')) {
            zcq_kc_usage_error(o, "--bootstrap needs HOST:PORT, not '%s'", arg);
            return -EINVAL;
        }
        o->bootstrap = arg;
        return 1;
    case ZCQ_KC_OPT_TIMEOUT:
        if (zcq_kc_parse_ll(arg, 1, 3600 * 1000, &v) < 0) {
            zcq_kc_usage_error(o, "--timeout-ms needs milliseconds from 1 to 3600000, not '%s'",
                               arg);
            return -EINVAL;
        }
        o->timeout_ms = (int)v;
        return 1;
    case ZCQ_KC_OPT_DEBUG:
        o->debug = true;
        o->debug_contexts = arg && arg[0] ? arg : NULL;
        return 1;
    case 'X':
        if (!strchr(arg, '=') || arg[0] == '=') {
            zcq_kc_usage_error(o, "-X needs KEY=VALUE, not '%s'", arg);
            return -EINVAL;
        }
        if (o->nprops == ZCQ_KC_MAX_PROPS) {
            zcq_kc_usage_error(o, "more than %d -X properties", ZCQ_KC_MAX_PROPS);
            return -EINVAL;
        }
        o->props[o->nprops++] = arg;
        return 1;
    default:
        return 0;
    }
}

int zcq_kc_bad_option(const struct zcq_kc_opts *o, int c, char **argv)
{
    /* getopt leaves the offending word just before optind; for a short option optopt has it. */
    const char *word = optind > 0 ? argv[optind - 1] : "?";

    if (c == ':') {
        if (optopt && optopt < 0x100 && word[0] == '-' && word[1] != '-')
            return zcq_kc_usage_error(o, "option -%c needs a value", optopt);
        return zcq_kc_usage_error(o, "option %s needs a value", word);
    }
    if (optopt && optopt < 0x100)
        return zcq_kc_usage_error(o, "unknown option -%c (try --help)", optopt);
    return zcq_kc_usage_error(o, "unknown option %s (try --help)", word);
}

/* --- messages ---------------------------------------------------------------------------- */

static void __attribute__((format(printf, 2, 0)))
vsay(const struct zcq_kc_opts *o, const char *fmt, va_list ap)
{
    char line[1024];

    /* Built whole, then written once, so that a message never interleaves with another. */
    vsnprintf(line, sizeof(line), fmt, ap);
    /* Some librdkafka strings end in a newline; the contract is one line. */
    for (char *p = line; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    fprintf(stderr, "zcq %s: %s\n", o->cmd, line);
}

int zcq_kc_usage_error(const struct zcq_kc_opts *o, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay(o, fmt, ap);
    va_end(ap);
    return ZCQ_KC_EXIT_USAGE;
}

int zcq_kc_error(const struct zcq_kc_opts *o, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay(o, fmt, ap);
    va_end(ap);
    return ZCQ_KC_EXIT_FAIL;
}

int zcq_kc_exit_status(int rc)
{
    if (rc == -EINVAL)
        return ZCQ_KC_EXIT_USAGE;
    return rc < 0 ? ZCQ_KC_EXIT_FAIL : ZCQ_KC_EXIT_OK;
}

/* --- callbacks --------------------------------------------------------------------------- */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const struct zcq_kc *kc = rd_kafka_opaque(rk);

    /* Runs on librdkafka's threads; reads only what was fixed before the handle existed. */
    if (kc && kc->o && kc->o->debug)
        fprintf(stderr, "rdkafka %d %s: %s\n", level, fac, buf);
}

/* Reduce "host:9092/bootstrap: Connect to ipv4#1.2.3.4:9092 failed: Connection refused (after
 * 0ms in state CONNECT)" to "Connection refused". */
static void keep_reason(struct zcq_kc *kc, const char *reason)
{
    const char *p = strstr(reason, ": "), *f;
    size_t n;

    p = p ? p + 2 : reason;
    f = strstr(p, "failed: ");
    if (f)
        p = f + strlen("failed: ");
    n = strlen(p);
    f = strstr(p, " (after ");
    if (f)
        n = (size_t)(f - p);
    if (n >= sizeof(kc->why))
        n = sizeof(kc->why) - 1;
    memcpy(kc->why, p, n);
    kc->why[n] = '\0';
    if (strncmp(kc->why, "Failed to resolve", 17) == 0)
        kc->why[0] = 'f';
}

/* Served on the thread that polls the main queue: no locking needed. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct zcq_kc *kc = opaque;

    (void)rk;
    if (!kc)
        return;
    if (kc->o && kc->o->debug)
        fprintf(stderr, "rdkafka error %s: %s\n", rd_kafka_err2name(err), reason);
    switch (err) {
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        kc->all_down = true;
        break;
    case RD_KAFKA_RESP_ERR__RESOLVE:
        kc->resolve_failed = true;
        keep_reason(kc, reason);
        break;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        kc->transport_fails++;
        keep_reason(kc, reason);
        break;
    default:
        break;
    }
}

void *zcq_kc_user(void *opaque)
{
    struct zcq_kc *kc = opaque;

    return kc ? kc->user : NULL;
}

/* --- the handle -------------------------------------------------------------------------- */

int zcq_kc_set(struct zcq_kc *kc, rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char err[512];

    if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        zcq_kc_usage_error(kc->o, "%s", err);
        return -EINVAL;
    }
    return 0;
}

rd_kafka_conf_t *zcq_kc_conf(struct zcq_kc *kc, const struct zcq_kc_opts *o)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    kc->o = o;
    if (!conf) {
        zcq_kc_error(o, "out of memory");
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, kc);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (zcq_kc_set(kc, conf, "bootstrap.servers", o->bootstrap) < 0 ||
        zcq_kc_set(kc, conf, "client.id", "zcq") < 0 ||
        (o->debug_contexts && zcq_kc_set(kc, conf, "debug", o->debug_contexts) < 0)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

int zcq_kc_create(struct zcq_kc *kc, rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char err[512];

    for (int i = 0; i < kc->o->nprops; i++) {
        const char *kv = kc->o->props[i], *eq = strchr(kv, '=');
        char key[256];

        if ((size_t)(eq - kv) >= sizeof(key)) {
            zcq_kc_usage_error(kc->o, "-X %s: key too long", kv);
            goto fail;
        }
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        if (zcq_kc_set(kc, conf, key, eq + 1) < 0)
            goto fail;
    }
    kc->rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!kc->rk) {
        zcq_kc_error(kc->o, "cannot create the client: %s", err);
        goto fail;
    }
    return 0; /* rd_kafka_new took conf */
fail:
    rd_kafka_conf_destroy(conf);
    return -EINVAL;
}

void zcq_kc_destroy(struct zcq_kc *kc)
{
    if (kc->rk)
        rd_kafka_destroy(kc->rk);
    kc->rk = NULL;
}

void zcq_kc_serve(struct zcq_kc *kc)
{
    rd_kafka_poll(kc->rk, 0);
}

static bool unreachable(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
           err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ||
           err == RD_KAFKA_RESP_ERR__RESOLVE || err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
}

const char *zcq_kc_strerr(const struct zcq_kc *kc, rd_kafka_resp_err_t err, char *buf, size_t len)
{
    if (unreachable(err) && kc->why[0])
        snprintf(buf, len, "%s (%s)", rd_kafka_err2str(err), kc->why);
    else
        snprintf(buf, len, "%s", rd_kafka_err2str(err));
    return buf;
}

/* librdkafka says "all brokers down" after the first refused connection, but a name with two
 * addresses (localhost: ::1, then 127.0.0.1) is only tried whole on the second attempt. */
static bool hopeless(const struct zcq_kc *kc)
{
    return kc->all_down && (kc->resolve_failed || kc->transport_fails >= 2);
}

int zcq_kc_connect(struct zcq_kc *kc)
{
    uint64_t deadline = zcq_kc_now_ns() + (uint64_t)kc->o->timeout_ms * 1000000u;

    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        uint64_t now = zcq_kc_now_ns();
        int slice = 100;
        rd_kafka_resp_err_t err;

        if (now >= deadline)
            break;
        if ((deadline - now) / 1000000u < (uint64_t)slice)
            slice = (int)((deadline - now) / 1000000u) + 1;
        /* No topics asked: a broker-only request, which also needs a live connection. A
         * short slice, so that the error callback is looked at between tries. */
        err = rd_kafka_metadata(kc->rk, 0, NULL, &md, slice);
        if (!err) {
            rd_kafka_metadata_destroy(md);
            return 0;
        }
        zcq_kc_serve(kc);
        if (hopeless(kc)) {
            zcq_kc_error(kc->o, "cannot reach broker %s: %s", kc->o->bootstrap, kc->why);
            return -EHOSTUNREACH;
        }
        if (err != RD_KAFKA_RESP_ERR__TRANSPORT && err != RD_KAFKA_RESP_ERR__TIMED_OUT) {
            zcq_kc_error(kc->o, "metadata from %s: %s", kc->o->bootstrap, rd_kafka_err2str(err));
            return -EPROTO;
        }
    }
    zcq_kc_serve(kc);
    zcq_kc_error(kc->o, "cannot reach broker %s: %s", kc->o->bootstrap,
                 kc->why[0] ? kc->why : "no answer within --timeout-ms");
    return -ETIMEDOUT;
}

int zcq_kc_topic_partitions(struct zcq_kc *kc, const char *topic, int *count)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(kc->rk, topic, NULL);
    rd_kafka_resp_err_t err;
    char why[512];
    int rc = 0;

    if (!rkt) {
        zcq_kc_usage_error(kc->o, "topic '%s': %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -EINVAL;
    }
    err = rd_kafka_metadata(kc->rk, 0, rkt, &md, kc->o->timeout_ms);
    if (err) {
        zcq_kc_serve(kc);
        zcq_kc_error(kc->o, "metadata for topic %s: %s", topic,
                     zcq_kc_strerr(kc, err, why, sizeof(why)));
        rc = -EIO;
        goto out;
    }
    if (md->topic_cnt != 1) {
        zcq_kc_error(kc->o, "metadata for topic %s: %d topics in the answer", topic, md->topic_cnt);
        rc = -EPROTO;
        goto out;
    }
    err = md->topics[0].err;
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
        zcq_kc_error(kc->o, "topic %s does not exist", topic);
        rc = -ENOENT;
        goto out;
    }
    if (err || md->topics[0].partition_cnt <= 0) {
        zcq_kc_error(kc->o, "topic %s: %s", topic,
                     err ? rd_kafka_err2str(err) : "no partitions in the metadata");
        rc = -EIO;
        goto out;
    }
    *count = md->topics[0].partition_cnt;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* --- the Admin API ----------------------------------------------------------------------- */

int zcq_kc_admin_open(struct zcq_kc *kc, const struct zcq_kc_opts *o)
{
    rd_kafka_conf_t *conf = zcq_kc_conf(kc, o);

    if (!conf)
        return -EINVAL;
    /* Producers may create topics by asking for their metadata, which an administrator's
     * question about a topic must never do. */
    if (zcq_kc_set(kc, conf, "allow.auto.create.topics", "false") < 0) {
        rd_kafka_conf_destroy(conf);
        return -EINVAL;
    }
    if (zcq_kc_create(kc, RD_KAFKA_PRODUCER, conf) < 0)
        return -EINVAL;
    return zcq_kc_connect(kc);
}

/* The operations librdkafka gives a broker-side operation timeout; it refuses the option on
 * any other. */
static bool has_operation_timeout(rd_kafka_admin_op_t op)
{
    return op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
           op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS || op == RD_KAFKA_ADMIN_OP_DELETERECORDS;
}

rd_kafka_AdminOptions_t *zcq_kc_admin_options(struct zcq_kc *kc, rd_kafka_admin_op_t op)
{
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(kc->rk, op);
    char err[256];

    if (!ao) {
        zcq_kc_error(kc->o, "out of memory");
        return NULL;
    }
    /* The broker-side operation timeout matters to a cluster waiting for its controller; the
     * request timeout bounds our wait for the answer. */
    if (rd_kafka_AdminOptions_set_request_timeout(ao, kc->o->timeout_ms, err, sizeof(err)) ||
        (has_operation_timeout(op) &&
         rd_kafka_AdminOptions_set_operation_timeout(ao, kc->o->timeout_ms, err, sizeof(err)))) {
        zcq_kc_usage_error(kc->o, "%s", err);
        rd_kafka_AdminOptions_destroy(ao);
        return NULL;
    }
    return ao;
}

rd_kafka_event_t *zcq_kc_admin_result(struct zcq_kc *kc, rd_kafka_queue_t *q, const char *what)
{
    /* librdkafka times the request out itself; the margin only covers its bookkeeping. */
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, kc->o->timeout_ms + 2000);
    char why[512];

    if (!ev) {
        zcq_kc_serve(kc);
        zcq_kc_error(kc->o, "%s: %s", what,
                     zcq_kc_strerr(kc, RD_KAFKA_RESP_ERR__TIMED_OUT, why, sizeof(why)));
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        zcq_kc_serve(kc);
        if (kc->why[0])
            zcq_kc_error(kc->o, "%s: %s", what,
                         zcq_kc_strerr(kc, rd_kafka_event_error(ev), why, sizeof(why)));
        else
            zcq_kc_error(kc->o, "%s: %s", what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

/* --- output ------------------------------------------------------------------------------ */

void zcq_kc_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* --- time and signals -------------------------------------------------------------------- */

uint64_t zcq_kc_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void zcq_kc_catch_stop_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a read of stdin blocked in the kernel returns EINTR, so we can stop. */
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool zcq_kc_stop_requested(void)
{
    return stop_flag != 0;
}
