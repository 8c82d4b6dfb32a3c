/*
 * copy_file_range: file -> file inside the kernel. The filesystem may share extents (reflink
 * on XFS and Btrfs, server-side copy on NFS) or copy page-cache pages in the kernel (ext4):
 * never through user space. Only a regular-file destination qualifies; the destination is
 * written at its current file position, as write() would.
 */
#include "io/xfer_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static ssize_t cfr_file(struct zcq_xfer *x, int dst, int src, off_t off, size_t len)
{
    size_t done = 0;

    if (x->dst_sock)
        return zcq__xfer_fail(x, -EOPNOTSUPP,
                              "copy_file_range: needs a regular file destination, not a socket");
    while (done < len) {
        off_t o = off + (off_t)done;
        ssize_t r;

        x->st.syscalls++;
        r = copy_file_range(src, &o, dst, NULL, len - done, 0);
        if (r < 0) {
            int e = errno;

            if (e == EINTR)
                continue;
            if (done)
                break;
            if (e == EAGAIN)
                return -EAGAIN;
            if (e == EINVAL || e == EXDEV || e == ENOSYS || e == EOPNOTSUPP || e == EBADF)
                return zcq__xfer_fail(x, -EOPNOTSUPP,
                                      "copy_file_range: refused (%s); it needs two regular "
                                      "files, on one filesystem before Linux 5.3",
                                      strerror(e));
            return zcq__xfer_fail(x, -e, "copy_file_range: %s", strerror(e));
        }
        if (r == 0) {
            if (done)
                break;
            return zcq__xfer_fail(x, -ENODATA, "source ends before offset %lld", (long long)o);
        }
        done += (size_t)r;
    }
    return (ssize_t)done;
}

const struct zcq__xfer_ops zcq__xfer_cfr_ops = {
    .name = "copy_file_range",
    .file = cfr_file,
    .mem = zcq__xfer_write,
};
