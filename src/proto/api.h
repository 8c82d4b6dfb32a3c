/*
 * The one dispatch table: (api key, version range, handler), the versions zcq advertises in
 * ApiVersions (../shared/docs/kafka-protocol.md section 1). A request whose header does not
 * parse, or whose (key, version) is not in the table, closes the connection, as Kafka does;
 * ApiVersions is answered at any version (an unsupported one gets error 35 and the range).
 *
 * Handlers (one file per API family) read the body with zcq_kreq_body() and end in
 * zcq_kreq_respond(), zcq_kreq_close(), state NORESP, or PENDING with a continuation.
 */
#ifndef ZCQ_PROTO_API_H
#define ZCQ_PROTO_API_H

#include "proto/kreq.h"

enum {
    KAPI_PRODUCE = 0,
    KAPI_FETCH = 1,
    KAPI_LIST_OFFSETS = 2,
    KAPI_METADATA = 3,
    KAPI_OFFSET_COMMIT = 8,
    KAPI_OFFSET_FETCH = 9,
    KAPI_FIND_COORDINATOR = 10,
    KAPI_JOIN_GROUP = 11,
    KAPI_HEARTBEAT = 12,
    KAPI_LEAVE_GROUP = 13,
    KAPI_SYNC_GROUP = 14,
    KAPI_DESCRIBE_GROUPS = 15,
    KAPI_LIST_GROUPS = 16,
    KAPI_API_VERSIONS = 18,
    KAPI_CREATE_TOPICS = 19,
    KAPI_DELETE_TOPICS = 20,
    KAPI_DESCRIBE_CONFIGS = 32,
    KAPI_CREATE_PARTITIONS = 37,
    KAPI_DELETE_GROUPS = 42,
};

/* Parse r's header and run its handler. */
void zcq_api_dispatch(struct zcq_kreq *r);

/* The handlers. */
void zcq_h_api_versions(struct zcq_kreq *r);
void zcq_h_metadata(struct zcq_kreq *r);
void zcq_h_find_coordinator(struct zcq_kreq *r);
void zcq_h_produce(struct zcq_kreq *r);
void zcq_h_fetch(struct zcq_kreq *r);
void zcq_h_list_offsets(struct zcq_kreq *r);
void zcq_h_create_topics(struct zcq_kreq *r);
void zcq_h_delete_topics(struct zcq_kreq *r);
void zcq_h_create_partitions(struct zcq_kreq *r);
void zcq_h_describe_configs(struct zcq_kreq *r);
void zcq_h_offset_commit(struct zcq_kreq *r);
void zcq_h_offset_fetch(struct zcq_kreq *r);
void zcq_h_join_group(struct zcq_kreq *r);
void zcq_h_sync_group(struct zcq_kreq *r);
void zcq_h_heartbeat(struct zcq_kreq *r);
void zcq_h_leave_group(struct zcq_kreq *r);
void zcq_h_list_groups(struct zcq_kreq *r);
void zcq_h_describe_groups(struct zcq_kreq *r);
void zcq_h_delete_groups(struct zcq_kreq *r);

#endif
