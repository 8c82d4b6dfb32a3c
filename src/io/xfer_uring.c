/*
 * uring: io_uring with a read linked to a send (or a write, for pipes and files). One
 * io_uring_enter() submits both and waits for both, so a buffer costs one system call and one
 * sleep instead of copy's two, while the bytes still cross user space twice. It shows what
 * batching system calls buys, apart from what avoiding copies buys.
 *
 * The read is clamped to the source's size (cached, refreshed with fstat when a request passes
 * it) so it never comes back short and the linked send never sends bytes that were not read.
 * A non-blocking destination gets MSG_DONTWAIT (sockets) or RWF_NOWAIT (pipes and other fds),
 * so -EAGAIN comes back instead of io_uring parking the request. O_NONBLOCK alone is not
 * enough: io_uring waits for space on a file that supports non-blocking I/O itself (a pipe).
 */
#include "io/xfer_int.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define RING_DEPTH 8

enum { UD_READ = 1, UD_SEND = 2 };

static int ring_error(struct zcq_xfer *x, int rc)
{
    FILE *f;
    int v = -1;

    switch (rc) {
    case -ENOSYS:
        return zcq__xfer_fail(x, rc, "uring: this kernel has no io_uring (CONFIG_IO_URING off)");
    case -EPERM:
        f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
        if (f) {
            if (fscanf(f, "%d", &v) != 1)
                v = -1;
            fclose(f);
        }
        return zcq__xfer_fail(x, rc,
                              "uring: io_uring is disabled (sysctl kernel.io_uring_disabled=%d) "
                              "or forbidden by a seccomp policy",
                              v);
    case -ENOMEM:
        return zcq__xfer_fail(x, rc,
                              "uring: cannot allocate the ring (RLIMIT_MEMLOCK too low on "
                              "kernels before 5.12)");
    default:
        return zcq__xfer_fail(x, rc, "uring: io_uring_queue_init: %s", strerror(-rc));
    }
}

static int uring_open(struct zcq_xfer *x)
{
    static const struct {
        int op;
        const char *name;
    } need[] = {{IORING_OP_READ, "READ (5.6)"},
                {IORING_OP_WRITE, "WRITE (5.6)"},
                {IORING_OP_SEND, "SEND (5.6)"}};
    struct io_uring_probe *probe;
    int rc;

    x->ring = calloc(1, sizeof(*x->ring));
    if (!x->ring)
        return zcq__xfer_fail(x, -ENOMEM, "uring: out of memory");
    rc = io_uring_queue_init(RING_DEPTH, x->ring, 0);
    if (rc < 0) {
        free(x->ring);
        x->ring = NULL;
        return ring_error(x, rc);
    }
    probe = io_uring_get_probe_ring(x->ring);
    if (!probe)
        return zcq__xfer_fail(x, -EOPNOTSUPP, "uring: kernel too old to probe io_uring opcodes");
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        if (!io_uring_opcode_supported(probe, need[i].op)) {
            io_uring_free_probe(probe);
            return zcq__xfer_fail(x, -EOPNOTSUPP, "uring: kernel io_uring lacks IORING_OP_%s",
                                  need[i].name);
        }
    }
    io_uring_free_probe(probe);
    return 0;
}

static void uring_reset(struct zcq_xfer *x)
{
    x->size_src = -1;
}

static void uring_close(struct zcq_xfer *x)
{
    if (x->ring) {
        io_uring_queue_exit(x->ring);
        free(x->ring);
        x->ring = NULL;
    }
}

static void prep_out(struct zcq_xfer *x, struct io_uring_sqe *sqe, int dst, const void *buf,
                     size_t n)
{
    if (x->dst_sock)
        io_uring_prep_send(sqe, dst, buf, n, MSG_NOSIGNAL | (x->dst_nonblock ? MSG_DONTWAIT : 0));
    else
        io_uring_prep_write(sqe, dst, buf, (unsigned)n, (__u64)-1);
    if (!x->dst_sock && x->dst_nonblock)
        sqe->rw_flags = RWF_NOWAIT;
    sqe->user_data = UD_SEND;
}

/* Submit what is queued, wait for `want` completions, and return them by user_data. */
static int run(struct zcq_xfer *x, unsigned want, int *read_res, int *send_res)
{
    struct io_uring_cqe *cqe;
    int rc;

    x->st.syscalls++;
    rc = io_uring_submit_and_wait(x->ring, want);
    if (rc < 0)
        return zcq__xfer_fail(x, rc, "uring: io_uring_enter: %s", strerror(-rc));
    for (unsigned got = 0; got < want; got++) {
        rc = io_uring_peek_cqe(x->ring, &cqe);
        if (rc < 0) {
            x->st.syscalls++;
            rc = io_uring_wait_cqe(x->ring, &cqe);
        }
        if (rc < 0)
            return zcq__xfer_fail(x, rc, "uring: wait for completion: %s", strerror(-rc));
        if (cqe->user_data == UD_READ)
            *read_res = cqe->res;
        else
            *send_res = cqe->res;
        io_uring_cqe_seen(x->ring, cqe);
    }
    return 0;
}

static ssize_t send_result(struct zcq_xfer *x, int res)
{
    if (res == -EAGAIN)
        return -EAGAIN;
    if (res == -EINVAL || res == -EOPNOTSUPP)
        return zcq__xfer_fail(x, -EINVAL, "uring: kernel refused the send/write op (%s)",
                              strerror(-res));
    return zcq__xfer_fail(x, res, "uring: send to destination: %s", strerror(-res));
}

static ssize_t uring_file(struct zcq_xfer *x, int dst, int src, off_t off, size_t len)
{
    char *buf = zcq__xfer_buf(x);
    off_t size;
    size_t done = 0;
    struct stat sb;

    if (!buf)
        return -ENOMEM;
    if (x->size_src != src || off + (off_t)len > x->src_size) {
        x->st.syscalls++;
        if (fstat(src, &sb) < 0)
            return zcq__xfer_fail(x, -errno, "uring: stat source: %s", strerror(errno));
        x->size_src = src;
        x->src_size = sb.st_size;
    }
    size = x->src_size;
    if (off >= size)
        return zcq__xfer_fail(x, -ENODATA, "source ends before offset %lld", (long long)off);
    if ((off_t)len > size - off)
        len = (size_t)(size - off);
    while (done < len) {
        size_t n = len - done < x->buf_size ? len - done : x->buf_size;
        struct io_uring_sqe *rd = io_uring_get_sqe(x->ring);
        struct io_uring_sqe *wr = io_uring_get_sqe(x->ring);
        int rres = 0, sres = 0, rc;

        if (!rd || !wr)
            return zcq__xfer_fail(x, -EBUSY, "uring: submission queue full");
        io_uring_prep_read(rd, src, buf, (unsigned)n, (__u64)(off + (off_t)done));
        rd->user_data = UD_READ;
        rd->flags |= IOSQE_IO_LINK;
        prep_out(x, wr, dst, buf, n);
        rc = run(x, 2, &rres, &sres);
        if (rc < 0)
            return done ? (ssize_t)done : rc;
        if (rres < 0) {
            if (done)
                break;
            return zcq__xfer_fail(x, rres, "uring: read source: %s", strerror(-rres));
        }
        if (sres < 0) {
            if (done)
                break;
            if (sres == -ECANCELED)
                return zcq__xfer_fail(x, -EIO, "uring: short read of source at %lld",
                                      (long long)(off + (off_t)done));
            return send_result(x, sres);
        }
        done += (size_t)sres;
        if ((size_t)sres < n)
            break;
    }
    return (ssize_t)done;
}

static ssize_t uring_mem(struct zcq_xfer *x, int dst, const void *buf, size_t len)
{
    struct io_uring_sqe *wr = io_uring_get_sqe(x->ring);
    int rres = 0, sres = 0, rc;

    if (!wr)
        return zcq__xfer_fail(x, -EBUSY, "uring: submission queue full");
    prep_out(x, wr, dst, buf, len);
    rc = run(x, 1, &rres, &sres);
    if (rc < 0)
        return rc;
    return sres < 0 ? send_result(x, sres) : sres;
}

const struct zcq__xfer_ops zcq__xfer_uring_ops = {
    .name = "uring",
    .open = uring_open,
    .file = uring_file,
    .mem = uring_mem,
    .reset = uring_reset,
    .close = uring_close,
};
