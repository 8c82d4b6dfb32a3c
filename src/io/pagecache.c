/* Page-cache probes; see pagecache.h. */
#include "io/pagecache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
