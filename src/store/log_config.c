/* Partition log configuration; see log_config.h. */
#include "store/log_config.h"
#include "store/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)

void zcq_log_config_default(struct zcq_log_config *c)
{
    memset(c, 0, sizeof(*c));
    c->segment_bytes = 1LL << 30;
    c->segment_ms = 7 * DAY_MS;
    c->retention_ms = 7 * DAY_MS;
    c->retention_bytes = -1;
    c->flush_messages = INT64_MAX;
    c->flush_ms = INT64_MAX;
    c->index_interval_bytes = 4096;
    c->index_max_bytes = 10LL << 20;
    c->max_message_bytes = 1048588;
    c->io_mode = ZCQ_IO_PAGECACHE;
    c->direct_cache_bytes = 64LL << 20;
}

static int parse_i64(const char *v, int64_t lo, int64_t *out)
{
    char *end;
    long long x;

    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo)
        return -EINVAL;
    *out = x;
    return 0;
}

struct key {
    const char *broker, *topic;
    size_t off;  /* of the int64_t field; SIZE_MAX for io_mode */
    int64_t min; /* smallest accepted value */
};

#define F(field) offsetof(struct zcq_log_config, field)
static const struct key keys[] = {
    {"log.segment.bytes", "segment.bytes", F(segment_bytes), 14},
    {"log.roll.ms", "segment.ms", F(segment_ms), 1},
    {"log.retention.ms", "retention.ms", F(retention_ms), -1},
    {"log.retention.bytes", "retention.bytes", F(retention_bytes), -1},
    {"log.flush.interval.messages", "flush.messages", F(flush_messages), 1},
    {"log.flush.interval.ms", "flush.ms", F(flush_ms), 0},
    {"log.index.interval.bytes", "index.interval.bytes", F(index_interval_bytes), 0},
    {"log.index.size.max.bytes", "segment.index.bytes", F(index_max_bytes), 4},
    {"message.max.bytes", "max.message.bytes", F(max_message_bytes), 0},
    {"zcq.direct.cache.bytes", "zcq.direct.cache.bytes", F(direct_cache_bytes), 1 << 17},
    {"zcq.io.mode", "zcq.io.mode", SIZE_MAX, 0},
};

int zcq_log_config_set(struct zcq_log_config *c, const char *key, const char *value, char *why,
                       size_t why_len)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct key *k = &keys[i];

        if (strcmp(key, k->broker) != 0 && strcmp(key, k->topic) != 0)
            continue;
        if (k->off == SIZE_MAX) {
            if (strcmp(value, "pagecache") == 0)
                c->io_mode = ZCQ_IO_PAGECACHE;
            else if (strcmp(value, "direct") == 0)
                c->io_mode = ZCQ_IO_DIRECT;
            else {
                snprintf(why, why_len, "%s must be pagecache or direct, not '%s'", key, value);
                return -EINVAL;
            }
            return 0;
        }
        if (parse_i64(value, k->min, (int64_t *)(void *)((char *)c + k->off)) < 0) {
            snprintf(why, why_len, "%s must be an integer >= %lld, not '%s'", key,
                     (long long)k->min, value);
            return -EINVAL;
        }
        return 0;
    }
    snprintf(why, why_len, "unknown log setting '%s'", key);
    return -EINVAL;
}

const char *zcq_log_config_name(size_t i, int topic)
{
    if (i >= sizeof(keys) / sizeof(keys[0]))
        return NULL;
    return topic ? keys[i].topic : keys[i].broker;
}

int zcq_log_config_get(const struct zcq_log_config *c, const char *key, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct key *k = &keys[i];

        if (strcmp(key, k->broker) != 0 && strcmp(key, k->topic) != 0)
            continue;
        if (k->off == SIZE_MAX)
            snprintf(buf, len, "%s", c->io_mode == ZCQ_IO_DIRECT ? "direct" : "pagecache");
        else
            snprintf(buf, len, "%lld",
                     (long long)*(const int64_t *)(const void *)((const char *)c + k->off));
        return 0;
    }
    return -EINVAL;
}

int zcq_log_config_check(const struct zcq_log_config *c, char *why, size_t why_len)
{
    /* An index entry is 12 bytes at most (time index); a segment must hold a batch. */
    if (c->index_max_bytes < 12) {
        snprintf(why, why_len, "segment.index.bytes must hold at least one entry (12 bytes)");
        return -EINVAL;
    }
    /* A batch larger than a segment is refused at append (ZCQ_LOG_ETOOLARGE), not here. */
    if (c->segment_bytes > (1LL << 32) - 1) {
        snprintf(why, why_len, "segment.bytes must be below 4 GiB (index positions are 32-bit)");
        return -EINVAL;
    }
    if (c->max_message_bytes < 61) {
        snprintf(why, why_len, "max.message.bytes must allow a batch header (61 bytes)");
        return -EINVAL;
    }
    /* A direct-mode read hands out a batch as cache blocks, at most ZCQ_LOG_SLICE_MAX of them,
     * and must always return the first batch whole. */
    if (c->io_mode == ZCQ_IO_DIRECT &&
        c->max_message_bytes > (int64_t)(ZCQ_LOG_SLICE_MAX - 1) * ZCQ_DIO_BLOCK) {
        snprintf(why, why_len, "max.message.bytes must be at most %lld in zcq.io.mode=direct",
                 (long long)(ZCQ_LOG_SLICE_MAX - 1) * ZCQ_DIO_BLOCK);
        return -EINVAL;
    }
    return 0;
}
