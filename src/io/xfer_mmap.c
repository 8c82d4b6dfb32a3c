/*
 * mmap: map the file and write() from the mapping. Saves the page cache -> user copy of the
 * copy strategy (the mapping *is* the page cache), but write() still copies into the socket
 * buffer, and page faults plus TLB work replace the read() calls.
 *
 * The context maps a window of WINDOW bytes around the requested offset and keeps it until a
 * request falls outside it, so a sequential transfer costs one mmap/munmap pair per window.
 * A file truncated under a live mapping raises SIGBUS on access: callers map only files whose
 * mapped range they own (zcq's segments are append-only; the lab's file is its own).
 */
#include "io/xfer_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define WINDOW ((off_t)64 << 20)

static void unmap(struct zcq_xfer *x)
{
    if (x->map) {
        munmap(x->map, x->map_len);
        x->st.syscalls++;
    }
    x->map = NULL;
    x->map_len = 0;
    x->map_src = -1;
}

static int map_window(struct zcq_xfer *x, int src, off_t off)
{
    struct stat sb;
    off_t start = off & ~(WINDOW - 1);
    size_t n;
    void *p;

    unmap(x);
    x->st.syscalls++;
    if (fstat(src, &sb) < 0)
        return zcq__xfer_fail(x, -errno, "stat source: %s", strerror(errno));
    if (off >= sb.st_size)
        return zcq__xfer_fail(x, -ENODATA, "source ends before offset %lld", (long long)off);
    n = (size_t)(sb.st_size - start < WINDOW ? sb.st_size - start : WINDOW);
    x->st.syscalls++;
    p = mmap(NULL, n, PROT_READ, MAP_SHARED, src, start);
    if (p == MAP_FAILED)
        return zcq__xfer_fail(x, -errno, "mmap source: %s", strerror(errno));
    x->map = p;
    x->map_len = n;
    x->map_off = start;
    x->map_src = src;
    return 0;
}

static ssize_t mmap_file(struct zcq_xfer *x, int dst, int src, off_t off, size_t len)
{
    size_t done = 0;

    while (done < len) {
        off_t pos = off + (off_t)done;
        size_t n;
        ssize_t w;

        if (!x->map || x->map_src != src || pos < x->map_off ||
            pos >= x->map_off + (off_t)x->map_len) {
            int rc = map_window(x, src, pos);

            if (rc < 0)
                return done ? (ssize_t)done : rc;
        }
        n = (size_t)(x->map_off + (off_t)x->map_len - pos);
        if (n > len - done)
            n = len - done;
        w = zcq__xfer_write(x, dst, (char *)x->map + (pos - x->map_off), n);
        if (w < 0)
            return done ? (ssize_t)done : w;
        done += (size_t)w;
        if ((size_t)w < n)
            break;
    }
    return (ssize_t)done;
}

static void mmap_reset(struct zcq_xfer *x)
{
    unmap(x);
}

const struct zcq__xfer_ops zcq__xfer_mmap_ops = {
    .name = "mmap",
    .file = mmap_file,
    .mem = zcq__xfer_write,
    .reset = mmap_reset,
    .close = mmap_reset,
};
