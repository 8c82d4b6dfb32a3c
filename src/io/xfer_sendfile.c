/*
 * sendfile: the kernel moves page-cache pages to the destination without a user copy. To a
 * socket the pages are referenced by the skb (one CPU copy on loopback, where the receiver
 * copies out; none with a scatter-gather NIC). One system call per chunk.
 */
#include "io/xfer_int.h"
#include "io/sys.h"

#include <errno.h>
#include <string.h>

static ssize_t sendfile_file(struct zcq_xfer *x, int dst, int src, off_t off, size_t len)
{
    size_t done = 0;

    while (done < len) {
        off_t o = off + (off_t)done;
        size_t want = len - done;
        ssize_t r;

        x->st.syscalls++;
        r = zcq_sys.sendfile(dst, src, &o, want);
        if (r < 0) {
            int e = errno;

            if (e == EINTR)
                continue;
            if (done)
                break;
            if (e == EAGAIN)
                return -EAGAIN;
            if (e == EINVAL || e == ENOSYS)
                return zcq__xfer_fail(x, -EINVAL,
                                      "sendfile refused this source/destination pair (%s); "
                                      "the kernel or the fd types do not support it",
                                      strerror(e));
            return zcq__xfer_fail(x, -e, "sendfile: %s", strerror(e));
        }
        if (r == 0) {
            if (done)
                break;
            return zcq__xfer_fail(x, -ENODATA, "source ends before offset %lld", (long long)o);
        }
        done += (size_t)r;
        /* A short count to a non-blocking socket means its buffer is full: asking again
         * would only come back -EAGAIN after the kernel had looked up (and dropped) the
         * next pages, once per refill of the buffer while a large fetch drains. */
        if (x->dst_sock && x->dst_nonblock && (size_t)r < want)
            break;
    }
    return (ssize_t)done;
}

const struct zcq__xfer_ops zcq__xfer_sendfile_ops = {
    .name = "sendfile",
    .file = sendfile_file,
    .mem = zcq__xfer_write,
};
