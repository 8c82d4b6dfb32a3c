/*
 * The partition log: segments, appends, reads, flush (group commit), roll, retention and
 * truncation. Opening and recovery are in log_open.c. See log.h for the contract.
 *
 * Invariants (hold whenever log->mu is free):
 *   1. segs[] is sorted by base; segs[i]->next == segs[i+1]->base; the last is active.
 *   2. start <= hwm <= leo, durable <= leo, leo == active->next.
 *   3. A segment's bytes [0, size) are whole, valid batches with dense offsets; bytes below
 *      the hwm never change while the segment lives (readers rely on it).
 *   4. Every segment but the active one and the pending_rolls just before it is synced; a
 *      roll syncs nothing (it runs on the append path), the next flush syncs those, and the
 *      recovery point never passes a segment that is not synced.
 *   5. err != 0 means no append is accepted and no durable offset advances.
 */
#include "io/sys.h"
#include "store/log_int.h"
#include "store/batch.h"
#include "store/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* zcq_log_flush_epoch(): moved whenever a log may have become due for a flush that only a timer
 * would start (see flush_wanted()). */
static atomic_uint_fast64_t flush_epoch;

uint64_t zcq_log_flush_epoch(void)
{
    return atomic_load_explicit(&flush_epoch, memory_order_acquire);
}

static void flush_epoch_move(void)
{
    atomic_fetch_add_explicit(&flush_epoch, 1, memory_order_acq_rel);
}

const char *zcq_log_strerror(int err)
{
    switch (err) {
    case ZCQ_LOG_EOUTOFRANGE:
        return "offset out of range";
    case ZCQ_LOG_ETOOLARGE:
        return "batch larger than max.message.bytes or a segment";
    default:
        if (err <= -30000)
            return zcq_batch_strerror(err);
        return strerror(-err);
    }
}

void zcq__seg_path(const struct zcq_log *log, int64_t base, const char *ext, char *out, size_t len)
{
    snprintf(out, len, "%s/%020" PRId64 ".%s", log->dir, base, ext);
}

int zcq__seg_open(struct zcq_log *log, int64_t base, bool create, struct zcq_segment **out)
{
    struct zcq_segment *s = calloc(1, sizeof(*s));
    char path[4200];
    int flags = O_RDWR | O_CLOEXEC, rc;

    *out = NULL;
    if (!s)
        return -ENOMEM;
    s->base = s->next = base;
    s->max_ts = -1;
    s->created_ms = -1;
    s->refs = 1;
    s->fd = -1;
    s->file_id = (log->id << 40) ^ (uint64_t)base;
    if (create)
        flags |= O_CREAT | O_EXCL;
    if (log->cfg.io_mode == ZCQ_IO_DIRECT)
        flags |= O_DIRECT;
    zcq__seg_path(log, base, "log", path, sizeof(path));
    s->fd = open(path, flags, 0644);
    if (s->fd < 0) {
        rc = -errno;
        goto fail;
    }
    /* A missing index on reopen is recreated empty; recovery rebuilds it (derived data).
     * New segments get preallocated indexes; reopened ones are mapped as they are, and the
     * log preallocates the active one's once loaded. */
    zcq__seg_path(log, base, "index", path, sizeof(path));
    rc = zcq_index_open(&s->oix, path, ZCQ_OFFSET_ENTRY, (size_t)log->cfg.index_max_bytes,
                        create ? ZCQ_INDEX_CREATE | ZCQ_INDEX_PREALLOC : 0);
    if (rc == -ENOENT && !create)
        rc = zcq_index_open(&s->oix, path, ZCQ_OFFSET_ENTRY, (size_t)log->cfg.index_max_bytes,
                            ZCQ_INDEX_CREATE);
    if (rc < 0)
        goto fail;
    zcq__seg_path(log, base, "timeindex", path, sizeof(path));
    rc = zcq_index_open(&s->tix, path, ZCQ_TIME_ENTRY, (size_t)log->cfg.index_max_bytes,
                        create ? ZCQ_INDEX_CREATE | ZCQ_INDEX_PREALLOC : 0);
    if (rc == -ENOENT && !create)
        rc = zcq_index_open(&s->tix, path, ZCQ_TIME_ENTRY, (size_t)log->cfg.index_max_bytes,
                            ZCQ_INDEX_CREATE);
    if (rc < 0)
        goto fail;
    *out = s;
    return 0;

fail:
    zcq_index_close(&s->oix, NULL, false);
    if (s->fd >= 0)
        close(s->fd);
    if (create) {
        zcq__seg_path(log, base, "log", path, sizeof(path));
        unlink(path);
        zcq__seg_path(log, base, "index", path, sizeof(path));
        unlink(path);
    }
    free(s);
    return rc;
}

static void seg_close(struct zcq_log *log, struct zcq_segment *s)
{
    zcq_index_close(&s->oix, NULL, false);
    zcq_index_close(&s->tix, NULL, false);
    if (log->cache)
        zcq_bcache_forget(log->cache, s->file_id, 0);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

void zcq__seg_unref(struct zcq_log *log, struct zcq_segment *s)
{
    char path[4200];

    if (--s->refs)
        return;
    seg_close(log, s);
    if (s->gone) {
        static const char *const ext[] = {"log.deleted", "index.deleted", "timeindex.deleted"};

        for (int i = 0; i < 3; i++) {
            zcq__seg_path(log, s->base, ext[i], path, sizeof(path));
            unlink(path);
        }
    }
    free(s);
}

ssize_t zcq__seg_read(struct zcq_log *log, struct zcq_segment *s, void *buf, size_t len,
                      int64_t pos, unsigned flags)
{
    size_t done = 0;

    if (!log->cache) {
        while (done < len) {
            struct iovec iov = {(char *)buf + done, len - done};
            ssize_t r = preadv2(s->fd, &iov, 1, pos + (off_t)done,
                                (flags & ZCQ_READ_NOWAIT) ? RWF_NOWAIT : 0);

            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno == EOPNOTSUPP && (flags & ZCQ_READ_NOWAIT)) {
                flags &= ~ZCQ_READ_NOWAIT; /* this filesystem cannot tell: just read */
                continue;
            }
            if (r < 0)
                return errno == EAGAIN ? -EAGAIN : -errno;
            if (r == 0)
                break;
            done += (size_t)r;
        }
        return (ssize_t)done;
    }
    while (done < len) {
        size_t bs = zcq_bcache_block_size(log->cache);
        uint64_t at = (uint64_t)pos + done;
        struct zcq_bblock *b;
        size_t in, n, valid;
        int rc = (flags & ZCQ_READ_NOWAIT)
                     ? zcq_bcache_peek(log->cache, s->file_id, at / bs, &b)
                     : zcq_bcache_get(log->cache, s->file_id, s->fd, at / bs, &b);

        if (rc < 0)
            return done && rc != -EAGAIN ? (ssize_t)done : rc;
        in = at % bs;
        valid = b->valid;
        n = valid > in ? valid - in : 0;
        if (n > len - done)
            n = len - done;
        memcpy((char *)buf + done, (char *)b->data + in, n);
        zcq_bcache_put(log->cache, b);
        done += n;
        if (n == 0 || (valid < bs && in + n >= valid))
            break; /* a short block: the end of the file */
    }
    return (ssize_t)done;
}

int zcq__seg_index_resize(struct zcq_log *log, struct zcq_segment *s, bool prealloc)
{
    char path[4200];
    int rc;

    zcq__seg_path(log, s->base, "index", path, sizeof(path));
    rc = zcq_index_resize(&s->oix, path, (size_t)log->cfg.index_max_bytes, prealloc);
    if (rc < 0)
        return rc;
    zcq__seg_path(log, s->base, "timeindex", path, sizeof(path));
    return zcq_index_resize(&s->tix, path, (size_t)log->cfg.index_max_bytes, prealloc);
}

/* Whether the next batch appended to s gets index entries (the first batch, then one every
 * index.interval.bytes, as Kafka does). */
static bool index_due(const struct zcq_log *log, const struct zcq_segment *s)
{
    return s->since_index >= log->cfg.index_interval_bytes || s->oix.entries == 0;
}

int zcq__seg_index_reserve(struct zcq_log *log, struct zcq_segment *s)
{
    char path[4200];
    int rc;

    if (!index_due(log, s))
        return 0;
    /* A full index (at segment.index.bytes) is not grown: the append rolls first. */
    if (!zcq_index_room(&s->oix) && !zcq_index_full(&s->oix)) {
        zcq__seg_path(log, s->base, "index", path, sizeof(path));
        rc = zcq_index_grow(&s->oix, path);
        if (rc < 0)
            return rc;
    }
    if (!zcq_index_room(&s->tix) && !zcq_index_full(&s->tix)) {
        zcq__seg_path(log, s->base, "timeindex", path, sizeof(path));
        rc = zcq_index_grow(&s->tix, path);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int zcq__seg_index_sync(struct zcq_log *log, struct zcq_segment *s)
{
    static const char *const ext[] = {"index", "timeindex"};
    char path[4200];

    for (int i = 0; i < 2; i++) {
        int rc;

        zcq__seg_path(log, s->base, ext[i], path, sizeof(path));
        rc = zcq_index_sync(path);
        if (rc < 0 && rc != -ENOENT)
            return rc;
    }
    return 0;
}

int zcq__log_dir_open(const struct zcq_log *log)
{
    int fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    return fd < 0 ? -errno : fd;
}

void zcq__seg_index_batch(struct zcq_log *log, struct zcq_segment *s, int64_t pos,
                          int64_t base_offset, int64_t max_ts, size_t len)
{
    /* A time entry (T, rel) says every batch up to rel has maxTimestamp <= T, so a lookup for
     * ts may start scanning at the last entry with T < ts. The room was made by
     * zcq__seg_index_reserve(). */
    int64_t so_far = max_ts > s->max_ts ? max_ts : s->max_ts;

    if (index_due(log, s) && zcq_index_room(&s->oix) && zcq_index_room(&s->tix)) {
        uint32_t rel = (uint32_t)(base_offset - s->base);
        int64_t last_ts = INT64_MIN;
        uint32_t last_rel;

        zcq_index_add_offset(&s->oix, rel, (uint32_t)pos);
        if (s->tix.entries)
            zcq_index_time_at(&s->tix, s->tix.entries - 1, &last_ts, &last_rel);
        if (so_far > last_ts)
            zcq_index_add_time(&s->tix, so_far, rel);
        s->since_index = 0;
    }
    s->since_index += (int64_t)len;
    s->max_ts = so_far;
}

/* --- Append ---------------------------------------------------------------------------- */

/* Create the next segment at leo and make it active. No sync happens here, since appends
 * (and so rolls) run on the broker's event loops: the old segment, both its indexes and the
 * directory entry of the new one are synced by the next zcq_log_flush (pending_rolls says one
 * is due; zcq_log_maybe_flush and the append result tell owners), which then moves the
 * recovery point. Caller holds mu. */
static int roll_locked(struct zcq_log *log, int64_t now_ms)
{
    struct zcq_segment *old = zcq__active(log), *s;
    int rc;

    if (old->size == 0)
        return 0; /* nothing to roll away from */
    /* Direct mode: every write behind must be done; and it wrote whole pages, so cut the zero
     * slack (and the space reserved ahead) for the file to end at its last batch, as every
     * rolled segment must. */
    if (log->cache && (zcq__dio_drain(log) < 0 || zcq_sys.ftruncate(old->fd, old->size) < 0)) {
        log->err = -EIO;
        return log->err;
    }
    if (log->nseg == log->capseg) {
        int cap = log->capseg ? log->capseg * 2 : 16;
        struct zcq_segment **n = realloc(log->segs, sizeof(*n) * (size_t)cap);

        if (!n)
            return -ENOMEM;
        log->segs = n;
        log->capseg = cap;
    }
    rc = zcq__seg_open(log, log->leo, true, &s);
    if (rc < 0)
        return rc; /* ENOSPC here is not sticky: nothing was written */
    /* The old index is complete: trim it so a reopen knows its entry count. */
    (void)zcq__seg_index_resize(log, old, false);
    s->created_ms = now_ms;
    log->segs[log->nseg++] = s;
    old->synced_all = false;
    log->pending_rolls++;
    flush_epoch_move();
    if (log->cache)
        zcq__dio_reset(log, s, 0);
    return 0;
}

int zcq_log_roll(struct zcq_log *log, int64_t now_ms)
{
    int rc;

    pthread_mutex_lock(&log->mu);
    rc = log->err ? log->err : roll_locked(log, now_ms);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

int zcq_log_append(struct zcq_log *log, void *batch, size_t len, int32_t leader_epoch,
                   int64_t now_ms, unsigned flags, struct zcq_append_result *res)
{
    struct zcq_batch_info bi;
    struct zcq_segment *s;
    int64_t base, pos;
    bool sync_now = false;
    int rc;

    /* Validation needs no lock: it reads only the caller's bytes. */
    if ((int64_t)len > log->cfg.max_message_bytes || (int64_t)len > log->cfg.segment_bytes)
        return ZCQ_LOG_ETOOLARGE;
    rc = zcq_batch_validate(batch, len, &bi);
    if (rc < 0)
        return rc;

    pthread_mutex_lock(&log->mu);
    if (log->err) {
        rc = log->err;
        goto out;
    }
    s = zcq__active(log);
    if (s->size > 0 && (s->size + (int64_t)len > log->cfg.segment_bytes ||
                        (s->created_ms >= 0 && now_ms - s->created_ms >= log->cfg.segment_ms) ||
                        zcq_index_full(&s->oix) || zcq_index_full(&s->tix) ||
                        log->leo + bi.last_offset_delta - s->base > INT32_MAX)) {
        rc = roll_locked(log, now_ms);
        if (rc < 0)
            goto out;
        s = zcq__active(log);
    }
    /* The index's room before the batch: a full disk must fail the append with nothing
     * written, never leave a batch without the index entry lookups rely on. */
    rc = zcq__seg_index_reserve(log, s);
    if (rc < 0)
        goto out; /* not sticky: nothing was written */
    base = log->leo;
    pos = s->size;
    zcq_batch_assign(batch, base, leader_epoch);

    if (log->cache) {
        /* Written behind (dio.c): a failure now is a full disk (nothing written) or the
         * sticky error of an earlier write. */
        rc = zcq__dio_append(log, s, batch, len);
        if (rc < 0) {
            if (rc != -ENOSPC && rc != -EDQUOT)
                log->err = -EIO;
            goto out;
        }
    } else {
        size_t done = 0;

        while (done < len) {
            ssize_t w = zcq_sys.pwrite(s->fd, (char *)batch + done, len - done, pos + (off_t)done);

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = w < 0 ? -errno : -EIO;
                break;
            }
            done += (size_t)w;
        }
        if (rc < 0) {
            /* Cut the partial batch back so the log stays whole. If that fails the file holds
             * garbage we cannot remove: stop accepting appends (recovery will cut it). */
            if (zcq_sys.ftruncate(s->fd, pos) < 0)
                log->err = -EIO;
            else if (rc != -ENOSPC && rc != -EDQUOT)
                log->err = -EIO;
            goto out;
        }
    }
    if (s->created_ms < 0)
        s->created_ms = now_ms;
    zcq__seg_index_batch(log, s, pos, base, bi.max_timestamp, len);
    s->size += (int64_t)len;
    s->next = base + bi.last_offset_delta + 1;
    log->leo = s->next;
    if (!zcq_log_config_sync_each(&log->cfg)) {
        log->hwm = log->leo;
        log->hwm_seg = s;
        log->hwm_pos = s->size;
    }
    if (log->oldest_unflushed_ms < 0) {
        log->oldest_unflushed_ms = now_ms;
        if (log->cfg.flush_ms != INT64_MAX)
            flush_epoch_move(); /* flush.ms now runs for this log */
    }
    log->unflushed_msgs += bi.record_count;
    /* Decided under the mutex: another appender may reset the count as soon as it is free. */
    sync_now =
        zcq_log_config_sync_each(&log->cfg) || log->unflushed_msgs >= log->cfg.flush_messages;
    if (res) {
        res->base_offset = base;
        res->last_offset = s->next - 1;
        res->log_append_time = now_ms;
        res->synced = false;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&log->mu);
    if (rc == 0 && !(flags & ZCQ_APPEND_NOSYNC) && sync_now) {
        rc = zcq_log_flush(log);
        if (rc == 0 && res)
            res->synced = true;
    } else if (rc == 0 && !(flags & ZCQ_APPEND_NOSYNC)) {
        rc = zcq_log_maybe_flush(log, now_ms);
    }
    return rc;
}

/* --- Flush (group commit) -------------------------------------------------------------- */

int zcq_log_flush(struct zcq_log *log)
{
    return zcq_log_flush_upto(log, -1);
}

/* Open what the syncs of a flush with rolled segments need: each rolled segment's two index
 * files (fds[2 * i], fds[2 * i + 1]; -1 for a file gone with its segment) and the directory.
 * Done before any sync, so that failing here (out of descriptors) syncs nothing and is not
 * sticky. Returns 0 or -errno, with every descriptor closed on failure. */
static int open_for_sync(struct zcq_log *log, struct zcq_segment **rolled, int nrolled, int *fds,
                         int *dirfd)
{
    static const char *const ext[] = {"index", "timeindex"};
    char path[4200];
    int rc = 0, n = 0;

    for (; n < 2 * nrolled && rc == 0; n++) {
        zcq__seg_path(log, rolled[n / 2]->base, ext[n % 2], path, sizeof(path));
        fds[n] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[n] < 0 && errno != ENOENT)
            rc = -errno;
    }
    if (rc == 0) {
        *dirfd = zcq__log_dir_open(log);
        rc = *dirfd < 0 ? *dirfd : 0;
    }
    if (rc < 0) {
        while (n-- > 0) {
            if (fds[n] >= 0)
                close(fds[n]);
        }
    }
    return rc;
}

int zcq_log_flush_upto(struct zcq_log *log, int64_t upto)
{
    struct zcq_segment *s, *one[4], **rolled = one;
    int64_t target, target_pos, rp = -1, saved_msgs, saved_oldest;
    int rc = 0, nrolled = 0, fd_one[8], *ixfd = fd_one, dirfd = -1;
    bool all = upto < 0;

    pthread_mutex_lock(&log->mu);
    target = all ? log->leo : upto;
    /* Another thread's sync may already cover us: wait for it rather than sync again. */
    while (log->syncing && !log->err && (log->durable < target || (all && log->pending_rolls)))
        pthread_cond_wait(&log->cv, &log->mu);
    if (log->err || (log->durable >= target && (!all || !log->pending_rolls))) {
        rc = log->err;
        pthread_mutex_unlock(&log->mu);
        return rc;
    }
    target = log->leo; /* cover everything appended so far, not just our own */
    s = zcq__active(log);
    target_pos = s->size;
    s->refs++;
    /* Rolled segments not synced yet: the pending_rolls just before the active one (a roll
     * syncs nothing, and each flush syncs every one pending). */
    if (log->pending_rolls > 4 &&
        (!(rolled = malloc(sizeof(*rolled) * (size_t)log->pending_rolls)) ||
         !(ixfd = malloc(sizeof(*ixfd) * 2 * (size_t)log->pending_rolls)))) {
        s->refs--;
        pthread_mutex_unlock(&log->mu);
        if (rolled != one)
            free(rolled);
        return -ENOMEM;
    }
    for (int i = log->nseg - 1 - log->pending_rolls; i < log->nseg - 1; i++) {
        rolled[nrolled++] = log->segs[i];
        log->segs[i]->refs++;
    }
    log->syncing = true;
    saved_msgs = log->unflushed_msgs;
    saved_oldest = log->oldest_unflushed_ms;
    log->unflushed_msgs = 0;
    log->oldest_unflushed_ms = -1;
    pthread_mutex_unlock(&log->mu);

    if (nrolled) {
        rc = open_for_sync(log, rolled, nrolled, ixfd, &dirfd);
        if (rc < 0) {
            /* Nothing synced, nothing failed: give the flush back for a later try. */
            pthread_mutex_lock(&log->mu);
            log->syncing = false;
            log->unflushed_msgs += saved_msgs;
            if (saved_oldest >= 0 &&
                (log->oldest_unflushed_ms < 0 || saved_oldest < log->oldest_unflushed_ms))
                log->oldest_unflushed_ms = saved_oldest;
            pthread_cond_broadcast(&log->cv);
            for (int i = 0; i < nrolled; i++)
                zcq__seg_unref(log, rolled[i]);
            zcq__seg_unref(log, s);
            pthread_mutex_unlock(&log->mu);
            flush_epoch_move(); /* still due: the owner's timer tries again */
            goto out;
        }
    }
    for (int i = 0; i < nrolled && rc == 0; i++) {
        if (zcq_sys.fdatasync(rolled[i]->fd) < 0 ||
            (ixfd[2 * i] >= 0 && zcq_sys.fdatasync(ixfd[2 * i]) < 0) ||
            (ixfd[2 * i + 1] >= 0 && zcq_sys.fdatasync(ixfd[2 * i + 1]) < 0))
            rc = -EIO;
    }
    for (int i = 0; i < 2 * nrolled; i++) {
        if (ixfd[i] >= 0)
            close(ixfd[i]);
    }
    /* The new segments' directory entries, before anything in them counts as durable. */
    if (rc == 0 && nrolled)
        rc = zcq_fsync_dir(dirfd);
    /* Direct mode: the bytes must have been written behind before a sync can cover them. */
    if (rc == 0 && log->cache)
        rc = zcq__dio_wait(log, s, target_pos);
    if (rc == 0)
        rc = zcq_sys.fdatasync(s->fd) < 0 ? -errno : 0;
    if (rc == 0 && nrolled) {
        /* Every segment before the first one still pending is now synced: the recovery point
         * moves there (the active segment's base once none is pending). */
        pthread_mutex_lock(&log->mu);
        for (int i = 0; i < nrolled; i++)
            rolled[i]->synced_all = true;
        zcq__recount_pending(log);
        rp = log->segs[log->nseg - 1 - log->pending_rolls]->base;
        pthread_mutex_unlock(&log->mu);
        {
            int64_t v[2] = {rp, zcq_log_start_offset(log)};

            if (zcq_checkpoint_write(dirfd, ZCQ_CHECKPOINT_FILE, v, 2) < 0)
                rp = -1; /* the older recovery point stays: always safe */
        }
    }

    pthread_mutex_lock(&log->mu);
    log->syncing = false;
    if (rc < 0) {
        /* Never retry: the kernel may have dropped the dirty pages and will not report the
         * error again (fsyncgate). Nothing past the durable offset is acknowledged. */
        log->err = -EIO;
        rc = log->err;
    } else if (!log->err) {
        if (rp > log->recovery_point)
            log->recovery_point = rp;
        if (log->durable < target)
            log->durable = target;
        if (zcq_log_config_sync_each(&log->cfg) && log->hwm < target) {
            log->hwm = target;
            log->hwm_seg = s;
            log->hwm_pos = target_pos;
        }
    } else {
        rc = log->err;
    }
    pthread_cond_broadcast(&log->cv);
    for (int i = 0; i < nrolled; i++)
        zcq__seg_unref(log, rolled[i]);
    zcq__seg_unref(log, s);
    pthread_mutex_unlock(&log->mu);
out:
    if (dirfd >= 0)
        close(dirfd);
    if (rolled != one)
        free(rolled);
    if (ixfd != fd_one)
        free(ixfd);
    return rc;
}

/* Whether a flush is due now or may become due with time alone, with no further append: a
 * rolled segment is unsynced, or flush.ms runs over unsynced appends (a flush.messages threshold
 * is met by an append, whose caller flushes). Caller holds mu. */
static bool flush_wanted(const struct zcq_log *log)
{
    return !log->err && (log->pending_rolls > 0 ||
                         (log->durable < log->leo &&
                          (log->unflushed_msgs >= log->cfg.flush_messages ||
                           (log->oldest_unflushed_ms >= 0 && log->cfg.flush_ms != INT64_MAX))));
}

bool zcq_log_flush_pending(struct zcq_log *log)
{
    bool wanted;

    pthread_mutex_lock(&log->mu);
    wanted = flush_wanted(log);
    pthread_mutex_unlock(&log->mu);
    return wanted;
}

bool zcq_log_flush_due(struct zcq_log *log, int64_t now_ms)
{
    bool due;

    pthread_mutex_lock(&log->mu);
    /* A rolled segment is synced soon whatever the policy (as Kafka flushes a segment when it
     * rolls, off the request path): the recovery point must keep up, or a crash would rescan
     * everything since. */
    due = !log->err && (log->pending_rolls > 0 ||
                        (log->durable < log->leo &&
                         (log->unflushed_msgs >= log->cfg.flush_messages ||
                          (log->oldest_unflushed_ms >= 0 && log->cfg.flush_ms != INT64_MAX &&
                           now_ms - log->oldest_unflushed_ms >= log->cfg.flush_ms))));
    pthread_mutex_unlock(&log->mu);
    return due;
}

int zcq_log_maybe_flush(struct zcq_log *log, int64_t now_ms)
{
    return zcq_log_flush_due(log, now_ms) ? zcq_log_flush(log) : 0;
}

/* --- Reads ----------------------------------------------------------------------------- */

/* The last segment whose base <= offset. Caller holds mu; offset >= start. */
static int seg_for(struct zcq_log *log, int64_t offset)
{
    int lo = 0, hi = log->nseg - 1;

    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;

        if (log->segs[mid]->base <= offset)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* The most locate() reads at once; the default index.interval.bytes (4096) plus a header fits. */
#define LOCATE_WINDOW 8192

/* Where a scan for offset in s starts: the index entry at or before it. The index lives in a
 * mapping a roll replaces, so this part runs under mu; the scan (I/O) does not. */
struct scan_start {
    int64_t pos;
    bool exact; /* the entry is the batch itself (large batches): its header is enough */
};

static struct scan_start scan_start(struct zcq_segment *s, int64_t offset)
{
    uint32_t found, rel = (uint32_t)(offset - s->base);
    struct scan_start st;

    st.pos = zcq_index_lookup(&s->oix, rel, &found);
    st.exact = found == rel;
    return st;
}

/* Position of the batch containing offset in s, and that batch's size: a short scan of
 * headers from st, never past limit. Returns 0, or -ENOENT when offset is at or past limit.
 * Needs no lock: the caller holds a reference on s, and bytes below the hwm never change
 * (invariant 3), so readers never hold the log's mutex across a disk read, which would stall
 * appends to the partition (on an event loop) for as long.
 *
 * The scan reads the log in windows, not a header at a time: the batch sought starts less
 * than index.interval.bytes after the entry found, which with small batches is dozens of
 * headers, and one pread each made a lookup cost ~30 us on a 1M-batch log (docs/storage.md).
 * One window of interval + a header covers that distance in one read. */
static int locate(struct zcq_log *log, struct zcq_segment *s, struct scan_start st, int64_t offset,
                  int64_t limit, unsigned flags, int64_t *pos_out, int64_t *size_out,
                  int64_t *base_out)
{
    enum { H = 27 }; /* header bytes needed: up to lastOffsetDelta */
    int64_t pos = st.pos;
    int64_t wpos = 0, wlen = 0; /* w holds the file's bytes [wpos, wpos + wlen) */
    int64_t span = log->cfg.index_interval_bytes < LOCATE_WINDOW - H
                       ? log->cfg.index_interval_bytes + H
                       : LOCATE_WINDOW;
    unsigned char w[LOCATE_WINDOW];

    if (st.exact)
        span = H;
    while (pos < limit) {
        const unsigned char *h;
        int64_t sz, base, last;
        int32_t delta;

        if (pos + H > wpos + wlen) {
            int64_t want = limit - pos < span ? limit - pos : span;
            ssize_t r = want < H ? 0 : zcq__seg_read(log, s, w, (size_t)want, pos, flags);

            if (r < 0)
                return (int)r;
            if (r < H)
                return (flags & ZCQ_READ_NOWAIT) ? -EAGAIN : -EIO;
            wpos = pos;
            wlen = r;
            span = LOCATE_WINDOW; /* past the first window: the scan is a long one */
        }
        h = w + (pos - wpos);
        sz = zcq_batch_size(h, H);
        if (sz <= 0)
            return -EIO;
        memcpy(&base, h, 8);
        base = (int64_t)be64toh((uint64_t)base);
        memcpy(&delta, h + 23, 4);
        last = base + (int32_t)be32toh((uint32_t)delta);
        if (last >= offset) {
            *pos_out = pos;
            *size_out = sz;
            *base_out = base;
            return 0;
        }
        pos += sz;
    }
    return -ENOENT;
}

int zcq_log_read(struct zcq_log *log, int64_t offset, size_t max_bytes, struct zcq_log_slice *out)
{
    return zcq_log_read_flags(log, offset, max_bytes, 0, out);
}

int zcq_log_read_flags(struct zcq_log *log, int64_t offset, size_t max_bytes, unsigned flags,
                       struct zcq_log_slice *out)
{
    struct zcq_segment *s;
    struct scan_start st;
    int64_t pos, first, base, end, limit;
    int rc = 0, i;

    memset(out, 0, sizeof(*out));
    out->first_offset = offset;
    pthread_mutex_lock(&log->mu);
    if (offset < log->start || offset > log->hwm) {
        pthread_mutex_unlock(&log->mu);
        return ZCQ_LOG_EOUTOFRANGE;
    }
    if (offset == log->hwm) {
        pthread_mutex_unlock(&log->mu);
        return 0; /* nothing yet: an empty slice */
    }
    i = seg_for(log, offset);
    s = log->segs[i];
    /* Readers see bytes up to the hwm only (invariant 3 keeps them stable). */
    if (s == log->hwm_seg)
        limit = log->hwm_pos;
    else
        limit = s->base < log->hwm_seg->base ? s->size : 0;
    st = scan_start(s, offset);
    s->refs++;
    pthread_mutex_unlock(&log->mu);

    rc = locate(log, s, st, offset, limit, flags, &pos, &first, &base);
    if (rc == -ENOENT) {
        /* The offset is the next segment's first: an empty tail here. */
        struct zcq_segment *next = NULL;

        pthread_mutex_lock(&log->mu);
        zcq__seg_unref(log, s);
        for (int k = 0; k + 1 < log->nseg; k++) {
            if (log->segs[k] == s) {
                next = log->segs[k + 1];
                break;
            }
        }
        if (next && next->base <= log->hwm) {
            s = next;
            limit = s == log->hwm_seg ? log->hwm_pos : s->size;
            st = scan_start(s, offset);
            s->refs++;
        } else {
            s = NULL;
        }
        pthread_mutex_unlock(&log->mu);
        if (!s)
            return 0;
        rc = locate(log, s, st, offset, limit, flags, &pos, &first, &base);
    }
    if (rc < 0) {
        pthread_mutex_lock(&log->mu);
        zcq__seg_unref(log, s);
        pthread_mutex_unlock(&log->mu);
        return rc == -ENOENT ? 0 : rc;
    }
    /* Whole first batch, then up to max_bytes; the last batch may be cut (clients drop the
     * fragment, as with Kafka). */
    end = pos + ((int64_t)max_bytes > first ? (int64_t)max_bytes : first);
    if (end > limit)
        end = limit;
    out->first_offset = base;
    out->bytes = (uint64_t)(end - pos);
    out->seg = s; /* the reference taken above */
    if (!log->cache) {
        out->n = 1;
        out->c[0].fd = s->fd;
        out->c[0].pos = pos;
        out->c[0].len = (uint32_t)(end - pos);
    } else {
        size_t bs = zcq_bcache_block_size(log->cache);
        int64_t at = pos;

        while (at < end && out->n < ZCQ_LOG_SLICE_MAX) {
            struct zcq_bblock *b;
            size_t in = (size_t)at % bs, n;

            rc = (flags & ZCQ_READ_NOWAIT)
                     ? zcq_bcache_peek(log->cache, s->file_id, (uint64_t)at / bs, &b)
                     : zcq_bcache_get(log->cache, s->file_id, s->fd, (uint64_t)at / bs, &b);
            if (rc < 0)
                break;
            n = b->valid > in ? b->valid - in : 0;
            if ((int64_t)n > end - at)
                n = (size_t)(end - at);
            if (n == 0) {
                zcq_bcache_put(log->cache, b);
                rc = -EIO;
                break;
            }
            out->blocks[out->nblocks++] = b;
            out->c[out->n].fd = -1;
            out->c[out->n].pos = at;
            out->c[out->n].mem = (char *)b->data + in;
            out->c[out->n].len = (uint32_t)n;
            out->n++;
            at += (int64_t)n;
        }
        /* The first batch is always whole: a cache that cannot hold it right now (every
         * block pinned: -ENOBUFS, a transient condition) fails the read instead. */
        if (rc < 0 && at < pos + first) {
            zcq_log_slice_release(log, out);
            return rc;
        }
        rc = 0;
        out->bytes = (uint64_t)(at - pos);
    }
    return rc;
}

void zcq_log_slice_release(struct zcq_log *log, struct zcq_log_slice *s)
{
    for (unsigned i = 0; i < s->nblocks; i++)
        zcq_bcache_put(log->cache, s->blocks[i]);
    s->nblocks = 0;
    if (s->seg) {
        pthread_mutex_lock(&log->mu);
        zcq__seg_unref(log, s->seg);
        pthread_mutex_unlock(&log->mu);
        s->seg = NULL;
    }
    s->n = 0;
}

/* --- Offsets and lookups --------------------------------------------------------------- */

#define GETTER(name, field)                                                                        \
    int64_t name(struct zcq_log *log)                                                              \
    {                                                                                              \
        int64_t v;                                                                                 \
        pthread_mutex_lock(&log->mu);                                                              \
        v = log->field;                                                                            \
        pthread_mutex_unlock(&log->mu);                                                            \
        return v;                                                                                  \
    }
GETTER(zcq_log_start_offset, start)
GETTER(zcq_log_end_offset, leo)
GETTER(zcq_log_high_watermark, hwm)
GETTER(zcq_log_durable_offset, durable)

int zcq_log_error(struct zcq_log *log)
{
    int v;

    pthread_mutex_lock(&log->mu);
    v = log->err;
    pthread_mutex_unlock(&log->mu);
    return v;
}

const struct zcq_log_config *zcq_log_cfg(const struct zcq_log *log)
{
    return &log->cfg;
}

int zcq_log_segment_count(struct zcq_log *log)
{
    int v;

    pthread_mutex_lock(&log->mu);
    v = log->nseg;
    pthread_mutex_unlock(&log->mu);
    return v;
}

int64_t zcq_log_offset_for_time(struct zcq_log *log, int64_t ts)
{
    return zcq_log_offset_for_time2(log, ts, NULL);
}

int64_t zcq_log_offset_for_time2(struct zcq_log *log, int64_t ts, int64_t *found_ts)
{
    struct zcq_segment *s = NULL;
    int64_t result, pos = 0, limit = 0;
    int i;

    /* Find where to look under the mutex; read without it (see locate). */
    pthread_mutex_lock(&log->mu);
    result = log->leo;
    for (i = 0; i < log->nseg; i++) {
        if (log->segs[i]->max_ts >= ts)
            break;
    }
    if (i < log->nseg) {
        uint32_t rel, found;

        s = log->segs[i];
        rel = zcq_index_lookup_time(&s->tix, ts);
        pos = zcq_index_lookup(&s->oix, rel, &found);
        limit = s->size;
        s->refs++;
    }
    pthread_mutex_unlock(&log->mu);
    if (!s)
        return result;
    /* Scan batch headers from there for the first whose maxTimestamp reaches ts. */
    while (pos < limit) {
        unsigned char h[43];
        ssize_t r = zcq__seg_read(log, s, h, sizeof(h), pos, 0);
        int64_t sz, base, maxts;

        if (r < (ssize_t)sizeof(h)) {
            result = r < 0 ? r : -EIO;
            break;
        }
        sz = zcq_batch_size(h, sizeof(h));
        memcpy(&base, h, 8);
        memcpy(&maxts, h + 35, 8);
        maxts = (int64_t)be64toh((uint64_t)maxts);
        if (sz <= 0) {
            result = -EIO;
            break;
        }
        if (maxts >= ts) {
            result = (int64_t)be64toh((uint64_t)base);
            if (found_ts)
                *found_ts = maxts;
            break;
        }
        pos += sz;
    }
    pthread_mutex_lock(&log->mu);
    zcq__seg_unref(log, s);
    pthread_mutex_unlock(&log->mu);
    return result;
}

/* --- Retention and truncation ---------------------------------------------------------- */

void zcq__recount_pending(struct zcq_log *log)
{
    /* Segments deleted or truncated away are no longer pending; the active one never is. */
    int n = 0;

    while (n < log->nseg - 1 && !log->segs[log->nseg - 2 - n]->synced_all)
        n++;
    log->pending_rolls = n;
}

/* Remove the oldest segment (never the active one): rename its files to *.deleted, checkpoint
 * the new log start, and let the last reference unlink them; the caller syncs the directory
 * (dirfd) and holds mu. */
static int delete_oldest(struct zcq_log *log, int dirfd)
{
    static const char *const ext[] = {"log", "index", "timeindex"};
    struct zcq_segment *s = log->segs[0];
    char from[4200], to[4300];
    int64_t v[2];

    for (int i = 0; i < 3; i++) {
        zcq__seg_path(log, s->base, ext[i], from, sizeof(from));
        snprintf(to, sizeof(to), "%s.deleted", from);
        if (rename(from, to) < 0)
            return -errno;
    }
    s->gone = true;
    memmove(log->segs, log->segs + 1, sizeof(*log->segs) * (size_t)(log->nseg - 1));
    log->nseg--;
    zcq__recount_pending(log);
    log->start = log->segs[0]->base;
    if (log->hwm_seg == s) {
        /* The hwm was this segment's end, which is the next one's start. */
        log->hwm_seg = log->segs[0];
        log->hwm_pos = 0;
    }
    v[0] = log->recovery_point;
    v[1] = log->start;
    (void)zcq_checkpoint_write(dirfd, ZCQ_CHECKPOINT_FILE, v, 2);
    zcq__seg_unref(log, s);
    return 0;
}

/* Delete the n oldest segments, which the caller (holding mu) found may go: one directory
 * open and one directory sync for all of them. Returns how many went, or -errno (those
 * deleted before a failure stay deleted). */
static int delete_front(struct zcq_log *log, int n)
{
    int deleted = 0, rc = 0, dirfd;

    if (n <= 0)
        return 0;
    dirfd = zcq__log_dir_open(log);
    if (dirfd < 0)
        return dirfd;
    while (deleted < n && (rc = delete_oldest(log, dirfd)) == 0)
        deleted++;
    if (deleted && rc == 0)
        rc = zcq_fsync_dir(dirfd);
    close(dirfd);
    return rc < 0 ? rc : deleted;
}

int zcq_log_retain(struct zcq_log *log, int64_t now_ms)
{
    int64_t total = 0;
    int n = 0, rc;

    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < log->nseg; i++)
        total += log->segs[i]->size;
    /* Never the active segment. */
    for (; n < log->nseg - 1; n++) {
        struct zcq_segment *s = log->segs[n];
        bool old = log->cfg.retention_ms >= 0 && s->max_ts >= 0 &&
                   s->max_ts < now_ms - log->cfg.retention_ms;
        bool big = log->cfg.retention_bytes >= 0 && total - s->size >= log->cfg.retention_bytes;

        /* A segment is deleted only once it is wholly below the hwm: never unread data. */
        if (!(old || big) || s->next > log->hwm)
            break;
        total -= s->size;
    }
    rc = delete_front(log, n);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

int zcq_log_delete_before(struct zcq_log *log, int64_t offset)
{
    int n = 0, rc;

    pthread_mutex_lock(&log->mu);
    /* Whole segments only, never the active one, never one with records at or past the hwm. */
    while (n < log->nseg - 1 && log->segs[n]->next <= offset && log->segs[n]->next <= log->hwm)
        n++;
    rc = delete_front(log, n);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

int zcq_log_truncate_to(struct zcq_log *log, int64_t offset)
{
    struct zcq_segment *s;
    int64_t pos, size, base;
    int rc = 0, i, dirfd = -1;

    pthread_mutex_lock(&log->mu);
    if (offset < log->start || offset > log->leo) {
        rc = -EINVAL;
        goto out;
    }
    if (offset == log->leo)
        goto out;
    if (log->cache && zcq__dio_drain(log) < 0) {
        log->err = -EIO;
        rc = log->err;
        goto out;
    }
    i = seg_for(log, offset);
    s = log->segs[i];
    rc = locate(log, s, scan_start(s, offset), offset, s->size, 0, &pos, &size, &base);
    if (rc < 0 || base != offset) {
        rc = -EINVAL; /* not a batch boundary */
        goto out;
    }
    dirfd = zcq__log_dir_open(log);
    if (dirfd < 0) {
        rc = dirfd; /* nothing changed yet */
        goto out;
    }
    /* Later segments go first, newest first, so a crash leaves a prefix. */
    while (log->nseg - 1 > i) {
        struct zcq_segment *t = log->segs[log->nseg - 1];
        static const char *const ext[] = {"log", "index", "timeindex"};
        char path[4200];

        for (int k = 0; k < 3; k++) {
            zcq__seg_path(log, t->base, ext[k], path, sizeof(path));
            unlink(path);
        }
        log->nseg--;
        if (log->hwm_seg == t)
            log->hwm_seg = s;
        zcq__seg_unref(log, t);
    }
    if (zcq_sys.ftruncate(s->fd, pos) < 0 || zcq_sys.fdatasync(s->fd) < 0) {
        log->err = -EIO;
        rc = log->err;
        goto out;
    }
    if (log->cache)
        zcq_bcache_forget(log->cache, s->file_id, (uint64_t)pos);
    zcq_index_truncate_offset(&s->oix, (uint32_t)(offset - s->base));
    zcq_index_truncate_time(&s->tix, (uint32_t)(offset - s->base));
    s->size = pos;
    s->next = offset;
    s->since_index = 0;
    zcq__recount_pending(log);
    if (log->cache)
        zcq__dio_reset(log, s, pos);
    log->leo = offset;
    if (log->hwm >= offset) {
        log->hwm = offset;
        log->hwm_seg = s;
        log->hwm_pos = pos;
    }
    if (log->durable > offset)
        log->durable = offset;
    if (log->recovery_point > offset) {
        int64_t v[2] = {offset, log->start};

        log->recovery_point = offset;
        (void)zcq_checkpoint_write(dirfd, ZCQ_CHECKPOINT_FILE, v, 2);
    }
    rc = zcq_fsync_dir(dirfd);
out:
    pthread_mutex_unlock(&log->mu);
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

/* --- Close ----------------------------------------------------------------------------- */

void zcq__log_free(struct zcq_log *log)
{
    if (log->cache)
        (void)zcq__dio_drain(log); /* no writer may still use the log */
    free(log->wb_blocks);
    for (int i = 0; i < log->nseg; i++)
        zcq__seg_unref(log, log->segs[i]);
    free(log->segs);
    if (log->cache)
        zcq__dio_cache_release();
    pthread_mutex_destroy(&log->mu);
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->wb_mu);
    pthread_cond_destroy(&log->wb_cv);
    free(log->dir);
    free(log);
}

void zcq_log_abandon(struct zcq_log *log)
{
    if (log)
        zcq__log_free(log);
}

int zcq_log_close(struct zcq_log *log)
{
    struct zcq_segment *s;
    char path[4200];
    int rc, dirfd = -1;

    if (!log)
        return 0;
    rc = zcq_log_flush(log);
    pthread_mutex_lock(&log->mu);
    s = zcq__active(log);
    if (!rc && log->err)
        rc = log->err;
    if (!rc && log->cache && zcq_sys.ftruncate(s->fd, s->size) < 0)
        rc = -errno; /* direct mode wrote whole blocks: cut the zero slack */
    if (!rc && log->cache && zcq_sys.fdatasync(s->fd) < 0)
        rc = -errno;
    if (!rc) {
        /* Trim the indexes (their size then gives their entry count), checkpoint, mark. A
         * rolled segment's were trimmed and synced when it rolled (or when open rebuilt them);
         * trimming them again cost a device flush each: 2-3 s to close 1,024 segments. Only
         * the active one, or one whose entries were cut since (truncation), needs it. */
        for (int i = 0; i < log->nseg && !rc; i++) {
            struct zcq_segment *g = log->segs[i];

            if (i + 1 < log->nseg && g->oix.map_bytes == (size_t)g->oix.entries * g->oix.entry &&
                g->tix.map_bytes == (size_t)g->tix.entries * g->tix.entry)
                continue;
            zcq__seg_path(log, g->base, "index", path, sizeof(path));
            rc = zcq_index_close(&g->oix, path, true);
            zcq__seg_path(log, g->base, "timeindex", path, sizeof(path));
            if (!rc)
                rc = zcq_index_close(&g->tix, path, true);
        }
    }
    if (!rc && (dirfd = zcq__log_dir_open(log)) < 0)
        rc = dirfd;
    /* The checkpoint's rename and the marker become durable with one directory sync (five
     * syncs a partition, not six: closing 10,000 partitions is mostly waiting for them). A
     * crash before it leaves no marker (an unclean open, which is safe); the marker is never
     * durable without the rename, and a clean open does not rely on the checkpoint anyway. */
    if (!rc) {
        int64_t v[2] = {log->leo, log->start};

        rc = zcq_checkpoint_stage(dirfd, ZCQ_CHECKPOINT_FILE, v, 2);
    }
    if (!rc) {
        int fd = openat(dirfd, ZCQ_CLEAN_FILE, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

        if (fd < 0 || zcq_sys.fsync(fd) < 0)
            rc = -errno;
        if (fd >= 0)
            close(fd);
        if (!rc)
            rc = zcq_fsync_dir(dirfd);
    }
    pthread_mutex_unlock(&log->mu);
    if (dirfd >= 0)
        close(dirfd);
    zcq__log_free(log);
    return rc;
}
