/*
 * Opening a partition log, and recovery (../shared/docs/reliability.md section 3):
 *
 *   1. Delete leftovers: *.tmp (an unfinished checkpoint), *.deleted (retention that did not
 *      finish), an index without its .log. Sync the directory.
 *   2. Read the recovery checkpoint (recovery point, log start); a missing or damaged one
 *      means recovery point 0: scan everything.
 *   3. Clean shutdown (marker present): trust the trimmed indexes after a cheap check, find
 *      the end of the last segment from its last index entry.
 *   4. Otherwise, segment by segment: below the recovery point, step over batch headers (and
 *      rebuild an index that fails its check); from the recovery point on, validate every
 *      batch (length, magic, CRC-32C, dense offsets). At the first bad batch: if it starts
 *      below the recovery point, that is corruption of acknowledged data, so fail with
 *      -EUCLEAN and cut nothing (only the derived index files may have been rebuilt); else cut the
 * segment there and delete every later segment (a torn tail).
 *   5. Sync the active segment (so everything kept is durable), write a fresh checkpoint,
 *      remove the clean marker and sync the directory before accepting appends.
 */
#include "io/sys.h"
#include "store/batch.h"
#include "store/checkpoint.h"
#include "store/log_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_uint_fast64_t next_log_id = 1;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The base offset of a segment file "<20 digits>.<ext>", or -1 when name is not one. */
static int64_t file_base(const char *name, const char *ext)
{
    char *end;
    int64_t base;

    if (!ends_with(name, ext) || strlen(name) != ZCQ_LOG_NAME_LEN + strlen(ext))
        return -1;
    errno = 0;
    base = strtoll(name, &end, 10);
    if (errno || end != name + ZCQ_LOG_NAME_LEN || base < 0)
        return -1;
    return base;
}

/* Step 1, and the list of segment bases; dirfd is the log's directory. */
static int list_dir(struct zcq_log *log, int dirfd, int64_t **bases, int *n)
{
    DIR *d = opendir(log->dir);
    struct dirent *e;
    int cap = 0, rc = 0;
    bool removed = false;

    *bases = NULL;
    *n = 0;
    if (!d)
        return -errno;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        int64_t base;

        if (ends_with(name, ".tmp") || ends_with(name, ".deleted")) {
            unlinkat(dirfd, name, 0);
            removed = true;
            continue;
        }
        base = file_base(name, ".log");
        if (base < 0)
            continue;
        if (*n == cap) {
            int64_t *nb;

            cap = cap ? cap * 2 : 16;
            nb = realloc(*bases, sizeof(*nb) * (size_t)cap);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            *bases = nb;
        }
        (*bases)[(*n)++] = base;
    }
    if (rc == 0 && *n)
        qsort(*bases, (size_t)*n, sizeof(**bases), cmp_i64);
    /* An index without its .log (a crash between the unlinks that delete a segment) would
     * make creating that segment again fail (indexes are created O_EXCL): remove it. */
    if (rc == 0) {
        rewinddir(d);
        while ((e = readdir(d))) {
            int64_t base = file_base(e->d_name, ".index");

            if (base < 0)
                base = file_base(e->d_name, ".timeindex");
            if (base >= 0 &&
                (*n == 0 || !bsearch(&base, *bases, (size_t)*n, sizeof(**bases), cmp_i64))) {
                unlinkat(dirfd, e->d_name, 0);
                removed = true;
            }
        }
    }
    closedir(d);
    if (rc == 0 && removed)
        rc = zcq_fsync_dir(dirfd);
    return rc;
}

/* Scan s from pos 0. Batches starting below `validate_from` (an offset) are only stepped over
 * (headers); from there on each is read whole and validated. Rebuilds both indexes. On a bad
 * batch sets *cut to its position and *cut_offset to the offset it should have had; returns
 * 0, or -errno for I/O errors. */
static int scan_segment(struct zcq_log *log, struct zcq_segment *s, int64_t file_size,
                        int64_t validate_from, struct zcq_log_open_info *info, int64_t *cut,
                        int64_t *cut_offset)
{
    unsigned char *buf = NULL;
    size_t cap = 0;
    int64_t pos = 0, expect = s->base;
    int rc = 0;

    *cut = -1;
    s->oix.entries = s->tix.entries = 0;
    s->max_ts = -1;
    s->since_index = 0;
    while (pos < file_size) {
        unsigned char h[ZCQ_BATCH_HEADER];
        struct zcq_batch_info bi;
        ssize_t r;
        int64_t sz;
        bool full = expect >= validate_from;

        r = zcq__seg_read(log, s, h, sizeof(h), pos, 0);
        if (r < 0) {
            rc = (int)r;
            break;
        }
        sz = zcq_batch_size(h, (size_t)r);
        if (r < (ssize_t)sizeof(h) || sz < ZCQ_BATCH_HEADER || sz > file_size - pos ||
            zcq_batch_decode(h, sizeof(h), &bi) < 0 || h[16] != 2 || bi.base_offset != expect ||
            bi.last_offset_delta < 0 || bi.last_offset_delta > INT32_MAX - (expect - s->base)) {
            *cut = pos;
            break;
        }
        if (full) {
            if ((size_t)sz > cap) {
                unsigned char *nb = realloc(buf, (size_t)sz);

                if (!nb) {
                    rc = -ENOMEM;
                    break;
                }
                buf = nb;
                cap = (size_t)sz;
            }
            r = zcq__seg_read(log, s, buf, (size_t)sz, pos, 0);
            if (r < 0) {
                rc = (int)r;
                break;
            }
            if (r < sz || zcq_batch_validate(buf, (size_t)sz, NULL) < 0) {
                *cut = pos;
                break;
            }
            info->scanned_bytes += sz;
        }
        rc = zcq__seg_index_reserve(log, s);
        if (rc < 0)
            break;
        zcq__seg_index_batch(log, s, pos, bi.base_offset, bi.max_timestamp, (size_t)sz);
        expect = bi.base_offset + bi.last_offset_delta + 1;
        pos += sz;
    }
    if (*cut >= 0)
        *cut_offset = expect;
    s->size = *cut >= 0 ? *cut : pos;
    s->next = expect;
    free(buf);
    info->indexes_rebuilt++;
    return rc;
}

/* Clean open of one segment: check the trimmed indexes, and find its end by stepping over the
 * batches after the last index entry, each of which must start at the offset the one before
 * ended (a damaged baseOffset would otherwise give a wrong end, and the next segment would
 * look like a gap to cut away). An index that fails its check or leads the step astray is
 * rebuilt by a header scan of the whole segment (indexes are derived data); only a bad batch
 * is -EUCLEAN. */
static int load_clean(struct zcq_log *log, struct zcq_segment *s, int64_t file_size,
                      struct zcq_log_open_info *info)
{
    uint32_t rel = 0, pos = 0;
    unsigned char h[ZCQ_BATCH_HEADER];
    int64_t expect, cut, cut_off;
    int rc;

    if ((file_size > 0 && s->oix.entries == 0) ||
        !zcq_index_check_offset(&s->oix, (uint64_t)file_size) || !zcq_index_check_time(&s->tix))
        goto rescan;
    s->size = file_size;
    s->max_ts = -1;
    if (s->tix.entries) {
        int64_t ts;

        zcq_index_time_at(&s->tix, s->tix.entries - 1, &ts, &rel);
        s->max_ts = ts;
    }
    /* Step over the batches after the last index entry (a short scan). */
    rel = 0;
    if (s->oix.entries)
        zcq_index_offset_at(&s->oix, s->oix.entries - 1, &rel, &pos);
    expect = s->base + rel;
    s->since_index = 0;
    while ((int64_t)pos < file_size) {
        struct zcq_batch_info bi;
        ssize_t r = zcq__seg_read(log, s, h, sizeof(h), pos, 0);
        int64_t sz;

        if (r < 0)
            return (int)r;
        sz = r == (ssize_t)sizeof(h) ? zcq_batch_size(h, sizeof(h)) : -1;
        if (sz < ZCQ_BATCH_HEADER || sz > file_size - (int64_t)pos ||
            zcq_batch_decode(h, sizeof(h), &bi) < 0 || h[16] != 2 || bi.base_offset != expect ||
            bi.last_offset_delta < 0 || bi.last_offset_delta > INT32_MAX - (expect - s->base))
            goto rescan;
        expect = bi.base_offset + bi.last_offset_delta + 1;
        if (bi.max_timestamp > s->max_ts)
            s->max_ts = bi.max_timestamp;
        s->since_index += sz;
        pos += (uint32_t)sz;
    }
    s->next = expect;
    return 0;

rescan:
    rc = zcq__seg_index_resize(log, s, true);
    if (rc == 0)
        rc = scan_segment(log, s, file_size, INT64_MAX, info, &cut, &cut_off);
    if (rc < 0)
        return rc;
    return cut >= 0 ? -EUCLEAN : 0;
}

static void delete_segment_files(struct zcq_log *log, int64_t base)
{
    static const char *const ext[] = {"log", "index", "timeindex"};
    char path[4200];

    for (int i = 0; i < 3; i++) {
        zcq__seg_path(log, base, ext[i], path, sizeof(path));
        unlink(path);
    }
}

int zcq_log_open(struct zcq_log **out, const char *dir, const struct zcq_log_config *cfg,
                 struct zcq_log_open_info *info_out)
{
    struct zcq_log_open_info info_local, *info = info_out ? info_out : &info_local;
    struct zcq_log *log = NULL;
    int64_t *bases = NULL, ckpt[2] = {0, 0}, rp = 0;
    int nbases = 0, rc, dirfd = -1; /* the directory, for this open only */
    bool clean, have_ckpt = false;

    *out = NULL;
    memset(info, 0, sizeof(*info));
    rc = zcq_log_config_check(cfg, info->why, sizeof(info->why));
    if (rc < 0)
        return rc;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(info->why, sizeof(info->why), "create %s: %s", dir, strerror(errno));
        return rc;
    }
    log = calloc(1, sizeof(*log));
    if (!log)
        return -ENOMEM;
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cv, NULL);
    pthread_mutex_init(&log->wb_mu, NULL);
    pthread_cond_init(&log->wb_cv, NULL);
    log->cfg = *cfg;
    log->oldest_unflushed_ms = -1;
    log->id = atomic_fetch_add(&next_log_id, 1);
    log->dir = strdup(dir);
    if (!log->dir) {
        rc = -ENOMEM;
        goto fail;
    }
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        rc = -errno;
        snprintf(info->why, sizeof(info->why), "open %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (cfg->io_mode == ZCQ_IO_DIRECT) {
        rc = zcq__dio_cache_acquire((size_t)cfg->direct_cache_bytes, &log->cache);
        if (rc < 0)
            goto fail;
    }
    rc = list_dir(log, dirfd, &bases, &nbases);
    if (rc < 0)
        goto fail;
    clean = faccessat(dirfd, ZCQ_CLEAN_FILE, F_OK, 0) == 0;
    info->clean = clean;
    if (zcq_checkpoint_read(dirfd, ZCQ_CHECKPOINT_FILE, ckpt, 2) == 2 && ckpt[0] >= 0) {
        rp = ckpt[0];
        have_ckpt = true;
    }

    if (nbases == 0) {
        /* A new log (or one whose every file is gone): start at the checkpointed start. */
        struct zcq_segment *s;

        log->capseg = 16;
        log->segs = calloc((size_t)log->capseg, sizeof(*log->segs));
        if (!log->segs) {
            rc = -ENOMEM;
            goto fail;
        }
        rc = zcq__seg_open(log, ckpt[1] > 0 ? ckpt[1] : 0, true, &s);
        if (rc < 0) {
            snprintf(info->why, sizeof(info->why), "create the first segment: %s", strerror(-rc));
            goto fail;
        }
        log->segs[log->nseg++] = s;
        rc = zcq_fsync_dir(dirfd);
        if (rc < 0)
            goto fail;
    } else {
        log->capseg = nbases + 16;
        log->segs = calloc((size_t)log->capseg, sizeof(*log->segs));
        if (!log->segs) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    for (int i = 0; i < nbases; i++) {
        struct zcq_segment *s;
        struct stat sb;
        int64_t cut = -1, cut_off = 0;

        rc = zcq__seg_open(log, bases[i], false, &s);
        if (rc < 0) {
            snprintf(info->why, sizeof(info->why), "open segment %020" PRId64 ": %s", bases[i],
                     strerror(-rc));
            goto fail;
        }
        log->segs[log->nseg++] = s;
        if (fstat(s->fd, &sb) < 0) {
            rc = -errno;
            goto fail;
        }
        if (i > 0 && log->segs[i - 1]->next != s->base) {
            /* A gap (or overlap) between segments: cut here, as for a torn tail, unless the
             * data was acknowledged. */
            cut = 0;
            cut_off = log->segs[i - 1]->next;
        } else if (clean) {
            rc = load_clean(log, s, sb.st_size, info);
            if (rc == -EUCLEAN) {
                snprintf(info->why, sizeof(info->why),
                         "segment %020" PRId64 " is damaged although the log was shut down "
                         "cleanly",
                         s->base);
                goto fail;
            }
        } else if (i + 1 < nbases && bases[i + 1] <= rp) {
            /* Wholly below the recovery point: flushed at its roll, trimmed index. A cheap
             * index check, a header scan if that fails; damage here is never cut away. */
            rc = load_clean(log, s, sb.st_size, info);
            if (rc == -EUCLEAN) {
                snprintf(info->why, sizeof(info->why),
                         "corruption below the recovery point in segment %020" PRId64
                         "; refusing to cut acknowledged data",
                         s->base);
                goto fail;
            }
        } else {
            rc = zcq__seg_index_resize(log, s, true);
            if (rc == 0)
                rc = scan_segment(log, s, sb.st_size, rp, info, &cut, &cut_off);
        }
        if (rc < 0)
            goto fail;
        if (cut >= 0) {
            if (cut_off < rp) {
                rc = -EUCLEAN;
                snprintf(info->why, sizeof(info->why),
                         "corruption below the recovery point: segment %020" PRId64
                         " is invalid at byte %" PRId64 " (offset %" PRId64
                         " < recovery point %" PRId64 "); refusing to cut acknowledged data",
                         s->base, cut, cut_off, rp);
                goto fail;
            }
            /* Direct mode leaves the zero slack of its last block after the last batch; that
             * is not data, so it is not reported as cut. */
            if (!(log->cache && sb.st_size % ZCQ_DIO_ALIGN == 0 &&
                  sb.st_size - cut < ZCQ_DIO_ALIGN && i == nbases - 1))
                info->truncated_bytes += sb.st_size - cut;
            if (zcq_sys.ftruncate(s->fd, cut) < 0 || zcq_sys.fdatasync(s->fd) < 0) {
                rc = -errno;
                goto fail;
            }
            if (cut == 0 && i > 0) {
                /* Nothing valid in this segment: drop it entirely. */
                log->nseg--;
                zcq__seg_unref(log, s);
                delete_segment_files(log, bases[i]);
                info->segments_deleted++;
            }
            for (int k = i + 1; k < nbases; k++) {
                struct stat kb;
                char path[4200];

                zcq__seg_path(log, bases[k], "log", path, sizeof(path));
                if (stat(path, &kb) == 0)
                    info->truncated_bytes += kb.st_size;
                delete_segment_files(log, bases[k]);
                info->segments_deleted++;
            }
            rc = zcq_fsync_dir(dirfd);
            if (rc < 0)
                goto fail;
            break;
        }
    }
    info->segments = log->nseg;

    {
        struct zcq_segment *a = zcq__active(log);

        log->start = log->segs[0]->base;
        log->leo = a->next;
        log->hwm = log->durable = log->leo;
        log->hwm_seg = a;
        log->hwm_pos = a->size;
        /* Rebuilt indexes of rolled segments are trimmed; the active one's preallocated. */
        for (int i = 0; i + 1 < log->nseg; i++) {
            struct zcq_segment *s = log->segs[i];

            if (s->oix.map_bytes > (size_t)s->oix.entries * ZCQ_OFFSET_ENTRY ||
                s->tix.map_bytes > (size_t)s->tix.entries * ZCQ_TIME_ENTRY) {
                rc = zcq__seg_index_resize(log, s, false);
                if (rc < 0)
                    goto fail;
            }
        }
        /* After a crash, what recovery scanned (from the recovery point on) may be in the page
         * cache only (a killed process leaves its writes there), and rolls no longer sync:
         * sync it, indexes too, before the recovery point moves past it below. Segments below
         * the recovery point were synced before it moved. */
        for (int i = 0; !clean && i < log->nseg; i++) {
            struct zcq_segment *s = log->segs[i];

            if (i + 1 < log->nseg && log->segs[i + 1]->base <= rp)
                continue;
            if (zcq_sys.fdatasync(s->fd) < 0 ||
                (i + 1 < log->nseg && zcq__seg_index_sync(log, s) < 0)) {
                rc = -EIO;
                goto fail;
            }
        }
        for (int i = 0; i + 1 < log->nseg; i++)
            log->segs[i]->synced_all = true;
        log->pending_rolls = 0;
        rc = zcq__seg_index_resize(log, a, true);
        if (rc < 0)
            goto fail;
        if (log->cache) {
            struct stat ab;

            if (fstat(a->fd, &ab) < 0) {
                rc = -errno;
                goto fail;
            }
            zcq__dio_reset(log, a, ab.st_size);
        }
    }
    {
        int64_t v[2] = {log->leo, log->start};

        /* Best effort: keeping the older (lower) recovery point is always safe, and a full
         * filesystem must not stop a log from opening to serve reads and free space. A clean
         * close left the very checkpoint this would write: writing it again cost two fsyncs per
         * partition at every start (and were the one read not durable yet, what the disk holds
         * is an older, lower one: safe too). A new, empty log needs none either: a missing
         * checkpoint reads as recovery point 0 and log start 0, which is what it would say. */
        if ((have_ckpt && ckpt[0] == v[0] && ckpt[1] == v[1]) ||
            (!have_ckpt && nbases == 0 && v[0] == 0 && v[1] == 0))
            log->recovery_point = log->leo;
        else if (zcq_checkpoint_write(dirfd, ZCQ_CHECKPOINT_FILE, v, 2) == 0)
            log->recovery_point = log->leo;
        else
            log->recovery_point = rp;
    }
    if (clean) {
        if (unlinkat(dirfd, ZCQ_CLEAN_FILE, 0) < 0) {
            rc = -errno;
            goto fail;
        }
        rc = zcq_fsync_dir(dirfd);
        if (rc < 0)
            goto fail;
    }
    free(bases);
    close(dirfd);
    *out = log;
    return 0;

fail:
    if (!info->why[0])
        snprintf(info->why, sizeof(info->why), "%s", strerror(-rc));
    free(bases);
    if (dirfd >= 0)
        close(dirfd);
    zcq__log_free(log);
    return rc;
}
