/*
 * zcq perf produce|consume: throughput and latency of a Kafka broker as one librdkafka client
 * sees them, in the manner of Kafka's kafka-producer-perf-test and kafka-consumer-perf-test.
 *
 * produce sends --records records of --record-size bytes (one payload of random letters, reused:
 * librdkafka neither copies nor frees it) as fast as the client goes, or at --rate. A record's
 * latency is the time from rd_kafka_produce() to its delivery report; delivery reports are
 * served every few records so that they are not left waiting in the queue. Latencies go into a
 * log-linear histogram (32 to 64 buckets per power of two: under 3% error), so any record count
 * takes fixed memory. The clock runs from the first record sent to the last report.
 *
 * consume reads the topic from the beginning of every partition (batch-wise, as librdkafka's
 * own language bindings do) until --records records, or until the end of every partition; the
 * clock runs from the assignment to the last record.
 *
 * MB is 2^20 bytes, as Kafka's tools count; the bytes are the records' values (and keys).
 */
#include "cli/cmd.h"
#include "cli/kclient.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MB                (1024.0 * 1024.0)
#define HIST_SUB_BITS     6
#define HIST_HALF         (1u << (HIST_SUB_BITS - 1))
#define HIST_BUCKETS      ((64 - HIST_SUB_BITS + 1) * HIST_HALF + HIST_HALF)
#define CONSUME_BATCH     1024
#define PROGRESS_EVERY_NS 1000000000u

enum {
    OPT_ACKS = ZCQ_KC_OPT_FIRST_FREE,
    OPT_LINGER,
    OPT_BATCH,
    OPT_RATE,
    OPT_JSON,
    OPT_RECORD_SIZE,
};

struct perf_args {
    bool produce;
    const char *topic;
    long long records; /* produce: required; consume: 0 = until the end of every partition */
    long long record_size;
    const char *acks;
    long long linger_ms;
    long long batch_bytes;
    const char *compression;
    long long rate; /* records per second, 0 = unlimited */
    bool json;
};

/* Latencies in ns: log-linear buckets, exact below 64 ns. */
struct hist {
    uint64_t n[HIST_BUCKETS];
    uint64_t count, sum, max;
};

/* What a progress line covers: since the last one. */
struct window {
    uint64_t start, records, bytes, lat_sum, lat_max;
};

struct perf_state {
    const struct perf_args *a;
    uint64_t t0;     /* first record sent (produce) or assignment (consume) */
    uint64_t t_last; /* last delivery report, or last record consumed */
    long long sent, acked, failed;
    long long bytes;
    rd_kafka_resp_err_t first_err;
    struct hist *lat;
    struct window win;
    uint64_t next_progress;
};

static void usage(FILE *f)
{
    fputs("usage: zcq perf produce --topic T --records N --record-size B [--acks 0|1|all]\n"
          "                        [--linger-ms L] [--batch-bytes X] [--rate R]\n"
          "                        [--compression none|gzip|snappy|lz4|zstd] [--json]\n"
          "       zcq perf consume --topic T [--records N] [--json]\n"
          "\n"
          "Measure a broker as one client sees it. produce sends N records of B bytes as fast as\n"
          "librdkafka goes (or at R records/s) and reports records/s, MB/s and delivery latency\n"
          "(produce call to acknowledgement: average, p50, p99, p99.9, max). consume reads T from\n"
          "the beginning until N records (default: the end of every partition) and reports\n"
          "records/s and MB/s. A progress line goes to stderr every second unless --json.\n"
          "MB is 2^20 bytes.\n"
          "\n"
          "  -t, --topic T          topic (produce may create it, if the broker auto-creates)\n"
          "  -n, --records N        records to send, or to read\n"
          "  -s, --record-size B    bytes of each record's value\n"
          "  --acks 0|1|all         acknowledgement to wait for (default all)\n"
          "  --linger-ms L          how long a batch may wait to fill up (default 5)\n"
          "  --batch-bytes X        largest batch, in bytes (default 1048576)\n"
          "  -z, --compression C    none (default), gzip, snappy, lz4, zstd\n"
          "  --rate R               records per second, 0 = unlimited (default)\n"
          "  --json                 print one JSON object, no progress lines\n"
          "\n"
          "--timeout-ms also bounds each record's wait for its acknowledgement\n"
          "(message.timeout.ms; default 30000 here).\n" ZCQ_KC_USAGE_COMMON,
          f);
}

/* --- latency histogram -------------------------------------------------------------------- */

static unsigned hist_index(uint64_t v)
{
    unsigned msb, shift;

    if (v < (1u << HIST_SUB_BITS))
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - HIST_SUB_BITS + 1;
    /* v >> shift keeps the top HIST_SUB_BITS bits: in [HALF, 2 * HALF). */
    return shift * HIST_HALF + (unsigned)(v >> shift);
}

/* The middle of bucket i. */
static uint64_t hist_value(unsigned i)
{
    unsigned shift;
    uint64_t sub;

    if (i < (1u << HIST_SUB_BITS))
        return i;
    shift = i / HIST_HALF - 1;
    sub = i - shift * HIST_HALF;
    return (sub << shift) + ((1ull << shift) - 1) / 2;
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->n[hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

/* The value at quantile q, in ns. */
static uint64_t hist_quantile(const struct hist *h, double q)
{
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999), seen = 0;

    if (h->count == 0)
        return 0;
    if (rank < 1)
        rank = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);

            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* --- output ------------------------------------------------------------------------------- */

static void progress(struct perf_state *st, const char *verb)
{
    uint64_t now = zcq_kc_now_ns();
    double s;

    if (now < st->next_progress)
        return;
    st->next_progress = now + PROGRESS_EVERY_NS;
    if (st->a->json || st->win.start == 0) {
        st->win = (struct window){.start = now};
        return;
    }
    s = (double)(now - st->win.start) / 1e9;
    if (st->a->produce)
        fprintf(stderr,
                "%llu records %s, %.1f records/s (%.2f MB/s), %.2f ms avg latency, "
                "%.2f ms max latency\n",
                (unsigned long long)st->win.records, verb, (double)st->win.records / s,
                (double)st->win.bytes / MB / s,
                st->win.records ? ms(st->win.lat_sum / st->win.records) : 0.0, ms(st->win.lat_max));
    else
        fprintf(stderr, "%llu records %s, %.1f records/s (%.2f MB/s)\n",
                (unsigned long long)st->win.records, verb, (double)st->win.records / s,
                (double)st->win.bytes / MB / s);
    st->win = (struct window){.start = now};
}

/* --- produce ------------------------------------------------------------------------------ */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct perf_state *st = zcq_kc_user(opaque);
    uint64_t now = zcq_kc_now_ns(), lat;

    (void)rk;
    st->t_last = now;
    if (m->err) {
        if (!st->failed)
            st->first_err = m->err;
        st->failed++;
        return;
    }
    /* The opaque carries the send time, in ns after t0. */
    lat = now - (st->t0 + (uint64_t)(uintptr_t)m->_private);
    st->acked++;
    st->bytes += (long long)m->len;
    hist_add(st->lat, lat);
    st->win.records++;
    st->win.bytes += m->len;
    st->win.lat_sum += lat;
    if (lat > st->win.lat_max)
        st->win.lat_max = lat;
}

static char *make_payload(size_t size)
{
    char *p = malloc(size ? size : 1);
    uint64_t s = 0x9e3779b97f4a7c15ull;

    /* Random capital letters, as Kafka's tool sends: compressible about as real text is. */
    for (size_t i = 0; p && i < size; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = (char)('A' + s % 26);
    }
    return p;
}

static void report_produce(const struct perf_state *st)
{
    const struct perf_args *a = st->a;
    double s = st->t_last > st->t0 ? (double)(st->t_last - st->t0) / 1e9 : 0.0;
    double rps = s > 0 ? (double)st->acked / s : 0.0, mbps = s > 0 ? (double)st->bytes / MB / s : 0;
    const struct hist *h = st->lat;
    double avg = h->count ? ms(h->sum / h->count) : 0.0;

    if (!a->json) {
        printf("%lld records sent in %.3f s: %.1f records/s (%.2f MB/s)\n", st->acked, s, rps,
               mbps);
        printf("latency ms: avg %.3f, p50 %.3f, p99 %.3f, p99.9 %.3f, max %.3f\n", avg,
               ms(hist_quantile(h, 0.50)), ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)),
               ms(h->max));
        if (st->failed)
            printf("%lld records failed\n", st->failed);
        return;
    }
    printf("{\"mode\":\"produce\",\"topic\":");
    zcq_kc_json_string(a->topic);
    printf(",\"records\":%lld,\"failed\":%lld,\"record_size\":%lld,\"bytes\":%lld,"
           "\"elapsed_s\":%.6f,\"records_per_s\":%.1f,\"mb_per_s\":%.3f,"
           "\"latency_ms\":{\"avg\":%.3f,\"p50\":%.3f,\"p99\":%.3f,\"p99_9\":%.3f,\"max\":%.3f},"
           "\"acks\":\"%s\",\"linger_ms\":%lld,\"batch_bytes\":%lld,\"compression\":\"%s\","
           "\"rate\":%lld}\n",
           st->acked, st->failed, a->record_size, st->bytes, s, rps, mbps, avg,
           ms(hist_quantile(h, 0.50)), ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)),
           ms(h->max), a->acks, a->linger_ms, a->batch_bytes, a->compression, a->rate);
}

static int run_produce(struct zcq_kc *kc, struct perf_state *st)
{
    const struct perf_args *a = st->a;
    rd_kafka_topic_t *rkt = NULL;
    char *payload = make_payload((size_t)a->record_size), why[512];
    uint64_t deadline;
    long long i = 0;
    int parts = 0, rc = -EIO;

    if (!payload) {
        zcq_kc_error(kc->o, "out of memory");
        return -ENOMEM;
    }
    if (zcq_kc_connect(kc) < 0 || zcq_kc_topic_partitions(kc, a->topic, &parts) < 0)
        goto out;
    rkt = rd_kafka_topic_new(kc->rk, a->topic, NULL);
    if (!rkt) {
        zcq_kc_error(kc->o, "topic %s: %s", a->topic, rd_kafka_err2str(rd_kafka_last_error()));
        goto out;
    }
    st->t0 = zcq_kc_now_ns();
    st->next_progress = 0;
    progress(st, "sent");
    while (i < a->records && !zcq_kc_stop_requested()) {
        uint64_t now = zcq_kc_now_ns();

        if (a->rate > 0) {
            uint64_t due = st->t0 + (uint64_t)((double)i * 1e9 / (double)a->rate);

            if (now < due) {
                /* Sleep in the poll, rounded up: a spin would cost a CPU the broker may need. */
                rd_kafka_poll(kc->rk, (int)((due - now + 999999u) / 1000000u));
                progress(st, "sent");
                continue;
            }
        }
        /* No copy, no free: the payload outlives every record that points at it. */
        if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, payload, (size_t)a->record_size, NULL,
                             0, (void *)(uintptr_t)(now - st->t0)) == -1) {
            rd_kafka_resp_err_t err = rd_kafka_last_error();

            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(kc->rk, 1);
                progress(st, "sent");
                continue;
            }
            zcq_kc_error(kc->o, "produce to %s: %s", a->topic, rd_kafka_err2str(err));
            goto out;
        }
        i++;
        /* Reports waiting in the queue would count as latency: serve them often. */
        if ((i & 15) == 0) {
            rd_kafka_poll(kc->rk, 0);
            if ((i & 1023) == 0)
                progress(st, "sent");
        }
    }
    st->sent = i;
    /* Each record fails by itself after message.timeout.ms; the margin covers the report. */
    deadline = zcq_kc_now_ns() + ((uint64_t)kc->o->timeout_ms + 5000) * 1000000u;
    while (rd_kafka_outq_len(kc->rk) > 0 && zcq_kc_now_ns() < deadline) {
        rd_kafka_poll(kc->rk, 50);
        progress(st, "sent");
    }
    zcq_kc_serve(kc);
    report_produce(st);
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
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    /* Destroying the handle purges what is still queued, which still points at payload. */
    zcq_kc_destroy(kc);
    free(payload);
    return rc;
}

/* --- consume ------------------------------------------------------------------------------ */

static void report_consume(const struct perf_state *st, uint64_t first)
{
    const struct perf_args *a = st->a;
    double s = st->t_last > st->t0 ? (double)(st->t_last - st->t0) / 1e9 : 0.0;
    double rps = s > 0 ? (double)st->acked / s : 0.0, mbps = s > 0 ? (double)st->bytes / MB / s : 0;
    double first_ms = first ? ms(first - st->t0) : 0.0;

    if (!a->json) {
        printf("%lld records (%.2f MB) read in %.3f s: %.1f records/s (%.2f MB/s); first record "
               "after %.1f ms\n",
               st->acked, (double)st->bytes / MB, s, rps, mbps, first_ms);
        return;
    }
    printf("{\"mode\":\"consume\",\"topic\":");
    zcq_kc_json_string(a->topic);
    printf(",\"records\":%lld,\"bytes\":%lld,\"elapsed_s\":%.6f,\"records_per_s\":%.1f,"
           "\"mb_per_s\":%.3f,\"first_record_ms\":%.3f}\n",
           st->acked, st->bytes, s, rps, mbps, first_ms);
}

static int run_consume(struct zcq_kc *kc, struct perf_state *st)
{
    const struct perf_args *a = st->a;
    rd_kafka_topic_partition_list_t *list = NULL;
    rd_kafka_message_t *batch[CONSUME_BATCH];
    rd_kafka_queue_t *q = NULL;
    bool *eof = NULL, done = false;
    uint64_t last_event, first = 0, idle_limit = (uint64_t)kc->o->timeout_ms * 1000000u;
    int parts = 0, at_end = 0, rc = -EIO;
    rd_kafka_resp_err_t err;
    char why[512];

    if (zcq_kc_connect(kc) < 0 || zcq_kc_topic_partitions(kc, a->topic, &parts) < 0)
        goto out;
    list = rd_kafka_topic_partition_list_new(parts);
    eof = calloc((size_t)parts, sizeof(*eof));
    q = rd_kafka_queue_get_consumer(kc->rk);
    if (!list || !eof || !q) {
        zcq_kc_error(kc->o, "out of memory");
        goto out;
    }
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(list, a->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    st->t0 = last_event = zcq_kc_now_ns();
    err = rd_kafka_assign(kc->rk, list);
    if (err) {
        zcq_kc_error(kc->o, "assign %s: %s", a->topic, rd_kafka_err2str(err));
        goto out;
    }
    st->next_progress = 0;
    progress(st, "read");
    while (!done && !zcq_kc_stop_requested()) {
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, batch, CONSUME_BATCH);
        uint64_t now = zcq_kc_now_ns();

        zcq_kc_serve(kc);
        if (n < 0) {
            zcq_kc_error(kc->o, "consume %s: %s", a->topic,
                         rd_kafka_err2str(rd_kafka_last_error()));
            goto out;
        }
        if (n > 0)
            last_event = now;
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = batch[i];
            bool in_range = m->partition >= 0 && m->partition < parts;

            if (done) {
                /* Past --records: the rest of the batch is not counted. */
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (in_range && !eof[m->partition]) {
                    eof[m->partition] = true;
                    at_end++;
                }
                if (a->records == 0 && at_end == parts)
                    done = true;
            } else if (m->err) {
                zcq_kc_error(kc->o, "%s/%d: %s", a->topic, m->partition,
                             zcq_kc_strerr(kc, m->err, why, sizeof(why)));
                for (; i < n; i++)
                    rd_kafka_message_destroy(batch[i]);
                goto out;
            } else {
                if (in_range && eof[m->partition]) {
                    eof[m->partition] = false;
                    at_end--;
                }
                if (!first)
                    first = now;
                st->acked++;
                st->bytes += (long long)(m->len + m->key_len);
                st->win.records++;
                st->win.bytes += m->len + m->key_len;
                st->t_last = now;
                if (a->records && st->acked == a->records)
                    done = true;
            }
            rd_kafka_message_destroy(m);
        }
        progress(st, "read");
        if (!done && now - last_event > idle_limit) {
            if (a->records)
                zcq_kc_error(kc->o, "only %lld of %lld records in %s: none came for %d ms",
                             st->acked, a->records, a->topic, kc->o->timeout_ms);
            else
                zcq_kc_error(kc->o, "no records nor end of partition from %s within %d ms%s%s",
                             kc->o->bootstrap, kc->o->timeout_ms, kc->why[0] ? ": " : "", kc->why);
            goto out;
        }
    }
    if (!st->t_last)
        st->t_last = zcq_kc_now_ns();
    report_consume(st, first);
    rc = 0;
out:
    if (q)
        rd_kafka_queue_destroy(q);
    if (kc->rk)
        rd_kafka_consumer_close(kc->rk);
    free(eof);
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* --- options ------------------------------------------------------------------------------ */

static bool one_of(const char *s, const char *const *list)
{
    for (; *list; list++) {
        if (strcmp(s, *list) == 0)
            return true;
    }
    return false;
}

/* Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct zcq_kc_opts *o, struct perf_args *a)
{
    static const struct option longopts[] = {
        ZCQ_KC_LONGOPTS,
        {"topic", required_argument, NULL, 't'},
        {"records", required_argument, NULL, 'n'},
        {"record-size", required_argument, NULL, 's'},
        {"acks", required_argument, NULL, OPT_ACKS},
        {"linger-ms", required_argument, NULL, OPT_LINGER},
        {"batch-bytes", required_argument, NULL, OPT_BATCH},
        {"compression", required_argument, NULL, 'z'},
        {"rate", required_argument, NULL, OPT_RATE},
        {"json", no_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0},
    };
    static const char *const acks[] = {"0", "1", "all", "-1", NULL};
    static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd", NULL};
    const char *produce_only = NULL;
    int c;

    if (argc < 2)
        return zcq_kc_usage_error(o, "which one: produce or consume? (try --help)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "produce") == 0)
        a->produce = true;
    else if (strcmp(argv[1], "consume") != 0)
        return zcq_kc_usage_error(o, "unknown subcommand '%s' (produce, consume)", argv[1]);
    argc--;
    argv++;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ZCQ_KC_SHORTOPTS "t:n:s:z:", longopts, NULL)) != -1) {
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
        case 'n':
            if (zcq_kc_parse_ll(optarg, 1, INT64_MAX / 2, &a->records) < 0)
                return zcq_kc_usage_error(o, "--records needs a count from 1, not '%s'", optarg);
            break;
        case 's':
            if (zcq_kc_parse_ll(optarg, 0, 1 << 30, &a->record_size) < 0)
                return zcq_kc_usage_error(o, "--record-size needs bytes from 0 to 1G, not '%s'",
                                          optarg);
            produce_only = "--record-size";
            break;
        case OPT_ACKS:
            if (!one_of(optarg, acks))
                return zcq_kc_usage_error(o, "--acks must be 0, 1 or all, not '%s'", optarg);
            a->acks = optarg;
            produce_only = "--acks";
            break;
        case OPT_LINGER:
            if (zcq_kc_parse_ll(optarg, 0, 900000, &a->linger_ms) < 0)
                return zcq_kc_usage_error(o, "--linger-ms needs 0 to 900000, not '%s'", optarg);
            produce_only = "--linger-ms";
            break;
        case OPT_BATCH:
            if (zcq_kc_parse_ll(optarg, 1, INT32_MAX, &a->batch_bytes) < 0)
                return zcq_kc_usage_error(o, "--batch-bytes needs a size from 1, not '%s'", optarg);
            produce_only = "--batch-bytes";
            break;
        case 'z':
            if (!one_of(optarg, codecs))
                return zcq_kc_usage_error(
                    o, "--compression must be none, gzip, snappy, lz4 or zstd, not '%s'", optarg);
            a->compression = optarg;
            produce_only = "--compression";
            break;
        case OPT_RATE:
            if (zcq_kc_parse_ll(optarg, 0, 1000000000, &a->rate) < 0)
                return zcq_kc_usage_error(o,
                                          "--rate needs records per second (0 = unlimited), "
                                          "not '%s'",
                                          optarg);
            produce_only = "--rate";
            break;
        case OPT_JSON:
            a->json = true;
            break;
        default:
            return zcq_kc_bad_option(o, c, argv);
        }
    }
    if (optind < argc)
        return zcq_kc_usage_error(o, "unexpected argument '%s'", argv[optind]);
    if (!a->topic || !a->topic[0])
        return zcq_kc_usage_error(o, "--topic is required");
    if (!a->produce && produce_only)
        return zcq_kc_usage_error(o, "%s applies to perf produce only", produce_only);
    if (a->produce && (!a->records || a->record_size < 0))
        return zcq_kc_usage_error(o, "perf produce needs --records and --record-size");
    return -1;
}

static int configure_producer(struct zcq_kc *kc, rd_kafka_conf_t *conf, const struct perf_args *a)
{
    char linger[32], batch[32], maxmsg[32], tmo[32];
    long long max_bytes = a->batch_bytes;

    /* A batch is also capped by message.max.bytes (librdkafka's default 1000000): raise it to
     * the batch size, and to what one record needs (its framing is well under 1 KiB). */
    if (max_bytes < 1000000)
        max_bytes = 1000000;
    if (max_bytes < a->record_size + 1024)
        max_bytes = a->record_size + 1024;
    snprintf(linger, sizeof(linger), "%lld", a->linger_ms);
    snprintf(batch, sizeof(batch), "%lld", a->batch_bytes);
    snprintf(maxmsg, sizeof(maxmsg), "%lld", max_bytes);
    snprintf(tmo, sizeof(tmo), "%d", kc->o->timeout_ms);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    if (zcq_kc_set(kc, conf, "acks", a->acks) < 0 ||
        zcq_kc_set(kc, conf, "linger.ms", linger) < 0 ||
        zcq_kc_set(kc, conf, "batch.size", batch) < 0 ||
        zcq_kc_set(kc, conf, "message.max.bytes", maxmsg) < 0 ||
        zcq_kc_set(kc, conf, "compression.codec", a->compression) < 0 ||
        /* Room for a million records in flight: the client must never wait on its own queue
         * while the broker could take more. */
        zcq_kc_set(kc, conf, "queue.buffering.max.messages", "1000000") < 0 ||
        zcq_kc_set(kc, conf, "message.timeout.ms", tmo) < 0)
        return -EINVAL;
    return 0;
}

static int configure_consumer(struct zcq_kc *kc, rd_kafka_conf_t *conf)
{
    if (zcq_kc_set(kc, conf, "group.id", "zcq-perf") < 0 ||
        zcq_kc_set(kc, conf, "enable.auto.commit", "false") < 0 ||
        zcq_kc_set(kc, conf, "enable.auto.offset.store", "false") < 0 ||
        zcq_kc_set(kc, conf, "enable.partition.eof", "true") < 0 ||
        zcq_kc_set(kc, conf, "allow.auto.create.topics", "false") < 0 ||
        zcq_kc_set(kc, conf, "auto.offset.reset", "earliest") < 0)
        return -EINVAL;
    return 0;
}

int zcq_cmd_perf(int argc, char **argv)
{
    struct perf_args a = {
        .acks = "all",
        .linger_ms = 5,
        .batch_bytes = 1 << 20,
        .compression = "none",
        .record_size = -1,
    };
    struct perf_state st = {.a = &a};
    struct zcq_kc_opts o;
    struct zcq_kc kc = {.user = &st};
    rd_kafka_conf_t *conf;
    int rc;

    zcq_kc_opts_init(&o, "perf");
    o.timeout_ms = 0; /* not given yet: the default depends on the mode */
    rc = parse(argc, argv, &o, &a);
    if (rc >= 0)
        return rc;
    /* A million records may be queued ahead of the last one: give it time to get through. */
    if (!o.timeout_ms)
        o.timeout_ms = a.produce ? 30000 : ZCQ_KC_DEFAULT_TIMEOUT_MS;
    st.lat = calloc(1, sizeof(*st.lat));
    if (!st.lat)
        return zcq_kc_error(&o, "out of memory");
    conf = zcq_kc_conf(&kc, &o);
    if (!conf) {
        rc = ZCQ_KC_EXIT_USAGE;
        goto out;
    }
    if ((a.produce ? configure_producer(&kc, conf, &a) : configure_consumer(&kc, conf)) < 0) {
        rd_kafka_conf_destroy(conf);
        rc = ZCQ_KC_EXIT_USAGE;
        goto out;
    }
    if (zcq_kc_create(&kc, a.produce ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, conf) < 0) {
        rc = ZCQ_KC_EXIT_USAGE;
        goto out;
    }
    zcq_kc_catch_stop_signals();
    rc = (a.produce ? run_produce(&kc, &st) : run_consume(&kc, &st)) < 0 ? ZCQ_KC_EXIT_FAIL
                                                                         : ZCQ_KC_EXIT_OK;
out:
    zcq_kc_destroy(&kc);
    free(st.lat);
    return rc;
}
