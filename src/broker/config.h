/*
 * The broker's configuration, with Kafka's names where Kafka has one: read from a Kafka-style
 * file of key=value lines (# starts a comment), overridden by command-line flags, every key
 * settable both ways. Partition log settings (log.segment.bytes, ...) are the store's
 * (store/log_config.h) and accepted here as broker-wide defaults.
 *
 *   key                              default            meaning
 *   listeners                        PLAINTEXT://127.0.0.1:9092   where to accept clients
 *   advertised.listeners             (the listener)     host:port given to clients in Metadata;
 *                                                       a wildcard listener advertises the
 *                                                       host name
 *   node.id (broker.id)              1                  this broker's id
 *   log.dirs (log.dir)               ./data             the data directory
 *   num.partitions                   1                  partitions of an auto-created topic
 *   zcq.max.partitions.per.topic     100000             a topic may have no more
 *   auto.create.topics.enable        true               create topics Metadata asks for
 *   socket.request.max.bytes         104857600          larger frames close the connection
 *   num.network.threads              (CPUs)             event-loop worker threads
 *   num.io.threads                   4                  threads that fsync (group commit)
 *   zcq.read.threads                 2                  threads that read cold ranges in
 *   connections.max.idle.ms          600000             idle connections are closed
 *   max.connections                  10000              connections accepted at once
 *   max.connections.per.ip           5000               ... from one address
 *   zcq.max.inflight.requests        500                per connection; reading pauses past it
 *   zcq.fetch.transfer               sendfile           sendfile | splice | copy | uring: how
 *                                                       file regions reach the socket
 *   zcq.send.chunk.bytes             2097152            bytes per send call (fairness)
 *   zcq.acks.all.sync                true               acks=all waits for fdatasync
 *   log.retention.check.interval.ms  300000             how often retention runs
 *   log.flush.scheduler.interval.ms  1000               how often flush.ms is checked
 *   group.min.session.timeout.ms     6000               session timeouts a member may ask for
 *   group.max.session.timeout.ms     1800000            (INVALID_SESSION_TIMEOUT outside)
 *   group.initial.rebalance.delay.ms 3000               an empty group's first rebalance waits
 *                                                       this long for more members
 *   group.max.size                   100000             members of one group at most
 *   offsets.retention.minutes        10080              committed offsets of a group empty this
 *                                                       long are removed
 *   offsets.retention.check.interval.ms 600000          how often that is checked
 *   offsets.commit.required.acks     -1                 -1: a commit is answered once on disk
 *                                                       (fdatasync); 1: once appended
 *   offset.metadata.max.bytes        4096               longer commit metadata is refused
 *   offsets.topic.segment.bytes      8388608            segment size of the commit journal
 *   zcq.offsets.snapshot.bytes       16777216           journal bytes past the last snapshot
 *                                                       that make a new one (restart replays at
 *                                                       most this much)
 *
 * Contract: plain values, no allocation. Errors: -EINVAL with a one-line reason in why.
 */
#ifndef ZCQ_BROKER_CONFIG_H
#define ZCQ_BROKER_CONFIG_H

#include "io/xfer.h"
#include "store/log_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zcq_broker_config {
    char listen_host[256];
    int listen_port;
    char adv_host[256]; /* "" until resolved by zcq_broker_config_check() */
    int adv_port;
    int32_t node_id;
    char data_dir[4096];
    int32_t num_partitions;
    int32_t max_partitions;
    bool auto_create;
    int64_t max_request_bytes;
    int workers;
    int sync_threads;
    int read_threads;
    int64_t idle_ms;
    int max_connections;
    int max_connections_per_ip;
    int max_inflight;
    enum zcq_xfer_method transfer;
    int64_t send_chunk;
    bool acks_all_sync;
    int64_t retention_check_ms;
    int64_t flush_check_ms;
    int group_min_session_ms;
    int group_max_session_ms;
    int group_initial_delay_ms;
    int group_max_size;
    int64_t offsets_retention_min;
    int64_t offsets_check_ms;
    int commit_acks;
    int offset_meta_max;
    int64_t offsets_segment_bytes;
    int64_t offsets_snapshot_bytes;
    struct zcq_log_config log; /* defaults of every partition log */
    /* which keys were set (file or flag), by index in the key table; for DescribeConfigs */
    uint64_t set_mask;
    uint64_t log_set_mask;
};

void zcq_broker_config_default(struct zcq_broker_config *c);

/* Set one key (broker or log setting). 0, or -EINVAL with why. */
int zcq_broker_config_set(struct zcq_broker_config *c, const char *key, const char *value,
                          char *why, size_t why_len);

/* Apply a file of key=value lines. -errno (cannot read) or -EINVAL ("file:line: ..."). */
int zcq_broker_config_load(struct zcq_broker_config *c, const char *path, char *why,
                           size_t why_len);

/* Check the whole and fill in what derives from other keys (the advertised address). */
int zcq_broker_config_check(struct zcq_broker_config *c, char *why, size_t why_len);

/* Every broker key with its current value, in table order (i from 0; 0 past the last):
 * *key, value formatted into buf, *is_set when a file or flag set it. */
int zcq_broker_config_entry(const struct zcq_broker_config *c, size_t i, const char **key,
                            char *buf, size_t len, bool *is_set);

/* True when key is a broker key or a log setting this module accepts. */
bool zcq_broker_config_known(const char *key);

#endif
