/*
 * The broker's state that every request handler shares: its configuration, the topic
 * registry (with every partition log), the group coordinator, the cluster id, and a
 * maintenance thread that applies retention and time-based flushing (flush.ms), expires
 * committed offsets and snapshots their journal, all off the event loops.
 *
 * Contract: zcq_broker_open() recovers every partition (it may take a while and does disk
 * I/O); zcq_broker_close() stops maintenance, then closes every log cleanly (flush, clean-shutdown
 * markers). Everything in between is thread-safe. Errors: -errno and topics.h's codes, with a
 * one-line reason in why.
 */
#ifndef ZCQ_BROKER_BROKER_H
#define ZCQ_BROKER_BROKER_H

#include "broker/config.h"
#include "broker/group.h"
#include "broker/topics.h"

#include <pthread.h>
#include <stdbool.h>

struct zcq_broker {
    struct zcq_broker_config cfg;
    struct zcq_topics *topics;
    struct zcq_groups *groups; /* the group coordinator and committed offsets */
    char cluster_id[64];       /* stable across restarts: kept in <data>/zcq-cluster-id */
    /* maintenance */
    pthread_t maint;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, started;
};

/* cfg must have passed zcq_broker_config_check(). */
int zcq_broker_open(struct zcq_broker **out, const struct zcq_broker_config *cfg, char *why,
                    size_t why_len);
int zcq_broker_close(struct zcq_broker *b);

/* Start the maintenance thread (retention every log.retention.check.interval.ms, flush.ms
 * checks every log.flush.scheduler.interval.ms). */
int zcq_broker_start_maintenance(struct zcq_broker *b);

#endif
