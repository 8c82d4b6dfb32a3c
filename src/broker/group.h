/*
 * The group coordinator: consumer groups (membership, rebalances, generations) and their
 * committed offsets (kept in the journal, journal.h). Assignment is the clients' business:
 * the coordinator elects a leader, picks a protocol every member supports, hands the leader
 * everyone's opaque metadata and each member its opaque assignment; it never parses them.
 *
 * A group's states (Kafka's):
 *
 *   Empty ──join──> PreparingRebalance ──all known members rejoined, or the rebalance
 *     ^                   ^    │          timeout dropped the rest──> CompletingRebalance
 *     │                   │    └── no member left ──> Empty                 │ leader's
 *     │                   └── join / leave / expiry / metadata change ──────┤ SyncGroup
 *     │                                                                     v
 *     └───────── last member gone (then, past offsets.retention, its offsets) Stable
 *
 * An empty group's first rebalance waits group.initial.rebalance.delay.ms (extended by each
 * member that joins meanwhile, up to the rebalance timeout), so members starting together
 * land in one generation. Members are expired when silent for their session timeout, never
 * while a JoinGroup or SyncGroup of theirs is held.
 *
 * Held requests: zcq_group_join and zcq_group_sync may park their answer. The caller's struct
 * zcq_gwait then gets exactly one done() call, from whichever thread completes it (an event
 * loop, or the coordinator's timer thread), with the coordinator's lock held: done() must
 * only post a wakeup. zcq_group_unwait() withdraws a parked wait; after it returns, done() is
 * not running and will not be called. The answer lives in the wait until zcq_gwait_clear().
 *
 * Threads: every function may be called from any thread (one lock; nothing under it blocks
 * but the journal's page-cache append). zcq_groups_sync and zcq_groups_maintain block on the
 * disk: never call them on an event loop.
 *
 * Errors: the int16 results are Kafka's error codes (ZCQ_GERR_*, the same numbers the protocol
 * uses, so the protocol layer passes them through); other functions return -errno.
 */
#ifndef ZCQ_BROKER_GROUP_H
#define ZCQ_BROKER_GROUP_H

#include "broker/topics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ZCQ_GERR_UNKNOWN_SERVER_ERROR = -1,
    ZCQ_GERR_NONE = 0,
    ZCQ_GERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    ZCQ_GERR_OFFSET_METADATA_TOO_LARGE = 12,
    ZCQ_GERR_COORDINATOR_NOT_AVAILABLE = 15,
    ZCQ_GERR_ILLEGAL_GENERATION = 22,
    ZCQ_GERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    ZCQ_GERR_INVALID_GROUP_ID = 24,
    ZCQ_GERR_UNKNOWN_MEMBER_ID = 25,
    ZCQ_GERR_INVALID_SESSION_TIMEOUT = 26,
    ZCQ_GERR_REBALANCE_IN_PROGRESS = 27,
    ZCQ_GERR_NON_EMPTY_GROUP = 68,
    ZCQ_GERR_GROUP_ID_NOT_FOUND = 69,
    ZCQ_GERR_MEMBER_ID_REQUIRED = 79,
    ZCQ_GERR_GROUP_MAX_SIZE_REACHED = 81,
};

struct zcq_groups;
struct zcq_gmember;

struct zcq_groups_config {
    int min_session_ms, max_session_ms; /* INVALID_SESSION_TIMEOUT outside */
    int initial_delay_ms;               /* group.initial.rebalance.delay.ms */
    int max_size;                       /* members per group */
    int64_t retention_ms;               /* offsets of a group empty this long go */
    int meta_max;                       /* offset.metadata.max.bytes */
    int64_t segment_bytes;              /* the journal's segments */
    int64_t snapshot_bytes;             /* journal bytes that make a snapshot due */
};

struct zcq_groups_open_info {
    int groups;      /* groups with committed offsets */
    int64_t offsets; /* committed offsets loaded */
    int64_t snapshot_entries;
    int64_t replayed_records;
    int64_t replayed_bytes;
};

/* Open the coordinator: load the committed offsets (journal.h) and start the timer thread.
 * topics must outlive it (commits are checked against it). why: one line on failure. */
int zcq_groups_open(struct zcq_groups **out, const char *data_dir,
                    const struct zcq_groups_config *cfg, struct zcq_topics *topics,
                    struct zcq_groups_open_info *info, char *why, size_t why_len);

/* Stop the timer thread and close the journal cleanly. No wait may still be parked. */
int zcq_groups_close(struct zcq_groups *g);

/* --- Held answers ------------------------------------------------------------------------- */

struct zcq_gmember_info {
    char *id;
    char *instance; /* NULL: none (static membership is not supported) */
    void *meta;     /* the member's metadata for the chosen protocol */
    int32_t meta_len;
};

struct zcq_gwait {
    void (*done)(struct zcq_gwait *w); /* see the contract above */
    /* the answer */
    int16_t err;
    int32_t generation;               /* -1 with an error */
    char *protocol_type;              /* join (v7+ would return it): may be NULL */
    char *protocol;                   /* join: the chosen protocol ("" with an error) */
    char *leader;                     /* join: the leader's member id ("" with an error) */
    char *member_id;                  /* join: this member's id (new ones included) */
    struct zcq_gmember_info *members; /* join, to the leader only */
    int nmembers;
    void *assignment; /* sync: this member's assignment (empty when none) */
    int32_t assignment_len;
    /* the coordinator's */
    struct zcq_gmember *m;
    int kind;
};

/* Free the answer's memory (not w). */
void zcq_gwait_clear(struct zcq_gwait *w);

/* Withdraw a wait (the requester went away). Returns true if it was still parked; false if
 * it had been answered (its answer is in w) or never parked. */
bool zcq_group_unwait(struct zcq_groups *g, struct zcq_gwait *w);

/* --- Membership --------------------------------------------------------------------------- */

struct zcq_gproto {
    const char *name;
    int32_t name_len;
    const void *meta;
    int32_t meta_len;
};

struct zcq_join {
    const char *group;
    size_t group_len;
    const char *member; /* "" for a new member */
    size_t member_len;
    const char *client_id;
    size_t client_id_len;
    const char *client_host; /* "/127.0.0.1", for DescribeGroups */
    int32_t session_ms, rebalance_ms;
    const char *protocol_type;
    size_t protocol_type_len;
    const struct zcq_gproto *protocols;
    int nprotocols;
    bool id_required; /* JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED */
};

/* Join (or rejoin). Returns 0 when w holds the answer now, 1 when parked (done() follows),
 * -ENOMEM. Everything j points to is copied. */
int zcq_group_join(struct zcq_groups *g, const struct zcq_join *j, struct zcq_gwait *w);

struct zcq_gassign {
    const char *member;
    int32_t member_len;
    const void *data;
    int32_t len;
};

/* SyncGroup: the leader's assignments a[0..n) (followers send none). 0 / 1 / -ENOMEM as
 * for join. */
int zcq_group_sync(struct zcq_groups *g, const char *group, size_t group_len, int32_t generation,
                   const char *member, size_t member_len, const struct zcq_gassign *a, int n,
                   struct zcq_gwait *w);

int16_t zcq_group_heartbeat(struct zcq_groups *g, const char *group, size_t group_len,
                            int32_t generation, const char *member, size_t member_len);

int16_t zcq_group_leave(struct zcq_groups *g, const char *group, size_t group_len,
                        const char *member, size_t member_len);

/* --- Committed offsets -------------------------------------------------------------------- */

struct zcq_gcommit {
    const char *topic;
    size_t topic_len;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    const char *meta;
    int32_t meta_len; /* -1: null */
    int16_t err;      /* out */
};

/*
 * OffsetCommit: generation -1 with member "" commits for a group without members; otherwise
 * the member and generation must be current. A group-level error (returned) applies to every
 * partition; otherwise each c[i].err says. Accepted offsets are appended to the journal as
 * one batch and are visible to OffsetFetch at once; *sync_upto gets the journal offset to
 * pass to zcq_groups_sync for durability (0 when nothing was appended).
 */
int16_t zcq_group_commit(struct zcq_groups *g, const char *group, size_t group_len,
                         int32_t generation, const char *member, size_t member_len,
                         struct zcq_gcommit *c, int n, int64_t now_ms, int64_t *sync_upto);

/* fdatasync the journal up to upto (blocks). */
int zcq_groups_sync(struct zcq_groups *g, int64_t upto);

struct zcq_goffset {
    const char *topic;
    size_t topic_len;
    int32_t partition;
    int64_t offset; /* -1: nothing committed */
    int32_t leader_epoch;
    const char *meta;
    int32_t meta_len;
};

struct zcq_gquery {
    const char *topic;
    size_t topic_len;
    int32_t partition;
};

/* Look up q[0..n) (q == NULL: every committed offset of the group, by topic then partition),
 * calling fn(arg, o) for each, in order, under the lock (fn must not block or call back).
 * A partition with nothing committed gets offset -1. Returns the number of calls. */
int zcq_group_offsets(struct zcq_groups *g, const char *group, size_t group_len,
                      const struct zcq_gquery *q, int n,
                      void (*fn)(void *arg, const struct zcq_goffset *o), void *arg);

/* A topic is gone: forget its committed offsets (journalled). */
void zcq_groups_topic_deleted(struct zcq_groups *g, const char *topic, size_t topic_len,
                              int64_t now_ms);

/* --- Administration ----------------------------------------------------------------------- */

struct zcq_gmember_view {
    const char *id, *client_id, *client_host;
    const void *meta; /* for the group's protocol */
    int32_t meta_len;
    const void *assignment;
    int32_t assignment_len;
};

struct zcq_group_view {
    const char *name;
    const char *state; /* "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead" */
    const char *protocol_type, *protocol; /* "" when none */
    int32_t generation;
    const struct zcq_gmember_view *members;
    int nmembers;
};

/* Call fn for every group (ListGroups), by name, under the lock. Returns the count. */
int zcq_groups_each(struct zcq_groups *g, void (*fn)(void *arg, const struct zcq_group_view *v),
                    void *arg);

/* Describe one group (members included); an unknown group is described as "Dead" with no
 * members, as Kafka does. fn runs under the lock. */
void zcq_group_describe(struct zcq_groups *g, const char *group, size_t group_len,
                        void (*fn)(void *arg, const struct zcq_group_view *v), void *arg);

/* Delete a group without members and its offsets: NONE, GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP,
 * INVALID_GROUP_ID. */
int16_t zcq_group_delete(struct zcq_groups *g, const char *group, size_t group_len, int64_t now_ms);

/* Periodic work, off the event loops: expire the offsets of groups empty past retention and
 * of deleted topics (every call), snapshot the journal when due, sync a rolled journal
 * segment. Returns -errno of a failed snapshot (logged by the caller), else 0. */
int zcq_groups_maintain(struct zcq_groups *g, int64_t now_ms, bool expire, char *why,
                        size_t why_len);

#endif
