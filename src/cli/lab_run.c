/*
 * One lab measurement: a strategy, a cache state, N runs of the whole file to a fresh
 * receiver. See lab.h.
 *
 * What is timed: from just before the first byte is handed to the kernel until the receiver
 * has read the last one (its CLOCK_MONOTONIC stamp), so a strategy cannot look fast by leaving
 * bytes queued in a socket buffer. For /dev/null and files the end is when the sender is done.
 * CPU and context switches: getrusage() deltas of the sender (this process, around the
 * transfer loop only) and of the receiver (its own process, from accept to end of stream).
 * On loopback the receive path's protocol work mostly runs in the sender's softirq context and
 * is charged to the sender's system time; the receiver pays for copying out to user space.
 */
#include "cli/lab.h"
#include "io/pagecache.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct zcq_lab_theory theory[ZCQ_XFER_COUNT] = {
    [ZCQ_XFER_AUTO] = {2, 0, 2, "picks sendfile where it works"},
    [ZCQ_XFER_COPY] = {4, 2, 4, "read(): page cache -> user; write(): user -> socket"},
    [ZCQ_XFER_MMAP] = {3, 1, 2, "write() copies the mapping to the socket; page faults"},
    [ZCQ_XFER_SENDFILE] = {2, 0, 2, "pages referenced by the skb; 1 CPU copy w/o SG NIC"},
    [ZCQ_XFER_SPLICE] = {2, 0, 4, "file -> pipe -> socket, page references only"},
    [ZCQ_XFER_DIRECT] = {3, 1, 4, "disk DMAs into the user buffer; page cache bypassed"},
    [ZCQ_XFER_URING] = {4, 2, 2, "copy's copies; read+send in one io_uring_enter"},
    [ZCQ_XFER_ZEROCOPY] = {3, 1, 4, "read() copies; send pins pages; + completion reads"},
    [ZCQ_XFER_CFR] = {3, 1, 2, "in-kernel page cache -> page cache (0 with reflink)"},
};

const struct zcq_lab_theory *zcq_lab_theory(enum zcq_xfer_method m)
{
    return (unsigned)m < ZCQ_XFER_COUNT ? &theory[m] : &theory[ZCQ_XFER_COPY];
}

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Bring the whole file into the page cache (warm runs). */
static int warm_up(int fd, uint64_t size)
{
    char *buf;
    uint64_t off = 0;

    if (zcq_pc_percent(fd) >= 100)
        return 0;
    buf = malloc(1u << 20);
    if (!buf)
        return -ENOMEM;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    while (off < size) {
        ssize_t n = pread(fd, buf, 1u << 20, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (uint64_t)n;
    }
    free(buf);
    return 0;
}

static void progress(const struct zcq_lab_opts *o, enum zcq_xfer_method m, enum zcq_lab_cache c,
                     unsigned run, uint64_t done, uint64_t size, uint64_t t0)
{
    double s = (double)(mono_ns() - t0) / 1e9;

    if (!o->progress)
        return;
    fprintf(stderr, "\r\033[K  %-16s %-4s run %u/%u  %3d%%  %.2f GB/s", zcq_xfer_method_name(m),
            c == ZCQ_LAB_COLD ? "cold" : "warm", run + 1, o->runs,
            size ? (int)(done * 100 / size) : 100, s > 0 ? (double)done / s / 1e9 : 0.0);
    fflush(stderr);
}

static void __attribute__((format(printf, 2, 3)))
set_error(struct zcq_lab_result *res, const char *fmt, ...)
{
    va_list ap;

    res->ok = false;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
}

int zcq_lab_measure(const struct zcq_lab_opts *o, enum zcq_xfer_method m, enum zcq_lab_cache c,
                    struct zcq_lab_result *res)
{
    struct zcq_xfer_opts xo = {.chunk_max = o->chunk, .buf_size = o->chunk};
    struct zcq_xfer *x = NULL;
    char why[256];
    struct stat sb;
    int src, rc;

    memset(res, 0, sizeof(*res));
    res->method = m;
    res->cache = c;
    res->ok = true;
    res->verified = true;
    res->resident_before_pct = res->resident_after_pct = -1;

    src = open(o->file, O_RDONLY | O_CLOEXEC);
    if (src < 0 || fstat(src, &sb) < 0) {
        rc = -errno;
        if (src >= 0)
            close(src);
        return rc;
    }
    res->size = (uint64_t)sb.st_size;

    rc = zcq_xfer_open(&x, m, &xo, why, sizeof(why));
    if (rc < 0) {
        set_error(res, "%s", why);
        close(src);
        return 0;
    }

    for (unsigned run = 0; run < o->runs && run < ZCQ_LAB_MAX_RUNS && res->ok; run++) {
        struct zcq_lab_recv r;
        struct zcq_lab_got got;
        struct rusage u0, u1;
        uint64_t done = 0, t0, last = 0;
        const struct zcq_xfer_stats *st;

        if (c == ZCQ_LAB_COLD)
            rc = zcq_pc_drop(src);
        else
            rc = warm_up(src, res->size);
        if (rc < 0) {
            set_error(res, "cannot prepare the page cache: %s", strerror(-rc));
            break;
        }
        if (run == 0)
            res->resident_before_pct = zcq_pc_percent(src);

        rc = zcq_lab_recv_start(&r, o->dest, o->dir, o->tcp_cc, why, sizeof(why));
        if (rc < 0) {
            set_error(res, "receiver: %s", why);
            break;
        }
        if (o->dest == ZCQ_LAB_TCP && run == 0) {
            socklen_t l = sizeof(res->tcp_cc) - 1;

            if (getsockopt(r.fd, IPPROTO_TCP, TCP_CONGESTION, res->tcp_cc, &l) < 0)
                res->tcp_cc[0] = '\0';
        }
        zcq_xfer_reset(x); /* a new destination, maybe with a recycled fd number */
        zcq_xfer_stats_clear(x);

        getrusage(RUSAGE_SELF, &u0);
        t0 = mono_ns();
        while (done < res->size) {
            ssize_t n = zcq_xfer_file(x, r.fd, src, (off_t)done, res->size - done);

            if (n <= 0) {
                const char *w = n == 0 ? "no progress" : zcq_xfer_why(x);

                set_error(res, "%s", *w ? w : strerror((int)-n));
                break;
            }
            done += (uint64_t)n;
            if (o->progress && done - last >= (64u << 20)) {
                last = done;
                progress(o, m, c, run, done, res->size, t0);
            }
        }
        /* Zero-copy: the socket is done only when the kernel has released our buffers. */
        if (res->ok)
            (void)zcq_xfer_zc_reap(x, 10000);
        getrusage(RUSAGE_SELF, &u1);
        st = zcq_xfer_stats(x);
        res->zc_sends += st->zc_sends;
        res->zc_copied += st->zc_copied;
        res->send.syscalls += st->syscalls;
        zcq_xfer_reset(x);
        if (!res->ok) {
            zcq_lab_recv_abort(&r);
            break;
        }
        rc = zcq_lab_recv_finish(&r, &got, why, sizeof(why));
        if (rc < 0) {
            set_error(res, "receiver: %s", why);
            break;
        }
        res->send.user_s += tv_s(u1.ru_utime) - tv_s(u0.ru_utime);
        res->send.sys_s += tv_s(u1.ru_stime) - tv_s(u0.ru_stime);
        res->send.vol_csw += (uint64_t)(u1.ru_nvcsw - u0.ru_nvcsw);
        res->send.invol_csw += (uint64_t)(u1.ru_nivcsw - u0.ru_nivcsw);
        res->recv.user_s += got.use.user_s;
        res->recv.sys_s += got.use.sys_s;
        res->recv.vol_csw += got.use.vol_csw;
        res->recv.invol_csw += got.use.invol_csw;
        res->recv.syscalls += got.use.syscalls;
        if (got.hashed && (got.bytes != res->size || got.hash != o->src_hash)) {
            res->verified = false;
            snprintf(res->error, sizeof(res->error),
                     "receiver got %llu bytes with a different checksum",
                     (unsigned long long)got.bytes);
            res->ok = false;
            break;
        }
        if (!got.hashed)
            res->verified = false;
        res->gbps[res->runs++] =
            (double)res->size / (double)(got.end_ns > t0 ? got.end_ns - t0 : 1);
        if (run == 0)
            res->resident_after_pct = zcq_pc_percent(src);
        progress(o, m, c, run, done, res->size, t0);
    }
    if (o->progress)
        fprintf(stderr, "\r\033[K");

    if (res->runs) {
        double sorted[ZCQ_LAB_MAX_RUNS];

        memcpy(sorted, res->gbps, sizeof(double) * res->runs);
        qsort(sorted, res->runs, sizeof(double), cmp_double);
        res->gbps_min = sorted[0];
        res->gbps_max = sorted[res->runs - 1];
        res->gbps_median = res->runs % 2 ? sorted[res->runs / 2]
                                         : (sorted[res->runs / 2 - 1] + sorted[res->runs / 2]) / 2;
    }
    zcq_xfer_close(x);
    close(src);
    return 0;
}
