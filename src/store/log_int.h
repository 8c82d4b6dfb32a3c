/*
 * Internals of the partition log shared by log.c (appends, reads, flush, roll, retention,
 * truncation) and log_open.c (open and recovery). Not for use outside src/store.
 */
#ifndef ZCQ_STORE_LOG_INT_H
#define ZCQ_STORE_LOG_INT_H

#include "store/bcache.h"
#include "store/index.h"
#include "store/log.h"

#include <pthread.h>
#include <sys/types.h>

#define ZCQ_LOG_NAME_LEN    20 /* digits in a segment file name */
#define ZCQ_DIO_ALIGN       4096u
#define ZCQ_CHECKPOINT_FILE "recovery-point"
#define ZCQ_CLEAN_FILE      "clean-shutdown"

struct zcq_segment {
    int64_t base;        /* base offset: the file name */
    int fd;              /* log file; O_DIRECT in direct mode */
    int64_t size;        /* logical bytes (whole batches) */
    int64_t next;        /* offset after the last batch */
    int64_t max_ts;      /* largest maxTimestamp, -1 when none */
    int64_t created_ms;  /* time of the first append (segment.ms) */
    int64_t since_index; /* bytes appended since the last index entry */
    struct zcq_index oix, tix;
    unsigned refs;    /* the log's own + readers' */
    bool gone;        /* renamed *.deleted: unlink when the last ref goes */
    bool synced_all;  /* a rolled segment that a flush synced, with its indexes */
    uint64_t file_id; /* identity in the block cache */
};

struct zcq_log {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a sync finished */
    char *dir;         /* no descriptor is kept for it (one per partition adds up): see
                        * zcq__log_dir_open() */
    struct zcq_log_config cfg;

    struct zcq_segment **segs; /* by base offset; the last is active */
    int nseg, capseg;

    int64_t start, leo, durable, hwm;
    struct zcq_segment *hwm_seg; /* segment holding the hwm position */
    int64_t hwm_pos;
    int64_t recovery_point; /* in the checkpoint file */
    int err;                /* sticky */
    bool syncing;           /* a flush is in progress (outside the mutex) */
    int pending_rolls;      /* rolled segments before the active one not synced yet */

    int64_t unflushed_msgs;      /* records appended since the last sync */
    int64_t oldest_unflushed_ms; /* when the first of them came, -1 none */

    /* Direct I/O mode. */
    struct zcq_bcache *cache;
    uint64_t id; /* makes cache file ids unique across logs */

    /* Direct mode write-behind (dio.c, its invariants), under wb_mu. */
    pthread_mutex_t wb_mu;
    pthread_cond_t wb_cv;          /* a write finished */
    struct zcq_segment *wb_seg;    /* the segment written behind: the active one */
    int64_t wb_done, wb_end;       /* [wb_done, wb_end) of wb_seg is not yet written */
    int64_t wb_alloc;              /* wb_seg's space is reserved (fallocate) up to here */
    struct zcq_bblock **wb_blocks; /* dirty blocks, pinned, consecutive from wb_first */
    uint64_t wb_first;
    unsigned wb_n, wb_cap;
    int wb_err;              /* a write behind failed: the log's sticky error */
    bool wb_busy;            /* queued for or being written by a writer */
    struct zcq_log *wb_next; /* the writers' queue */
};

static inline struct zcq_segment *zcq__active(struct zcq_log *log)
{
    return log->segs[log->nseg - 1];
}

/* Segment files: "<dir>/<20-digit base>.<ext>". */
void zcq__seg_path(const struct zcq_log *log, int64_t base, const char *ext, char *out, size_t len);

/* Open a segment's files; create makes new ones (O_EXCL). Index sizes per config. */
int zcq__seg_open(struct zcq_log *log, int64_t base, bool create, struct zcq_segment **out);

/* Drop a reference; the last one closes (and unlinks a gone segment's files). */
void zcq__seg_unref(struct zcq_log *log, struct zcq_segment *s);

/* Read len bytes of segment s at pos into buf (direct mode: through the block cache).
 * Returns the bytes read (short at EOF) or -errno; with ZCQ_READ_NOWAIT, -EAGAIN rather than
 * wait for the device. */
ssize_t zcq__seg_read(struct zcq_log *log, struct zcq_segment *s, void *buf, size_t len,
                      int64_t pos, unsigned flags);

/* Map s's indexes preallocated (to add entries) or trimmed to their entries. */
int zcq__seg_index_resize(struct zcq_log *log, struct zcq_segment *s, bool prealloc);

/* Make room in s's indexes for the entry the next batch may add (zcq__seg_index_batch), before
 * the batch is written: growing an index allocates disk space, which may fail. Errors:
 * -ENOSPC, -errno. */
int zcq__seg_index_reserve(struct zcq_log *log, struct zcq_segment *s);

/* fdatasync both of s's index files. A file that is gone (its segment deleted meanwhile) needs
 * no sync. */
int zcq__seg_index_sync(struct zcq_log *log, struct zcq_segment *s);

/* A descriptor of the log's directory, for its fsyncs and checkpoints; the caller closes it.
 * Returns the descriptor or -errno. */
int zcq__log_dir_open(const struct zcq_log *log);

/* Index the batch just placed at pos in s (offset and time entries per interval). */
void zcq__seg_index_batch(struct zcq_log *log, struct zcq_segment *s, int64_t pos,
                          int64_t base_offset, int64_t max_ts, size_t len);

/* Direct mode (dio.c): the block cache all logs share, and its writer threads, created by the
 * first direct-mode log with its zcq.direct.cache.bytes, freed when the last one closes. */
int zcq__dio_cache_acquire(size_t capacity, struct zcq_bcache **out);
void zcq__dio_cache_release(void);

/* Append len bytes at the end of active segment s (caller holds mu): into the cache, written
 * behind. Errors: -ENOSPC/-EDQUOT (nothing written, not sticky), the write-behind error, -EIO,
 * -ENOMEM. */
int zcq__dio_append(struct zcq_log *log, struct zcq_segment *s, const void *p, size_t len);

/* Wait until every byte appended is written and unpin the dirty blocks. Caller may hold mu
 * (writers never take it). Returns the write-behind error, 0 if none. */
int zcq__dio_drain(struct zcq_log *log);

/* Wait until s's bytes below upto are written (or s is no longer written behind). Caller
 * does not need mu. Returns the write-behind error, 0 if none. */
int zcq__dio_wait(struct zcq_log *log, struct zcq_segment *s, int64_t upto);

/* Start writing behind s (now active; nothing dirty), whose space is reserved up to alloc.
 * Caller holds mu and has drained. */
void zcq__dio_reset(struct zcq_log *log, struct zcq_segment *s, int64_t alloc);

void zcq__log_free(struct zcq_log *log);

/* Recompute pending_rolls: the rolled segments, just before the active one, not yet synced.
 * Caller holds mu. */
void zcq__recount_pending(struct zcq_log *log);

#endif
