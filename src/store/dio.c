/*
 * Direct I/O mode of the partition log: the block cache every direct-mode log shares, and
 * appends written behind from that cache by a small pool of writer threads.
 *
 * Why write-behind: a synchronous O_DIRECT append adds its CPU work (validation, the copy into
 * aligned memory) to the device's time instead of overlapping it, and every small append costs
 * a device write. Here an append copies the batch into the cache blocks that will hold it
 * (once: the blocks are the write's source and what tail readers read), zero-pads the last
 * 4 KiB page, and returns; a writer writes the dirty pages behind it, one write per log at a
 * time, covering every append made meanwhile. docs/storage.md has the numbers.
 *
 * Invariants, for each direct-mode log (under log->wb_mu):
 *   1. The active segment's bytes [wb_done, wb_end) are in cache blocks, pinned in wb_blocks
 *      (consecutive from block wb_first), and not yet known to be on the device; wb_end is the
 *      segment's logical size. A write of some of them may be in flight (wb_busy).
 *   2. At most one write per log is in flight, and writes of a log complete in file order, so
 *      a page rewritten as it fills (the partial last page) ends up with its newest content.
 *   3. wb_busy <=> the log is in the writers' queue or being written.
 *   4. When wb_done == wb_end nothing is pinned, so idle logs hold no cache memory.
 *   5. wb_end - wb_done <= DIRTY_MAX (appends wait for the writers beyond it).
 * A write error sets wb_err, which the log turns into its sticky error: appends that already
 * returned are not durable (durability comes only from zcq_log_flush, which waits for the
 * writes and then syncs), and recovery decides at the next open. ENOSPC stays synchronous and
 * not sticky: the segment's space is reserved ahead of the appends with fallocate.
 *
 * The page holding the log's end is rewritten as it fills, and an append may copy into it while
 * a writer's O_DIRECT write of it is in flight (ThreadSanitizer reports that overlap with
 * pwritev): the bytes it changes are past what that write accounts for, and the log's next
 * write, issued only after this one completed, carries them (invariant 2). A crash between the
 * two leaves a torn batch past the last written end, which recovery cuts.
 *
 * Lock order: log->mu, then log->wb_mu, then the writers' queue lock; the cache's own mutex is
 * innermost. Writers never take log->mu, so a thread holding it may wait for them.
 */
#include "io/sys.h"
#include "store/log_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define BLOCK_SIZE   ((size_t)ZCQ_DIO_BLOCK)
#define DIRTY_MAX    ((int64_t)8 << 20)  /* per log: appends wait for the writers past this */
#define PREALLOC     ((int64_t)16 << 20) /* reserve segment space at most this far ahead */
#define WRITERS      2
#define STACK_BLOCKS 32

/* --- The shared cache and the writers ---------------------------------------------------- */

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct zcq_bcache *shared_cache;
static unsigned cache_users;

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
/* Dirty bytes of all logs, and their limit: half the cache, so that readers always find room
 * however many logs are appending (invariant 5 bounds one log; this bounds them all). */
static pthread_cond_t dirty_cv = PTHREAD_COND_INITIALIZER;
static int64_t q_dirty, q_dirty_limit;
static struct zcq_log *q_head, *q_tail;
static bool q_stop;
static pthread_t writers[WRITERS];
static int nwriters;

static void *writer_main(void *arg);

int zcq__dio_cache_acquire(size_t capacity, struct zcq_bcache **out)
{
    int rc = 0;

    pthread_mutex_lock(&cache_mu);
    if (!shared_cache) {
        rc = zcq_bcache_new(&shared_cache, capacity, BLOCK_SIZE);
        q_stop = false;
        q_dirty = 0;
        q_dirty_limit = (int64_t)(capacity / 2);
        for (nwriters = 0; rc == 0 && nwriters < WRITERS; nwriters++) {
            rc = -pthread_create(&writers[nwriters], NULL, writer_main, NULL);
            if (rc < 0)
                break;
        }
        if (rc < 0 && shared_cache) {
            pthread_mutex_lock(&q_mu);
            q_stop = true;
            pthread_cond_broadcast(&q_cv);
            pthread_mutex_unlock(&q_mu);
            while (nwriters > 0)
                pthread_join(writers[--nwriters], NULL);
            zcq_bcache_free(shared_cache);
            shared_cache = NULL;
        }
    }
    if (rc == 0) {
        cache_users++;
        *out = shared_cache;
    }
    pthread_mutex_unlock(&cache_mu);
    return rc;
}

void zcq__dio_cache_release(void)
{
    pthread_mutex_lock(&cache_mu);
    if (cache_users && --cache_users == 0) {
        /* Every log drained before releasing, so the queue is empty. */
        pthread_mutex_lock(&q_mu);
        q_stop = true;
        pthread_cond_broadcast(&q_cv);
        pthread_mutex_unlock(&q_mu);
        while (nwriters > 0)
            pthread_join(writers[--nwriters], NULL);
        zcq_bcache_free(shared_cache);
        shared_cache = NULL;
    }
    pthread_mutex_unlock(&cache_mu);
}

/* Dirty bytes written, dropped or never queued: release them from the global budget. */
static void dirty_sub(int64_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&q_mu);
    q_dirty -= n;
    pthread_cond_broadcast(&dirty_cv);
    pthread_mutex_unlock(&q_mu);
}

/* Caller holds log->wb_mu and has set wb_busy. */
static void enqueue(struct zcq_log *log)
{
    pthread_mutex_lock(&q_mu);
    log->wb_next = NULL;
    if (q_tail)
        q_tail->wb_next = log;
    else
        q_head = log;
    q_tail = log;
    pthread_cond_signal(&q_cv);
    pthread_mutex_unlock(&q_mu);
}

/* Write n iovecs at off, all of them: short writes resume where they stopped. 0 or -errno. */
static int pwritev_full(int fd, struct iovec *iov, int n, off_t off)
{
    while (n > 0) {
        ssize_t w = zcq_sys.pwritev(fd, iov, n, off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO;
        off += w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Unpin the first k blocks of the dirty list. Caller holds wb_mu. */
static void unpin_front(struct zcq_log *log, unsigned k)
{
    if (k == 0)
        return;
    for (unsigned i = 0; i < k; i++)
        zcq_bcache_put(log->cache, log->wb_blocks[i]);
    memmove(log->wb_blocks, log->wb_blocks + k, sizeof(*log->wb_blocks) * (log->wb_n - k));
    log->wb_n -= k;
    log->wb_first += k;
}

/* One write of everything dirty in log, then its bookkeeping (invariants 1-4). */
static void write_once(struct zcq_log *log)
{
    size_t bs = BLOCK_SIZE;
    struct iovec vstack[STACK_BLOCKS], *iov = vstack;
    int64_t from, to, target;
    unsigned n;
    int fd, rc;

    pthread_mutex_lock(&log->wb_mu);
    target = log->wb_end;
    from = log->wb_done & ~(int64_t)(ZCQ_DIO_ALIGN - 1);
    to = (target + ZCQ_DIO_ALIGN - 1) & ~(int64_t)(ZCQ_DIO_ALIGN - 1);
    n = log->wb_n;
    fd = log->wb_seg->fd;
    if (n > STACK_BLOCKS)
        iov = malloc(sizeof(*iov) * n);
    if (!iov) {
        rc = -ENOMEM;
        pthread_mutex_unlock(&log->wb_mu);
        goto done;
    }
    /* The blocks stay pinned (in the list) until this write is accounted for, and appends add
     * to the list's end only, so these pointers outlive the unlock below. */
    for (unsigned i = 0; i < n; i++) {
        int64_t bstart = (int64_t)((log->wb_first + i) * bs), bend = bstart + (int64_t)bs;
        int64_t a = from > bstart ? from : bstart, b = to < bend ? to : bend;

        iov[i].iov_base = (char *)log->wb_blocks[i]->data + (a - bstart);
        iov[i].iov_len = (size_t)(b - a);
    }
    pthread_mutex_unlock(&log->wb_mu);
    rc = pwritev_full(fd, iov, (int)n, from);
done:
    if (iov != vstack)
        free(iov);
    pthread_mutex_lock(&log->wb_mu);
    if (rc < 0) {
        log->wb_err = -EIO;
    } else {
        int64_t page = target & ~(int64_t)(ZCQ_DIO_ALIGN - 1);
        unsigned k = 0;

        dirty_sub(target - log->wb_done);
        log->wb_done = target;
        /* Keep the block holding the partial last page: the next write rewrites it. */
        while (k < log->wb_n && (int64_t)((log->wb_first + k + 1) * bs) <= page)
            k++;
        if (log->wb_done == log->wb_end)
            k = log->wb_n;
        unpin_front(log, k);
    }
    if (!log->wb_err && log->wb_end > log->wb_done) {
        enqueue(log); /* more came while writing: stay busy */
    } else {
        log->wb_busy = false;
    }
    pthread_cond_broadcast(&log->wb_cv);
    pthread_mutex_unlock(&log->wb_mu);
}

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&q_mu);
    for (;;) {
        struct zcq_log *log;

        while (!q_head && !q_stop)
            pthread_cond_wait(&q_cv, &q_mu);
        if (!q_head)
            break;
        log = q_head;
        q_head = log->wb_next;
        if (!q_head)
            q_tail = NULL;
        pthread_mutex_unlock(&q_mu);
        write_once(log);
        pthread_mutex_lock(&q_mu);
    }
    pthread_mutex_unlock(&q_mu);
    return NULL;
}

/* --- Drain, wait, reset ---------------------------------------------------------------- */

int zcq__dio_drain(struct zcq_log *log)
{
    int rc;

    pthread_mutex_lock(&log->wb_mu);
    while (log->wb_busy)
        pthread_cond_wait(&log->wb_cv, &log->wb_mu);
    rc = log->wb_err;
    /* Idle: nothing pinned unless a write failed; drop what is left either way. */
    unpin_front(log, log->wb_n);
    dirty_sub(log->wb_end - log->wb_done);
    log->wb_done = log->wb_end;
    pthread_mutex_unlock(&log->wb_mu);
    return rc;
}

int zcq__dio_wait(struct zcq_log *log, struct zcq_segment *s, int64_t upto)
{
    int rc;

    pthread_mutex_lock(&log->wb_mu);
    while (log->wb_seg == s && log->wb_done < upto && !log->wb_err)
        pthread_cond_wait(&log->wb_cv, &log->wb_mu);
    rc = log->wb_err;
    pthread_mutex_unlock(&log->wb_mu);
    return rc;
}

void zcq__dio_reset(struct zcq_log *log, struct zcq_segment *s, int64_t alloc)
{
    pthread_mutex_lock(&log->wb_mu);
    unpin_front(log, log->wb_n);
    log->wb_seg = s;
    log->wb_done = log->wb_end = s->size;
    log->wb_first = (uint64_t)s->size / BLOCK_SIZE;
    log->wb_alloc = alloc;
    pthread_mutex_unlock(&log->wb_mu);
}

/* --- Appends --------------------------------------------------------------------------- */

/* The aligned buffer the fallback path composes a write in: one per thread (appends hold their
 * log's mutex, so a thread composes one write at a time), sized to the largest write so far. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

struct scratch {
    unsigned char *p;
    size_t cap;
};

static void scratch_free(void *v)
{
    struct scratch *sc = v;

    free(sc->p);
    free(sc);
}

static void scratch_init(void)
{
    (void)pthread_key_create(&scratch_key, scratch_free);
}

static unsigned char *scratch(size_t need)
{
    struct scratch *sc;

    pthread_once(&scratch_once, scratch_init);
    sc = pthread_getspecific(scratch_key);
    if (!sc) {
        sc = calloc(1, sizeof(*sc));
        if (!sc || pthread_setspecific(scratch_key, sc) != 0) {
            free(sc);
            return NULL;
        }
    }
    if (sc->cap < need) {
        void *p;

        if (posix_memalign(&p, ZCQ_DIO_ALIGN, need) != 0)
            return NULL;
        free(sc->p);
        sc->p = p;
        sc->cap = need;
    }
    return sc->p;
}

/* The fallback when the cache cannot pin the blocks (readers hold every one), after a drain:
 * compose the partial last page (read back from the device), the batch and zero padding in the
 * thread's aligned scratch buffer, write it synchronously, and update the blocks the cache
 * has. */
static int append_sync(struct zcq_log *log, struct zcq_segment *s, const void *p, size_t len)
{
    int64_t wstart = s->size & ~(int64_t)(ZCQ_DIO_ALIGN - 1);
    size_t used = (size_t)(s->size - wstart);
    size_t wlen = (used + len + ZCQ_DIO_ALIGN - 1) & ~(size_t)(ZCQ_DIO_ALIGN - 1);
    unsigned char *buf = scratch(wlen);
    struct iovec iov;
    int rc;

    if (!buf)
        return -ENOMEM;
    if (used) {
        ssize_t r;

        do {
            r = pread(s->fd, buf, ZCQ_DIO_ALIGN, wstart);
        } while (r < 0 && errno == EINTR);
        if (r < 0)
            return -errno;
        if ((size_t)r < used)
            return -EIO;
    }
    memcpy(buf + used, p, len);
    memset(buf + used + len, 0, wlen - used - len);
    iov.iov_base = buf;
    iov.iov_len = wlen;
    rc = pwritev_full(s->fd, &iov, 1, wstart);
    if (rc < 0) {
        /* Cut the partial write back; if that fails the caller stops the log (sticky). */
        zcq_bcache_forget(log->cache, s->file_id, (uint64_t)s->size);
        return zcq_sys.ftruncate(s->fd, s->size) < 0 ? -EIO : rc;
    }
    zcq_bcache_write(log->cache, s->file_id, (uint64_t)s->size, p, len, 1);
    pthread_mutex_lock(&log->wb_mu);
    log->wb_done = log->wb_end = s->size + (int64_t)len;
    log->wb_first = (uint64_t)log->wb_end / BLOCK_SIZE;
    pthread_mutex_unlock(&log->wb_mu);
    return 0;
}

/* Reserve the segment's space through end, so that a full disk fails this append now (not a
 * background write later) and the writes need no block allocation. Ahead of end by as much as
 * the segment holds, from a block up to PREALLOC: a busy segment reserves 16 MiB at a time (few
 * fallocates), and a partition with a few records 64 KiB, where a fixed 16 MiB made every
 * direct-mode partition take 16 MiB of disk (160 GB for 10,000 partitions). */
static int reserve(struct zcq_log *log, struct zcq_segment *s, int64_t end)
{
    int64_t want, ahead = end < (int64_t)BLOCK_SIZE ? (int64_t)BLOCK_SIZE : end;

    if (end <= log->wb_alloc)
        return 0;
    if (ahead > PREALLOC)
        ahead = PREALLOC;
    want = (end + ahead + (int64_t)BLOCK_SIZE - 1) / (int64_t)BLOCK_SIZE * (int64_t)BLOCK_SIZE;
    if (want > log->cfg.segment_bytes + (int64_t)ZCQ_DIO_ALIGN)
        want = end;
    if (fallocate(s->fd, FALLOC_FL_KEEP_SIZE, log->wb_alloc, want - log->wb_alloc) < 0) {
        if (errno != EOPNOTSUPP && errno != ENOSYS)
            return -errno;
        /* Nothing to reserve with: a full disk shows up as a write error (sticky). */
        want = INT64_MAX;
    }
    log->wb_alloc = want;
    return 0;
}

int zcq__dio_append(struct zcq_log *log, struct zcq_segment *s, const void *p, size_t len)
{
    size_t bs = BLOCK_SIZE;
    int64_t pos = s->size, end = pos + (int64_t)len;
    int64_t wend = (end + ZCQ_DIO_ALIGN - 1) & ~(int64_t)(ZCQ_DIO_ALIGN - 1);
    uint64_t first = (uint64_t)(pos & ~(int64_t)(ZCQ_DIO_ALIGN - 1)) / bs;
    uint64_t last = (uint64_t)(wend - 1) / bs;
    size_t n = (size_t)(last - first + 1), got = 0;
    struct zcq_bblock *bstack[STACK_BLOCKS], **b = bstack;
    int rc;

    rc = reserve(log, s, wend);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&log->wb_mu);
    while (log->wb_end - log->wb_done > DIRTY_MAX && !log->wb_err)
        pthread_cond_wait(&log->wb_cv, &log->wb_mu);
    rc = log->wb_err;
    pthread_mutex_unlock(&log->wb_mu);
    if (rc < 0)
        return rc;
    /* Past the global limit, wait for any log's writes; a batch that alone exceeds it goes
     * when nothing else is dirty. */
    pthread_mutex_lock(&q_mu);
    while (q_dirty > 0 && q_dirty + (int64_t)len > q_dirty_limit)
        pthread_cond_wait(&dirty_cv, &q_mu);
    q_dirty += (int64_t)len;
    pthread_mutex_unlock(&q_mu);
    if (n > STACK_BLOCKS && !(b = malloc(sizeof(*b) * n))) {
        dirty_sub((int64_t)len);
        return -ENOMEM;
    }

    /* Pin every block the batch touches, with pins of our own: a writer may drop the dirty
     * list's pins at any moment. A block starting below pos holds earlier bytes, which the
     * cache reads back from the device if it lost them (written, so not dirty: dirty blocks
     * are pinned, and never lost). */
    for (; got < n; got++) {
        int64_t bstart = (int64_t)((first + got) * bs);

        rc = zcq_bcache_get_for_write(log->cache, s->file_id, s->fd, first + got, bstart < pos,
                                      &b[got]);
        if (rc == 0 && bstart < pos && (int64_t)b[got]->valid < pos - bstart) {
            got++;
            rc = -EIO; /* the device holds less than the log wrote */
        }
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        for (size_t i = 0; i < got; i++)
            zcq_bcache_put(log->cache, b[i]);
        if (b != bstack)
            free(b);
        dirty_sub((int64_t)len);
        if (rc != -ENOBUFS)
            return rc;
        /* Every block is pinned (by readers, or by this log's own dirty blocks): wait for our
         * writes, then write synchronously from a scratch buffer. */
        rc = zcq__dio_drain(log);
        return rc < 0 ? rc : append_sync(log, s, p, len);
    }

    /* Copy the batch in and zero the rest of its last page. Every block holds some of
     * [pos, end): pos shares its block with its page's start, end - 1 with wend - 1. A writer
     * may be writing the page holding pos meanwhile; the bytes from pos on are not part of
     * what that write accounts for, and the next write rewrites the page (invariant 2). */
    for (size_t i = 0; i < n; i++) {
        int64_t bstart = (int64_t)((first + i) * bs), bend = bstart + (int64_t)bs;
        int64_t from = pos > bstart ? pos : bstart, to = end < bend ? end : bend;
        int64_t zto = wend < bend ? wend : bend;

        memcpy((char *)b[i]->data + (from - bstart), (const char *)p + (from - pos),
               (size_t)(to - from));
        memset((char *)b[i]->data + (to - bstart), 0, (size_t)(zto - to));
        zcq_bcache_extend(log->cache, b[i], (size_t)(to - bstart));
    }

    /* Hand the pins to the dirty list: blocks it has already keep its pin and drop ours. The
     * list and our blocks together are consecutive: the list starts at or before the page
     * holding wb_done <= pos and ends at or after first - 1. */
    pthread_mutex_lock(&log->wb_mu);
    if (log->wb_n == 0)
        log->wb_first = first;
    if (log->wb_first + log->wb_n < last + 1) {
        size_t need = (size_t)(last + 1 - log->wb_first);

        if (need > log->wb_cap) {
            size_t cap = log->wb_cap ? log->wb_cap : 8;
            struct zcq_bblock **nl;

            while (cap < need)
                cap *= 2;
            nl = realloc(log->wb_blocks, sizeof(*nl) * cap);
            if (!nl) {
                /* The bytes are in the cache but cannot be queued: fail as a write would. */
                log->wb_err = -ENOMEM;
                pthread_mutex_unlock(&log->wb_mu);
                for (size_t i = 0; i < n; i++)
                    zcq_bcache_put(log->cache, b[i]);
                if (b != bstack)
                    free(b);
                dirty_sub((int64_t)len);
                return -ENOMEM;
            }
            log->wb_blocks = nl;
            log->wb_cap = (unsigned)cap;
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t bno = first + i;

        if (bno < log->wb_first + log->wb_n) {
            zcq_bcache_put(log->cache, b[i]);
        } else {
            log->wb_blocks[log->wb_n++] = b[i];
        }
    }
    log->wb_seg = s;
    log->wb_end = end;
    if (!log->wb_busy) {
        log->wb_busy = true;
        enqueue(log);
    }
    pthread_mutex_unlock(&log->wb_mu);
    if (b != bstack)
        free(b);
    return 0;
}
