/*
 * The partition log: one append-only log per topic partition, holding Kafka record batches
 * byte for byte, in segments named by base offset (00000000000000000000.log) with a sparse
 * offset index (.index) and a time index (.timeindex), both preallocated and mmap'd.
 *
 * Offsets (all int64, log start <= hwm <= durable/leo):
 *   log start  first offset still stored (retention moves it forward)
 *   leo        log end offset: the offset the next appended record gets
 *   durable    every record below it has been fdatasync'ed
 *   hwm        high watermark, what readers may see: leo after each complete append, or the
 *              durable offset when every append is synced (flush.messages = 1)
 *
 * Durability protocol (docs/storage.md, ../shared/docs/reliability.md): segment files are
 * created with O_EXCL and the directory is synced before the first append in them is
 * acknowledged; checkpoints are written tmp + fsync + rename + directory fsync with a CRC. A
 * failed write (other than ENOSPC/EDQUOT), a partial write that cannot be cut back, and any
 * failed fdatasync put the log in a sticky error state (zcq_log_error()): appends fail with
 * that error until the log is reopened, and recovery decides. ENOSPC and EDQUOT are not
 * sticky: the partial write is cut back, the append fails, and appends work again once space
 * is freed.
 *
 * Recovery (zcq_log_open): a clean-shutdown marker skips scanning. Otherwise every batch from
 * the recovery point on is checked (length, magic, CRC-32C, offsets increasing) and the log is
 * cut at the first bad one; later segments are deleted; indexes are rebuilt. A bad batch below
 * the recovery point (acknowledged, flushed data) is corruption: open fails with -EUCLEAN and
 * nothing is cut.
 *
 * Threads: every function may be called from any thread; a log has one mutex. Appends are
 * serialised; reads take references on segments (or cache blocks) that keep them alive until
 * zcq_log_slice_release(), so retention never deletes a file a reader still sends from.
 *
 * Errors: -errno, ZCQ_BATCH_* (batch.h) for rejected batches, and the ZCQ_LOG_* codes below.
 */
#ifndef ZCQ_STORE_LOG_H
#define ZCQ_STORE_LOG_H

#include "store/log_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ZCQ_LOG_EOUTOFRANGE = -30101, /* read below the log start or above the high watermark */
    ZCQ_LOG_ETOOLARGE = -30102,   /* batch larger than max.message.bytes or a segment */
};

const char *zcq_log_strerror(int err);

struct zcq_log;
struct zcq_segment;
struct zcq_bblock;

/* What zcq_log_open found. */
struct zcq_log_open_info {
    bool clean;              /* the clean-shutdown marker was there */
    int segments;            /* segments loaded */
    int64_t scanned_bytes;   /* bytes checked batch by batch */
    int64_t truncated_bytes; /* bytes cut from a torn tail */
    int segments_deleted;    /* whole segments past the cut */
    int indexes_rebuilt;
    char why[256]; /* what went wrong, when open fails */
};

/* Open (creating if needed) the log in dir, recovering as described above. Errors: -errno,
 * -EUCLEAN (corruption below the recovery point), -EINVAL (bad config), -ENOTDIR. */
int zcq_log_open(struct zcq_log **out, const char *dir, const struct zcq_log_config *cfg,
                 struct zcq_log_open_info *info);

/* Flush, write the recovery checkpoint and the clean-shutdown marker, release everything.
 * Returns the first error met (the log is released regardless). Outstanding slices must have
 * been released. NULL is a no-op. */
int zcq_log_close(struct zcq_log *log);

/* Release everything without flushing or writing the marker: what a crash leaves behind,
 * minus the process dying. For tests. */
void zcq_log_abandon(struct zcq_log *log);

struct zcq_append_result {
    int64_t base_offset; /* offset given to the first record */
    int64_t last_offset;
    int64_t log_append_time; /* now_ms as passed */
    bool synced;             /* made durable before returning */
};

enum {
    ZCQ_APPEND_NOSYNC = 1, /* never sync here, whatever the policy: the caller uses group
                            * commit (zcq_log_flush or a flusher) before acknowledging */
};

/*
 * Validate one record batch (batch.h) of len bytes, assign its offsets (rewriting baseOffset
 * and partitionLeaderEpoch in place, in the caller's memory), append it, update the indexes,
 * and sync if the flush policy says so. On success the batch is complete in the log and the
 * hwm has moved (or moves at the next sync under flush.messages = 1).
 * Errors: ZCQ_BATCH_* (invalid, nothing written), ZCQ_LOG_ETOOLARGE, -ENOSPC (nothing kept),
 * the sticky error, -EIO.
 */
int zcq_log_append(struct zcq_log *log, void *batch, size_t len, int32_t leader_epoch,
                   int64_t now_ms, unsigned flags, struct zcq_append_result *res);

/* fdatasync what was appended; advance durable (and hwm under a sync policy). A failure is
 * sticky. Concurrent callers share one sync (group commit): a caller whose data another
 * caller's sync covered returns without a second one. */
int zcq_log_flush(struct zcq_log *log);

/* The same, but done as soon as every record below upto is durable: a caller whose data an
 * earlier sync covered returns without one (a syncing caller still syncs all there is). */
int zcq_log_flush_upto(struct zcq_log *log, int64_t upto);

/* Whether a flush is due: the flush policy's time or message threshold has passed, or a
 * segment rolled since the last flush (a roll syncs nothing itself: appends run on event
 * loops). Cheap. Owners that append with ZCQ_APPEND_NOSYNC check it after appends and flush
 * off the loop; flush.ms also needs a timer, or an idle log would keep old appends unsynced. */
bool zcq_log_flush_due(struct zcq_log *log, int64_t now_ms);

/* zcq_log_flush() if zcq_log_flush_due(). Appends without ZCQ_APPEND_NOSYNC call it. */
int zcq_log_maybe_flush(struct zcq_log *log, int64_t now_ms);

/*
 * For owners that check many logs on a timer, so that an idle broker does not visit 10,000
 * partitions a second for nothing. zcq_log_flush_pending(): a flush is due, or may become due
 * with time alone (a rolled segment not synced yet, flush.ms running over unsynced appends).
 * zcq_log_flush_epoch(): a process-wide counter that moves whenever any log may have become
 * pending (it rolled, an append started a flush.ms period, a flush failed without a sticky
 * error). A timer round may be skipped when the epoch has not moved since the start of a
 * round after which no log was pending.
 */
bool zcq_log_flush_pending(struct zcq_log *log);
uint64_t zcq_log_flush_epoch(void);

/* A read result: the bytes of whole batches, as file regions (page-cache mode: fd + position,
 * for sendfile) or memory chunks (Direct I/O mode, from zcq's cache). Holds references until
 * zcq_log_slice_release(). */
#define ZCQ_LOG_SLICE_MAX 64
struct zcq_log_chunk {
    int fd;          /* page-cache mode: the segment's fd; -1 in direct mode */
    int64_t pos;     /* file position of the first byte */
    const void *mem; /* direct mode: the bytes; NULL in page-cache mode */
    uint32_t len;
};
struct zcq_log_slice {
    int64_t first_offset; /* base offset of the first batch */
    uint64_t bytes;       /* total */
    unsigned n;
    struct zcq_log_chunk c[ZCQ_LOG_SLICE_MAX];
    /* references held */
    struct zcq_segment *seg;
    struct zcq_bblock *blocks[ZCQ_LOG_SLICE_MAX];
    unsigned nblocks;
};

/*
 * Read batches from the one containing offset, up to max_bytes, never past the hwm or the end
 * of the segment the first batch is in; the first batch is returned whole even if larger than
 * max_bytes. Reading at the hwm returns an empty slice (n = 0, 0). Errors:
 * ZCQ_LOG_EOUTOFRANGE (below log start, above hwm), -EIO; in Direct I/O mode also -ENOBUFS
 * when every block of the cache is pinned (transient: retry once readers release theirs).
 */
int zcq_log_read(struct zcq_log *log, int64_t offset, size_t max_bytes, struct zcq_log_slice *out);

enum {
    ZCQ_READ_NOWAIT = 1, /* never wait for the device: -EAGAIN if the batch headers the lookup
                          * needs (page-cache mode: preadv2 RWF_NOWAIT) or the first batch's
                          * blocks (Direct I/O mode) are not in memory. The caller reads
                          * again without it off its event loop (which brings them in). The
                          * slice's file regions may still be cold: see io/pagecache.h. */
};
int zcq_log_read_flags(struct zcq_log *log, int64_t offset, size_t max_bytes, unsigned flags,
                       struct zcq_log_slice *out);
void zcq_log_slice_release(struct zcq_log *log, struct zcq_log_slice *s);

/* Offsets. */
int64_t zcq_log_start_offset(struct zcq_log *log);
int64_t zcq_log_end_offset(struct zcq_log *log);
int64_t zcq_log_high_watermark(struct zcq_log *log);
int64_t zcq_log_durable_offset(struct zcq_log *log);
int zcq_log_error(struct zcq_log *log); /* the sticky error, 0 if none */

/* Base offset of the first batch whose max timestamp is >= ts, or the leo if none is (Kafka's
 * ListOffsets by timestamp, at batch granularity). Errors: -EIO. */
int64_t zcq_log_offset_for_time(struct zcq_log *log, int64_t ts);

/* The same, and the maxTimestamp of the batch found in *found_ts (untouched if none). */
int64_t zcq_log_offset_for_time2(struct zcq_log *log, int64_t ts, int64_t *found_ts);

/* Delete whole segments by retention.ms (segment's newest timestamp older than now - ms) and
 * retention.bytes; never the active segment. Returns the number deleted or -errno. */
int zcq_log_retain(struct zcq_log *log, int64_t now_ms);

/* Delete the whole segments all of whose records are below offset (never the active segment,
 * never records at or past the hwm), moving the log start forward: for a log whose older
 * records a snapshot kept elsewhere has made redundant. Returns the number deleted or -errno. */
int zcq_log_delete_before(struct zcq_log *log, int64_t offset);

/* Start a new segment now (also happens on its own at segment.bytes / segment.ms). */
int zcq_log_roll(struct zcq_log *log, int64_t now_ms);

/* Remove every batch at or after offset (which must be a batch boundary or the leo); later
 * replication needs it. Errors: -EINVAL (not a boundary, below log start). */
int zcq_log_truncate_to(struct zcq_log *log, int64_t offset);

/* The configuration the log was opened with (fixed for its life). */
const struct zcq_log_config *zcq_log_cfg(const struct zcq_log *log);

/* Number of segments, for tests and metrics. */
int zcq_log_segment_count(struct zcq_log *log);

#endif
