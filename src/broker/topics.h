/*
 * Topics and partitions: the broker's registry of partition logs, persisted in the data
 * directory so topics and their configuration survive restarts.
 *
 * On disk (Kafka's layout, so tools that look at a data directory recognise it):
 *   <data>/<topic>-<partition>/          one partition log each (src/store/log.h)
 *   <data>/zcq-topics                    the registry: one line per topic, "name partitions
 *                                        key=value ...", replaced atomically (tmp, fsync,
 *                                        rename, fsync dir) and ended by a CRC-32C line
 * A topic is created by writing its partition directories first and the registry last; it is
 * deleted by removing it from the registry first and its directories after. A crash between
 * the two leaves directories the registry does not name, which open removes.
 *
 * Names follow Kafka: 1..249 characters of [a-zA-Z0-9._-], not "." or "..".
 *
 * Resources: an open partition holds one file descriptor per segment (its .log files; indexes
 * are mapped, their files closed) and two memory maps per segment (vm.max_map_count), and its
 * active segment's indexes take a page of disk each until they grow (src/store/index.h).
 * Opening, creating and closing many partitions runs on several threads (topics.c).
 *
 * Threads: every function may be called from any thread. The registry has a read-write lock;
 * a partition found by zcq_topics_get() is referenced and stays valid (its log open) until
 * zcq_partition_put(), even if the topic is deleted meanwhile (its files go when the last
 * reference does).
 *
 * Errors: -errno, and the ZCQ_TOPIC_* codes below (which the protocol layer maps to Kafka's).
 */
#ifndef ZCQ_BROKER_TOPICS_H
#define ZCQ_BROKER_TOPICS_H

#include "store/log.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ZCQ_TOPIC_EUNKNOWN = -30201,    /* no such topic or partition (Kafka 3) */
    ZCQ_TOPIC_EEXISTS = -30202,     /* TOPIC_ALREADY_EXISTS (36) */
    ZCQ_TOPIC_EINVALID = -30203,    /* INVALID_TOPIC_EXCEPTION (17): bad name */
    ZCQ_TOPIC_EPARTITIONS = -30204, /* INVALID_PARTITIONS (37) */
    ZCQ_TOPIC_ECONFIG = -30205,     /* INVALID_CONFIG (40) */
};

const char *zcq_topics_strerror(int err);

#define ZCQ_TOPIC_NAME_MAX       249
#define ZCQ_TOPIC_MAX_PARTITIONS 100000
#define ZCQ_TOPIC_MAX_CONFIGS    32

struct zcq_topics;

struct zcq_pwatch;

struct zcq_partition {
    struct zcq_log *log;
    int32_t index;
    /* private */
    unsigned refs;
    struct zcq_topic *topic;
    pthread_mutex_t wmu; /* guards watchers */
    struct zcq_pwatch *watchers;
    int nwatch;       /* read without wmu as a hint (atomic) */
    int flush_queued; /* a background flush is queued (atomic; the broker's coalescing) */
};

/*
 * Watching a partition for new data (long-polling fetches): zcq_partition_notify() calls every
 * watcher's cb, on the notifying thread, with the partition's watch lock held, so cb must be
 * short and must not watch or unwatch (a wakeup post is what it is for). After
 * zcq_partition_unwatch() returns, cb is not running and will not run again. A watcher holds
 * no reference: its owner keeps the partition referenced while watching.
 */
struct zcq_pwatch {
    void (*cb)(struct zcq_pwatch *w);
    /* private */
    struct zcq_partition *p;
    struct zcq_pwatch *prev, *next;
};

void zcq_partition_watch(struct zcq_partition *p, struct zcq_pwatch *w);
void zcq_partition_unwatch(struct zcq_pwatch *w); /* no-op if not watching */

/* The partition's readable end moved (an append, or a sync under flush.messages = 1). Cheap
 * when nobody watches. */
void zcq_partition_notify(struct zcq_partition *p);

/* A topic-level setting, kept as given (Kafka's names), and applied over the defaults. */
struct zcq_topic_config {
    char key[64];
    char value[128];
};

/* What zcq_topics_list() reports of a topic. */
struct zcq_topic_info {
    char name[ZCQ_TOPIC_NAME_MAX + 1];
    int32_t partitions;
    int nconfig;
    struct zcq_topic_config config[ZCQ_TOPIC_MAX_CONFIGS];
};

/* Open the registry in data_dir (created if missing), opening and recovering every partition
 * log with defaults overlaid by each topic's settings. why gets a one-line reason on failure. */
int zcq_topics_open(struct zcq_topics **out, const char *data_dir,
                    const struct zcq_log_config *defaults, char *why, size_t why_len);

/* The number of partitions the registry in data_dir names, without opening anything (0 when
 * there is no registry, -errno when it cannot be read): what the caller sizes its open-file
 * limit by before zcq_topics_open(), since every partition holds a descriptor per segment. The
 * registry's CRC is not checked here; zcq_topics_open() does. */
long zcq_topics_count(const char *data_dir);

/* Close every log (flush, clean-shutdown markers) and free. Returns the first error. */
int zcq_topics_close(struct zcq_topics *t);

/* Check a name by Kafka's rules: 0 or ZCQ_TOPIC_EINVALID. */
int zcq_topic_name_check(const char *name, size_t len);

/* Create a topic with n partitions (1..the maximum, zcq_topics_set_max_partitions) and settings
 * cfg[0..ncfg). Errors: ZCQ_TOPIC_EEXISTS, _EINVALID, _EPARTITIONS, _ECONFIG (why says which key),
 * -errno. validate_only checks everything and creates nothing. */
int zcq_topics_create(struct zcq_topics *t, const char *name, int32_t n,
                      const struct zcq_topic_config *cfg, int ncfg, int validate_only, char *why,
                      size_t why_len);

/* The most partitions a topic may have (creating or growing it), at most
 * ZCQ_TOPIC_MAX_PARTITIONS (the default). Topics already larger keep what they have. */
void zcq_topics_set_max_partitions(struct zcq_topics *t, int32_t n);

/* Delete a topic: gone from the registry at once, files removed when unreferenced. */
int zcq_topics_delete(struct zcq_topics *t, const char *name);

/* Grow a topic to n partitions. ZCQ_TOPIC_EPARTITIONS if n is not larger. */
int zcq_topics_grow(struct zcq_topics *t, const char *name, int32_t n, int validate_only, char *why,
                    size_t why_len);

/* Find partition `part` of topic name[0..len): referenced, or NULL (unknown topic or
 * partition). zcq_partition_ref() takes one more reference on a partition already held. */
struct zcq_partition *zcq_topics_get(struct zcq_topics *t, const char *name, size_t len,
                                     int32_t part);
void zcq_partition_put(struct zcq_topics *t, struct zcq_partition *p);
void zcq_partition_ref(struct zcq_partition *p);

/* The topic name of a partition (valid while the partition is referenced). */
const char *zcq_partition_topic(const struct zcq_partition *p);

/* Number of partitions of a topic, or ZCQ_TOPIC_EUNKNOWN. */
int32_t zcq_topics_partitions(struct zcq_topics *t, const char *name, size_t len);

/* Call fn for every topic, in name order, under the registry's read lock (fn must not block
 * or call back into the registry). Returns the number of topics. */
int zcq_topics_each(struct zcq_topics *t, void (*fn)(void *arg, const char *name, int32_t n),
                    void *arg);

/* Describe topics: all of them (names == NULL) into out[0..max); returns how many exist
 * (may exceed max), or one (its info) for a name. */
int zcq_topics_list(struct zcq_topics *t, struct zcq_topic_info *out, int max);
int zcq_topics_describe(struct zcq_topics *t, const char *name, size_t len,
                        struct zcq_topic_info *out);

/* The log configuration a topic's partitions use (defaults + its settings). */
int zcq_topics_log_config(struct zcq_topics *t, const char *name, size_t len,
                          struct zcq_log_config *out);

/* Apply retention to every partition (the broker calls it on a timer, off the event loop).
 * Returns the number of segments deleted. */
int zcq_topics_retain(struct zcq_topics *t, int64_t now_ms);

/* Run zcq_log_maybe_flush on every partition (flush.ms). */
int zcq_topics_maybe_flush(struct zcq_topics *t, int64_t now_ms);

#endif
