/*
 * direct: O_DIRECT reads into an aligned buffer, then write(). The page cache is bypassed: the
 * device DMAs into zcq's buffer (or, when the pages are already cached and dirty, the kernel
 * writes them back first), so every call reads the disk. This is what a self-caching system
 * does under its own cache; alone it shows what a page-cache miss costs.
 *
 * O_DIRECT needs offset, length and memory aligned to the file's direct-I/O alignment
 * (statx STATX_DIOALIGN, else the 4 KiB page). Unaligned requests read the enclosing aligned
 * blocks and send only the asked-for bytes; a read that ends at EOF returns short, which
 * handles the tail. The descriptor is reopened from /proc/self/fd, so the caller's fd keeps
 * its own flags.
 */
#include "io/xfer_int.h"
#include "io/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void dio_drop(struct zcq_xfer *x)
{
    if (x->dio_fd >= 0)
        close(x->dio_fd);
    x->dio_fd = -1;
    x->dio_src = -1;
}

static size_t dio_alignment(int fd)
{
    size_t a = 4096;
#ifdef STATX_DIOALIGN
    struct statx sx;

    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
        sx.stx_dio_offset_align) {
        a = sx.stx_dio_offset_align;
        if (sx.stx_dio_mem_align > a)
            a = sx.stx_dio_mem_align;
    }
#else
    (void)fd;
#endif
    return a;
}

static int dio_open(struct zcq_xfer *x, int src)
{
    char path[64];
    int fd;

    dio_drop(x);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", src);
    x->st.syscalls++;
    fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;

        if (e == EINVAL)
            return zcq__xfer_fail(x, -EINVAL,
                                  "direct: this filesystem does not support O_DIRECT "
                                  "(tmpfs before Linux 6.6, some FUSE and overlay mounts)");
        return zcq__xfer_fail(x, -e, "direct: reopen source with O_DIRECT: %s", strerror(e));
    }
    x->dio_fd = fd;
    x->dio_src = src;
    x->dio_align = dio_alignment(fd);
    x->st.syscalls++;
    if (x->dio_align > x->buf_size || x->buf_size % x->dio_align) {
        dio_drop(x);
        return zcq__xfer_fail(x, -EINVAL, "direct: alignment %zu exceeds the buffer size %zu",
                              x->dio_align, x->buf_size);
    }
    return 0;
}

static ssize_t direct_file(struct zcq_xfer *x, int dst, int src, off_t off, size_t len)
{
    char *buf = zcq__xfer_buf(x);
    size_t done = 0;

    if (!buf)
        return -ENOMEM;
    if (x->dio_src != src) {
        int rc = dio_open(x, src);

        if (rc < 0)
            return rc;
    }
    while (done < len) {
        off_t pos = off + (off_t)done;
        off_t start = pos & ~(off_t)(x->dio_align - 1);
        size_t skip = (size_t)(pos - start);
        size_t want = len - done < x->buf_size - skip ? len - done : x->buf_size - skip;
        size_t rlen = (skip + want + x->dio_align - 1) & ~(x->dio_align - 1);
        ssize_t r, w;
        size_t avail;

        /* One read, no short-read loop: an O_DIRECT read comes back short only at EOF, and
         * continuing from an unaligned position would be refused. */
        do {
            x->st.disk_reads++;
            x->st.syscalls++;
            r = zcq_sys.pread(x->dio_fd, buf, rlen, start);
        } while (r < 0 && errno == EINTR);
        if (r < 0) {
            int e = errno;

            if (done)
                break;
            if (e == EINVAL)
                return zcq__xfer_fail(x, -EINVAL,
                                      "direct: O_DIRECT read refused (alignment %zu is wrong "
                                      "for this device)",
                                      x->dio_align);
            return zcq__xfer_fail(x, -e, "direct: read at %lld: %s", (long long)start, strerror(e));
        }
        if ((size_t)r <= skip) {
            if (done)
                break;
            return zcq__xfer_fail(x, -ENODATA, "source ends before offset %lld", (long long)pos);
        }
        avail = (size_t)r - skip < want ? (size_t)r - skip : want;
        w = zcq__xfer_write(x, dst, buf + skip, avail);
        if (w < 0)
            return done ? (ssize_t)done : w;
        done += (size_t)w;
        if ((size_t)w < avail || avail < want)
            break;
    }
    return (ssize_t)done;
}

const struct zcq__xfer_ops zcq__xfer_direct_ops = {
    .name = "direct",
    .file = direct_file,
    .mem = zcq__xfer_write,
    .reset = dio_drop,
    .close = dio_drop,
};
