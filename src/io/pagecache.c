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
