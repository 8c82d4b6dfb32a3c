/* The dispatch table and ApiVersions; see api.h. */
#include "proto/api.h"

#include "proto/kerr.h"

#include <string.h>

struct api {
    int16_t key, min, max;
    const char *name;
    void (*handle)(struct zcq_kreq *r);
};

/* Non-flexible versions only, ApiVersions v3 excepted; the low ends are what librdkafka's
 * feature checks and kafka-python's version guess need (kafka-protocol.md sections 1, 3.2). */
static const struct api apis[] = {
    /* Produce from v0, although v0-2 are refused: librdkafka compresses (gzip, snappy, lz4)
     * only for brokers whose range includes v0 (produce.c). */
    {KAPI_PRODUCE, 0, 7, "Produce", zcq_h_produce},
    {KAPI_FETCH, 4, 11, "Fetch", zcq_h_fetch},
    {KAPI_LIST_OFFSETS, 1, 3, "ListOffsets", zcq_h_list_offsets},
    {KAPI_METADATA, 0, 7, "Metadata", zcq_h_metadata},
    /* librdkafka's "balanced consumer" feature needs the group APIs from v0 and OffsetCommit
     * to reach down to v2, OffsetFetch to v1. */
    {KAPI_OFFSET_COMMIT, 2, 7, "OffsetCommit", zcq_h_offset_commit},
    {KAPI_OFFSET_FETCH, 1, 5, "OffsetFetch", zcq_h_offset_fetch},
    /* librdkafka's LZ4 feature depends on FindCoordinator v0 (0.8.2's marker). */
    {KAPI_FIND_COORDINATOR, 0, 2, "FindCoordinator", zcq_h_find_coordinator},
    {KAPI_JOIN_GROUP, 0, 5, "JoinGroup", zcq_h_join_group},
    {KAPI_HEARTBEAT, 0, 3, "Heartbeat", zcq_h_heartbeat},
    {KAPI_LEAVE_GROUP, 0, 3, "LeaveGroup", zcq_h_leave_group},
    {KAPI_SYNC_GROUP, 0, 3, "SyncGroup", zcq_h_sync_group},
    {KAPI_DESCRIBE_GROUPS, 0, 4, "DescribeGroups", zcq_h_describe_groups},
    {KAPI_LIST_GROUPS, 0, 2, "ListGroups", zcq_h_list_groups},
    {KAPI_API_VERSIONS, 0, 3, "ApiVersions", zcq_h_api_versions},
    {KAPI_CREATE_TOPICS, 0, 4, "CreateTopics", zcq_h_create_topics},
    {KAPI_DELETE_TOPICS, 0, 3, "DeleteTopics", zcq_h_delete_topics},
    {KAPI_DESCRIBE_CONFIGS, 0, 3, "DescribeConfigs", zcq_h_describe_configs},
    {KAPI_CREATE_PARTITIONS, 0, 1, "CreatePartitions", zcq_h_create_partitions},
    {KAPI_DELETE_GROUPS, 0, 1, "DeleteGroups", zcq_h_delete_groups},
};
#define NAPIS (sizeof(apis) / sizeof(apis[0]))

static const struct api *find_api(int16_t key)
{
    for (size_t i = 0; i < NAPIS; i++) {
        if (apis[i].key == key)
            return &apis[i];
    }
    return NULL;
}

const char *zcq_api_name(int16_t key)
{
    const struct api *a = find_api(key);

    return a ? a->name : "unknown";
}

void zcq_api_dispatch(struct zcq_kreq *r)
{
    const struct api *a;
    struct zcq_kr rd;

    zcq_kr_init(&rd, r->frame, r->frame_len);
    r->api_key = zcq_kr_i16(&rd);
    r->api_version = zcq_kr_i16(&rd);
    r->corr = zcq_kr_i32(&rd);
    r->client_id = zcq_kr_nstr(&rd);
    if (rd.err) {
        zcq_kreq_close(r, "request header truncated (%zu bytes)", r->frame_len);
        return;
    }
    a = find_api(r->api_key);
    /* ApiVersions v3+ has a flexible header: tagged fields after the client id (whose length
     * stays int16 in every version, so any ApiVersions header parses alike). */
    if (r->api_key == KAPI_API_VERSIONS && r->api_version >= 3) {
        struct zcq_kr tags = rd;

        /* Lenient: a client that sends a version we do not know may not send the tags
         * either, and ApiVersions must be answered whatever happens (error 35 needs no
         * body). */
        zcq_kr_skip_tags(&tags);
        if (!tags.err)
            rd = tags;
    }
    r->body_off = r->frame_len - zcq_kr_left(&rd);
    if (!a ||
        (r->api_key != KAPI_API_VERSIONS && (r->api_version < a->min || r->api_version > a->max))) {
        zcq_kreq_close(r, "unsupported request: api key %d (%s) version %d", r->api_key,
                       zcq_api_name(r->api_key), r->api_version);
        return;
    }
    a->handle(r);
}

/* [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?, as Kafka checks client software names. */
static bool software_name_ok(struct zcq_kstr s)
{
    if (s.len < 1)
        return false;
    for (int32_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        if (!alnum && ((i == 0 || i == s.len - 1) || (c != '-' && c != '.')))
            return false;
    }
    return true;
}

void zcq_h_api_versions(struct zcq_kreq *r)
{
    struct zcq_kw *w = zcq_kresp_begin(r);
    const struct api *self = find_api(KAPI_API_VERSIONS);
    int16_t v = r->api_version, err = KERR_NONE;

    if (!w) {
        zcq_kreq_close(r, "out of memory");
        return;
    }
    if (v > self->max) {
        /* KIP-511: a version we do not know gets a v0 body with error 35 and our range for
         * ApiVersions itself, so the client retries with one we do. */
        zcq_kw_i16(w, KERR_UNSUPPORTED_VERSION);
        zcq_kw_i32(w, 1);
        zcq_kw_i16(w, KAPI_API_VERSIONS);
        zcq_kw_i16(w, self->min);
        zcq_kw_i16(w, self->max);
        zcq_kreq_respond(r);
        return;
    }
    if (v >= 3) {
        struct zcq_kr rd;
        struct zcq_kstr name, version;

        zcq_kreq_body(r, &rd);
        name = zcq_kr_cstr(&rd);
        version = zcq_kr_cstr(&rd);
        zcq_kr_skip_tags(&rd);
        if (rd.err || !software_name_ok(name) || !software_name_ok(version))
            err = KERR_INVALID_REQUEST;
    }
    /* The response header stays v0 (no tag byte) even for v3: clients parse it so. */
    zcq_kw_i16(w, err);
    if (v >= 3) {
        zcq_kw_uvarint(w, (uint32_t)NAPIS + 1);
        for (size_t i = 0; i < NAPIS; i++) {
            zcq_kw_i16(w, apis[i].key);
            zcq_kw_i16(w, apis[i].min);
            zcq_kw_i16(w, apis[i].max);
            zcq_kw_uvarint(w, 0); /* tagged fields */
        }
        zcq_kw_i32(w, 0); /* throttle */
        zcq_kw_uvarint(w, 0);
    } else {
        zcq_kw_i32(w, (int32_t)NAPIS);
        for (size_t i = 0; i < NAPIS; i++) {
            zcq_kw_i16(w, apis[i].key);
            zcq_kw_i16(w, apis[i].min);
            zcq_kw_i16(w, apis[i].max);
        }
        if (v >= 1)
            zcq_kw_i32(w, 0); /* throttle */
    }
    zcq_kreq_respond(r);
}
