/*
 * zerocopy: send(MSG_ZEROCOPY) from user memory. The kernel pins the pages instead of copying
 * them into the socket buffer and tells us on the socket's error queue when it no longer needs
 * them; until then the memory must not change. File data is first read into one of
 * ZCQ__ZC_BUFS bounce buffers (one CPU copy), and a buffer is reused only after the completion
 * of the last send that referenced it has been reaped.
 *
 * Needs a TCP socket (SO_ZEROCOPY, Linux 4.14). Over loopback, and to AF_UNIX, the kernel
 * copies anyway ("deferred copy"): completions then carry SO_EE_CODE_ZEROCOPY_COPIED, which
 * the stats count, so the lab can show that the flag bought nothing there.
 *
 * Completion ids: the kernel numbers a socket's successful zero-copy sends 0, 1, 2, ... and
 * reports inclusive ranges [lo, hi]. The context counts sends (next_id) and completions (done);
 * it assumes it makes every zero-copy send on the socket, which holds for zcq's use (one
 * context per connection).
 */
#include "io/xfer_int.h"
#include "io/sys.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif
#ifndef SO_EE_CODE_ZEROCOPY_COPIED
#define SO_EE_CODE_ZEROCOPY_COPIED 1
#endif

/* How long close() and a buffer reuse wait for the kernel to release memory. */
#define ZC_WAIT_MS 10000

static int zc_open(struct zcq_xfer *x)
{
    int one = 1, rc = 0;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (s < 0)
        return zcq__xfer_fail(x, -errno, "zerocopy: cannot create a probe socket: %s",
                              strerror(errno));
    if (setsockopt(s, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) < 0)
        rc = zcq__xfer_fail(x, -EOPNOTSUPP,
                            "zerocopy: this kernel has no MSG_ZEROCOPY (SO_ZEROCOPY: %s; needs "
                            "Linux 4.14)",
                            strerror(errno));
    close(s);
    return rc;
}

/* Drain the error queue of x->zc.fd without blocking. Returns 0 or -errno. */
static int zc_drain(struct zcq_xfer *x)
{
    struct zcq__zc *z = &x->zc;

    for (;;) {
        char control[128];
        struct msghdr msg = {.msg_control = control, .msg_controllen = sizeof(control)};
        ssize_t r;

        x->st.syscalls++;
        r = recvmsg(z->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return zcq__xfer_fail(x, -errno, "zerocopy: read error queue: %s", strerror(errno));
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            struct sock_extended_err ee;
            uint32_t lo, hi;

            if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                  (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
                continue;
            memcpy(&ee, CMSG_DATA(c), sizeof(ee));
            if (ee.ee_origin != SO_EE_ORIGIN_ZEROCOPY) {
                if (ee.ee_errno)
                    return zcq__xfer_fail(x, -(int)ee.ee_errno, "zerocopy: socket error: %s",
                                          strerror((int)ee.ee_errno));
                continue;
            }
            lo = ee.ee_info;
            hi = ee.ee_data;
            z->done += hi - lo + 1;
            x->st.zc_sends += hi - lo + 1;
            if (ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED)
                x->st.zc_copied += hi - lo + 1;
            for (unsigned i = 0; i < ZCQ__ZC_BUFS; i++) {
                /* Wrap-safe "lo <= id <= hi". */
                if (z->buf_busy[i] && z->buf_id[i] - lo <= hi - lo)
                    z->buf_busy[i] = false;
            }
        }
    }
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reap until `until()` holds or timeout_ms passes; completions raise POLLERR. */
static int zc_wait(struct zcq_xfer *x, int timeout_ms, bool (*until)(struct zcq_xfer *, void *),
                   void *arg)
{
    long deadline = now_ms() + timeout_ms;

    for (;;) {
        struct pollfd p = {.fd = x->zc.fd, .events = 0};
        long left;
        int rc = zc_drain(x);

        if (rc < 0)
            return rc;
        if (until(x, arg))
            return 0;
        left = deadline - now_ms();
        if (left <= 0)
            return zcq__xfer_fail(x, -ETIMEDOUT,
                                  "zerocopy: the kernel kept %u sends pending for %d ms",
                                  zcq_xfer_zc_pending(x), timeout_ms);
        x->st.syscalls++;
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return zcq__xfer_fail(x, -errno, "zerocopy: poll: %s", strerror(errno));
    }
}

static bool all_done(struct zcq_xfer *x, void *arg)
{
    (void)arg;
    return zcq_xfer_zc_pending(x) == 0;
}

static bool buf_free(struct zcq_xfer *x, void *arg)
{
    return !x->zc.buf_busy[*(unsigned *)arg];
}

/* Make dst the zero-copy socket: finish the previous one's sends first, since ids are per
 * socket and the buffers may still be referenced. */
static int zc_bind(struct zcq_xfer *x, int dst)
{
    struct zcq__zc *z = &x->zc;
    int one = 1;

    if (z->fd == dst && z->enabled)
        return 0;
    if (!x->dst_tcp)
        return zcq__xfer_fail(x, -EOPNOTSUPP,
                              "zerocopy: MSG_ZEROCOPY needs a TCP socket; the destination is %s",
                              x->dst_sock ? "a non-TCP socket (AF_UNIX?)" : "not a socket");
    if (z->fd >= 0 && zcq_xfer_zc_pending(x))
        (void)zc_wait(x, ZC_WAIT_MS, all_done, NULL);
    x->st.syscalls++;
    if (setsockopt(dst, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) < 0)
        return zcq__xfer_fail(x, -EOPNOTSUPP, "zerocopy: SO_ZEROCOPY refused: %s", strerror(errno));
    memset(z->buf_busy, 0, sizeof(z->buf_busy));
    z->fd = dst;
    z->next_id = z->done = 0;
    z->enabled = true;
    return 0;
}

/* One MSG_ZEROCOPY send. The kernel refuses with ENOBUFS when pending notifications exceed
 * the socket's option memory (net.core.optmem_max); reaping frees it, so reap and retry. */
static ssize_t zc_send(struct zcq_xfer *x, int dst, const void *p, size_t n)
{
    for (int tries = 0;; tries++) {
        ssize_t s;

        x->st.syscalls++;
        s = zcq_sys.send(dst, p, n, MSG_ZEROCOPY | MSG_NOSIGNAL);
        if (s >= 0) {
            if (s > 0)
                x->zc.next_id++;
            return s;
        }
        if (errno == EINTR)
            continue;
        if (errno == ENOBUFS && tries < 3) {
            int rc = zc_wait(x, 100, all_done, NULL);

            if (rc < 0 && rc != -ETIMEDOUT)
                return rc;
            continue;
        }
        if (errno == EAGAIN)
            return -EAGAIN;
        return zcq__xfer_fail(x, -errno, "zerocopy: send: %s", strerror(errno));
    }
}

static ssize_t zc_file(struct zcq_xfer *x, int dst, int src, off_t off, size_t len)
{
    struct zcq__zc *z = &x->zc;
    size_t done = 0;
    int rc = zc_bind(x, dst);

    if (rc < 0)
        return rc;
    if (!z->bufs &&
        posix_memalign(&z->bufs, (size_t)sysconf(_SC_PAGESIZE), ZCQ__ZC_BUFS * x->buf_size) != 0) {
        z->bufs = NULL;
        return zcq__xfer_fail(x, -ENOMEM, "zerocopy: cannot allocate buffers");
    }
    while (done < len) {
        unsigned i = z->next_buf;
        char *buf = (char *)z->bufs + (size_t)i * x->buf_size;
        size_t n = len - done < x->buf_size ? len - done : x->buf_size;
        ssize_t r, s;

        if (z->buf_busy[i]) {
            rc = zc_wait(x, ZC_WAIT_MS, buf_free, &i);
            if (rc < 0)
                return done ? (ssize_t)done : rc;
        }
        r = zcq__xfer_pread(x, src, buf, n, off + (off_t)done);
        if (r < 0)
            return done ? (ssize_t)done : r;
        if (r == 0) {
            if (done)
                break;
            return zcq__xfer_fail(x, -ENODATA, "source ends before offset %lld",
                                  (long long)(off + (off_t)done));
        }
        s = zc_send(x, dst, buf, (size_t)r);
        if (s < 0)
            return done ? (ssize_t)done : s;
        if (s > 0) {
            z->buf_id[i] = z->next_id - 1;
            z->buf_busy[i] = true;
            z->next_buf = (i + 1) % ZCQ__ZC_BUFS;
        }
        done += (size_t)s;
        if (s < r)
            break;
    }
    return (ssize_t)done;
}

static ssize_t zc_mem(struct zcq_xfer *x, int dst, const void *buf, size_t len)
{
    int rc = zc_bind(x, dst);

    if (rc < 0)
        return rc;
    /* Keep the error queue short; the caller waits with zcq_xfer_zc_reap() before reuse. */
    rc = zc_drain(x);
    if (rc < 0)
        return rc;
    return zc_send(x, dst, buf, len);
}

uint32_t zcq_xfer_zc_pending(const struct zcq_xfer *x)
{
    return x->zc.fd >= 0 ? x->zc.next_id - x->zc.done : 0;
}

int zcq_xfer_zc_reap(struct zcq_xfer *x, int timeout_ms)
{
    int rc;

    if (x->zc.fd < 0)
        return 0;
    rc = timeout_ms > 0 ? zc_wait(x, timeout_ms, all_done, NULL) : zc_drain(x);
    if (rc < 0 && rc != -ETIMEDOUT)
        return rc;
    return (int)zcq_xfer_zc_pending(x);
}

/* The destination may already be closed (and its fd number reused), so reset does not wait:
 * it reaps what has arrived and, if sends are still pending, retires the buffer block. Its
 * pages may still be queued for (re)transmission by the closed socket, so it is freed only at
 * close, when the context's owner is done. */
static void zc_reset(struct zcq_xfer *x)
{
    struct zcq__zc *z = &x->zc;

    if (z->fd >= 0 && zcq_xfer_zc_pending(x))
        (void)zc_drain(x);
    if (z->fd >= 0 && zcq_xfer_zc_pending(x) && z->bufs) {
        if (z->n_retired == ZCQ__ZC_RETIRED) {
            free(z->retired[0]);
            memmove(z->retired, z->retired + 1, sizeof(z->retired[0]) * (ZCQ__ZC_RETIRED - 1));
            z->n_retired--;
        }
        z->retired[z->n_retired++] = z->bufs;
        z->bufs = NULL;
    }
    memset(z->buf_busy, 0, sizeof(z->buf_busy));
    z->fd = -1;
    z->enabled = false;
}

static void zc_close(struct zcq_xfer *x)
{
    struct zcq__zc *z = &x->zc;

    /* Give the kernel a bounded time to release our pages before they go back to malloc. */
    if (z->fd >= 0 && zcq_xfer_zc_pending(x))
        (void)zc_wait(x, ZC_WAIT_MS, all_done, NULL);
    zc_reset(x);
    free(z->bufs);
    z->bufs = NULL;
    for (unsigned i = 0; i < z->n_retired; i++)
        free(z->retired[i]);
    z->n_retired = 0;
}

const struct zcq__xfer_ops zcq__xfer_zerocopy_ops = {
    .name = "zerocopy",
    .open = zc_open,
    .file = zc_file,
    .mem = zc_mem,
    .reset = zc_reset,
    .close = zc_close,
};
