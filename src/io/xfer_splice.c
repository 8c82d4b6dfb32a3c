/*
 * splice: file -> pipe -> destination. The pipe holds references to page-cache pages, so no
 * byte is copied by the CPU until the destination needs it (a socket's receiver on loopback).
 * Two system calls per pipe-full; the pipe is grown to the buffer size (F_SETPIPE_SZ) because
 * the default 64 KiB pipe would cap every round trip.
 *
 * Invariant: the pipe holds pipe_len bytes, the source bytes [pipe_next, pipe_next + pipe_len)
 * of pipe_src. They survive an EAGAIN from the destination and go out first on the next call,
 * which must resume at offset pipe_next of the same source; any other call discards them.
 */
#include "io/xfer_int.h"
#include "io/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void pipe_drop(struct zcq_xfer *x)
{
    if (x->pipe_r >= 0) {
        close(x->pipe_r);
        close(x->pipe_w);
    }
    x->pipe_r = x->pipe_w = -1;
    x->pipe_len = 0;
    x->pipe_src = -1;
}

static int pipe_make(struct zcq_xfer *x)
{
    int p[2];

    x->st.syscalls++;
    if (pipe2(p, O_CLOEXEC) < 0)
        return zcq__xfer_fail(x, -errno, "splice: cannot create a pipe: %s", strerror(errno));
    x->pipe_r = p[0];
    x->pipe_w = p[1];
    /* Best effort: an unprivileged process may be limited by fs.pipe-max-size. */
    x->st.syscalls++;
    (void)fcntl(p[1], F_SETPIPE_SZ, (int)x->buf_size);
    return 0;
}

static ssize_t splice_file(struct zcq_xfer *x, int dst, int src, off_t off, size_t len)
{
    size_t done = 0;

    if (x->pipe_len && (x->pipe_src != src || x->pipe_next != off))
        pipe_drop(x);
    if (x->pipe_r < 0) {
        int rc = pipe_make(x);

        if (rc < 0)
            return rc;
    }
    while (done < len) {
        ssize_t w;
        size_t n;

        if (x->pipe_len == 0) {
            off_t o = off + (off_t)done;
            ssize_t r;

            n = len - done < x->buf_size ? len - done : x->buf_size;
            x->st.syscalls++;
            r = zcq_sys.splice(src, &o, x->pipe_w, NULL, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (r < 0) {
                int e = errno;

                if (e == EINTR)
                    continue;
                if (done)
                    break;
                if (e == EINVAL || e == ENOSYS)
                    return zcq__xfer_fail(x, -EINVAL,
                                          "splice refused to read this source into a pipe (%s)",
                                          strerror(e));
                return zcq__xfer_fail(x, -e, "splice from source: %s", strerror(e));
            }
            if (r == 0) {
                if (done)
                    break;
                return zcq__xfer_fail(x, -ENODATA, "source ends before offset %lld",
                                      (long long)(off + (off_t)done));
            }
            x->pipe_len = (size_t)r;
            x->pipe_src = src;
            x->pipe_next = off + (off_t)done;
        }
        /* A resumed call may ask for less than the pipe holds. */
        n = x->pipe_len < len - done ? x->pipe_len : len - done;
        x->st.syscalls++;
        w = zcq_sys.splice(x->pipe_r, NULL, dst, NULL, n,
                           SPLICE_F_MOVE | (done + n < len ? SPLICE_F_MORE : 0));
        if (w < 0) {
            int e = errno;

            if (e == EINTR)
                continue;
            if (done)
                break;
            if (e == EAGAIN)
                return -EAGAIN;
            if (e == EINVAL || e == ENOSYS)
                return zcq__xfer_fail(x, -EINVAL, "splice refused to write this destination (%s)",
                                      strerror(e));
            return zcq__xfer_fail(x, -e, "splice to destination: %s", strerror(e));
        }
        if (w == 0)
            break;
        x->pipe_len -= (size_t)w;
        x->pipe_next += w;
        done += (size_t)w;
    }
    return (ssize_t)done;
}

static void splice_reset(struct zcq_xfer *x)
{
    /* Bytes left in the pipe belong to a transfer the caller abandoned. */
    if (x->pipe_len)
        pipe_drop(x);
}

static void splice_close(struct zcq_xfer *x)
{
    pipe_drop(x);
}

const struct zcq__xfer_ops zcq__xfer_splice_ops = {
    .name = "splice",
    .file = splice_file,
    .mem = zcq__xfer_write,
    .reset = splice_reset,
    .close = splice_close,
};
