/*
 * zcq consume: print a topic's records from any Kafka broker. It is a plain assign-based
 * consumer: no group membership and no committed offsets (librdkafka wants a group.id to assign
 * partitions, so it gets one, but nothing joins or commits). Every partition (or the one asked
 * for) starts at --from: the beginning, the end, an offset (clamped to what the partition
 * holds), or the first record at or after a timestamp (ListOffsets by time).
 *
 * Without --follow it stops once every partition has reached its end; with --follow it waits
 * for new records until SIGINT or SIGTERM, then exits 0. --count stops after N records. A
 * consumer never creates topics: a missing one is an error.
 */
#include "cli/cmd.h"
#include "cli/kclient.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_FORMAT = ZCQ_KC_OPT_FIRST_FREE };

enum from { FROM_BEGINNING, FROM_END, FROM_OFFSET, FROM_TIME };

struct consume_args {
    const char *topic;
    int partition; /* -1: every partition */
    enum from from;
    int64_t from_value; /* the offset, or the timestamp in ms */
    long long count;    /* 0: no limit */
    bool follow;
    char *format; /* escapes resolved; owned */
};

static void usage(FILE *f)
{
    fputs("usage: zcq consume --topic T [--partition P] [--from beginning|end|OFFSET|@TIME_MS]\n"
          "                   [--count N] [--follow] [--format FMT]\n"
          "\n"
          "Print the records of topic T, one per FMT. Stops at the end of every partition,\n"
          "or, with --follow, waits for new records until SIGINT or SIGTERM.\n"
          "\n"
          "  -t, --topic T        topic to read (it must exist)\n"
          "  -p, --partition P    read partition P only (default: all of them)\n"
          "  -o, --from WHERE     beginning (default), end, an OFFSET (clamped to the\n"
          "                       partition's first and next offsets), or @TIME_MS: the first\n"
          "                       record whose timestamp is at or after TIME_MS (ms since 1970)\n"
          "  -c, --count N        stop after N records\n"
          "  -F, --follow         keep waiting for new records\n"
          "  --format FMT         how to print each record (default '%v\\n'): %t topic,\n"
          "                       %p partition, %o offset, %k key, %v value, %T timestamp (ms),\n"
          "                       %h headers (k=v,k=v), %% a percent sign; \\n \\t \\\\ "
          "escapes\n" ZCQ_KC_USAGE_COMMON,
          f);
}

/* Resolve backslash escapes and check every % directive, once. */
static int compile_format(const struct zcq_kc_opts *o, const char *in, char **out)
{
    char *f = malloc(strlen(in) + 1), *w = f;

    if (!f)
        return zcq_kc_error(o, "out of memory");
    for (const char *p = in; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            switch (*p) {
            case 'n':
                *w++ = '\n';
                break;
            case 't':
                *w++ = '\t';
                break;
            case 'r':
                *w++ = '\r';
                break;
            case '\\':
                *w++ = '\\';
                break;
            default:
                free(f);
                return zcq_kc_usage_error(o, "--format: unknown escape \\%c", *p);
            }
            continue;
        }
        if (*p == '%') {
            if (!p[1] || !strchr("tpokvTh%", p[1])) {
                free(f);
                return zcq_kc_usage_error(o,
                                          "--format: unknown directive %%%c (known: %%t %%p "
                                          "%%o %%k %%v %%T %%h %%%%)",
                                          p[1] ? p[1] : ' ');
            }
            *w++ = *p++;
        }
        *w++ = *p;
    }
    *w = '\0';
    *out = f;
    return -1;
}

static void print_headers(const rd_kafka_message_t *m, FILE *out)
{
    rd_kafka_headers_t *h = NULL;
    const char *name;
    const void *val;
    size_t size;

    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++) {
        fprintf(out, "%s%s", i ? "," : "", name);
        if (val) {
            fputc('=', out);
            fwrite(val, 1, size, out);
        }
    }
}

static void print_record(const char *fmt, const rd_kafka_message_t *m, FILE *out)
{
    for (const char *p = fmt; *p; p++) {
        const char *lit = p;

        while (*p && *p != '%')
            p++;
        if (p > lit)
            fwrite(lit, 1, (size_t)(p - lit), out);
        if (!*p)
            break;
        switch (*++p) {
        case 't':
            fputs(rd_kafka_topic_name(m->rkt), out);
            break;
        case 'p':
            fprintf(out, "%" PRId32, m->partition);
            break;
        case 'o':
            fprintf(out, "%" PRId64, m->offset);
            break;
        case 'k':
            if (m->key)
                fwrite(m->key, 1, m->key_len, out);
            break;
        case 'v':
            if (m->payload)
                fwrite(m->payload, 1, m->len, out);
            break;
        case 'T':
            fprintf(out, "%" PRId64, rd_kafka_message_timestamp(m, NULL));
            break;
        case 'h':
            print_headers(m, out);
            break;
        default: /* '%': compile_format let nothing else through */
            fputc('%', out);
            break;
        }
    }
}

/* Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct zcq_kc_opts *o, struct consume_args *a)
{
    static const struct option longopts[] = {
        ZCQ_KC_LONGOPTS,
        {"topic", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"from", required_argument, NULL, 'o'},
        {"count", required_argument, NULL, 'c'},
        {"follow", no_argument, NULL, 'F'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {NULL, 0, NULL, 0},
    };
    const char *format = "%v\\n";
    long long v;
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ZCQ_KC_SHORTOPTS "t:p:o:c:F", longopts, NULL)) != -1) {
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
        case 'p':
            if (zcq_kc_parse_ll(optarg, 0, INT32_MAX, &v) < 0)
                return zcq_kc_usage_error(o, "--partition needs a number from 0, not '%s'", optarg);
            a->partition = (int)v;
            break;
        case 'o':
            if (strcmp(optarg, "beginning") == 0) {
                a->from = FROM_BEGINNING;
            } else if (strcmp(optarg, "end") == 0) {
                a->from = FROM_END;
            } else if (optarg[0] == '@' && zcq_kc_parse_ll(optarg + 1, 0, INT64_MAX, &v) == 0) {
                a->from = FROM_TIME;
                a->from_value = v;
            } else if (zcq_kc_parse_ll(optarg, 0, INT64_MAX, &v) == 0) {
                a->from = FROM_OFFSET;
                a->from_value = v;
            } else {
                return zcq_kc_usage_error(
                    o, "--from must be beginning, end, an OFFSET or @TIME_MS, not '%s'", optarg);
            }
            break;
        case 'c':
            if (zcq_kc_parse_ll(optarg, 1, INT64_MAX, &v) < 0)
                return zcq_kc_usage_error(o, "--count needs a number from 1, not '%s'", optarg);
            a->count = v;
            break;
        case 'F':
            a->follow = true;
            break;
        case OPT_FORMAT:
            format = optarg;
            break;
        default:
            return zcq_kc_bad_option(o, c, argv);
        }
    }
    if (optind < argc)
        return zcq_kc_usage_error(o, "unexpected argument '%s'", argv[optind]);
    if (!a->topic || !a->topic[0])
        return zcq_kc_usage_error(o, "--topic is required");
    return compile_format(o, format, &a->format);
}

/* The starting offset of every partition in list, resolved where librdkafka cannot do it by
 * itself: an explicit offset is clamped to [first, next], a time becomes the offset of the first
 * record at or after it (or the end, when there is none). */
static int resolve_offsets(struct zcq_kc *kc, const struct consume_args *a,
                           rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_resp_err_t err;
    char why[512];

    if (a->from == FROM_OFFSET) {
        for (int i = 0; i < list->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &list->elems[i];
            int64_t lo, hi;

            err = rd_kafka_query_watermark_offsets(kc->rk, a->topic, tp->partition, &lo, &hi,
                                                   kc->o->timeout_ms);
            if (err) {
                zcq_kc_serve(kc);
                zcq_kc_error(kc->o, "offsets of %s/%d: %s", a->topic, tp->partition,
                             zcq_kc_strerr(kc, err, why, sizeof(why)));
                return -EIO;
            }
            tp->offset = a->from_value < lo ? lo : a->from_value > hi ? hi : a->from_value;
        }
    } else if (a->from == FROM_TIME) {
        err = rd_kafka_offsets_for_times(kc->rk, list, kc->o->timeout_ms);
        if (err) {
            zcq_kc_serve(kc);
            zcq_kc_error(kc->o, "offsets of %s by time: %s", a->topic,
                         zcq_kc_strerr(kc, err, why, sizeof(why)));
            return -EIO;
        }
        for (int i = 0; i < list->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &list->elems[i];

            if (tp->err) {
                zcq_kc_error(kc->o, "offset of %s/%d by time: %s", a->topic, tp->partition,
                             rd_kafka_err2str(tp->err));
                return -EIO;
            }
            if (tp->offset < 0)
                tp->offset = RD_KAFKA_OFFSET_END; /* nothing that recent */
        }
    }
    return 0;
}

/* Errors that end the command: the partition cannot be read at all. */
static bool fatal_consumer_error(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__FATAL:
        return true;
    default:
        return false;
    }
}

static int consume(struct zcq_kc *kc, const struct consume_args *a, int parts)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
    bool *eof = calloc((size_t)parts, sizeof(*eof));
    uint64_t idle_limit = (uint64_t)kc->o->timeout_ms * 1000000u, last = zcq_kc_now_ns();
    long long got = 0;
    int assigned = 0, at_end = 0, rc = -EIO;
    rd_kafka_resp_err_t err;
    char why[512];

    if (!list || !eof) {
        zcq_kc_error(kc->o, "out of memory");
        goto out;
    }
    for (int p = 0; p < parts; p++) {
        if (a->partition >= 0 && p != a->partition)
            continue;
        rd_kafka_topic_partition_list_add(list, a->topic, p)->offset =
            a->from == FROM_END    ? RD_KAFKA_OFFSET_END
            : a->from == FROM_TIME ? a->from_value
                                   : RD_KAFKA_OFFSET_BEGINNING;
        assigned++;
    }
    if (resolve_offsets(kc, a, list) < 0)
        goto out;
    err = rd_kafka_assign(kc->rk, list);
    if (err) {
        zcq_kc_error(kc->o, "assign %s: %s", a->topic, rd_kafka_err2str(err));
        goto out;
    }
    while (!zcq_kc_stop_requested()) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kc->rk, 100);

        zcq_kc_serve(kc);
        if (!m) {
            if (a->follow) {
                fflush(stdout);
                continue;
            }
            /* Without --follow the end is near: silence this long means a broker is gone. */
            if (zcq_kc_now_ns() - last > idle_limit) {
                zcq_kc_error(kc->o, "no records nor end of partition from %s within %d ms%s%s",
                             kc->o->bootstrap, kc->o->timeout_ms, kc->why[0] ? ": " : "", kc->why);
                goto out;
            }
            continue;
        }
        last = zcq_kc_now_ns();
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < parts && !eof[m->partition]) {
                eof[m->partition] = true;
                at_end++;
            }
            rd_kafka_message_destroy(m);
            if (!a->follow && at_end == assigned)
                break;
            continue;
        }
        if (m->err) {
            bool fatal = fatal_consumer_error(m->err);

            if (fatal)
                zcq_kc_error(kc->o, "%s/%d: %s", a->topic, m->partition,
                             zcq_kc_strerr(kc, m->err, why, sizeof(why)));
            else if (kc->o->debug)
                fprintf(stderr, "consumer error (going on): %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (fatal)
                goto out;
            continue;
        }
        if (m->partition >= 0 && m->partition < parts && eof[m->partition]) {
            eof[m->partition] = false;
            at_end--;
        }
        print_record(a->format, m, stdout);
        rd_kafka_message_destroy(m);
        /* Following, a record is shown as it comes; and a reader that went away (EPIPE) ends
         * the command instead of leaving it to consume into the void. */
        if (a->follow && (fflush(stdout) != 0 || ferror(stdout)))
            break;
        if (a->count && ++got == a->count)
            break;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        zcq_kc_error(kc->o, "write to stdout: %s", strerror(errno ? errno : EIO));
        goto out;
    }
    rc = 0;
out:
    free(eof);
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

int zcq_cmd_consume(int argc, char **argv)
{
    struct consume_args a = {.partition = -1};
    struct zcq_kc_opts o;
    struct zcq_kc kc = {0};
    rd_kafka_conf_t *conf;
    int rc, parts = 0;

    zcq_kc_opts_init(&o, "consume");
    rc = parse(argc, argv, &o, &a);
    if (rc >= 0)
        goto out;
    conf = zcq_kc_conf(&kc, &o);
    if (!conf) {
        rc = ZCQ_KC_EXIT_USAGE;
        goto out;
    }
    /* assign() needs a group in librdkafka; nothing is joined or committed under it. */
    if (zcq_kc_set(&kc, conf, "group.id", "zcq-consume") < 0 ||
        zcq_kc_set(&kc, conf, "enable.auto.commit", "false") < 0 ||
        zcq_kc_set(&kc, conf, "enable.auto.offset.store", "false") < 0 ||
        zcq_kc_set(&kc, conf, "enable.partition.eof", "true") < 0 ||
        zcq_kc_set(&kc, conf, "allow.auto.create.topics", "false") < 0 ||
        /* Records deleted by retention between resolving and fetching: take what is left. */
        zcq_kc_set(&kc, conf, "auto.offset.reset", "earliest") < 0) {
        rd_kafka_conf_destroy(conf);
        rc = ZCQ_KC_EXIT_USAGE;
        goto out;
    }
    /* The end of a partition shows as an empty fetch: without --follow, do not let the broker
     * hold it for librdkafka's default half second. */
    if (!a.follow && zcq_kc_set(&kc, conf, "fetch.wait.max.ms", "100") < 0) {
        rd_kafka_conf_destroy(conf);
        rc = ZCQ_KC_EXIT_USAGE;
        goto out;
    }
    if (zcq_kc_create(&kc, RD_KAFKA_CONSUMER, conf) < 0) {
        rc = ZCQ_KC_EXIT_USAGE;
        goto out;
    }
    zcq_kc_catch_stop_signals();
    rc = ZCQ_KC_EXIT_FAIL;
    if (zcq_kc_connect(&kc) < 0 || zcq_kc_topic_partitions(&kc, a.topic, &parts) < 0)
        goto out;
    if (a.partition >= parts) {
        zcq_kc_error(&o, "partition %d does not exist (topic %s has %d)", a.partition, a.topic,
                     parts);
        goto out;
    }
    if (consume(&kc, &a, parts) == 0)
        rc = ZCQ_KC_EXIT_OK;
out:
    /* Nothing to commit or leave: close only drops the assignment. */
    if (kc.rk)
        rd_kafka_consumer_close(kc.rk);
    zcq_kc_destroy(&kc);
    free(a.format);
    return rc;
}
