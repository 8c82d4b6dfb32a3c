/*
 * Partition log configuration, with Kafka's names. A broker-wide default uses the "log." names
 * (log.segment.bytes), a topic override the short ones (segment.bytes); zcq's additions follow
 * the same style (zcq.io.mode, zcq.direct.cache.bytes).
 *
 *   key (broker / topic)                               default      meaning
 *   log.segment.bytes / segment.bytes                  1 GiB        roll a segment at this size
 *   log.roll.ms / segment.ms                           7 days       ... or at this age
 *   log.retention.ms / retention.ms                    7 days       delete segments older; -1 never
 *   log.retention.bytes / retention.bytes              -1           keep at most this much; -1 all
 *   log.flush.interval.messages / flush.messages       MAX          fdatasync after this many
 *                                                                   records (1 = every append)
 *   log.flush.interval.ms / flush.ms                   MAX          ... or when the oldest unsynced
 *                                                                   append is this old
 *   log.index.interval.bytes / index.interval.bytes    4096         an index entry per this
 *                                                                   much log
 *   log.index.size.max.bytes / segment.index.bytes     10 MiB       index file size
 *                                                                   (preallocated)
 *   message.max.bytes / max.message.bytes              1048588      largest batch accepted
 *   zcq.io.mode / zcq.io.mode                          pagecache    pagecache | direct
 *   zcq.direct.cache.bytes / zcq.direct.cache.bytes    64 MiB       Direct I/O read cache size
 *
 * Contract: plain values, no allocation. Parse errors are -EINVAL (unknown key or bad value)
 * with a one-line reason in why.
 */
#ifndef ZCQ_STORE_LOG_CONFIG_H
#define ZCQ_STORE_LOG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum zcq_io_mode { ZCQ_IO_PAGECACHE = 0, ZCQ_IO_DIRECT = 1 };

#define ZCQ_DIO_BLOCK 65536 /* Direct I/O cache block size */

struct zcq_log_config {
    int64_t segment_bytes;
    int64_t segment_ms;
    int64_t retention_ms;
    int64_t retention_bytes;
    int64_t flush_messages;
    int64_t flush_ms;
    int64_t index_interval_bytes;
    int64_t index_max_bytes;
    int64_t max_message_bytes;
    enum zcq_io_mode io_mode;
    int64_t direct_cache_bytes;
};

/* Kafka's defaults (see the table above). */
void zcq_log_config_default(struct zcq_log_config *c);

/* Set one key; broker-wide and topic names are both accepted. Returns 0, or -EINVAL with why
 * ("unknown key", "value out of range"). */
int zcq_log_config_set(struct zcq_log_config *c, const char *key, const char *value, char *why,
                       size_t why_len);

/* The i-th setting's broker-wide (topic = 0) or topic name, i from 0; NULL past the last. */
const char *zcq_log_config_name(size_t i, int topic);

/* Format key's value (either of its names) into buf. Returns 0, or -EINVAL for an unknown key. */
int zcq_log_config_get(const struct zcq_log_config *c, const char *key, char *buf, size_t len);

/* Check the whole configuration for consistency (e.g. segment.bytes >= 64 KiB, the index can
 * hold at least one entry). Returns 0 or -EINVAL with why. */
int zcq_log_config_check(const struct zcq_log_config *c, char *why, size_t why_len);

/* True when every append is synced before it is acknowledged (flush.messages = 1). */
static inline int zcq_log_config_sync_each(const struct zcq_log_config *c)
{
    return c->flush_messages == 1;
}

#endif
