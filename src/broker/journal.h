/*
 * The committed-offsets journal: every OffsetCommit (and every removal of a committed offset)
 * as one record batch in a partition log of its own, so commits get the log's validation,
 * crash recovery and fsync protocol; plus a snapshot of the live offsets that lets the log's
 * older segments go, so a restart replays at most zcq.offsets.snapshot.bytes of commits
 * whatever the number made since the broker was born.
 *
 * On disk, in the data directory:
 *   zcq-consumer-offsets/              the journal (src/store/log.h); the name cannot be a
 *                                      topic partition's (<topic>-<digits>)
 *   zcq-consumer-offsets.snapshot      the live offsets as of journal offset E: a 32-byte
 *                                      header ("ZCQSNAP1", E, entries, batches, CRC-32C of
 *                                      the header) and record batches of the same records
 *                                      the journal holds; replaced tmp + fsync + rename +
 *                                      directory fsync
 * A record's key is (i16 version 0, i16 + group, i16 + topic, i32 partition); its value is
 * (i16 version 0, i64 offset, i32 leader epoch, i16 + metadata (-1: null), i64 commit time
 * in ms), or null for a removal.
 *
 * Open loads the snapshot, then replays the journal from E (every record at or past E, in
 * order), calling apply for each. A snapshot that fails its CRC fails the open (-EUCLEAN):
 * the journal segments below E are gone, so carrying on would silently forget commits.
 *
 * Threads: the owner serialises appends and snapshot sealing (the coordinator's lock), so the
 * state it snapshots is exactly the journal up to E; zcq_journal_sync and zcq_snap_write may
 * run on any thread meanwhile (they block: never on an event loop).
 *
 * Errors: -errno, -EUCLEAN (a corrupt snapshot or journal record), the log's errors.
 */
#ifndef ZCQ_BROKER_JOURNAL_H
#define ZCQ_BROKER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zcq_journal;
struct zcq_snap;

struct zcq_commit_key {
    const char *group;
    uint16_t group_len;
    const char *topic;
    uint16_t topic_len;
    int32_t partition;
};

struct zcq_commit_val {
    int64_t offset;
    int32_t leader_epoch;
    const char *meta;
    int32_t meta_len; /* -1: null */
    int64_t ts;       /* wall-clock ms of the commit */
};

/* One change: v == NULL removes the key. Pointers are borrowed for the call. */
struct zcq_journal_entry {
    struct zcq_commit_key k;
    const struct zcq_commit_val *v;
};

typedef int (*zcq_journal_apply_fn)(void *arg, const struct zcq_journal_entry *e);

struct zcq_journal_open_info {
    int64_t snapshot_entries; /* loaded from the snapshot */
    int64_t replayed_records; /* from the journal */
    int64_t replayed_bytes;
};

/* Open (creating) the journal in data_dir with segments of segment_bytes, and feed apply
 * every live entry. apply's non-zero return (-ENOMEM, say) stops the open and is returned.
 * why gets a one-line reason on failure. */
int zcq_journal_open(struct zcq_journal **out, const char *data_dir, int64_t segment_bytes,
                     zcq_journal_apply_fn apply, void *arg, struct zcq_journal_open_info *info,
                     char *why, size_t why_len);

/* Close the log cleanly (flush, clean-shutdown marker). NULL is a no-op. */
int zcq_journal_close(struct zcq_journal *j);

/* Append e[0..n) as one batch (page cache; not synced). Returns the journal offset after
 * it, which zcq_journal_sync takes, or -errno / a log error (nothing appended). Keys and
 * metadata longer than INT16_MAX are -EINVAL. */
int64_t zcq_journal_append(struct zcq_journal *j, const struct zcq_journal_entry *e, int n,
                           int64_t now_ms);

/* Make everything below upto durable (fdatasync, shared by concurrent callers). */
int zcq_journal_sync(struct zcq_journal *j, int64_t upto);

/* Sync what the log's own policy says is due (a rolled segment); blocks. */
int zcq_journal_maybe_flush(struct zcq_journal *j, int64_t now_ms);

/* Bytes appended since the last snapshot (or replayed at open): a snapshot is due when it
 * passes the owner's threshold. */
int64_t zcq_journal_pending_bytes(struct zcq_journal *j);

/* A snapshot in the making: begin, add every live entry, seal (all three under the lock that
 * serialises appends), then write (anywhere, blocking), which also frees it. */
struct zcq_snap *zcq_snap_begin(struct zcq_journal *j);
int zcq_snap_add(struct zcq_snap *s, const struct zcq_journal_entry *e); /* 0 or -ENOMEM */
void zcq_snap_seal(struct zcq_snap *s);
/* Write the file (tmp, fsync, rename, fsync directory), then delete the journal segments it
 * makes redundant. On failure the old snapshot stays and nothing is deleted. */
int zcq_snap_write(struct zcq_snap *s, char *why, size_t why_len);
void zcq_snap_free(struct zcq_snap *s);

#endif
