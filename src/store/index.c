/* Sparse mmap'd segment indexes; see index.h. */
#include "io/sys.h"
#include "store/index.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The first step of a preallocated index: one page, whole entries (at most max). */
static size_t first_step(uint32_t entry, size_t max)
{
    size_t step = 4096 / entry * entry;

    return step < max ? step : max;
}

/* Allocate the file to len bytes. Allocate, not just extend: a store into a hole of a full
 * filesystem would be a SIGBUS. */
static int allocate(int fd, size_t len)
{
    int rc = posix_fallocate(fd, 0, (off_t)len);

    if (rc == EOPNOTSUPP || rc == EINVAL)
        rc = zcq_sys.ftruncate(fd, (off_t)len) < 0 ? errno : 0;
    return -rc;
}

int zcq_index_open(struct zcq_index *ix, const char *path, uint32_t entry, size_t max_bytes,
                   unsigned flags)
{
    struct stat sb;
    size_t max = max_bytes / entry * entry, want;
    bool create = flags & ZCQ_INDEX_CREATE;
    int fd, rc;

    memset(ix, 0, sizeof(*ix));
    ix->entry = entry;
    if (max < entry)
        max = entry;
    fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &sb) < 0)
        goto fail_errno;
    ix->entries = (uint32_t)((size_t)sb.st_size / entry);
    if (ix->entries > max / entry)
        ix->entries = (uint32_t)(max / entry); /* longer than this configuration allows */
    if (flags & ZCQ_INDEX_PREALLOC) {
        /* What the file holds already (a preallocated index left by a crash, or a trimmed
         * one), in whole entries, else the first step; never past max. */
        want = (size_t)sb.st_size / entry * entry;
        if (want < first_step(entry, max))
            want = first_step(entry, max);
        if (want > max)
            want = max;
        if ((size_t)sb.st_size < want) {
            rc = allocate(fd, want);
            if (rc < 0) {
                errno = -rc;
                goto fail_errno;
            }
        }
        ix->max_bytes = max;
    } else {
        want = (size_t)ix->entries * entry;
        ix->max_bytes = want;
    }
    if (want) {
        ix->map = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (ix->map == MAP_FAILED) {
            ix->map = NULL;
            goto fail_errno;
        }
        /* Entries are added at the end and looked up by binary search: readahead around a
         * fault would only zero-fill unwritten extents (and a trimmed index is read whole at
         * open, where readahead helps: it keeps the default). */
        if (flags & ZCQ_INDEX_PREALLOC)
            (void)madvise(ix->map, want, MADV_RANDOM);
    }
    ix->map_bytes = want;
    close(fd);
    return 0;

fail_errno:
    rc = -errno;
    close(fd);
    if (create)
        unlink(path);
    return rc;
}

int zcq_index_grow(struct zcq_index *ix, const char *path)
{
    size_t want;
    void *m;
    int fd, rc;

    if (zcq_index_room(ix))
        return 0;
    if (zcq_index_full(ix) || !ix->map)
        return -ENOSPC;
    want = ix->map_bytes * 2 / ix->entry * ix->entry;
    if (want > ix->max_bytes)
        want = ix->max_bytes;
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    rc = allocate(fd, want);
    close(fd);
    if (rc < 0)
        return rc; /* a longer file with the old mapping is harmless: the next try reuses it */
    m = mremap(ix->map, ix->map_bytes, want, MREMAP_MAYMOVE);
    if (m == MAP_FAILED)
        return -errno;
    ix->map = m;
    ix->map_bytes = want;
    (void)madvise(ix->map, want, MADV_RANDOM);
    return 0;
}

/* Cut the file at path to ix's entries; sync it too with sync. */
static int trim_file(const struct zcq_index *ix, const char *path, bool sync)
{
    int fd = open(path, O_RDWR | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (zcq_sys.ftruncate(fd, (off_t)ix->entries * ix->entry) < 0)
        rc = -errno;
    if (rc == 0 && sync && zcq_sys.fdatasync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

static void unmap(struct zcq_index *ix)
{
    if (ix->map)
        munmap(ix->map, ix->map_bytes);
    ix->map = NULL;
    ix->map_bytes = 0;
}

int zcq_index_resize(struct zcq_index *ix, const char *path, size_t max_bytes, bool prealloc)
{
    uint32_t entries = ix->entries, entry = ix->entry;
    int rc = 0;

    unmap(ix);
    /* A trim does not sync: a roll trims on the append path, and the sync comes with the next
     * flush of the log (zcq_index_sync). An unsynced index is derived data: recovery checks it
     * and rebuilds it. */
    if (!prealloc)
        rc = trim_file(ix, path, false);
    if (rc < 0)
        return rc;
    rc = zcq_index_open(ix, path, entry, max_bytes, prealloc ? ZCQ_INDEX_PREALLOC : 0);
    if (rc < 0)
        return rc;
    if (entries < ix->entries || prealloc)
        ix->entries = entries;
    return 0;
}

int zcq_index_close(struct zcq_index *ix, const char *path, bool trim)
{
    unmap(ix);
    return trim ? trim_file(ix, path, true) : 0;
}

int zcq_index_sync(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (zcq_sys.fdatasync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

void zcq_index_add_offset(struct zcq_index *ix, uint32_t rel, uint32_t pos)
{
    uint32_t e[2] = {rel, pos};

    memcpy(ix->map + (size_t)ix->entries * ZCQ_OFFSET_ENTRY, e, sizeof(e));
    ix->entries++;
}

void zcq_index_add_time(struct zcq_index *ix, int64_t ts, uint32_t rel)
{
    unsigned char *p = ix->map + (size_t)ix->entries * ZCQ_TIME_ENTRY;

    memcpy(p, &ts, 8);
    memcpy(p + 8, &rel, 4);
    ix->entries++;
}

void zcq_index_offset_at(const struct zcq_index *ix, uint32_t i, uint32_t *rel, uint32_t *pos)
{
    uint32_t e[2];

    memcpy(e, ix->map + (size_t)i * ZCQ_OFFSET_ENTRY, sizeof(e));
    *rel = e[0];
    *pos = e[1];
}

void zcq_index_time_at(const struct zcq_index *ix, uint32_t i, int64_t *ts, uint32_t *rel)
{
    const unsigned char *p = ix->map + (size_t)i * ZCQ_TIME_ENTRY;

    memcpy(ts, p, 8);
    memcpy(rel, p + 8, 4);
}

uint32_t zcq_index_lookup(const struct zcq_index *ix, uint32_t rel, uint32_t *found_rel)
{
    uint32_t lo = 0, hi = ix->entries, r, pos;

    /* Invariant: entries [0, lo) have rel_offset <= rel, entries [hi, n) have more. */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        zcq_index_offset_at(ix, mid, &r, &pos);
        if (r <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) {
        *found_rel = 0;
        return 0;
    }
    zcq_index_offset_at(ix, lo - 1, found_rel, &pos);
    return pos;
}

uint32_t zcq_index_lookup_time(const struct zcq_index *ix, int64_t ts)
{
    uint32_t lo = 0, hi = ix->entries, rel;
    int64_t t;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        zcq_index_time_at(ix, mid, &t, &rel);
        if (t < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    zcq_index_time_at(ix, lo - 1, &t, &rel);
    return rel;
}

void zcq_index_truncate_offset(struct zcq_index *ix, uint32_t rel)
{
    uint32_t r, pos;

    while (ix->entries) {
        zcq_index_offset_at(ix, ix->entries - 1, &r, &pos);
        if (r < rel)
            break;
        ix->entries--;
    }
}

void zcq_index_truncate_time(struct zcq_index *ix, uint32_t rel)
{
    uint32_t r;
    int64_t t;

    while (ix->entries) {
        zcq_index_time_at(ix, ix->entries - 1, &t, &r);
        if (r < rel)
            break;
        ix->entries--;
    }
}

bool zcq_index_check_offset(const struct zcq_index *ix, uint64_t log_size)
{
    uint32_t prev_rel = 0, prev_pos = 0, r, pos;

    for (uint32_t i = 0; i < ix->entries; i++) {
        zcq_index_offset_at(ix, i, &r, &pos);
        if (pos >= log_size || (i && (r <= prev_rel || pos <= prev_pos)))
            return false;
        prev_rel = r;
        prev_pos = pos;
    }
    return true;
}

bool zcq_index_check_time(const struct zcq_index *ix)
{
    int64_t prev_ts = INT64_MIN, t;
    uint32_t prev_rel = 0, r;

    for (uint32_t i = 0; i < ix->entries; i++) {
        zcq_index_time_at(ix, i, &t, &r);
        if (t <= prev_ts || (i && r <= prev_rel))
            return false;
        prev_ts = t;
        prev_rel = r;
    }
    return true;
}
