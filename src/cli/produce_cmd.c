/*
 * zcq produce: one record per input line (a file or stdin) to a topic of any Kafka broker.
 * The trailing newline is not part of the record; with --key-separator the text before the
 * first separator is the key (a line without one has no key). Every record carries the
 * --header pairs. Keys pick partitions as Java clients do (murmur2), unless --partition.
 *
 * The command waits for every delivery report: exit 0 only when every record was acknowledged;
 * otherwise one line says how many failed and why. message.timeout.ms (--timeout-ms) bounds how
 * long a record may wait for its acknowledgement, so a dead broker cannot hang it.
 */
#include "cli/cmd.h"
#include "cli/kclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64

enum { OPT_ACKS = ZCQ_KC_OPT_FIRST_FREE };

struct produce_args {
    const char *topic;
    const char *file; /* NULL: stdin */
    const char *sep;  /* key separator, or NULL */
    int partition;    /* RD_KAFKA_PARTITION_UA: the partitioner's choice */
    const char *acks; /* "0", "1", "all" */
    const char *compression;
    const char *headers[MAX_HEADERS]; /* KEY=VALUE, in argv */
    int nheaders;
};

/* Delivery reports, counted on the thread that polls (this one). */
struct produce_state {
    long long sent, acked, failed;
    rd_kafka_resp_err_t first_err;
};

static void usage(FILE *f)
{
    fputs("usage: zcq produce --topic T [--file F] [--key-separator SEP] [--partition P]\n"
          "                   [--acks 0|1|all] [--compression none|gzip|snappy|lz4|zstd]\n"
          "                   [--header KEY=VALUE]...\n"
          "\n"
          "Send one record per line of F (default: stdin) to topic T, without the newline. With\n"
          "--key-separator, the text before the first SEP is the record's key (a line without\n"
          "SEP has none). Waits for every acknowledgement; exits 0 only if all were.\n"
          "\n"
          "  -t, --topic T             topic to write to (a producer may create it, if the\n"
          "                            broker auto-creates topics)\n"
          "  -f, --file F              read records from F instead of stdin\n"
          "  -K, --key-separator SEP   split each line into key SEP value\n"
          "  -p, --partition P         write every record to partition P (default: by key,\n"
          "                            murmur2 as Java clients do; keyless ones spread)\n"
          "  --acks 0|1|all            acknowledgement to wait for (default all)\n"
          "  -z, --compression CODEC   none (default), gzip, snappy, lz4, zstd\n"
          "  -H, --header KEY=VALUE    a header on every record; repeat for more\n"
          "\n"
          "--timeout-ms also bounds each record's wait for its acknowledgement\n"
          "(message.timeout.ms).\n" ZCQ_KC_USAGE_COMMON,
          f);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct produce_state *st = zcq_kc_user(opaque);

    (void)rk;
    if (m->err) {
        if (!st->failed)
            st->first_err = m->err;
        st->failed++;
    } else {
        st->acked++;
    }
}

static bool one_of(const char *s, const char *const *list)
{
    for (; *list; list++) {
        if (strcmp(s, *list) == 0)
            return true;
    }
    return false;
}

/* Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct zcq_kc_opts *o, struct produce_args *a)
{
    static const struct option longopts[] = {
        ZCQ_KC_LONGOPTS,
        {"topic", required_argument, NULL, 't'},
        {"file", required_argument, NULL, 'f'},
        {"key-separator", required_argument, NULL, 'K'},
        {"partition", required_argument, NULL, 'p'},
        {"acks", required_argument, NULL, OPT_ACKS},
        {"compression", required_argument, NULL, 'z'},
        {"header", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    static const char *const acks[] = {"0", "1", "all", "-1", NULL};
    static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd", NULL};
    long long v;
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ZCQ_KC_SHORTOPTS "t:f:K:p:z:H:", longopts, NULL)) != -1) {
        int r = zcq_kc_opt(o, c, optarg);

        if (r < 0)
            return ZCQ_KC_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 't':
            a->topic = optarg;
            break;
        case 'f':
            a->file = optarg;
            break;
        case 'K':
            if (!optarg[0])
                return zcq_kc_usage_error(o, "--key-separator is empty");
            a->sep = optarg;
            break;
        case 'p':
            if (zcq_kc_parse_ll(optarg, 0, INT32_MAX, &v) < 0)
                return zcq_kc_usage_error(o, "--partition needs a number from 0, not '%s'", optarg);
            a->partition = (int)v;
            break;
        case OPT_ACKS:
            if (!one_of(optarg, acks))
                return zcq_kc_usage_error(o, "--acks must be 0, 1 or all, not '%s'", optarg);
            a->acks = optarg;
            break;
        case 'z':
            if (!one_of(optarg, codecs))
                return zcq_kc_usage_error(
                    o, "--compression must be none, gzip, snappy, lz4 or zstd, not '%s'", optarg);
            a->compression = optarg;
            break;
        case 'H':
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return zcq_kc_usage_error(o, "--header needs KEY=VALUE, not '%s'", optarg);
            if (a->nheaders == MAX_HEADERS)
                return zcq_kc_usage_error(o, "more than %d headers", MAX_HEADERS);
            a->headers[a->nheaders++] = optarg;
            break;
        default:
            return zcq_kc_bad_option(o, c, argv);
        }
    }
    if (optind < argc)
        return zcq_kc_usage_error(o, "unexpected argument '%s'", argv[optind]);
    if (!a->topic || !a->topic[0])
        return zcq_kc_usage_error(o, "--topic is required");
    return -1;
}

static rd_kafka_headers_t *make_headers(const struct produce_args *a)
{
    rd_kafka_headers_t *h;

    if (a->nheaders == 0)
        return NULL;
    h = rd_kafka_headers_new((size_t)a->nheaders);
    for (int i = 0; h && i < a->nheaders; i++) {
        const char *eq = strchr(a->headers[i], '=');

        rd_kafka_header_add(h, a->headers[i], eq - a->headers[i], eq + 1, -1);
    }
    return h;
}

/* Queue one record, waiting for room in librdkafka's queue if it is full. A record the client
 * refuses outright (too large, say) counts as failed, like one the broker refuses. */
static void send_line(struct zcq_kc *kc, rd_kafka_topic_t *rkt, const struct produce_args *a,
                      const rd_kafka_headers_t *tmpl, char *line, size_t len)
{
    struct produce_state *st = kc->user;
    const char *key = NULL, *val = line;
    size_t klen = 0, vlen = len;

    if (a->sep) {
        const char *s = memmem(line, len, a->sep, strlen(a->sep));

        if (s) {
            key = line;
            klen = (size_t)(s - line);
            val = s + strlen(a->sep);
            vlen = len - klen - strlen(a->sep);
        }
    }
    st->sent++;
    for (;;) {
        rd_kafka_headers_t *h = tmpl ? rd_kafka_headers_copy(tmpl) : NULL;
        rd_kafka_resp_err_t err;

        err = rd_kafka_producev(kc->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(a->partition),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, klen),
                                RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_HEADERS(h),
                                RD_KAFKA_V_END);
        if (!err)
            break;
        /* The headers are ours again when the call fails. */
        if (h)
            rd_kafka_headers_destroy(h);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(kc->rk, 100);
            continue;
        }
        if (!st->failed)
            st->first_err = err;
        st->failed++;
        break;
    }
    rd_kafka_poll(kc->rk, 0);
}

static int run(struct zcq_kc *kc, const struct produce_args *a, FILE *in)
{
    struct produce_state *st = kc->user;
    rd_kafka_topic_t *rkt = NULL;
    rd_kafka_headers_t *tmpl = NULL;
    char *line = NULL, why[512];
    size_t cap = 0;
    ssize_t n;
    uint64_t deadline;
    int parts = 0, rc = -EIO;

    if (zcq_kc_connect(kc) < 0 || zcq_kc_topic_partitions(kc, a->topic, &parts) < 0)
        goto out;
    if (a->partition != RD_KAFKA_PARTITION_UA && a->partition >= parts) {
        zcq_kc_error(kc->o, "partition %d does not exist (topic %s has %d)", a->partition, a->topic,
                     parts);
        goto out;
    }
    rkt = rd_kafka_topic_new(kc->rk, a->topic, NULL);
    tmpl = make_headers(a);
    if (!rkt || (a->nheaders && !tmpl)) {
        zcq_kc_error(kc->o, "out of memory");
        goto out;
    }
    while (!zcq_kc_stop_requested() && (n = getline(&line, &cap, in)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            n--;
        send_line(kc, rkt, a, tmpl, line, (size_t)n);
    }
    if (ferror(in) && !zcq_kc_stop_requested()) {
        zcq_kc_error(kc->o, "read %s: %s", a->file ? a->file : "stdin", strerror(errno));
        goto out;
    }
    /* Every queued record fails by itself after message.timeout.ms; the margin only covers
     * the last report's trip back. */
    deadline = zcq_kc_now_ns() + ((uint64_t)kc->o->timeout_ms + 5000) * 1000000u;
    while (rd_kafka_outq_len(kc->rk) > 0 && zcq_kc_now_ns() < deadline)
        rd_kafka_poll(kc->rk, 100);
    zcq_kc_serve(kc);
    if (st->acked + st->failed < st->sent) {
        zcq_kc_error(kc->o, "%lld of %lld records not acknowledged within %d ms",
                     st->sent - st->acked - st->failed, st->sent, kc->o->timeout_ms);
        goto out;
    }
    if (st->failed) {
        zcq_kc_error(kc->o, "%lld of %lld records failed: %s", st->failed, st->sent,
                     zcq_kc_strerr(kc, st->first_err, why, sizeof(why)));
        goto out;
    }
    rc = 0;
out:
    free(line);
    if (tmpl)
        rd_kafka_headers_destroy(tmpl);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return rc;
}

int zcq_cmd_produce(int argc, char **argv)
{
    struct produce_args a = {.partition = RD_KAFKA_PARTITION_UA, .acks = "all"};
    struct produce_state st = {0};
    struct zcq_kc_opts o;
    struct zcq_kc kc = {.user = &st};
    rd_kafka_conf_t *conf;
    char tmo[16];
    FILE *in = stdin;
    int rc;

    zcq_kc_opts_init(&o, "produce");
    rc = parse(argc, argv, &o, &a);
    if (rc >= 0)
        return rc;
    if (a.file) {
        in = fopen(a.file, "r");
        if (!in)
            return zcq_kc_error(&o, "open %s: %s", a.file, strerror(errno));
    }
    snprintf(tmo, sizeof(tmo), "%d", o.timeout_ms);
    conf = zcq_kc_conf(&kc, &o);
    if (!conf) {
        rc = ZCQ_KC_EXIT_USAGE;
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    if (zcq_kc_set(&kc, conf, "acks", a.acks) < 0 ||
        zcq_kc_set(&kc, conf, "message.timeout.ms", tmo) < 0 ||
        zcq_kc_set(&kc, conf, "partitioner", "murmur2_random") < 0 ||
        (a.compression && zcq_kc_set(&kc, conf, "compression.codec", a.compression) < 0)) {
        rd_kafka_conf_destroy(conf);
        rc = ZCQ_KC_EXIT_USAGE;
        goto out;
    }
    if (zcq_kc_create(&kc, RD_KAFKA_PRODUCER, conf) < 0) {
        rc = ZCQ_KC_EXIT_USAGE;
        goto out;
    }
    zcq_kc_catch_stop_signals();
    rc = run(&kc, &a, in) < 0 ? ZCQ_KC_EXIT_FAIL : ZCQ_KC_EXIT_OK;
out:
    zcq_kc_destroy(&kc);
    if (in != stdin)
        fclose(in);
    return rc;
}
