/*
 * The admin APIs every client's admin interface uses: CreateTopics (v0-4), DeleteTopics
 * (v0-3), CreatePartitions (v0-1) and DescribeConfigs (v0-3). Creating and deleting topics
 * writes and syncs files, so these run whole on the admin pool (zcq_kreq_offload).
 *
 * zcq is one broker: a replication factor other than 1 (or -1, the default) is
 * INVALID_REPLICATION_FACTOR, and a manual assignment must name this broker alone. Topic
 * settings are Kafka's names (store/log_config.h, broker/topics.c accepts a few inert ones);
 * an unknown or bad one is INVALID_CONFIG with the reason in the error message. Nothing is
 * alterable at run time, so DescribeConfigs reports every setting read-only, with its source:
 * the topic's own (1), the broker's file or flags (4), or the default (5).
 */
#include "proto/api.h"

#include "broker/broker.h"
#include "io/say.h"
#include "proto/kerr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum { SRC_TOPIC = 1, SRC_STATIC_BROKER = 4, SRC_DEFAULT = 5 };
enum { RES_TOPIC = 2, RES_BROKER = 4 };
enum { TYPE_BOOLEAN = 1, TYPE_STRING = 2, TYPE_LONG = 5 };

static void say_result(int rc, const char *what, const char *name, const char *why)
{
    if (rc == 0)
        zcq_say(ZCQ_INFO, "topic %s %s", name, what);
    else
        zcq_say_client("topic %s not %s: %s", name, what, why[0] ? why : zcq_topics_strerror(rc));
}

/* --- CreateTopics -------------------------------------------------------------------- */

static void create_topics(struct zcq_kreq *r)
{
    struct zcq_broker *b = r->broker;
    int16_t v = r->api_version;
    struct zcq_kw *w = zcq_kresp_begin(r);
    struct zcq_kr rd;
    int32_t nt;
    bool validate = false;

    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    /* validate_only is the last field: find it first. */
    zcq_kreq_body(r, &rd);
    nt = zcq_kr_array(&rd, 12, false);
    for (int32_t t = 0; t < nt && !rd.err; t++) {
        int32_t na, nc;

        (void)zcq_kr_str(&rd);
        (void)zcq_kr_i32(&rd);
        (void)zcq_kr_i16(&rd);
        na = zcq_kr_array(&rd, 8, false);
        for (int32_t a = 0; a < na && !rd.err; a++) {
            (void)zcq_kr_i32(&rd);
            zcq_kr_skip(&rd, 4 * (size_t)zcq_kr_array(&rd, 4, false));
        }
        nc = zcq_kr_array(&rd, 4, false);
        for (int32_t c = 0; c < nc && !rd.err; c++) {
            (void)zcq_kr_str(&rd);
            (void)zcq_kr_nstr(&rd);
        }
    }
    (void)zcq_kr_i32(&rd); /* timeout: creation is synchronous here */
    if (v >= 1)
        validate = zcq_kr_bool(&rd);
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed CreateTopics v%d request", v);
        return;
    }

    if (v >= 2)
        zcq_kw_i32(w, 0); /* throttle */
    zcq_kreq_body(r, &rd);
    nt = zcq_kr_array(&rd, 12, false);
    zcq_kw_i32(w, nt);
    for (int32_t t = 0; t < nt; t++) {
        struct zcq_kstr name = zcq_kr_str(&rd);
        int32_t parts = zcq_kr_i32(&rd), na, nc;
        int16_t rf = zcq_kr_i16(&rd), err = KERR_NONE;
        struct zcq_topic_config cfg[ZCQ_TOPIC_MAX_CONFIGS];
        char cname[ZCQ_TOPIC_NAME_MAX + 1] = "", why[256] = "";
        int ncfg = 0, rc;

        na = zcq_kr_array(&rd, 8, false);
        for (int32_t a = 0; a < na; a++) {
            int32_t nb;

            (void)zcq_kr_i32(&rd);
            nb = zcq_kr_array(&rd, 4, false);
            for (int32_t k = 0; k < nb; k++) {
                if (zcq_kr_i32(&rd) != b->cfg.node_id || nb != 1) {
                    err = KERR_INVALID_REPLICA_ASSIGNMENT;
                    snprintf(why, sizeof(why), "every partition must be on broker %d alone",
                             b->cfg.node_id);
                }
            }
        }
        nc = zcq_kr_array(&rd, 4, false);
        for (int32_t c = 0; c < nc; c++) {
            struct zcq_kstr k = zcq_kr_str(&rd), val = zcq_kr_nstr(&rd);

            if (val.len < 0)
                continue; /* null: the default */
            if (ncfg == ZCQ_TOPIC_MAX_CONFIGS || (size_t)k.len >= sizeof(cfg[0].key) ||
                (size_t)val.len >= sizeof(cfg[0].value)) {
                err = KERR_INVALID_CONFIG;
                snprintf(why, sizeof(why), "too many settings, or one too long");
                continue;
            }
            memcpy(cfg[ncfg].key, k.p, (size_t)k.len);
            cfg[ncfg].key[k.len] = '\0';
            memcpy(cfg[ncfg].value, val.p, (size_t)val.len);
            cfg[ncfg].value[val.len] = '\0';
            ncfg++;
        }
        if (name.len > 0 && (size_t)name.len < sizeof(cname))
            memcpy(cname, name.p, (size_t)name.len);
        if (err == KERR_NONE) {
            if (rf != -1 && rf != 1) {
                err = KERR_INVALID_REPLICATION_FACTOR;
                snprintf(why, sizeof(why), "replication factor %d: zcq is a single broker", rf);
            } else if (na > 0 && parts != -1) {
                err = KERR_INVALID_REQUEST;
                snprintf(why, sizeof(why), "both a partition count and an assignment");
            } else {
                if (na > 0)
                    parts = na;
                else if (parts == -1)
                    parts = b->cfg.num_partitions;
                rc = zcq_topics_create(b->topics, cname, parts, cfg, ncfg, validate, why,
                                       sizeof(why));
                err = zcq_kerr_of(rc);
                if (!validate)
                    say_result(rc, "created", cname, why);
            }
        }
        zcq_kw_str(w, name);
        zcq_kw_i16(w, err);
        if (v >= 1)
            zcq_kw_cstr(w, err ? why : NULL);
    }
    zcq_kreq_respond(r);
}

void zcq_h_create_topics(struct zcq_kreq *r)
{
    zcq_kreq_offload(r, ZCQ_POOL_ADMIN, create_topics);
}

/* --- DeleteTopics -------------------------------------------------------------------- */

static void delete_topics(struct zcq_kreq *r)
{
    struct zcq_broker *b = r->broker;
    int16_t v = r->api_version;
    struct zcq_kw *w = zcq_kresp_begin(r);
    struct zcq_kr rd;
    int32_t nt;

    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    zcq_kreq_body(r, &rd);
    nt = zcq_kr_array(&rd, 2, false);
    if (v >= 1)
        zcq_kw_i32(w, 0); /* throttle */
    zcq_kw_i32(w, nt);
    for (int32_t t = 0; t < nt && !rd.err; t++) {
        struct zcq_kstr name = zcq_kr_str(&rd);
        char cname[ZCQ_TOPIC_NAME_MAX + 1] = "";
        int rc = ZCQ_TOPIC_EUNKNOWN;

        if (name.len > 0 && (size_t)name.len < sizeof(cname)) {
            memcpy(cname, name.p, (size_t)name.len);
            rc = zcq_topics_delete(b->topics, cname);
            if (rc == 0)
                zcq_groups_topic_deleted(b->groups, cname, strlen(cname), now_wall());
        }
        say_result(rc, "deleted", cname, "");
        zcq_kw_str(w, name);
        zcq_kw_i16(w, zcq_kerr_of(rc));
    }
    (void)zcq_kr_i32(&rd); /* timeout */
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed DeleteTopics v%d request", v);
        return;
    }
    zcq_kreq_respond(r);
}

void zcq_h_delete_topics(struct zcq_kreq *r)
{
    struct zcq_kr rd;
    int32_t nt;

    /* Check the shape first: a malformed request deletes nothing. */
    zcq_kreq_body(r, &rd);
    nt = zcq_kr_array(&rd, 2, false);
    for (int32_t t = 0; t < nt && !rd.err; t++)
        (void)zcq_kr_str(&rd);
    (void)zcq_kr_i32(&rd);
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed DeleteTopics v%d request", r->api_version);
        return;
    }
    zcq_kreq_offload(r, ZCQ_POOL_ADMIN, delete_topics);
}

/* --- CreatePartitions ---------------------------------------------------------------- */

static void create_partitions(struct zcq_kreq *r)
{
    struct zcq_broker *b = r->broker;
    struct zcq_kw *w = zcq_kresp_begin(r);
    struct zcq_kr rd;
    int32_t nt;
    bool validate;

    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    zcq_kreq_body(r, &rd);
    nt = zcq_kr_array(&rd, 10, false);
    for (int32_t t = 0; t < nt && !rd.err; t++) {
        int32_t na;

        (void)zcq_kr_str(&rd);
        (void)zcq_kr_i32(&rd);
        na = zcq_kr_array(&rd, 4, true);
        for (int32_t a = 0; a < na && !rd.err; a++)
            zcq_kr_skip(&rd, 4 * (size_t)zcq_kr_array(&rd, 4, false));
    }
    (void)zcq_kr_i32(&rd);
    validate = zcq_kr_bool(&rd);
    if (rd.err || zcq_kr_left(&rd)) {
        zcq_kreq_close(r, "malformed CreatePartitions v%d request", r->api_version);
        return;
    }
    zcq_kw_i32(w, 0); /* throttle */
    zcq_kreq_body(r, &rd);
    nt = zcq_kr_array(&rd, 10, false);
    zcq_kw_i32(w, nt);
    for (int32_t t = 0; t < nt; t++) {
        struct zcq_kstr name = zcq_kr_str(&rd);
        int32_t count = zcq_kr_i32(&rd), na = zcq_kr_array(&rd, 4, true);
        char cname[ZCQ_TOPIC_NAME_MAX + 1] = "", why[256] = "";
        int16_t err = KERR_NONE;
        int rc;

        for (int32_t a = 0; a < na; a++) {
            int32_t nb = zcq_kr_array(&rd, 4, false);

            for (int32_t k = 0; k < nb; k++) {
                if (zcq_kr_i32(&rd) != b->cfg.node_id || nb != 1) {
                    err = KERR_INVALID_REPLICA_ASSIGNMENT;
                    snprintf(why, sizeof(why), "every partition must be on broker %d alone",
                             b->cfg.node_id);
                }
            }
        }
        if (name.len > 0 && (size_t)name.len < sizeof(cname))
            memcpy(cname, name.p, (size_t)name.len);
        if (err == KERR_NONE) {
            rc = zcq_topics_grow(b->topics, cname, count, validate, why, sizeof(why));
            err = zcq_kerr_of(rc);
            if (rc == 0 && !validate)
                zcq_say(ZCQ_INFO, "topic %s now has %d partitions", cname, count);
            else if (rc < 0 && !why[0])
                snprintf(why, sizeof(why), "%s", zcq_topics_strerror(rc));
        }
        zcq_kw_str(w, name);
        zcq_kw_i16(w, err);
        zcq_kw_cstr(w, err ? why : NULL);
    }
    zcq_kreq_respond(r);
}

void zcq_h_create_partitions(struct zcq_kreq *r)
{
    zcq_kreq_offload(r, ZCQ_POOL_ADMIN, create_partitions);
}

/* --- DescribeConfigs ----------------------------------------------------------------- */

/* Topic settings with a fixed value in zcq (topics.c accepts them, and only these values). */
static const struct {
    const char *key, *value;
} fixed[] = {
    {"cleanup.policy", "delete"},
    {"compression.type", "producer"},
    {"min.insync.replicas", "1"},
    {"message.timestamp.type", "CreateTime"},
};

struct cfg_entry {
    const char *name;
    char value[160];
    int source;
    bool numeric;
    /* for synonyms: the broker-wide key and its value and source */
    const char *broker_key;
    char broker_value[160];
    int broker_source;
};

/* Whether the request's config name filter (null = all) names key. */
static bool wanted(const struct zcq_kreq *r, size_t filter_at, int32_t nf, const char *key)
{
    struct zcq_kr rd;

    if (nf < 0)
        return true;
    zcq_kr_init(&rd, r->frame + filter_at, r->frame_len - filter_at);
    for (int32_t i = 0; i < nf; i++) {
        struct zcq_kstr k = zcq_kr_str(&rd);

        if (!rd.err && (size_t)k.len == strlen(key) && memcmp(k.p, key, (size_t)k.len) == 0)
            return true;
    }
    return false;
}

static void write_entry(struct zcq_kw *w, int16_t v, bool synonyms, const struct cfg_entry *e)
{
    zcq_kw_cstr(w, e->name);
    zcq_kw_cstr(w, e->value);
    zcq_kw_bool(w, true); /* read-only: nothing changes at run time */
    if (v == 0)
        zcq_kw_bool(w, e->source == SRC_DEFAULT);
    else
        zcq_kw_i8(w, (int8_t)e->source);
    zcq_kw_bool(w, false); /* sensitive */
    if (v >= 1) {
        int n = 0;

        if (synonyms) {
            n = (e->source == SRC_TOPIC) + (e->broker_key != NULL);
            zcq_kw_i32(w, n);
            if (e->source == SRC_TOPIC) {
                zcq_kw_cstr(w, e->name);
                zcq_kw_cstr(w, e->value);
                zcq_kw_i8(w, SRC_TOPIC);
            }
            if (e->broker_key) {
                zcq_kw_cstr(w, e->broker_key);
                zcq_kw_cstr(w, e->broker_value);
                zcq_kw_i8(w, (int8_t)e->broker_source);
            }
        } else {
            zcq_kw_i32(w, 0);
        }
    }
    if (v >= 3) {
        zcq_kw_i8(w, e->numeric ? TYPE_LONG : TYPE_STRING);
        zcq_kw_cstr(w, NULL); /* documentation */
    }
}

static void describe_topic(struct zcq_kreq *r, struct zcq_kw *w, struct zcq_kstr name,
                           size_t filter_at, int32_t nf, bool synonyms)
{
    const struct zcq_broker_config *bc = &r->broker->cfg;
    struct zcq_topic_info *info = malloc(sizeof(*info));
    struct zcq_log_config lc;
    size_t count_at;
    int n = 0;

    if (!info || zcq_topics_describe(r->broker->topics, name.p, (size_t)name.len, info) < 0 ||
        zcq_topics_log_config(r->broker->topics, name.p, (size_t)name.len, &lc) < 0) {
        zcq_kw_i16(w, info ? KERR_UNKNOWN_TOPIC_OR_PARTITION : KERR_UNKNOWN_SERVER_ERROR);
        zcq_kw_cstr(w, info ? "unknown topic" : "out of memory");
        zcq_kw_i8(w, RES_TOPIC);
        zcq_kw_str(w, name);
        zcq_kw_i32(w, 0);
        free(info);
        return;
    }
    zcq_kw_i16(w, KERR_NONE);
    zcq_kw_cstr(w, NULL);
    zcq_kw_i8(w, RES_TOPIC);
    zcq_kw_str(w, name);
    count_at = zcq_kw_reserve_i32(w);
    for (size_t i = 0; zcq_log_config_name(i, 1); i++) {
        struct cfg_entry e = {.name = zcq_log_config_name(i, 1), .numeric = true};

        if (!wanted(r, filter_at, nf, e.name))
            continue;
        (void)zcq_log_config_get(&lc, e.name, e.value, sizeof(e.value));
        e.source = SRC_DEFAULT;
        e.broker_key = zcq_log_config_name(i, 0);
        (void)zcq_log_config_get(&bc->log, e.broker_key, e.broker_value, sizeof(e.broker_value));
        e.broker_source = (bc->log_set_mask >> i) & 1 ? SRC_STATIC_BROKER : SRC_DEFAULT;
        e.source = e.broker_source;
        for (int k = 0; k < info->nconfig; k++) {
            if (strcmp(info->config[k].key, e.name) == 0)
                e.source = SRC_TOPIC;
        }
        if (strcmp(e.name, "zcq.io.mode") == 0)
            e.numeric = false;
        write_entry(w, r->api_version, synonyms, &e);
        n++;
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        struct cfg_entry e = {.name = fixed[i].key, .source = SRC_DEFAULT};

        if (!wanted(r, filter_at, nf, e.name))
            continue;
        snprintf(e.value, sizeof(e.value), "%s", fixed[i].value);
        for (int k = 0; k < info->nconfig; k++) {
            if (strcmp(info->config[k].key, e.name) == 0) {
                snprintf(e.value, sizeof(e.value), "%s", info->config[k].value);
                e.source = SRC_TOPIC;
            }
        }
        write_entry(w, r->api_version, synonyms, &e);
        n++;
    }
    zcq_kw_patch_i32(w, count_at, n);
    free(info);
}

static void describe_broker(struct zcq_kreq *r, struct zcq_kw *w, struct zcq_kstr name,
                            size_t filter_at, int32_t nf, bool synonyms)
{
    const struct zcq_broker_config *bc = &r->broker->cfg;
    char id[16];
    size_t count_at;
    int n = 0;

    snprintf(id, sizeof(id), "%d", bc->node_id);
    if (name.len != 0 && ((size_t)name.len != strlen(id) || memcmp(name.p, id, strlen(id)))) {
        zcq_kw_i16(w, KERR_INVALID_REQUEST);
        zcq_kw_cstr(w, "no such broker: this is the only one");
        zcq_kw_i8(w, RES_BROKER);
        zcq_kw_str(w, name);
        zcq_kw_i32(w, 0);
        return;
    }
    zcq_kw_i16(w, KERR_NONE);
    zcq_kw_cstr(w, NULL);
    zcq_kw_i8(w, RES_BROKER);
    zcq_kw_str(w, name);
    count_at = zcq_kw_reserve_i32(w);
    for (size_t i = 0;; i++) {
        struct cfg_entry e = {0};
        bool set;

        if (!zcq_broker_config_entry(bc, i, &e.name, e.value, sizeof(e.value), &set))
            break;
        if (!wanted(r, filter_at, nf, e.name))
            continue;
        e.source = set ? SRC_STATIC_BROKER : SRC_DEFAULT;
        e.numeric = e.value[0] == '-' || (e.value[0] >= '0' && e.value[0] <= '9');
        if (synonyms) {
            e.broker_key = e.name;
            snprintf(e.broker_value, sizeof(e.broker_value), "%s", e.value);
            e.broker_source = e.source;
        }
        write_entry(w, r->api_version, synonyms, &e);
        n++;
    }
    zcq_kw_patch_i32(w, count_at, n);
}

void zcq_h_describe_configs(struct zcq_kreq *r)
{
    int16_t v = r->api_version;
    struct zcq_kw *w;
    struct zcq_kr rd;
    int32_t nres;
    bool synonyms = false;

    zcq_kreq_body(r, &rd);
    nres = zcq_kr_array(&rd, 7, false);
    for (int32_t i = 0; i < nres && !rd.err; i++) {
        int32_t nf;

        (void)zcq_kr_i8(&rd);
        (void)zcq_kr_str(&rd);
        nf = zcq_kr_array(&rd, 2, true);
        for (int32_t k = 0; k < nf && !rd.err; k++)
            (void)zcq_kr_str(&rd);
    }
    if (v >= 1)
        synonyms = zcq_kr_bool(&rd);
    if (rd.err || zcq_kr_left(&rd) || !(w = zcq_kresp_begin(r))) {
        zcq_kreq_close(r, "malformed DescribeConfigs v%d request", v);
        return;
    }
    zcq_kw_i32(w, 0); /* throttle */
    zcq_kw_i32(w, nres);
    zcq_kreq_body(r, &rd);
    (void)zcq_kr_array(&rd, 7, false);
    for (int32_t i = 0; i < nres; i++) {
        int8_t type = zcq_kr_i8(&rd);
        struct zcq_kstr name = zcq_kr_str(&rd);
        size_t filter_at;
        int32_t nf = zcq_kr_array(&rd, 2, true);

        filter_at = r->frame_len - zcq_kr_left(&rd);
        for (int32_t k = 0; k < nf; k++)
            (void)zcq_kr_str(&rd);
        if (type == RES_TOPIC) {
            describe_topic(r, w, name, filter_at, nf, synonyms);
        } else if (type == RES_BROKER) {
            describe_broker(r, w, name, filter_at, nf, synonyms);
        } else {
            zcq_kw_i16(w, KERR_INVALID_REQUEST);
            zcq_kw_cstr(w, "zcq describes topics (2) and brokers (4) only");
            zcq_kw_i8(w, type);
            zcq_kw_str(w, name);
            zcq_kw_i32(w, 0);
        }
    }
    zcq_kreq_respond(r);
}
