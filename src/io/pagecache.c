/* Page-cache probes; see pagecache.h. */
#include "io/pagecache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* mincore() needs a mapping; map at most this much at a time to bound address space. */
#define WINDOW ((size_t)256 << 20)

int zcq_pc_residency(int fd, off_t off, size_t len, size_t *resident, size_t *total)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *vec = NULL;
    struct stat sb;
    off_t end, pos;
    int rc = 0;

    *resident = *total = 0;
    if (off < 0)
        return -EINVAL;
    if (fstat(fd, &sb) < 0)
        return -errno;
    if (off >= sb.st_size || len == 0)
        return 0;
    /* Compare unsigned: a len above OFF_MAX (SIZE_MAX for "to EOF") must clip, not wrap. */
    end = len > (size_t)(sb.st_size - off) ? sb.st_size : off + (off_t)len;
    vec = malloc(WINDOW / page);
    if (!vec)
        return -ENOMEM;
    for (pos = off & ~(off_t)(page - 1); pos < end;) {
        size_t n = (size_t)(end - pos) < WINDOW ? (size_t)(end - pos) : WINDOW;
        size_t pages = (n + page - 1) / page;
        void *p = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, pos);

        if (p == MAP_FAILED) {
            rc = -errno;
            break;
        }
        if (mincore(p, n, vec) < 0) {
            rc = -errno;
            munmap(p, n);
            break;
        }
        munmap(p, n);
        for (size_t i = 0; i < pages; i++)
            *resident += vec[i] & 1;
        *total += pages;
        pos += (off_t)n;
    }
    free(vec);
    return rc;
}

#ifndef __NR_cachestat
#define __NR_cachestat 451 /* the same number on every architecture (asm-generic) */
#endif

struct pc_range {
    uint64_t off, len;
};
struct pc_stat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

int zcq_pc_resident(int fd, off_t off, size_t len)
{
    static int no_cachestat; /* ENOSYS seen: a kernel before 6.5 */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    if (len == 0)
        return 1;
    if (!__atomic_load_n(&no_cachestat, __ATOMIC_RELAXED)) {
        struct pc_range r = {(uint64_t)off, (uint64_t)len};
        struct pc_stat st;

        if (syscall(__NR_cachestat, fd, &r, &st, 0) == 0) {
            uint64_t first = (uint64_t)off / page, last = ((uint64_t)off + len - 1) / page;
            struct stat sb;

            if (st.nr_cache >= last - first + 1)
                return 1;
            /* Pages past the end of the file are never cached: clip and count again. */
            if (fstat(fd, &sb) < 0)
                return -errno;
            if ((uint64_t)sb.st_size <= (uint64_t)off)
                return 1;
            if ((uint64_t)off + len > (uint64_t)sb.st_size)
                last = ((uint64_t)sb.st_size - 1) / page;
            return st.nr_cache >= last - first + 1;
        }
        if (errno != ENOSYS)
            return -errno;
        __atomic_store_n(&no_cachestat, 1, __ATOMIC_RELAXED);
    }
    {
        size_t res, tot;
        int rc = zcq_pc_residency(fd, off, len, &res, &tot);

        return rc < 0 ? rc : res == tot;
    }
}

/* Read [off, off + len) into a buffer: the fallback of zcq_pc_load(). */
static int load_by_reading(int fd, off_t off, size_t len)
{
    enum { BUF = 256 * 1024 };
    char *buf = malloc(BUF);
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    while (len > 0) {
        ssize_t got = pread(fd, buf, len < BUF ? len : BUF, off);

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = got < 0 ? -errno : 0; /* 0: the end of the file */
            break;
        }
        off += got;
        len -= (size_t)got;
    }
    free(buf);
    return rc;
}

int zcq_pc_load(int fd, off_t off, size_t len)
{
    int p[2] = {-1, -1}, null = -1, rc = 0;
    loff_t at = off;
    size_t left = len;

    if (len == 0)
        return 0;
    /* Every read of the range in flight at once, rather than one readahead window at a time
     * as the splice below would go; failure only means the splice starts them itself. */
    (void)readahead(fd, off, len);
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    /* A pipe holds 16 pages by default; a bigger one takes more per call (best effort). */
    (void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0) {
        rc = -errno;
        goto out;
    }
    while (left > 0) {
        /* Waits for the pages to be read (they become uptodate), takes references, no copy. */
        ssize_t n = splice(fd, &at, p[1], NULL, left, SPLICE_F_MOVE);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EINVAL || errno == ENOSYS) && left == len) {
            rc = load_by_reading(fd, off, len);
            goto out;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : 0; /* 0: the end of the file */
            break;
        }
        left -= (size_t)n;
        while (n > 0) {
            ssize_t m = splice(p[0], NULL, null, NULL, (size_t)n, SPLICE_F_MOVE);

            if (m < 0 && errno == EINTR)
                continue;
            if (m <= 0) {
                rc = m < 0 ? -errno : -EIO;
                goto out;
            }
            n -= m;
        }
    }
out:
    if (null >= 0)
        close(null);
    close(p[0]);
    close(p[1]);
    return rc;
}

int zcq_pc_drop(int fd)
{
    int rc;

    /* Dirty pages cannot be dropped; write them back first. */
    if (fdatasync(fd) < 0 && errno != EINVAL)
        return -errno;
    rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    return rc ? -rc : 0;
}

int zcq_pc_percent(int fd)
{
    size_t res, tot;
    int rc = zcq_pc_residency(fd, 0, (size_t)-1 >> 1, &res, &tot);

    if (rc < 0)
        return rc;
    return tot ? (int)((res * 100 + tot / 2) / tot) : 100;
}
