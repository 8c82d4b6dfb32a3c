/* Tests for src/broker/topics.c: the topic registry and its persistence. */
#include "harness.h"

#include "batchgen.h"
#include "broker/topics.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char data[4200];
static struct zcq_log_config defaults;

static struct zcq_topics *open_reg(void)
{
    struct zcq_topics *t;
    char why[256];
    int rc = zcq_topics_open(&t, data, &defaults, why, sizeof(why));

    if (rc < 0)
        zt_fail(__FILE__, __LINE__, "open: %d %s", rc, why);
    return t;
}

static void setup(void)
{
    snprintf(data, sizeof(data), "%s/data", zt_tmpdir());
    zcq_log_config_default(&defaults);
    defaults.index_max_bytes = 64 * 1024;
}

static bool exists(const char *rel)
{
    char path[4400];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", data, rel);
    return stat(path, &sb) == 0;
}

static void append_one(struct zcq_topics *t, const char *topic, int32_t part)
{
    struct zcq_partition *p = zcq_topics_get(t, topic, strlen(topic), part);
    struct zcq_append_result r;
    size_t len;
    uint8_t *b = bg_build(2, 10, 1, 1, &len);

    ZT_ASSERT(p);
    ZT_OK(zcq_log_append(p->log, b, len, 0, 1, 0, &r));
    zcq_partition_put(t, p);
    free(b);
}

static void create_list_persist(void)
{
    struct zcq_topics *t;
    struct zcq_topic_config cfg[2] = {{"retention.ms", "1000"}, {"cleanup.policy", "delete"}};
    struct zcq_topic_info info[4];
    struct zcq_log_config lc;
    char why[256];

    setup();
    t = open_reg();
    ZT_OK(zcq_topics_create(t, "orders", 3, cfg, 2, 0, why, sizeof(why)));
    ZT_OK(zcq_topics_create(t, "a.b_c-1", 1, NULL, 0, 0, why, sizeof(why)));
    ZT_EQ(zcq_topics_list(t, info, 4), 2);
    ZT_ASSERT(strcmp(info[0].name, "a.b_c-1") == 0); /* sorted */
    ZT_ASSERT(strcmp(info[1].name, "orders") == 0 && info[1].partitions == 3);
    ZT_EQ(info[1].nconfig, 2);
    ZT_ASSERT(exists("orders-0") && exists("orders-2") && !exists("orders-3"));
    ZT_EQ(zcq_topics_partitions(t, "orders", 6), 3);
    ZT_EQ(zcq_topics_partitions(t, "order", 5), ZCQ_TOPIC_EUNKNOWN);
    ZT_EQ(zcq_topics_partitions(t, "orders!", 6), 3); /* a length, not a C string */
    ZT_ASSERT(zcq_topics_get(t, "orders", 6, 3) == NULL);
    ZT_ASSERT(zcq_topics_get(t, "orders", 6, -1) == NULL);
    ZT_OK(zcq_topics_log_config(t, "orders", 6, &lc));
    ZT_EQ(lc.retention_ms, 1000);
    append_one(t, "orders", 1);
    ZT_OK(zcq_topics_close(t));

    /* Everything survives a restart: topics, partition counts, settings, data. */
    t = open_reg();
    ZT_EQ(zcq_topics_list(t, info, 4), 2);
    ZT_OK(zcq_topics_describe(t, "orders", 6, &info[0]));
    ZT_EQ(info[0].partitions, 3);
    ZT_EQ(info[0].nconfig, 2);
    ZT_ASSERT(strcmp(info[0].config[0].key, "retention.ms") == 0);
    ZT_OK(zcq_topics_log_config(t, "orders", 6, &lc));
    ZT_EQ(lc.retention_ms, 1000);
    {
        struct zcq_partition *p = zcq_topics_get(t, "orders", 6, 1);

        ZT_ASSERT(p);
        ZT_EQ(zcq_log_end_offset(p->log), 2);
        zcq_partition_put(t, p);
    }
    ZT_OK(zcq_topics_close(t));
}

static void rejects(void)
{
    struct zcq_topics *t;
    struct zcq_topic_config bad_key = {"no.such.setting", "1"};
    struct zcq_topic_config bad_val = {"retention.ms", "soon"};
    struct zcq_topic_config compact = {"cleanup.policy", "compact"};
    char why[256], long_name[300];

    setup();
    t = open_reg();
    memset(long_name, 'x', 250);
    long_name[250] = '\0';
    ZT_EQ(zcq_topics_create(t, "", 1, NULL, 0, 0, why, sizeof(why)), ZCQ_TOPIC_EINVALID);
    ZT_EQ(zcq_topics_create(t, ".", 1, NULL, 0, 0, why, sizeof(why)), ZCQ_TOPIC_EINVALID);
    ZT_EQ(zcq_topics_create(t, "..", 1, NULL, 0, 0, why, sizeof(why)), ZCQ_TOPIC_EINVALID);
    ZT_EQ(zcq_topics_create(t, "a/b", 1, NULL, 0, 0, why, sizeof(why)), ZCQ_TOPIC_EINVALID);
    ZT_EQ(zcq_topics_create(t, "a b", 1, NULL, 0, 0, why, sizeof(why)), ZCQ_TOPIC_EINVALID);
    ZT_EQ(zcq_topics_create(t, long_name, 1, NULL, 0, 0, why, sizeof(why)), ZCQ_TOPIC_EINVALID);
    long_name[249] = '\0';
    ZT_OK(zcq_topics_create(t, long_name, 1, NULL, 0, 0, why, sizeof(why)));
    ZT_EQ(zcq_topics_create(t, "t", 0, NULL, 0, 0, why, sizeof(why)), ZCQ_TOPIC_EPARTITIONS);
    ZT_EQ(zcq_topics_create(t, "t", -1, NULL, 0, 0, why, sizeof(why)), ZCQ_TOPIC_EPARTITIONS);
    ZT_EQ(zcq_topics_create(t, "t", 1, &bad_key, 1, 0, why, sizeof(why)), ZCQ_TOPIC_ECONFIG);
    ZT_ASSERT(strstr(why, "no.such.setting"));
    ZT_EQ(zcq_topics_create(t, "t", 1, &bad_val, 1, 0, why, sizeof(why)), ZCQ_TOPIC_ECONFIG);
    ZT_EQ(zcq_topics_create(t, "t", 1, &compact, 1, 0, why, sizeof(why)), ZCQ_TOPIC_ECONFIG);
    ZT_ASSERT(!exists("t-0")); /* nothing left of the failed creates */
    ZT_OK(zcq_topics_create(t, "t", 1, NULL, 0, 1, why, sizeof(why))); /* validate only */
    ZT_ASSERT(!exists("t-0"));
    ZT_EQ(zcq_topics_partitions(t, "t", 1), ZCQ_TOPIC_EUNKNOWN);
    ZT_OK(zcq_topics_create(t, "t", 1, NULL, 0, 0, why, sizeof(why)));
    ZT_EQ(zcq_topics_create(t, "t", 1, NULL, 0, 0, why, sizeof(why)), ZCQ_TOPIC_EEXISTS);
    ZT_EQ(zcq_topics_delete(t, "nope"), ZCQ_TOPIC_EUNKNOWN);
    ZT_OK(zcq_topics_close(t));
}

static void delete_while_held(void)
{
    struct zcq_topics *t;
    struct zcq_partition *p;
    char why[256];

    setup();
    t = open_reg();
    ZT_OK(zcq_topics_create(t, "gone", 2, NULL, 0, 0, why, sizeof(why)));
    append_one(t, "gone", 0);
    p = zcq_topics_get(t, "gone", 4, 0);
    ZT_ASSERT(p);
    ZT_OK(zcq_topics_delete(t, "gone"));
    ZT_EQ(zcq_topics_partitions(t, "gone", 4), ZCQ_TOPIC_EUNKNOWN);
    ZT_ASSERT(!exists("gone-1"));         /* unreferenced: removed at once */
    ZT_ASSERT(exists("gone-0"));          /* still held */
    ZT_EQ(zcq_log_end_offset(p->log), 2); /* and usable */
    zcq_partition_put(t, p);
    ZT_ASSERT(!exists("gone-0"));
    /* The name can be reused, starting empty. */
    ZT_OK(zcq_topics_create(t, "gone", 1, NULL, 0, 0, why, sizeof(why)));
    p = zcq_topics_get(t, "gone", 4, 0);
    ZT_EQ(zcq_log_end_offset(p->log), 0);
    zcq_partition_put(t, p);
    ZT_OK(zcq_topics_close(t));
    t = open_reg();
    ZT_EQ(zcq_topics_partitions(t, "gone", 4), 1);
    ZT_OK(zcq_topics_close(t));
}

/* Deleting a topic nobody reads: the last partition freed frees the topic too (the delete
 * loop read the freed topic once; ASan caught it in the request fuzzer's corpus). */
static void delete_unheld(void)
{
    struct zcq_topics *t;
    char why[256];

    setup();
    t = open_reg();
    ZT_OK(zcq_topics_create(t, "brief", 3, NULL, 0, 0, why, sizeof(why)));
    append_one(t, "brief", 2);
    ZT_OK(zcq_topics_delete(t, "brief"));
    ZT_EQ(zcq_topics_partitions(t, "brief", 5), ZCQ_TOPIC_EUNKNOWN);
    for (int i = 0; i < 3; i++) {
        char d[32];

        snprintf(d, sizeof(d), "brief-%d", i);
        ZT_ASSERT(!exists(d));
    }
    ZT_OK(zcq_topics_close(t));
}

/* A broker may cap the partitions of a topic below ZCQ_TOPIC_MAX_PARTITIONS. */
static void partition_cap(void)
{
    struct zcq_topics *t;
    char why[256];

    setup();
    t = open_reg();
    zcq_topics_set_max_partitions(t, 4);
    ZT_EQ(zcq_topics_create(t, "big", 5, NULL, 0, 0, why, sizeof(why)), ZCQ_TOPIC_EPARTITIONS);
    ZT_OK(zcq_topics_create(t, "ok", 4, NULL, 0, 0, why, sizeof(why)));
    ZT_EQ(zcq_topics_grow(t, "ok", 5, 0, why, sizeof(why)), ZCQ_TOPIC_EPARTITIONS);
    ZT_OK(zcq_topics_close(t));
}

static void grow(void)
{
    struct zcq_topics *t;
    char why[256];

    setup();
    t = open_reg();
    ZT_OK(zcq_topics_create(t, "g", 2, NULL, 0, 0, why, sizeof(why)));
    ZT_EQ(zcq_topics_grow(t, "g", 2, 0, why, sizeof(why)), ZCQ_TOPIC_EPARTITIONS);
    ZT_EQ(zcq_topics_grow(t, "g", 1, 0, why, sizeof(why)), ZCQ_TOPIC_EPARTITIONS);
    ZT_EQ(zcq_topics_grow(t, "nope", 3, 0, why, sizeof(why)), ZCQ_TOPIC_EUNKNOWN);
    ZT_OK(zcq_topics_grow(t, "g", 5, 1, why, sizeof(why))); /* validate only */
    ZT_EQ(zcq_topics_partitions(t, "g", 1), 2);
    append_one(t, "g", 1);
    ZT_OK(zcq_topics_grow(t, "g", 5, 0, why, sizeof(why)));
    ZT_EQ(zcq_topics_partitions(t, "g", 1), 5);
    append_one(t, "g", 4);
    ZT_OK(zcq_topics_close(t));
    t = open_reg();
    ZT_EQ(zcq_topics_partitions(t, "g", 1), 5);
    {
        struct zcq_partition *p = zcq_topics_get(t, "g", 1, 1);

        ZT_EQ(zcq_log_end_offset(p->log), 2); /* old partitions keep their data */
        zcq_partition_put(t, p);
    }
    ZT_OK(zcq_topics_close(t));
}

static void crash_leftovers_and_damage(void)
{
    struct zcq_topics *t;
    char why[256], path[4400];
    FILE *f;

    setup();
    t = open_reg();
    ZT_OK(zcq_topics_create(t, "keep", 1, NULL, 0, 0, why, sizeof(why)));
    ZT_OK(zcq_topics_close(t));
    /* Directories of a create that crashed before the registry was written. */
    snprintf(path, sizeof(path), "%s/half-0", data);
    ZT_OK(mkdir(path, 0755));
    snprintf(path, sizeof(path), "%s/keep-7", data);
    ZT_OK(mkdir(path, 0755));
    snprintf(path, sizeof(path), "%s/not-a-partition", data); /* left alone */
    ZT_OK(mkdir(path, 0755));
    t = open_reg();
    ZT_ASSERT(!exists("half-0") && !exists("keep-7") && exists("keep-0"));
    ZT_ASSERT(exists("not-a-partition"));
    ZT_OK(zcq_topics_close(t));

    /* A damaged registry is refused, never guessed at. */
    snprintf(path, sizeof(path), "%s/zcq-topics", data);
    f = fopen(path, "r+");
    ZT_ASSERT(f);
    fseek(f, 20, SEEK_SET);
    fputc('X', f);
    fclose(f);
    ZT_EQ(zcq_topics_open(&t, data, &defaults, why, sizeof(why)), -EBADMSG);
    ZT_ASSERT(strstr(why, "damaged"));
}

static int64_t end_of(struct zcq_topics *t, const char *topic, int32_t part)
{
    struct zcq_partition *p = zcq_topics_get(t, topic, strlen(topic), part);
    int64_t leo;

    ZT_ASSERT(p);
    leo = zcq_log_end_offset(p->log);
    zcq_partition_put(t, p);
    return leo;
}

/*
 * Many partitions are opened, created, grown and closed on several threads (topics.c): every
 * partition comes back with its records after a reopen; zcq_topics_count() reads the count
 * without opening anything; a partition that cannot open fails the whole open with its name
 * in the reason, and the others are closed again (ASan sees any leak).
 */
static void many_partitions(void)
{
    struct zcq_topics *t;
    char why[512], path[4400];
    int rc;

    setup();
    t = open_reg();
    ZT_OK(zcq_topics_create(t, "m", 300, NULL, 0, 0, why, sizeof(why)));
    ZT_OK(zcq_topics_create(t, "n", 40, NULL, 0, 0, why, sizeof(why)));
    ZT_OK(zcq_topics_grow(t, "n", 140, 0, why, sizeof(why)));
    for (int32_t p = 0; p < 300; p += 3)
        append_one(t, "m", p);
    append_one(t, "n", 139);
    ZT_OK(zcq_topics_close(t));
    ZT_EQ(zcq_topics_count(data), 440);

    t = open_reg();
    for (int32_t p = 0; p < 300; p++)
        ZT_EQ(end_of(t, "m", p), p % 3 ? 0 : 2);
    ZT_EQ(end_of(t, "n", 139), 2);
    ZT_EQ(zcq_topics_partitions(t, "n", 1), 140);
    ZT_OK(zcq_topics_close(t));

    /* One partition's directory replaced by a file: it cannot open. */
    snprintf(path, sizeof(path), "%s/m-150", data);
    {
        DIR *d = opendir(path);
        struct dirent *e;
        FILE *f;

        ZT_ASSERT(d);
        while ((e = readdir(d))) {
            if (e->d_name[0] != '.')
                ZT_OK(unlinkat(dirfd(d), e->d_name, 0));
        }
        closedir(d);
        ZT_OK(rmdir(path));
        f = fopen(path, "w");
        ZT_ASSERT(f);
        fclose(f);
    }
    rc = zcq_topics_open(&t, data, &defaults, why, sizeof(why));
    ZT_ASSERT(rc < 0);
    if (!strstr(why, "m-150"))
        zt_fail(__FILE__, __LINE__, "the reason does not name the partition: %s", why);
    printf("refused: %s\n", why);
    ZT_EQ(zcq_topics_count("/nonexistent/zcq"), 0);
}

static const struct zcq_test tests[] = {
    {"create_list_persist", create_list_persist, 30},
    {"rejects", rejects, 30},
    {"delete_while_held", delete_while_held, 30},
    {"delete_unheld", delete_unheld, 30},
    {"partition_cap", partition_cap, 30},
    {"grow", grow, 30},
    {"crash_leftovers_and_damage", crash_leftovers_and_damage, 30},
    {"many_partitions", many_partitions, 120},
};

ZT_MAIN(tests)
