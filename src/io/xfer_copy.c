/*
 * copy: pread() into a user buffer, then write(). The baseline every other strategy is measured
 * against: the data crosses the user/kernel boundary twice (page cache -> buffer -> socket
 * buffer), with two system calls per buffer.
 *
 * After a partial write to a non-blocking destination, the unsent tail of the buffer is
 * dropped and read again on the next call; that costs a page-cache copy only on EAGAIN.
 */
#include "io/xfer_int.h"

#include <errno.h>

static ssize_t copy_file(struct zcq_xfer *x, int dst, int src, off_t off, size_t len)
{
    char *buf = zcq__xfer_buf(x);
    size_t done = 0;

    if (!buf)
        return -ENOMEM;
    while (done < len) {
        size_t n = len - done < x->buf_size ? len - done : x->buf_size;
        ssize_t r = zcq__xfer_pread(x, src, buf, n, off + (off_t)done);
        ssize_t w;

        if (r < 0)
            return done ? (ssize_t)done : r;
        if (r == 0) {
            if (done)
                break;
            return zcq__xfer_fail(x, -ENODATA, "source ends before offset %lld",
                                  (long long)(off + (off_t)done));
        }
        w = zcq__xfer_write(x, dst, buf, (size_t)r);
        if (w < 0)
            return done ? (ssize_t)done : w;
        done += (size_t)w;
        if (w < r)
            break; /* destination full (non-blocking) or source short */
    }
    return (ssize_t)done;
}

const struct zcq__xfer_ops zcq__xfer_copy_ops = {
    .name = "copy",
    .file = copy_file,
    .mem = zcq__xfer_write,
};
