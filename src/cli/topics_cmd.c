/*
 * zcq topics create|list|describe|delete: topic administration against any Kafka broker,
 * through librdkafka's Admin API (CreateTopics, DeleteTopics, DescribeConfigs) and its metadata
 * call. Every wait is bounded by --timeout-ms; each failure is one "zcq topics: ..." line.
 *
 * The handle never lets a metadata request create a topic (allow.auto.create.topics=false):
 * describing a missing topic must say so, not create it.
 */
#include "cli/cmd.h"
#include "cli/kclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIGS 64

enum { OPT_PARTITIONS = ZCQ_KC_OPT_FIRST_FREE, OPT_RF, OPT_CONFIG };

enum sub { SUB_CREATE, SUB_LIST, SUB_DESCRIBE, SUB_DELETE };

struct topics_args {
    enum sub sub;
    const char *name;
    int partitions;                   /* -1: the broker's num.partitions */
    int replication;                  /* -1: the broker's default */
    const char *configs[MAX_CONFIGS]; /* KEY=VALUE, in argv */
    int nconfigs;
};

static void usage(FILE *f)
{
    fputs("usage: zcq topics create NAME [--partitions N] [--replication-factor R]\n"
          "                              [--config KEY=VALUE]...\n"
          "       zcq topics list\n"
          "       zcq topics describe NAME\n"
          "       zcq topics delete NAME\n"
          "\n"
          "Administer the topics of any Kafka broker. list prints one topic a line: its name and\n"
          "partition count. describe prints each partition's leader, replicas and in-sync\n"
          "replicas, then the topic's configuration with each entry's source.\n"
          "\n"
          "  --partitions N            partitions of a new topic (default: the broker's)\n"
          "  --replication-factor R    replicas of each partition (default: the broker's)\n"
          "  --config KEY=VALUE        a topic setting (retention.ms, segment.bytes, ...);\n"
          "                            repeat for more\n" ZCQ_KC_USAGE_COMMON,
          f);
}

/* The one line for a per-topic result: the error name, and the broker's reason if it gave one
 * that says more. */
static int topic_result(struct zcq_kc *kc, const rd_kafka_topic_result_t *tr, const char *what)
{
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tr);
    const char *msg = rd_kafka_topic_result_error_string(tr);

    if (!err)
        return 0;
    if (msg && msg[0] && strcmp(msg, rd_kafka_err2str(err)) != 0)
        zcq_kc_error(kc->o, "%s %s: %s: %s", what, rd_kafka_topic_result_name(tr),
                     rd_kafka_err2str(err), msg);
    else
        zcq_kc_error(kc->o, "%s %s: %s", what, rd_kafka_topic_result_name(tr),
                     rd_kafka_err2str(err));
    return -EIO;
}

/* --- the subcommands ---------------------------------------------------------------------- */

static int do_create(struct zcq_kc *kc, const struct topics_args *a)
{
    rd_kafka_NewTopic_t *nt;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_topic_result_t **tr;
    size_t n = 0;
    char err[256];
    int rc = -EIO;

    nt = rd_kafka_NewTopic_new(a->name, a->partitions, a->replication, err, sizeof(err));
    if (!nt) {
        zcq_kc_usage_error(kc->o, "create %s: %s", a->name, err);
        return -EINVAL;
    }
    for (int i = 0; i < a->nconfigs; i++) {
        const char *kv = a->configs[i], *eq = strchr(kv, '=');
        char key[256];

        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        if (rd_kafka_NewTopic_set_config(nt, key, eq + 1)) {
            zcq_kc_usage_error(kc->o, "create %s: bad --config %s", a->name, kv);
            rc = -EINVAL;
            goto out;
        }
    }
    ao = zcq_kc_admin_options(kc, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    q = rd_kafka_queue_new(kc->rk);
    if (!ao || !q)
        goto out;
    rd_kafka_CreateTopics(kc->rk, &nt, 1, ao, q);
    ev = zcq_kc_admin_result(kc, q, "create");
    if (!ev)
        goto out;
    tr = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    if (n != 1) {
        zcq_kc_error(kc->o, "create %s: %zu results in the answer", a->name, n);
        goto out;
    }
    if (topic_result(kc, tr[0], "create") < 0)
        goto out;
    printf("created topic %s\n", a->name);
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static int do_delete(struct zcq_kc *kc, const struct topics_args *a)
{
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(a->name);
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_topic_result_t **tr;
    size_t n = 0;
    int rc = -EIO;

    if (!dt) {
        zcq_kc_error(kc->o, "out of memory");
        return -ENOMEM;
    }
    ao = zcq_kc_admin_options(kc, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    q = rd_kafka_queue_new(kc->rk);
    if (!ao || !q)
        goto out;
    rd_kafka_DeleteTopics(kc->rk, &dt, 1, ao, q);
    ev = zcq_kc_admin_result(kc, q, "delete");
    if (!ev)
        goto out;
    tr = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    if (n != 1) {
        zcq_kc_error(kc->o, "delete %s: %zu results in the answer", a->name, n);
        goto out;
    }
    if (topic_result(kc, tr[0], "delete") < 0)
        goto out;
    printf("deleted topic %s\n", a->name);
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_DeleteTopic_destroy(dt);
    return rc;
}

static int by_name(const void *x, const void *y)
{
    const struct rd_kafka_metadata_topic *a = *(const struct rd_kafka_metadata_topic *const *)x;
    const struct rd_kafka_metadata_topic *b = *(const struct rd_kafka_metadata_topic *const *)y;

    return strcmp(a->topic, b->topic);
}

static int do_list(struct zcq_kc *kc)
{
    const struct rd_kafka_metadata *md = NULL;
    const struct rd_kafka_metadata_topic **sorted = NULL;
    rd_kafka_resp_err_t err;
    char why[512];
    int rc = -EIO;

    err = rd_kafka_metadata(kc->rk, 1, NULL, &md, kc->o->timeout_ms);
    if (err) {
        zcq_kc_serve(kc);
        zcq_kc_error(kc->o, "list: %s", zcq_kc_strerr(kc, err, why, sizeof(why)));
        return -EIO;
    }
    sorted = calloc((size_t)md->topic_cnt + 1, sizeof(*sorted));
    if (!sorted) {
        zcq_kc_error(kc->o, "out of memory");
        goto out;
    }
    for (int i = 0; i < md->topic_cnt; i++)
        sorted[i] = &md->topics[i];
    qsort(sorted, (size_t)md->topic_cnt, sizeof(*sorted), by_name);
    for (int i = 0; i < md->topic_cnt; i++)
        printf("%s\t%d\n", sorted[i]->topic, sorted[i]->partition_cnt);
    rc = 0;
out:
    free(sorted);
    rd_kafka_metadata_destroy(md);
    return rc;
}

static void print_ids(const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", ids[i]);
    if (n == 0)
        printf("-");
}

/* Partitions from the metadata: the topic must exist. */
static int describe_partitions(struct zcq_kc *kc, const char *name)
{
    const struct rd_kafka_metadata *md = NULL;
    const struct rd_kafka_metadata_topic *t;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(kc->rk, name, NULL);
    rd_kafka_resp_err_t err;
    char why[512];
    int rc = -EIO;

    if (!rkt) {
        zcq_kc_usage_error(kc->o, "topic '%s': %s", name, rd_kafka_err2str(rd_kafka_last_error()));
        return -EINVAL;
    }
    err = rd_kafka_metadata(kc->rk, 0, rkt, &md, kc->o->timeout_ms);
    if (err) {
        zcq_kc_serve(kc);
        zcq_kc_error(kc->o, "describe %s: %s", name, zcq_kc_strerr(kc, err, why, sizeof(why)));
        goto out;
    }
    if (md->topic_cnt != 1) {
        zcq_kc_error(kc->o, "describe %s: %d topics in the answer", name, md->topic_cnt);
        goto out;
    }
    t = &md->topics[0];
    if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        zcq_kc_error(kc->o, "topic %s does not exist", name);
        rc = -ENOENT;
        goto out;
    }
    if (t->err) {
        zcq_kc_error(kc->o, "describe %s: %s", name, rd_kafka_err2str(t->err));
        goto out;
    }
    printf("topic: %s  partitions: %d  replication-factor: %d\n", t->topic, t->partition_cnt,
           t->partition_cnt ? t->partitions[0].replica_cnt : 0);
    for (int i = 0; i < t->partition_cnt; i++) {
        const struct rd_kafka_metadata_partition *p = &t->partitions[i];

        printf("  partition: %d  leader: %d  replicas: ", p->id, p->leader);
        print_ids(p->replicas, p->replica_cnt);
        printf("  isr: ");
        print_ids(p->isrs, p->isr_cnt);
        if (p->err)
            printf("  error: %s", rd_kafka_err2str(p->err));
        printf("\n");
    }
    rc = 0;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

static int describe_configs(struct zcq_kc *kc, const char *name)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConfigResource_t **rr;
    const rd_kafka_ConfigEntry_t **ce;
    size_t n = 0, nc = 0;
    int rc = -EIO;

    if (!res) {
        zcq_kc_error(kc->o, "out of memory");
        return -ENOMEM;
    }
    ao = zcq_kc_admin_options(kc, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    q = rd_kafka_queue_new(kc->rk);
    if (!ao || !q)
        goto out;
    rd_kafka_DescribeConfigs(kc->rk, &res, 1, ao, q);
    ev = zcq_kc_admin_result(kc, q, "describe");
    if (!ev)
        goto out;
    rr = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    if (n != 1) {
        zcq_kc_error(kc->o, "describe %s: %zu configuration resources in the answer", name, n);
        goto out;
    }
    if (rd_kafka_ConfigResource_error(rr[0])) {
        zcq_kc_error(kc->o, "describe %s: configuration: %s", name,
                     rd_kafka_ConfigResource_error_string(rr[0])
                         ? rd_kafka_ConfigResource_error_string(rr[0])
                         : rd_kafka_err2str(rd_kafka_ConfigResource_error(rr[0])));
        goto out;
    }
    ce = rd_kafka_ConfigResource_configs(rr[0], &nc);
    printf("configs:\n");
    for (size_t i = 0; i < nc; i++) {
        const char *v = rd_kafka_ConfigEntry_value(ce[i]);

        if (rd_kafka_ConfigEntry_is_sensitive(ce[i]))
            v = "(sensitive)";
        printf("  %s=%s  (source: %s%s)\n", rd_kafka_ConfigEntry_name(ce[i]), v ? v : "(null)",
               rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(ce[i])),
               rd_kafka_ConfigEntry_is_read_only(ce[i]) ? ", read-only" : "");
    }
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_ConfigResource_destroy(res);
    return rc;
}

static int do_describe(struct zcq_kc *kc, const struct topics_args *a)
{
    int rc = describe_partitions(kc, a->name);

    return rc < 0 ? rc : describe_configs(kc, a->name);
}

/* --- options ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    enum sub sub;
    bool needs_name;
} subs[] = {
    {"create", SUB_CREATE, true},
    {"list", SUB_LIST, false},
    {"describe", SUB_DESCRIBE, true},
    {"delete", SUB_DELETE, true},
};

/* Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct zcq_kc_opts *o, struct topics_args *a)
{
    static const struct option longopts[] = {
        ZCQ_KC_LONGOPTS,
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"replication-factor", required_argument, NULL, OPT_RF},
        {"config", required_argument, NULL, OPT_CONFIG},
        {NULL, 0, NULL, 0},
    };
    const char *only_create = NULL;
    bool found = false;
    long long v;
    int c;

    if (argc < 2)
        return zcq_kc_usage_error(o, "which one: create, list, describe or delete? (try --help)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            a->sub = subs[i].sub;
            found = true;
        }
    }
    if (!found)
        return zcq_kc_usage_error(o, "unknown subcommand '%s' (create, list, describe, delete)",
                                  argv[1]);
    argc--;
    argv++;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ZCQ_KC_SHORTOPTS, longopts, NULL)) != -1) {
        int r = zcq_kc_opt(o, c, optarg);

        if (r < 0)
            return ZCQ_KC_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case OPT_PARTITIONS:
            if (zcq_kc_parse_ll(optarg, 1, 1000000, &v) < 0)
                return zcq_kc_usage_error(o, "--partitions needs a count from 1, not '%s'", optarg);
            a->partitions = (int)v;
            only_create = "--partitions";
            break;
        case OPT_RF:
            if (zcq_kc_parse_ll(optarg, 1, 32767, &v) < 0)
                return zcq_kc_usage_error(o, "--replication-factor needs a count from 1, not '%s'",
                                          optarg);
            a->replication = (int)v;
            only_create = "--replication-factor";
            break;
        case OPT_CONFIG:
            if (!strchr(optarg, '=') || optarg[0] == '=' || strchr(optarg, '=') - optarg >= 255)
                return zcq_kc_usage_error(o, "--config needs KEY=VALUE, not '%s'", optarg);
            if (a->nconfigs == MAX_CONFIGS)
                return zcq_kc_usage_error(o, "more than %d --config settings", MAX_CONFIGS);
            a->configs[a->nconfigs++] = optarg;
            only_create = "--config";
            break;
        default:
            return zcq_kc_bad_option(o, c, argv);
        }
    }
    if (only_create && a->sub != SUB_CREATE)
        return zcq_kc_usage_error(o, "%s applies to topics create only", only_create);
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (subs[i].sub != a->sub)
            continue;
        if (subs[i].needs_name && optind >= argc)
            return zcq_kc_usage_error(o, "topics %s needs a topic NAME", subs[i].name);
        if (subs[i].needs_name)
            a->name = argv[optind++];
        if (optind < argc)
            return zcq_kc_usage_error(o, "unexpected argument '%s'", argv[optind]);
    }
    if (a->name && !a->name[0])
        return zcq_kc_usage_error(o, "the topic name is empty");
    return -1;
}

int zcq_cmd_topics(int argc, char **argv)
{
    struct topics_args a = {.partitions = -1, .replication = -1};
    struct zcq_kc_opts o;
    struct zcq_kc kc = {0};
    int rc;

    zcq_kc_opts_init(&o, "topics");
    rc = parse(argc, argv, &o, &a);
    if (rc >= 0)
        return rc;
    /* describe must never create the topic it is asked about: the admin handle does not. */
    rc = zcq_kc_admin_open(&kc, &o);
    if (rc == 0) {
        switch (a.sub) {
        case SUB_CREATE:
            rc = do_create(&kc, &a);
            break;
        case SUB_LIST:
            rc = do_list(&kc);
            break;
        case SUB_DESCRIBE:
            rc = do_describe(&kc, &a);
            break;
        case SUB_DELETE:
            rc = do_delete(&kc, &a);
            break;
        }
    }
    zcq_kc_destroy(&kc);
    return zcq_kc_exit_status(rc);
}
