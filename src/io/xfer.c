/*
 * The transfer engine's front: context lifetime, argument checks, the per-call chunk cap, the
 * destination cache, and the auto strategy. The strategies live in xfer_<name>.c.
 *
 * Auto: sendfile is the default choice (one system call per chunk, no user copy, works for
 * sockets, pipes and files on any kernel since 2.6.33). If the kernel refuses it for this
 * source/destination pair before a byte moved, auto falls back to splice, then to copy, and
 * keeps what worked.
 */
#include "io/xfer_int.h"
#include "io/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct zcq__xfer_ops *const ops_of[ZCQ_XFER_COUNT] = {
    [ZCQ_XFER_AUTO] = &zcq__xfer_sendfile_ops, [ZCQ_XFER_COPY] = &zcq__xfer_copy_ops,
    [ZCQ_XFER_MMAP] = &zcq__xfer_mmap_ops,     [ZCQ_XFER_SENDFILE] = &zcq__xfer_sendfile_ops,
    [ZCQ_XFER_SPLICE] = &zcq__xfer_splice_ops, [ZCQ_XFER_DIRECT] = &zcq__xfer_direct_ops,
    [ZCQ_XFER_URING] = &zcq__xfer_uring_ops,   [ZCQ_XFER_ZEROCOPY] = &zcq__xfer_zerocopy_ops,
    [ZCQ_XFER_CFR] = &zcq__xfer_cfr_ops,
};

static const char *const names[ZCQ_XFER_COUNT] = {
    [ZCQ_XFER_AUTO] = "auto",           [ZCQ_XFER_COPY] = "copy",
    [ZCQ_XFER_MMAP] = "mmap",           [ZCQ_XFER_SENDFILE] = "sendfile",
    [ZCQ_XFER_SPLICE] = "splice",       [ZCQ_XFER_DIRECT] = "direct",
    [ZCQ_XFER_URING] = "uring",         [ZCQ_XFER_ZEROCOPY] = "zerocopy",
    [ZCQ_XFER_CFR] = "copy_file_range",
};

const char *zcq_xfer_method_name(enum zcq_xfer_method m)
{
    return (unsigned)m < ZCQ_XFER_COUNT ? names[m] : "?";
}

int zcq_xfer_method_parse(const char *name, enum zcq_xfer_method *out)
{
    for (int m = 0; m < ZCQ_XFER_COUNT; m++) {
        if (strcmp(name, names[m]) == 0) {
            *out = (enum zcq_xfer_method)m;
            return 0;
        }
    }
    return -EINVAL;
}

int zcq__xfer_fail(struct zcq_xfer *x, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(x->why, sizeof(x->why), fmt, ap);
    va_end(ap);
    return err;
}

static const struct zcq__xfer_ops *ops(const struct zcq_xfer *x)
{
    return ops_of[x->active];
}

int zcq_xfer_open(struct zcq_xfer **out, enum zcq_xfer_method m, const struct zcq_xfer_opts *opts,
                  char *why, size_t why_len)
{
    struct zcq_xfer *x = NULL;
    size_t chunk = opts && opts->chunk_max ? opts->chunk_max : ZCQ_XFER_DEFAULT_CHUNK;
    size_t bufsz = opts && opts->buf_size ? opts->buf_size : chunk;
    long page = sysconf(_SC_PAGESIZE);
    int rc;

    *out = NULL;
    if (why && why_len)
        why[0] = '\0';
    if ((unsigned)m >= ZCQ_XFER_COUNT || chunk > ZCQ_XFER_MAX_CHUNK) {
        rc = -EINVAL;
        if (why && why_len)
            snprintf(why, why_len, "unknown method or chunk over %u bytes", ZCQ_XFER_MAX_CHUNK);
        return rc;
    }
    if (bufsz > (1u << 20))
        bufsz = 1u << 20;
    /* Round up to a page: O_DIRECT needs aligned lengths and it costs the others nothing. */
    bufsz = (bufsz + (size_t)page - 1) & ~((size_t)page - 1);

    x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->method = m;
    x->active = m == ZCQ_XFER_AUTO ? ZCQ_XFER_SENDFILE : m;
    x->chunk_max = chunk;
    x->buf_size = bufsz;
    x->dst_fd = -1;
    x->pipe_r = x->pipe_w = -1;
    x->pipe_src = -1;
    x->dio_src = x->dio_fd = -1;
    x->map_src = -1;
    x->size_src = -1;
    x->zc.fd = -1;

    if (ops(x)->open) {
        rc = ops(x)->open(x);
        if (rc < 0) {
            if (why && why_len)
                snprintf(why, why_len, "%s", x->why);
            zcq_xfer_close(x);
            return rc;
        }
    }
    *out = x;
    return 0;
}

void zcq_xfer_close(struct zcq_xfer *x)
{
    if (!x)
        return;
    for (int m = 1; m < ZCQ_XFER_COUNT; m++) {
        /* AUTO may have opened resources of several strategies; close them all. Every close
         * hook tolerates a context it never touched. */
        if (ops_of[m]->close)
            ops_of[m]->close(x);
    }
    free(x->buf);
    free(x);
}

void zcq_xfer_reset(struct zcq_xfer *x)
{
    for (int m = 1; m < ZCQ_XFER_COUNT; m++) {
        if (ops_of[m]->reset)
            ops_of[m]->reset(x);
    }
    x->dst_fd = -1;
    x->why[0] = '\0';
}

bool zcq_xfer_dst_full(const struct zcq_xfer *x)
{
    return x->dst_full;
}

enum zcq_xfer_method zcq_xfer_active(const struct zcq_xfer *x)
{
    return x->active;
}

const char *zcq_xfer_why(const struct zcq_xfer *x)
{
    return x->why;
}

const struct zcq_xfer_stats *zcq_xfer_stats(const struct zcq_xfer *x)
{
    return &x->st;
}

void zcq_xfer_stats_clear(struct zcq_xfer *x)
{
    memset(&x->st, 0, sizeof(x->st));
}

/* Learn what kind of fd dst is, once per fd: sockets get send(MSG_NOSIGNAL), and io_uring and
 * MSG_ZEROCOPY need to know whether the socket is non-blocking and TCP. */
static int dst_prepare(struct zcq_xfer *x, int dst)
{
    struct stat sb;
    int fl;

    if (x->dst_fd == dst)
        return 0;
    if (fstat(dst, &sb) < 0)
        return zcq__xfer_fail(x, -errno, "destination fd %d: %s", dst, strerror(errno));
    fl = fcntl(dst, F_GETFL);
    if (fl < 0)
        return zcq__xfer_fail(x, -errno, "destination fd %d: %s", dst, strerror(errno));
    x->st.syscalls += 2;
    x->dst_sock = S_ISSOCK(sb.st_mode);
    x->dst_nonblock = (fl & O_NONBLOCK) != 0;
    x->dst_tcp = false;
    if (x->dst_sock) {
        int dom = 0, type = 0;
        socklen_t l = sizeof(dom);

        if (getsockopt(dst, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0) {
            l = sizeof(type);
            if (getsockopt(dst, SOL_SOCKET, SO_TYPE, &type, &l) == 0)
                x->dst_tcp = (dom == AF_INET || dom == AF_INET6) && type == SOCK_STREAM;
        }
        x->st.syscalls += 2;
    }
    x->dst_fd = dst;
    return 0;
}

static bool refused(ssize_t rc)
{
    return rc == -EINVAL || rc == -ENOSYS || rc == -EOPNOTSUPP;
}

ssize_t zcq_xfer_file(struct zcq_xfer *x, int dst_fd, int src_fd, off_t offset, size_t len)
{
    ssize_t rc;
    int prc;

    x->why[0] = '\0';
    x->dst_full = false;
    if (len == 0)
        return 0;
    if (offset < 0 || dst_fd < 0 || src_fd < 0)
        return zcq__xfer_fail(x, -EINVAL, "negative offset or fd");
    prc = dst_prepare(x, dst_fd);
    if (prc < 0)
        return prc;
    if (len > x->chunk_max)
        len = x->chunk_max;

    rc = ops(x)->file(x, dst_fd, src_fd, offset, len);
    /* Auto: sendfile -> splice -> copy, but only before anything moved, since a refusal after
     * progress is a real error (and switching would lose splice's pipe contents). */
    while (x->method == ZCQ_XFER_AUTO && refused(rc) && !x->auto_chosen &&
           x->active != ZCQ_XFER_COPY) {
        x->active = x->active == ZCQ_XFER_SENDFILE ? ZCQ_XFER_SPLICE : ZCQ_XFER_COPY;
        rc = ops(x)->file(x, dst_fd, src_fd, offset, len);
    }
    if (rc > 0) {
        x->st.bytes += (uint64_t)rc;
        x->auto_chosen = true;
    }
    x->dst_full = rc == -EAGAIN || (rc > 0 && (size_t)rc < len && x->dst_nonblock);
    return rc;
}

ssize_t zcq_xfer_mem(struct zcq_xfer *x, int dst_fd, const void *buf, size_t len)
{
    ssize_t rc;
    int prc;

    x->why[0] = '\0';
    x->dst_full = false;
    if (len == 0)
        return 0;
    if (!buf || dst_fd < 0)
        return zcq__xfer_fail(x, -EINVAL, "null buffer or negative fd");
    prc = dst_prepare(x, dst_fd);
    if (prc < 0)
        return prc;
    if (len > x->chunk_max)
        len = x->chunk_max;
    rc = ops(x)->mem(x, dst_fd, buf, len);
    if (rc > 0)
        x->st.bytes += (uint64_t)rc;
    x->dst_full = rc == -EAGAIN || (rc > 0 && (size_t)rc < len && x->dst_nonblock);
    return rc;
}

ssize_t zcq__xfer_write(struct zcq_xfer *x, int dst, const void *buf, size_t n)
{
    const char *p = buf;
    size_t done = 0;

    while (done < n) {
        ssize_t w;

        x->st.syscalls++;
        if (x->dst_sock)
            w = zcq_sys.send(dst, p + done, n - done, MSG_NOSIGNAL);
        else
            w = zcq_sys.write(dst, p + done, n - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (done)
                break;
            if (errno == EAGAIN)
                return -EAGAIN;
            return zcq__xfer_fail(x, -errno, "write to destination: %s", strerror(errno));
        }
        if (w == 0)
            break;
        done += (size_t)w;
    }
    return (ssize_t)done;
}

ssize_t zcq__xfer_pread(struct zcq_xfer *x, int src, void *buf, size_t n, off_t off)
{
    char *p = buf;
    size_t done = 0;

    while (done < n) {
        ssize_t r;

        x->st.syscalls++;
        r = zcq_sys.pread(src, p + done, n - done, off + (off_t)done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return zcq__xfer_fail(x, -errno, "read source at offset %lld: %s",
                                  (long long)(off + (off_t)done), strerror(errno));
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

void *zcq__xfer_buf(struct zcq_xfer *x)
{
    if (!x->buf && posix_memalign(&x->buf, (size_t)sysconf(_SC_PAGESIZE), x->buf_size) != 0) {
        x->buf = NULL;
        zcq__xfer_fail(x, -ENOMEM, "cannot allocate a %zu-byte buffer", x->buf_size);
    }
    return x->buf;
}
