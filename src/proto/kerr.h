/*
 * Kafka's error codes (the subset zcq answers with, by the names the protocol uses), and the
 * mapping from zcq's own errors to them.
 *
 * Contract: pure functions.
 */
#ifndef ZCQ_PROTO_KERR_H
#define ZCQ_PROTO_KERR_H

#include <stdint.h>

enum {
    KERR_UNKNOWN_SERVER_ERROR = -1,
    KERR_NONE = 0,
    KERR_OFFSET_OUT_OF_RANGE = 1,
    KERR_CORRUPT_MESSAGE = 2,
    KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KERR_LEADER_NOT_AVAILABLE = 5,
    KERR_NOT_LEADER_OR_FOLLOWER = 6,
    KERR_REQUEST_TIMED_OUT = 7,
    KERR_MESSAGE_TOO_LARGE = 10,
    KERR_INVALID_TOPIC_EXCEPTION = 17,
    KERR_RECORD_LIST_TOO_LARGE = 18,
    KERR_INVALID_REQUIRED_ACKS = 21,
    KERR_UNSUPPORTED_VERSION = 35,
    KERR_TOPIC_ALREADY_EXISTS = 36,
    KERR_INVALID_PARTITIONS = 37,
    KERR_INVALID_REPLICATION_FACTOR = 38,
    KERR_INVALID_REPLICA_ASSIGNMENT = 39,
    KERR_INVALID_CONFIG = 40,
    KERR_INVALID_REQUEST = 42,
    KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KERR_POLICY_VIOLATION = 44,
    KERR_INVALID_TXN_STATE = 48,
    KERR_KAFKA_STORAGE_ERROR = 56,
    KERR_INVALID_RECORD = 87,
};

/* A Kafka error code for a zcq error (ZCQ_BATCH_*, ZCQ_LOG_*, ZCQ_TOPIC_*, -errno). */
int16_t zcq_kerr_of(int err);

#endif
