/*
 * Transfer engine tests (src/io/xfer.h).
 *
 * Every strategy must deliver exactly the bytes of the asked-for range, so a transfer goes to
 * a receiver in another process that drains the destination, hashes what it got with XXH3 and
 * reports count + hash through a pipe; the sender compares them with the hash of the range it
 * wrote. File content is pseudo-random, so a misplaced, repeated or lost block changes the
 * hash. Each (strategy, destination, cache state) runs in its own process, as do the
 * resumption, full-destination, chunk-cap, error and memory-path tests of each strategy.
 * copy_file_range, which only writes regular files, has its own file-to-file matrix.
 */
#include "harness.h"
#include "io/pagecache.h"
#include "io/sys.h"
#include "io/xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define BIG (64 * MiB)
/* Unaligned to pages and to any O_DIRECT block size. */
#define ODD_OFF ((off_t)12345)

static const size_t sizes[] = {0, 1, 4095, 4096, 4097, MiB + 1, BIG};
static const off_t offsets[] = {0, ODD_OFF};

/* A progress line, flushed at once so that it survives a time-limit kill. */
__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---- source files ---- */

struct src {
    int fd;
    size_t size;
    unsigned char *data; /* the file's content: expectations never read (and so warm) the file */
};

static void fill_random(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1; /* xorshift's state must not be 0 */
    size_t i;

    for (i = 0; i < n; i += 8) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        memcpy(p + i, &s, n - i < 8 ? n - i : 8);
    }
}

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            zt_fail(__FILE__, __LINE__, "write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

static void src_make(struct src *s, size_t size, uint64_t seed)
{
    static unsigned serial;
    char path[4200];

    snprintf(path, sizeof(path), "%s/src%u", zt_tmpdir(), serial++);
    s->data = malloc(size ? size : 1);
    ZT_ASSERT(s->data);
    fill_random(s->data, size, seed);
    s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ZT_OK(s->fd);
    /* Unlinked at once, so a test killed by its time limit leaves no 64 MiB file behind; the
     * direct strategy reopens through /proc/self/fd, which works for an unlinked file. */
    ZT_OK(unlink(path));
    write_all(s->fd, s->data, size);
    s->size = size;
}

static void src_free(struct src *s)
{
    close(s->fd);
    free(s->data);
}

/* tmpfs and ramfs pages are the file itself: nothing can make such a file cold. */
static void skip_if_fs_keeps_pages(int fd)
{
    struct statfs sf;

    ZT_OK(fstatfs(fd, &sf));
    if (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC)
        zt_skip("cold cache: %s is on tmpfs/ramfs, which cannot drop a file's pages", zt_tmpdir());
}

/* Cold: drop the file's pages and check that the range really is out of memory. */
static void make_cold(const struct src *s, off_t off, size_t len)
{
    size_t res, tot;

    ZT_OK(zcq_pc_drop(s->fd));
    if (!len)
        return;
    ZT_OK(zcq_pc_residency(s->fd, off, len, &res, &tot));
    ZT_ASSERT(tot > 0);
    if (res * 10 > tot)
        zt_fail(__FILE__, __LINE__, "%zu of %zu pages at %lld still resident after zcq_pc_drop",
                res, tot, (long long)off);
}

static void make_warm(const struct src *s, off_t off, size_t len)
{
    static char scratch[256 * 1024];
    size_t res, tot, done = 0;

    while (done < len) {
        size_t n = len - done < sizeof(scratch) ? len - done : sizeof(scratch);
        ssize_t r = pread(s->fd, scratch, n, off + (off_t)done);

        ZT_ASSERT(r > 0);
        done += (size_t)r;
    }
    if (!len)
        return;
    ZT_OK(zcq_pc_residency(s->fd, off, len, &res, &tot));
    if (res * 10 < tot * 9)
        zt_fail(__FILE__, __LINE__, "only %zu of %zu pages resident after reading them", res, tot);
}

/* ---- destinations and the receiver ---- */

enum dst_kind { DST_TCP, DST_UNIX, DST_PIPE };
static const char *const dst_names[] = {"tcp", "unix", "pipe"};

/* fds[0] is the sender's end, fds[1] the receiver's. rcvbuf > 0 shrinks the receive buffer,
 * for TCP on the listener so the window is small from the handshake on. */
static void dst_open(enum dst_kind k, int rcvbuf, int fds[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int l, p[2];

    switch (k) {
    case DST_TCP:
        l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ZT_OK(l);
        if (rcvbuf > 0)
            ZT_OK(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)));
        ZT_OK(bind(l, (struct sockaddr *)&a, sizeof(a)));
        ZT_OK(listen(l, 1));
        ZT_OK(getsockname(l, (struct sockaddr *)&a, &al));
        fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ZT_OK(fds[0]);
        ZT_OK(connect(fds[0], (struct sockaddr *)&a, sizeof(a)));
        fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        ZT_OK(fds[1]);
        close(l);
        break;
    case DST_UNIX:
        ZT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
        if (rcvbuf > 0)
            ZT_OK(setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)));
        break;
    case DST_PIPE:
        ZT_OK(pipe2(p, O_CLOEXEC));
        fds[0] = p[1];
        fds[1] = p[0];
        break;
    }
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    ZT_OK(fl);
    ZT_OK(fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}

struct rx_opts {
    size_t piece;      /* bytes per read(); 0: 256 KiB */
    unsigned pause_us; /* pause after each read: a slow consumer */
};

struct rx {
    pid_t pid;
    int report; /* read end of the report pipe */
};

struct rx_report {
    uint64_t count;
    uint64_t hash;
    int err; /* errno of a failed read, or 0 */
};

static void rx_child(int fd, const struct rx_opts *o, int report)
{
    size_t piece = o && o->piece ? o->piece : 256 * KiB;
    unsigned char *buf = malloc(piece);
    XXH3_state_t *st = XXH3_createState();
    struct rx_report r = {0};

    if (!buf || !st || XXH3_64bits_reset(st) != XXH_OK) {
        r.err = ENOMEM;
    } else {
        for (;;) {
            ssize_t n = read(fd, buf, piece);

            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                r.err = errno;
                break;
            }
            if (n == 0)
                break;
            XXH3_64bits_update(st, buf, (size_t)n);
            r.count += (uint64_t)n;
            if (o && o->pause_us)
                usleep(o->pause_us);
        }
        r.hash = XXH3_64bits_digest(st);
    }
    /* Smaller than PIPE_BUF, so one atomic write. */
    if (write(report, &r, sizeof(r)) != (ssize_t)sizeof(r))
        _exit(2);
    /* _exit: the atexit handlers and leak check belong to the test process, not this copy. */
    _exit(0);
}

/* Fork a receiver draining fd until EOF. The child closes sender_fd, or EOF would never come
 * while it holds the write side itself; the parent gives up fd for the same reason. */
static void rx_start(struct rx *r, int fd, int sender_fd, const struct rx_opts *o)
{
    int rep[2];

    ZT_OK(pipe2(rep, O_CLOEXEC));
    r->pid = fork();
    ZT_OK(r->pid);
    if (r->pid == 0) {
        close(sender_fd);
        close(rep[0]);
        rx_child(fd, o, rep[1]);
    }
    close(rep[1]);
    close(fd);
    r->report = rep[0];
}

static struct rx_report rx_finish(struct rx *r)
{
    struct rx_report rep;
    size_t got = 0;
    int status;

    while (got < sizeof(rep)) {
        ssize_t n = read(r->report, (char *)&rep + got, sizeof(rep) - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            zt_fail(__FILE__, __LINE__, "the receiver died without a report");
        got += (size_t)n;
    }
    close(r->report);
    ZT_EQ(waitpid(r->pid, &status, 0), r->pid);
    ZT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (rep.err)
        zt_fail(__FILE__, __LINE__, "receiver: read: %s", strerror(rep.err));
    return rep;
}

struct seg {
    const void *p;
    size_t n;
};

/* The receiver must have got exactly the concatenation of segs. */
static void expect_rx_segs(struct rx *r, const struct seg *segs, size_t nseg, const char *what)
{
    XXH3_state_t *st = XXH3_createState();
    struct rx_report rep = rx_finish(r);
    uint64_t want, len = 0;

    ZT_ASSERT(st);
    ZT_ASSERT(XXH3_64bits_reset(st) == XXH_OK);
    for (size_t i = 0; i < nseg; i++) {
        XXH3_64bits_update(st, segs[i].p, segs[i].n);
        len += segs[i].n;
    }
    want = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    if (rep.count != len || rep.hash != want)
        zt_fail(__FILE__, __LINE__,
                "%s: receiver got %llu bytes (hash %016llx), expected %llu bytes (hash %016llx)",
                what, (unsigned long long)rep.count, (unsigned long long)rep.hash,
                (unsigned long long)len, (unsigned long long)want);
}

static void expect_rx(struct rx *r, const void *p, size_t n, const char *what)
{
    struct seg s = {p, n};

    expect_rx_segs(r, &s, 1, what);
}

/* ---- engine helpers ---- */

static const char *mname(enum zcq_xfer_method m)
{
    return zcq_xfer_method_name(m);
}

/* Open a context; a strategy this machine cannot run is a skip, with zcq's reason. */
static struct zcq_xfer *xopen(enum zcq_xfer_method m, const struct zcq_xfer_opts *o)
{
    struct zcq_xfer *x = NULL;
    char why[256];
    int rc = zcq_xfer_open(&x, m, o, why, sizeof(why));

    if (rc == -ENOSYS || rc == -EPERM || rc == -EOPNOTSUPP)
        zt_skip("%s cannot run here: %s", mname(m), why);
    if (rc < 0)
        zt_fail(__FILE__, __LINE__, "zcq_xfer_open(%s) = %d: %s", mname(m), rc, why);
    ZT_ASSERT(x);
    return x;
}

/* Skip before forking anything if the strategy cannot run here at all. */
static void xprobe(enum zcq_xfer_method m)
{
    zcq_xfer_close(xopen(m, NULL));
}

/* The caller's loop for a blocking destination: resume at offset + done until all is out. */
static void send_file(struct zcq_xfer *x, int dst, const struct src *s, off_t off, size_t len,
                      const char *what)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = zcq_xfer_file(x, dst, s->fd, off + (off_t)done, len - done);

        if (n <= 0 || (size_t)n > len - done)
            zt_fail(__FILE__, __LINE__, "%s: zcq_xfer_file(at %lld, %zu bytes) = %zd (%s)", what,
                    (long long)(off + (off_t)done), len - done, n, zcq_xfer_why(x));
        done += (size_t)n;
    }
}

static void send_mem(struct zcq_xfer *x, int dst, const unsigned char *buf, size_t len,
                     const char *what)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = zcq_xfer_mem(x, dst, buf + done, len - done);

        if (n <= 0 || (size_t)n > len - done)
            zt_fail(__FILE__, __LINE__, "%s: zcq_xfer_mem(%zu bytes) = %zd (%s)", what, len - done,
                    n, zcq_xfer_why(x));
        done += (size_t)n;
    }
}

/* Zero-copy sends must all complete before their memory is freed or reused. */
static void zc_settle(struct zcq_xfer *x, enum zcq_xfer_method m)
{
    if (m != ZCQ_XFER_ZEROCOPY)
        return;
    ZT_EQ(zcq_xfer_zc_reap(x, 5000), 0);
    ZT_EQ(zcq_xfer_zc_pending(x), 0);
    ZT_ASSERT(zcq_xfer_stats(x)->zc_sends > 0);
}

static void expect_fail(ssize_t rc, int want, struct zcq_xfer *x, const char *what)
{
    if (rc != want)
        zt_fail(__FILE__, __LINE__, "%s: returned %zd (%s), expected %d", what, rc, zcq_xfer_why(x),
                want);
    if (!zcq_xfer_why(x)[0])
        zt_fail(__FILE__, __LINE__, "%s: failed with %zd but zcq_xfer_why() is empty", what, rc);
}

/* ---- 1. every strategy, size, offset, destination and cache state ---- */

typedef void (*case_fn)(enum zcq_xfer_method m, enum dst_kind k, const struct src *s, off_t off,
                        size_t len, bool cold);

/* Every size at both offsets, in the given cache state. Each case gets a file of its own: a
 * page that an earlier case sent over TCP can stay referenced by a socket buffer whose release
 * the kernel defers to another CPU's next network softirq, which nothing here can hurry, and a
 * referenced page cannot be dropped. At the odd offset the range ends exactly at EOF. */
static void for_each_case(enum zcq_xfer_method m, enum dst_kind k, bool cold, case_fn fn)
{
    for (size_t j = 0; j < sizeof(offsets) / sizeof(offsets[0]); j++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            off_t off = offsets[j];
            size_t len = sizes[i];
            struct src s;

            /* 64 MiB dominates the run time: once per cache state, at the odd offset warm
             * and at offset 0 cold, so both offsets see it. */
            if (len == BIG && off != (cold ? 0 : ODD_OFF))
                continue;
            src_make(&s, (size_t)off + len + (off ? 0 : 4096 + 7),
                     0x9e3779b97f4a7c15ull + (uint64_t)m * 131 + (uint64_t)k * 17 + i * 7 + j);
            if (cold) {
                skip_if_fs_keeps_pages(s.fd);
                make_cold(&s, off, len);
            } else {
                make_warm(&s, off, len);
            }
            fn(m, k, &s, off, len, cold);
            src_free(&s);
        }
    }
}

static void file_case(enum zcq_xfer_method m, enum dst_kind k, const struct src *s, off_t off,
                      size_t len, bool cold)
{
    const struct zcq_xfer_stats *st;
    struct zcq_xfer *x;
    struct rx r;
    int fds[2];
    char what[160];

    snprintf(what, sizeof(what), "%s to %s, %zu bytes at %lld, %s cache", mname(m), dst_names[k],
             len, (long long)off, cold ? "cold" : "warm");
    dst_open(k, 0, fds);
    rx_start(&r, fds[1], fds[0], NULL);
    x = xopen(m, NULL);
    ZT_EQ(zcq_xfer_file(x, fds[0], s->fd, off, 0), 0);
    send_file(x, fds[0], s, off, len, what);
    if (len)
        zc_settle(x, m);
    st = zcq_xfer_stats(x);
    ZT_EQ(st->bytes, len);
    if (len)
        ZT_ASSERT(st->syscalls > 0);
    if (m == ZCQ_XFER_AUTO && len)
        ZT_ASSERT(zcq_xfer_active(x) == ZCQ_XFER_SENDFILE ||
                  zcq_xfer_active(x) == ZCQ_XFER_SPLICE || zcq_xfer_active(x) == ZCQ_XFER_COPY);
    else if (m != ZCQ_XFER_AUTO)
        ZT_EQ(zcq_xfer_active(x), m);
    zcq_xfer_close(x);
    ZT_OK(close(fds[0]));
    expect_rx(&r, s->data + off, len, what);
}

/* MSG_ZEROCOPY needs TCP: to a Unix socket or a pipe the engine refuses, says why, and
 * sends nothing. */
static void zc_refused(enum dst_kind k)
{
    unsigned char mem[100] = {1};
    struct zcq_xfer *x;
    struct src s;
    struct rx r;
    int fds[2];

    xprobe(ZCQ_XFER_ZEROCOPY);
    src_make(&s, 64 * KiB + 4097, 7);
    dst_open(k, 0, fds);
    rx_start(&r, fds[1], fds[0], NULL);
    x = xopen(ZCQ_XFER_ZEROCOPY, NULL);
    for (size_t i = 1; i < sizeof(sizes) / sizeof(sizes[0]) && sizes[i] <= MiB; i++) {
        for (size_t j = 0; j < sizeof(offsets) / sizeof(offsets[0]); j++)
            expect_fail(zcq_xfer_file(x, fds[0], s.fd, offsets[j], sizes[i]), -EOPNOTSUPP, x,
                        "zerocopy file transfer to a non-TCP destination");
    }
    expect_fail(zcq_xfer_mem(x, fds[0], mem, sizeof(mem)), -EOPNOTSUPP, x,
                "zerocopy memory transfer to a non-TCP destination");
    note("  refused as documented: %s\n", zcq_xfer_why(x));
    ZT_EQ(zcq_xfer_stats(x)->bytes, 0);
    zcq_xfer_close(x);
    ZT_OK(close(fds[0]));
    expect_rx(&r, s.data, 0, "zerocopy to a non-TCP destination");
    src_free(&s);
}

static void file_matrix(enum zcq_xfer_method m, enum dst_kind k, bool cold)
{
    xprobe(m);
    for_each_case(m, k, cold, file_case);
}

/* ---- 2. resumption on a non-blocking destination with a slow reader ---- */

static void resume_case(enum zcq_xfer_method m, enum dst_kind k)
{
    const size_t len = MiB + 3, chunk = ZCQ_XFER_DEFAULT_CHUNK;
    const off_t off = 4099;
    struct rx_opts ro = {.piece = 4096, .pause_us = 200};
    unsigned eagain = 0, partial = 0;
    int small = 16384, fds[2];
    struct zcq_xfer *x;
    struct src s;
    struct rx r;
    size_t done = 0;
    char what[96];

    snprintf(what, sizeof(what), "%s to a slow non-blocking %s reader", mname(m), dst_names[k]);
    src_make(&s, len + (size_t)off + 100, 11 + (uint64_t)k);
    dst_open(k, small, fds);
    if (k == DST_PIPE)
        ZT_OK(fcntl(fds[0], F_SETPIPE_SZ, small));
    else
        ZT_OK(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)));
    set_nonblock(fds[0]);
    rx_start(&r, fds[1], fds[0], &ro);
    x = xopen(m, NULL);
    while (done < len) {
        size_t want = len - done < chunk ? len - done : chunk;
        ssize_t n = zcq_xfer_file(x, fds[0], s.fd, off + (off_t)done, len - done);

        if (n == -EAGAIN) {
            struct pollfd p = {.fd = fds[0], .events = POLLOUT};

            eagain++;
            if (poll(&p, 1, 10000) != 1)
                zt_fail(__FILE__, __LINE__, "%s: not writable within 10 s", what);
            continue;
        }
        if (n <= 0 || (size_t)n > want)
            zt_fail(__FILE__, __LINE__, "%s: zcq_xfer_file(at %lld, %zu bytes) = %zd (%s)", what,
                    (long long)(off + (off_t)done), len - done, n, zcq_xfer_why(x));
        if ((size_t)n < want)
            partial++;
        done += (size_t)n;
    }
    note("  %s: %u EAGAIN, %u partial returns\n", what, eagain, partial);
    if (eagain + partial == 0)
        zt_fail(__FILE__, __LINE__, "%s: never hit a full destination; the test proved nothing",
                what);
    zc_settle(x, m);
    ZT_EQ(zcq_xfer_stats(x)->bytes, len);
    zcq_xfer_close(x);
    ZT_OK(close(fds[0]));
    expect_rx(&r, s.data + off, len, what);
    src_free(&s);
}

static void resume_test(enum zcq_xfer_method m)
{
    xprobe(m);
    resume_case(m, DST_TCP);
    if (m == ZCQ_XFER_ZEROCOPY)
        return;
    resume_case(m, DST_UNIX);
    resume_case(m, DST_PIPE);
}

/* Read whatever the non-blocking fd holds right now (the writer is this process, so all that
 * was written is there) and compare it with want[0..n). */
static void drain_expect(int fd, const unsigned char *want, size_t n, const char *what)
{
    static unsigned char buf[256 * 1024];
    size_t got = 0;

    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof(buf) - got);

        if (r < 0 && errno == EAGAIN)
            break;
        ZT_ASSERT(r > 0);
        got += (size_t)r;
        ZT_ASSERT(got < sizeof(buf));
    }
    if (got != n || memcmp(buf, want, n) != 0)
        zt_fail(__FILE__, __LINE__, "%s: destination holds %zu bytes, expected %zu%s", what, got, n,
                got == n ? " (content differs)" : "");
}

static size_t fill_junk(int fd)
{
    static const char junk[4096];
    size_t n = 0;

    for (;;) {
        ssize_t w = write(fd, junk, sizeof(junk));

        if (w < 0 && errno == EAGAIN)
            return n;
        ZT_ASSERT(w > 0);
        n += (size_t)w;
    }
}

static void drain_junk(int fd, size_t n)
{
    char buf[4096];

    while (n) {
        ssize_t r = read(fd, buf, n < sizeof(buf) ? n : sizeof(buf));

        ZT_ASSERT(r > 0);
        n -= (size_t)r;
    }
}

/* splice keeps what it read into its pipe when the destination says EAGAIN. A resumed call
 * asking for fewer bytes than the pipe holds must deliver no more than asked, and a call at
 * another offset must discard the pipe rather than send its stale bytes. Both ends of the
 * destination stay in this process, so what arrived can be counted exactly. */
static void splice_pipe_holds(enum dst_kind k)
{
    const off_t off = 4099, other = 300001;
    int small = 8192, fds[2];
    struct zcq_xfer *x;
    struct src s;
    size_t junk;
    ssize_t n, n2;

    src_make(&s, MiB, 5);
    dst_open(k, 0, fds);
    if (k != DST_PIPE)
        ZT_OK(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)));
    set_nonblock(fds[0]);
    set_nonblock(fds[1]);
    x = xopen(ZCQ_XFER_SPLICE, NULL);

    junk = fill_junk(fds[0]);
    n = zcq_xfer_file(x, fds[0], s.fd, off, 64 * KiB);
    ZT_EQ(n, -EAGAIN);
    drain_junk(fds[1], junk);
    n = zcq_xfer_file(x, fds[0], s.fd, off, 100);
    ZT_ASSERT(n > 0 && n <= 100);
    drain_expect(fds[1], s.data + off, (size_t)n, "resumed splice asking for 100 bytes");
    n2 = zcq_xfer_file(x, fds[0], s.fd, off + n, 1);
    ZT_EQ(n2, 1);
    drain_expect(fds[1], s.data + off + n, 1, "resumed splice asking for 1 byte");
    n += n2;
    n2 = zcq_xfer_file(x, fds[0], s.fd, off + n, 5000);
    ZT_ASSERT(n2 > 0 && n2 <= 5000);
    drain_expect(fds[1], s.data + off + n, (size_t)n2, "resumed splice asking for 5000 bytes");

    junk = fill_junk(fds[0]);
    n = zcq_xfer_file(x, fds[0], s.fd, off + n + n2, 64 * KiB);
    ZT_EQ(n, -EAGAIN);
    drain_junk(fds[1], junk);
    n = zcq_xfer_file(x, fds[0], s.fd, other, 777);
    ZT_ASSERT(n > 0 && n <= 777);
    drain_expect(fds[1], s.data + other, (size_t)n, "splice at a new offset after EAGAIN");

    zcq_xfer_close(x);
    close(fds[0]);
    close(fds[1]);
    src_free(&s);
}

/* Read what fd has now into buf (at most cap bytes); wait up to 1 s for the first byte, since
 * over TCP the kernel moves queued data to the receiver after a read opens the window. */
static size_t pump_read(int fd, unsigned char *buf, size_t cap, bool wait)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    size_t got = 0;

    if (wait && poll(&p, 1, 1000) < 0)
        zt_fail(__FILE__, __LINE__, "poll: %s", strerror(errno));
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);

        if (r < 0 && errno == EAGAIN)
            break;
        ZT_ASSERT(r > 0);
        got += (size_t)r;
    }
    return got;
}

/* A full non-blocking destination: the engine says -EAGAIN instead of blocking (a strategy
 * that blocks here hangs into the time limit) and sends nothing; then one process pumps both
 * ends, reading only when the engine says EAGAIN, and the stream must be the junk that filled
 * the destination followed by the file, byte for byte. */
static void full_case(enum zcq_xfer_method m, enum dst_kind k)
{
    const size_t len = 256 * KiB + 7;
    unsigned char mem[1000] = {0};
    int small = 8192, fds[2];
    struct zcq_xfer *x;
    unsigned char *got;
    struct src s;
    size_t junk, sent = 0, have = 0;
    unsigned eagain = 0;
    ssize_t n;
    char what[64];

    snprintf(what, sizeof(what), "%s to a full non-blocking %s", mname(m), dst_names[k]);
    src_make(&s, len, 43);
    dst_open(k, small, fds);
    if (k != DST_PIPE)
        ZT_OK(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)));
    set_nonblock(fds[0]);
    set_nonblock(fds[1]);
    junk = fill_junk(fds[0]);
    x = xopen(m, NULL);
    if (k == DST_TCP) {
        /* TCP may move queued junk to the peer behind our back and open room; a pipe or a
         * Unix socket stays full until read. */
        for (int i = 0; (n = zcq_xfer_file(x, fds[0], s.fd, (off_t)sent, len - sent)) > 0; i++) {
            sent += (size_t)n;
            ZT_ASSERT(i < 1000 && sent < len);
        }
        ZT_EQ(n, -EAGAIN);
    } else {
        ZT_EQ(zcq_xfer_file(x, fds[0], s.fd, 0, len), -EAGAIN);
        ZT_EQ(zcq_xfer_mem(x, fds[0], mem, sizeof(mem)), -EAGAIN);
        ZT_EQ(zcq_xfer_stats(x)->bytes, 0);
    }
    got = malloc(junk + len + 1);
    ZT_ASSERT(got);
    while (sent < len) {
        n = zcq_xfer_file(x, fds[0], s.fd, (off_t)sent, len - sent);
        if (n == -EAGAIN) {
            eagain++;
            have += pump_read(fds[1], got + have, junk + len + 1 - have, k == DST_TCP);
            continue;
        }
        if (n <= 0)
            zt_fail(__FILE__, __LINE__, "%s: zcq_xfer_file at %zu = %zd (%s)", what, sent, n,
                    zcq_xfer_why(x));
        sent += (size_t)n;
    }
    zc_settle(x, m);
    ZT_EQ(zcq_xfer_stats(x)->bytes, len);
    zcq_xfer_close(x);
    ZT_OK(close(fds[0]));
    /* The writer is closed: read to EOF (or, over TCP, to the FIN). */
    for (;;) {
        ssize_t r;

        ZT_ASSERT(have <= junk + len);
        r = read(fds[1], got + have, junk + len + 1 - have);
        if (r < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fds[1], .events = POLLIN};

            ZT_EQ(poll(&p, 1, 10000), 1);
            continue;
        }
        ZT_OK(r);
        if (r == 0)
            break;
        have += (size_t)r;
    }
    note("  %s: %zu junk bytes, %u EAGAIN while pumping\n", what, junk, eagain);
    ZT_EQ(have, junk + len);
    for (size_t i = 0; i < junk; i++)
        ZT_EQ(got[i], 0);
    ZT_ASSERT(memcmp(got + junk, s.data, len) == 0);
    close(fds[1]);
    free(got);
    src_free(&s);
}

static void full_test(enum zcq_xfer_method m)
{
    xprobe(m);
    full_case(m, DST_TCP);
    if (m == ZCQ_XFER_ZEROCOPY)
        return;
    full_case(m, DST_UNIX);
    full_case(m, DST_PIPE);
}

/* ---- 3. the chunk cap ---- */

static void cap_case(enum zcq_xfer_method m, size_t chunk, off_t off)
{
    struct zcq_xfer_opts o = {.chunk_max = chunk};
    const size_t len = MiB;
    struct zcq_xfer *x;
    struct src s;
    struct rx r;
    int fds[2];
    size_t done = 0;
    char what[96];

    snprintf(what, sizeof(what), "%s with chunk_max %zu", mname(m), chunk);
    src_make(&s, len + (size_t)off, 13);
    dst_open(DST_TCP, 0, fds);
    rx_start(&r, fds[1], fds[0], NULL);
    x = xopen(m, &o);
    while (done < len) {
        ssize_t n = zcq_xfer_file(x, fds[0], s.fd, off + (off_t)done, len - done);

        if (n <= 0 || (size_t)n > chunk)
            zt_fail(__FILE__, __LINE__, "%s: zcq_xfer_file(%zu bytes) = %zd (%s)", what, len - done,
                    n, zcq_xfer_why(x));
        done += (size_t)n;
    }
    zc_settle(x, m);
    zcq_xfer_close(x);
    ZT_OK(close(fds[0]));
    expect_rx(&r, s.data + off, len, what);
    src_free(&s);
}

static void cap_test(enum zcq_xfer_method m)
{
    xprobe(m);
    cap_case(m, 64 * KiB, 0);
    /* Not a page multiple: the bounce buffer is rounded up to a page, the cap must not be. */
    cap_case(m, 3 * 4096 + 5, ODD_OFF);
}

/* ---- 4. errors ---- */

static void enodata_test(enum zcq_xfer_method m)
{
    const size_t size = 3 * 4096 + 100;
    struct zcq_xfer *x;
    struct src s, empty;
    int fds[2];
    size_t got = 0;
    ssize_t n;

    xprobe(m);
    src_make(&s, size, 17);
    src_make(&empty, 0, 19);
    /* Everything here fits the socket buffers, so both ends can stay in this process. */
    dst_open(DST_TCP, 0, fds);
    x = xopen(m, NULL);
    expect_fail(zcq_xfer_file(x, fds[0], s.fd, (off_t)size, 1), -ENODATA, x, "offset at EOF");
    expect_fail(zcq_xfer_file(x, fds[0], s.fd, (off_t)size + 8192, 10), -ENODATA, x,
                "offset past EOF");
    expect_fail(zcq_xfer_file(x, fds[0], empty.fd, 0, 1), -ENODATA, x, "empty file");
    /* A range running past EOF delivers what exists, then says -ENODATA. */
    for (;;) {
        n = zcq_xfer_file(x, fds[0], s.fd, (off_t)(size - 100 + got), 1000 - got);
        if (n < 0)
            break;
        ZT_ASSERT(n > 0);
        got += (size_t)n;
        ZT_ASSERT(got <= 100);
    }
    expect_fail(n, -ENODATA, x, "range past EOF");
    ZT_EQ(got, 100);
    zc_settle(x, m);
    ZT_EQ(zcq_xfer_stats(x)->bytes, 100);
    zcq_xfer_close(x);
    ZT_OK(shutdown(fds[0], SHUT_WR));
    {
        unsigned char buf[200];
        size_t have = 0;
        ssize_t r;

        while ((r = read(fds[1], buf + have, sizeof(buf) - have)) > 0)
            have += (size_t)r;
        ZT_EQ(have, 100);
        ZT_ASSERT(memcmp(buf, s.data + size - 100, 100) == 0);
    }
    close(fds[0]);
    close(fds[1]);
    src_free(&s);
    src_free(&empty);
}

static void epipe_test(enum zcq_xfer_method m)
{
    unsigned char mem[4096] = {0};
    struct zcq_xfer *x;
    struct src s;
    int p[2], fds[2];

    xprobe(m);
    src_make(&s, 64 * KiB, 23);

    /* A pipe whose reader is gone (SIGPIPE is ignored in the test process). */
    ZT_OK(pipe2(p, O_CLOEXEC));
    close(p[0]);
    x = xopen(m, NULL);
    expect_fail(zcq_xfer_file(x, p[1], s.fd, 0, 4096),
                m == ZCQ_XFER_ZEROCOPY ? -EOPNOTSUPP : -EPIPE, x,
                "file to a pipe without a reader");
    expect_fail(zcq_xfer_mem(x, p[1], mem, sizeof(mem)),
                m == ZCQ_XFER_ZEROCOPY ? -EOPNOTSUPP : -EPIPE, x,
                "memory to a pipe without a reader");
    zcq_xfer_close(x);
    close(p[1]);

    /* A TCP socket shut down for writing fails the same way, for every strategy. */
    dst_open(DST_TCP, 0, fds);
    ZT_OK(shutdown(fds[0], SHUT_WR));
    x = xopen(m, NULL);
    expect_fail(zcq_xfer_file(x, fds[0], s.fd, 0, 4096), -EPIPE, x,
                "file to a socket shut down for writing");
    expect_fail(zcq_xfer_mem(x, fds[0], mem, sizeof(mem)), -EPIPE, x,
                "memory to a socket shut down for writing");
    ZT_EQ(zcq_xfer_stats(x)->bytes, 0);
    zcq_xfer_close(x);
    close(fds[0]);
    close(fds[1]);
    src_free(&s);
}

/* Fault injection through zcq_sys. Each test runs in its own process, so globals are fine. */
static unsigned inj_calls, inj_after, inj_short_hits;

static ssize_t pread_eio(int fd, void *buf, size_t n, off_t off)
{
    if (inj_calls++ >= inj_after) {
        errno = EIO;
        return -1;
    }
    return pread(fd, buf, n, off);
}

/* A real short write: the kernel takes fewer bytes than offered, as a signal or a full
 * buffer can make it do. */
static size_t inj_short_max;

static ssize_t write_short(int fd, const void *buf, size_t n)
{
    if (n > inj_short_max) {
        n = inj_short_max;
        inj_short_hits++;
    }
    return write(fd, buf, n);
}

static ssize_t send_short(int fd, const void *buf, size_t n, int flags)
{
    if (n > inj_short_max) {
        n = inj_short_max;
        inj_short_hits++;
    }
    return send(fd, buf, n, flags);
}

static ssize_t sendfile_einval(int out_fd, int in_fd, off_t *off, size_t n)
{
    (void)out_fd;
    (void)in_fd;
    (void)off;
    (void)n;
    inj_calls++;
    errno = EINVAL;
    return -1;
}

static ssize_t sendfile_later_einval(int out_fd, int in_fd, off_t *off, size_t n)
{
    if (inj_calls++ >= inj_after) {
        errno = EINVAL;
        return -1;
    }
    return sendfile(out_fd, in_fd, off, n);
}

static unsigned splice_calls;

static ssize_t splice_einval(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t n,
                             unsigned int flags)
{
    (void)fd_in;
    (void)off_in;
    (void)fd_out;
    (void)off_out;
    (void)n;
    (void)flags;
    splice_calls++;
    errno = EINVAL;
    return -1;
}

/* EIO from the source: nothing is sent and why says so; after progress, the transfer stops
 * at the failure with exactly the bytes before it delivered. Only copy, direct and zerocopy
 * read through zcq_sys.pread. */
static void eio_test(enum zcq_xfer_method m)
{
    const size_t len = MiB;
    const off_t off = 4099;
    struct zcq_xfer *x;
    struct src s;
    struct rx r;
    int fds[2];
    size_t done = 0;
    ssize_t n;

    xprobe(m);
    src_make(&s, len + (size_t)off, 29);
    dst_open(DST_TCP, 0, fds);
    rx_start(&r, fds[1], fds[0], NULL);
    x = xopen(m, NULL);
    inj_calls = 0;
    inj_after = 0;
    zcq_sys.pread = pread_eio;
    expect_fail(zcq_xfer_file(x, fds[0], s.fd, off, len), -EIO, x, "injected EIO");
    note("  why: %s\n", zcq_xfer_why(x));
    ZT_ASSERT(inj_calls > 0);
    ZT_EQ(zcq_xfer_stats(x)->bytes, 0);

    inj_calls = 0;
    inj_after = 3;
    for (;;) {
        n = zcq_xfer_file(x, fds[0], s.fd, off + (off_t)done, len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    zcq_sys_restore();
    expect_fail(n, -EIO, x, "EIO after three good reads");
    ZT_ASSERT(done > 0 && done < len);
    ZT_EQ(zcq_xfer_stats(x)->bytes, done);
    zc_settle(x, m);
    zcq_xfer_close(x);
    ZT_OK(close(fds[0]));
    expect_rx(&r, s.data + off, done, "bytes before the EIO");
    src_free(&s);
}

/* Short writes/sends from the kernel are resumed, never lost or repeated. */
static void short_write_case(enum zcq_xfer_method m, enum dst_kind k)
{
    const size_t len = MiB + 1, mlen = 200001;
    const off_t off = 4099;
    struct zcq_xfer *x;
    struct src s;
    struct rx r;
    int fds[2];
    char what[96];

    snprintf(what, sizeof(what), "%s to %s with short writes", mname(m), dst_names[k]);
    src_make(&s, len + (size_t)off, 31);
    dst_open(k, 0, fds);
    rx_start(&r, fds[1], fds[0], NULL);
    x = xopen(m, NULL);
    inj_short_hits = 0;
    /* zerocopy holds a whole bounce buffer per send until the peer's (possibly delayed) ACK,
     * so 1000-byte sends would make this test wait seconds for ACKs; a third of a chunk is
     * still short. */
    inj_short_max = m == ZCQ_XFER_ZEROCOPY ? ZCQ_XFER_DEFAULT_CHUNK / 3 : 1000;
    zcq_sys.write = write_short;
    zcq_sys.send = send_short;
    send_file(x, fds[0], &s, off, len, what);
    send_mem(x, fds[0], s.data + 7, mlen, what);
    zcq_sys_restore();
    /* io_uring sends by itself; everything else goes through zcq_sys.write/send at least for
     * memory, so the injection must have bitten. */
    if (m != ZCQ_XFER_URING)
        ZT_ASSERT(inj_short_hits > 0);
    zc_settle(x, m);
    ZT_EQ(zcq_xfer_stats(x)->bytes, len + mlen);
    zcq_xfer_close(x);
    ZT_OK(close(fds[0]));
    {
        struct seg segs[] = {{s.data + off, len}, {s.data + 7, mlen}};

        expect_rx_segs(&r, segs, 2, what);
    }
    src_free(&s);
}

static void short_write_test(enum zcq_xfer_method m)
{
    xprobe(m);
    short_write_case(m, DST_TCP);
    if (m != ZCQ_XFER_ZEROCOPY)
        short_write_case(m, DST_PIPE);
}

/* auto: sendfile refused before any byte moved -> splice; splice refused too -> copy; a
 * refusal after progress is an error, not a switch. */
static void fallback_case(const struct src *s, bool splice_too, enum zcq_xfer_method want)
{
    const size_t len = MiB + 1;
    struct zcq_xfer *x;
    struct rx r;
    int fds[2];
    char what[64];

    snprintf(what, sizeof(what), "auto with sendfile%s refused", splice_too ? " and splice" : "");
    dst_open(DST_TCP, 0, fds);
    rx_start(&r, fds[1], fds[0], NULL);
    x = xopen(ZCQ_XFER_AUTO, NULL);
    inj_calls = splice_calls = 0;
    zcq_sys.sendfile = sendfile_einval;
    if (splice_too)
        zcq_sys.splice = splice_einval;
    send_file(x, fds[0], s, ODD_OFF, len, what);
    zcq_sys_restore();
    ZT_EQ(zcq_xfer_active(x), want);
    /* The choice sticks: sendfile (and splice) were tried once, not on every call. */
    ZT_EQ(inj_calls, 1);
    ZT_EQ(splice_calls, splice_too ? 1 : 0);
    ZT_EQ(zcq_xfer_stats(x)->bytes, len);
    zcq_xfer_close(x);
    ZT_OK(close(fds[0]));
    expect_rx(&r, s->data + ODD_OFF, len, what);
}

static void t_fallback(void)
{
    const size_t len = MiB;
    struct zcq_xfer *x;
    struct src s;
    struct rx r;
    int fds[2];
    size_t done = 0;
    ssize_t n;

    src_make(&s, 2 * MiB, 37);
    fallback_case(&s, false, ZCQ_XFER_SPLICE);
    fallback_case(&s, true, ZCQ_XFER_COPY);

    dst_open(DST_TCP, 0, fds);
    rx_start(&r, fds[1], fds[0], NULL);
    x = xopen(ZCQ_XFER_AUTO, NULL);
    inj_calls = 0;
    inj_after = 2;
    zcq_sys.sendfile = sendfile_later_einval;
    for (;;) {
        n = zcq_xfer_file(x, fds[0], s.fd, (off_t)done, len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    zcq_sys_restore();
    expect_fail(n, -EINVAL, x, "sendfile refused after progress");
    ZT_EQ(zcq_xfer_active(x), ZCQ_XFER_SENDFILE);
    ZT_ASSERT(done > 0 && done < len);
    zcq_xfer_close(x);
    ZT_OK(close(fds[0]));
    expect_rx(&r, s.data, done, "bytes before the refusal");
    src_free(&s);
}

static void t_method_names(void)
{
    enum zcq_xfer_method out;

    for (int m = 0; m < ZCQ_XFER_COUNT; m++) {
        const char *name = zcq_xfer_method_name((enum zcq_xfer_method)m);

        ZT_ASSERT(name && name[0]);
        out = ZCQ_XFER_COUNT;
        ZT_EQ(zcq_xfer_method_parse(name, &out), 0);
        ZT_EQ(out, m);
        for (int o = 0; o < m; o++)
            ZT_ASSERT(strcmp(name, zcq_xfer_method_name((enum zcq_xfer_method)o)) != 0);
    }
    ZT_EQ(zcq_xfer_method_parse("bogus", &out), -EINVAL);
    ZT_EQ(zcq_xfer_method_parse("", &out), -EINVAL);
    ZT_EQ(zcq_xfer_method_parse("copy ", &out), -EINVAL);
    ZT_EQ(zcq_xfer_method_parse("sendfil", &out), -EINVAL);
}

static void t_open_args(void)
{
    struct zcq_xfer_opts o = {.chunk_max = (size_t)ZCQ_XFER_MAX_CHUNK + 1};
    static char sentinel;
    struct zcq_xfer *x = (struct zcq_xfer *)(void *)&sentinel; /* must be set to NULL */
    char why[128];

    ZT_EQ(zcq_xfer_open(&x, ZCQ_XFER_COUNT, NULL, why, sizeof(why)), -EINVAL);
    ZT_ASSERT(x == NULL && why[0]);
    ZT_EQ(zcq_xfer_open(&x, ZCQ_XFER_COPY, &o, why, sizeof(why)), -EINVAL);
    ZT_ASSERT(x == NULL && why[0]);
    o.chunk_max = ZCQ_XFER_MAX_CHUNK;
    ZT_EQ(zcq_xfer_open(&x, ZCQ_XFER_COPY, &o, NULL, 0), 0);
    ZT_ASSERT(x != NULL);
    ZT_EQ(zcq_xfer_active(x), ZCQ_XFER_COPY);
    ZT_EQ(zcq_xfer_why(x)[0], '\0');
    zcq_xfer_close(x);
    zcq_xfer_close(NULL);
}

/* ---- 5. the memory path ---- */

static void mem_case(enum zcq_xfer_method m, enum dst_kind k, const unsigned char *buf, size_t len)
{
    const struct zcq_xfer_stats *st;
    struct zcq_xfer *x;
    struct rx r;
    int fds[2];
    ssize_t n;
    char what[64];

    snprintf(what, sizeof(what), "%s memory to %s", mname(m), dst_names[k]);
    dst_open(k, 0, fds);
    rx_start(&r, fds[1], fds[0], NULL);
    x = xopen(m, NULL);
    ZT_EQ(zcq_xfer_mem(x, fds[0], buf, 0), 0);
    if (m == ZCQ_XFER_ZEROCOPY && k != DST_TCP) {
        expect_fail(zcq_xfer_mem(x, fds[0], buf, len), -EOPNOTSUPP, x, what);
        len = 0;
    } else {
        /* The default chunk cap holds for memory too. */
        n = zcq_xfer_mem(x, fds[0], buf, len);
        if (n <= 0 || (size_t)n > ZCQ_XFER_DEFAULT_CHUNK)
            zt_fail(__FILE__, __LINE__, "%s: first call = %zd (%s)", what, n, zcq_xfer_why(x));
        send_mem(x, fds[0], buf + n, len - (size_t)n, what);
        zc_settle(x, m);
    }
    st = zcq_xfer_stats(x);
    ZT_EQ(st->bytes, len);
    if (len)
        ZT_ASSERT(st->syscalls > 0);
    zcq_xfer_stats_clear(x);
    ZT_EQ(st->bytes, 0);
    ZT_EQ(st->syscalls, 0);
    zcq_xfer_close(x);
    ZT_OK(close(fds[0]));
    expect_rx(&r, buf, len, what);
}

static void mem_test(enum zcq_xfer_method m)
{
    const size_t len = MiB + 1;
    unsigned char *buf;

    xprobe(m);
    buf = malloc(len);
    ZT_ASSERT(buf);
    fill_random(buf, len, 41);
    mem_case(m, DST_TCP, buf, len);
    mem_case(m, DST_UNIX, buf, len);
    mem_case(m, DST_PIPE, buf, len);
    /* zc_settle() has seen every zero-copy send complete: only now may the memory go. */
    free(buf);
}

/* ---- copy_file_range: file -> regular file only ---- */

/* A scratch regular file, unlinked at once like the sources. */
static int dst_file(void)
{
    static unsigned serial;
    char path[4200];
    int fd;

    snprintf(path, sizeof(path), "%s/dst%u", zt_tmpdir(), serial++);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ZT_OK(fd);
    ZT_OK(unlink(path));
    return fd;
}

/* The destination file must hold prefix + the range: copy_file_range writes at the file
 * position, as write() would. */
static void expect_file(int fd, const char *prefix, const unsigned char *want, size_t len,
                        const char *what)
{
    size_t plen = strlen(prefix), done = 0;
    unsigned char *got = malloc(plen + len + 1);
    struct stat sb;

    ZT_ASSERT(got);
    ZT_OK(fstat(fd, &sb));
    if ((size_t)sb.st_size != plen + len)
        zt_fail(__FILE__, __LINE__, "%s: destination has %lld bytes, expected %zu", what,
                (long long)sb.st_size, plen + len);
    while (done < plen + len) {
        ssize_t r = pread(fd, got + done, plen + len - done, (off_t)done);

        ZT_ASSERT(r > 0);
        done += (size_t)r;
    }
    if (memcmp(got, prefix, plen) != 0 || memcmp(got + plen, want, len) != 0)
        zt_fail(__FILE__, __LINE__, "%s: destination content differs", what);
    free(got);
}

static void cfr_case(enum zcq_xfer_method m, enum dst_kind k, const struct src *s, off_t off,
                     size_t len, bool cold)
{
    static const char prefix[] = "prefix";
    struct zcq_xfer *x;
    int fd;
    char what[128];

    (void)k;
    snprintf(what, sizeof(what), "copy_file_range to a file, %zu bytes at %lld, %s cache", len,
             (long long)off, cold ? "cold" : "warm");
    fd = dst_file();
    write_all(fd, prefix, strlen(prefix));
    x = xopen(m, NULL);
    send_file(x, fd, s, off, len, what);
    ZT_EQ(zcq_xfer_stats(x)->bytes, len);
    if (len)
        ZT_ASSERT(zcq_xfer_stats(x)->syscalls > 0);
    zcq_xfer_close(x);
    expect_file(fd, prefix, s->data + off, len, what);
    close(fd);
}

static void cfr_matrix(bool cold)
{
    xprobe(ZCQ_XFER_CFR);
    for_each_case(ZCQ_XFER_CFR, DST_PIPE, cold, cfr_case);
}

static void t_cfr_warm(void)
{
    cfr_matrix(false);
}

static void t_cfr_cold(void)
{
    cfr_matrix(true);
}

/* Not a file destination: refused with a reason before anything moved. The chunk cap and
 * -ENODATA hold as for the others. */
static void t_cfr_errors(void)
{
    struct zcq_xfer_opts o = {.chunk_max = 64 * KiB};
    struct zcq_xfer *x;
    struct src s;
    size_t done = 0;
    ssize_t n;
    int fd;

    xprobe(ZCQ_XFER_CFR);
    src_make(&s, MiB + (size_t)ODD_OFF + 100, 59);
    for (int k = DST_TCP; k <= DST_PIPE; k++) {
        struct rx r;
        int fds[2];

        dst_open((enum dst_kind)k, 0, fds);
        rx_start(&r, fds[1], fds[0], NULL);
        x = xopen(ZCQ_XFER_CFR, NULL);
        expect_fail(zcq_xfer_file(x, fds[0], s.fd, 0, 4096), -EOPNOTSUPP, x,
                    "copy_file_range to a non-file");
        note("  %s: %s\n", dst_names[k], zcq_xfer_why(x));
        zcq_xfer_close(x);
        ZT_OK(close(fds[0]));
        expect_rx(&r, s.data, 0, "copy_file_range to a non-file");
    }

    fd = dst_file();
    x = xopen(ZCQ_XFER_CFR, &o);
    while (done < MiB) {
        n = zcq_xfer_file(x, fd, s.fd, ODD_OFF + (off_t)done, MiB - done);
        if (n <= 0 || (size_t)n > o.chunk_max)
            zt_fail(__FILE__, __LINE__, "copy_file_range with chunk_max 64 KiB: %zd (%s)", n,
                    zcq_xfer_why(x));
        done += (size_t)n;
    }
    expect_file(fd, "", s.data + ODD_OFF, MiB, "copy_file_range with chunk_max 64 KiB");
    expect_fail(zcq_xfer_file(x, fd, s.fd, (off_t)s.size, 1), -ENODATA, x,
                "copy_file_range at EOF");
    n = zcq_xfer_file(x, fd, s.fd, (off_t)s.size - 10, 100);
    ZT_EQ(n, 10);
    expect_fail(zcq_xfer_file(x, fd, s.fd, (off_t)s.size, 90), -ENODATA, x,
                "copy_file_range past EOF");
    zcq_xfer_close(x);
    {
        unsigned char tail[16];

        ZT_EQ(pread(fd, tail, sizeof(tail), (off_t)MiB), 10);
        ZT_ASSERT(memcmp(tail, s.data + s.size - 10, 10) == 0);
    }
    close(fd);
    src_free(&s);
}

static void t_cfr_mem(void)
{
    mem_test(ZCQ_XFER_CFR);
}

/* ---- the table ---- */

/* Tests that every strategy runs; the test functions take no arguments, so one per entry. */
#define METHOD_TESTS(m, M)                                                                         \
    static void file_##m##_tcp_warm(void)                                                          \
    {                                                                                              \
        file_matrix(M, DST_TCP, false);                                                            \
    }                                                                                              \
    static void file_##m##_tcp_cold(void)                                                          \
    {                                                                                              \
        file_matrix(M, DST_TCP, true);                                                             \
    }                                                                                              \
    static void resume_##m(void)                                                                   \
    {                                                                                              \
        resume_test(M);                                                                            \
    }                                                                                              \
    static void cap_##m(void)                                                                      \
    {                                                                                              \
        cap_test(M);                                                                               \
    }                                                                                              \
    static void enodata_##m(void)                                                                  \
    {                                                                                              \
        enodata_test(M);                                                                           \
    }                                                                                              \
    static void epipe_##m(void)                                                                    \
    {                                                                                              \
        epipe_test(M);                                                                             \
    }                                                                                              \
    static void short_write_##m(void)                                                              \
    {                                                                                              \
        short_write_test(M);                                                                       \
    }                                                                                              \
    static void mem_##m(void)                                                                      \
    {                                                                                              \
        mem_test(M);                                                                               \
    }                                                                                              \
    static void full_##m(void)                                                                     \
    {                                                                                              \
        full_test(M);                                                                              \
    }

/* The Unix socket and pipe matrices of every strategy but zerocopy, which the kernel refuses
 * there (see zc_refused). */
#define LOCAL_TESTS(m, M)                                                                          \
    static void file_##m##_unix_warm(void)                                                         \
    {                                                                                              \
        file_matrix(M, DST_UNIX, false);                                                           \
    }                                                                                              \
    static void file_##m##_unix_cold(void)                                                         \
    {                                                                                              \
        file_matrix(M, DST_UNIX, true);                                                            \
    }                                                                                              \
    static void file_##m##_pipe_warm(void)                                                         \
    {                                                                                              \
        file_matrix(M, DST_PIPE, false);                                                           \
    }                                                                                              \
    static void file_##m##_pipe_cold(void)                                                         \
    {                                                                                              \
        file_matrix(M, DST_PIPE, true);                                                            \
    }

METHOD_TESTS(auto, ZCQ_XFER_AUTO)
METHOD_TESTS(copy, ZCQ_XFER_COPY)
METHOD_TESTS(mmap, ZCQ_XFER_MMAP)
METHOD_TESTS(sendfile, ZCQ_XFER_SENDFILE)
METHOD_TESTS(splice, ZCQ_XFER_SPLICE)
METHOD_TESTS(direct, ZCQ_XFER_DIRECT)
METHOD_TESTS(uring, ZCQ_XFER_URING)
METHOD_TESTS(zerocopy, ZCQ_XFER_ZEROCOPY)
LOCAL_TESTS(auto, ZCQ_XFER_AUTO)
LOCAL_TESTS(copy, ZCQ_XFER_COPY)
LOCAL_TESTS(mmap, ZCQ_XFER_MMAP)
LOCAL_TESTS(sendfile, ZCQ_XFER_SENDFILE)
LOCAL_TESTS(splice, ZCQ_XFER_SPLICE)
LOCAL_TESTS(direct, ZCQ_XFER_DIRECT)
LOCAL_TESTS(uring, ZCQ_XFER_URING)

static void zc_refused_unix(void)
{
    zc_refused(DST_UNIX);
}

static void zc_refused_pipe(void)
{
    zc_refused(DST_PIPE);
}

static void eio_copy(void)
{
    eio_test(ZCQ_XFER_COPY);
}

static void eio_direct(void)
{
    eio_test(ZCQ_XFER_DIRECT);
}

static void eio_zerocopy(void)
{
    eio_test(ZCQ_XFER_ZEROCOPY);
}

static void splice_holds_pipe(void)
{
    splice_pipe_holds(DST_PIPE);
}

static void splice_holds_unix(void)
{
    splice_pipe_holds(DST_UNIX);
}

#define T 120 /* seconds; a whole file matrix takes a few under ASan */

/* One entry per line; clang-format would fold these lists. */
/* clang-format off */
#define FILE_ENTRIES(m)                                                                            \
    {"file/" #m "/tcp/warm", file_##m##_tcp_warm, T},                                              \
    {"file/" #m "/tcp/cold", file_##m##_tcp_cold, T},                                              \
    {"file/" #m "/unix/warm", file_##m##_unix_warm, T},                                            \
    {"file/" #m "/unix/cold", file_##m##_unix_cold, T},                                            \
    {"file/" #m "/pipe/warm", file_##m##_pipe_warm, T},                                            \
    {"file/" #m "/pipe/cold", file_##m##_pipe_cold, T}

#define METHOD_ENTRIES(m)                                                                          \
    {"resume/" #m, resume_##m, T},                                                                 \
    {"full/" #m, full_##m, 30},                                                                    \
    {"cap/" #m, cap_##m, T},                                                                       \
    {"enodata/" #m, enodata_##m, T},                                                               \
    {"epipe/" #m, epipe_##m, T},                                                                   \
    {"short-write/" #m, short_write_##m, T},                                                       \
    {"mem/" #m, mem_##m, T}
/* clang-format on */

static const struct zcq_test tests[] = {
    /* The slowest first, so the short ones fill the gaps at the end. */
    FILE_ENTRIES(auto),
    FILE_ENTRIES(copy),
    FILE_ENTRIES(mmap),
    FILE_ENTRIES(sendfile),
    FILE_ENTRIES(splice),
    FILE_ENTRIES(direct),
    FILE_ENTRIES(uring),
    {"file/zerocopy/tcp/warm", file_zerocopy_tcp_warm, T},
    {"file/zerocopy/tcp/cold", file_zerocopy_tcp_cold, T},
    {"file/zerocopy/unix/refused", zc_refused_unix, T},
    {"file/zerocopy/pipe/refused", zc_refused_pipe, T},
    METHOD_ENTRIES(auto),
    METHOD_ENTRIES(copy),
    METHOD_ENTRIES(mmap),
    METHOD_ENTRIES(sendfile),
    METHOD_ENTRIES(splice),
    METHOD_ENTRIES(direct),
    METHOD_ENTRIES(uring),
    METHOD_ENTRIES(zerocopy),
    {"splice/resume-short/pipe", splice_holds_pipe, T},
    {"splice/resume-short/unix", splice_holds_unix, T},
    {"eio/copy", eio_copy, T},
    {"eio/direct", eio_direct, T},
    {"eio/zerocopy", eio_zerocopy, T},
    {"file/copy_file_range/file/warm", t_cfr_warm, T},
    {"file/copy_file_range/file/cold", t_cfr_cold, T},
    {"copy_file_range/errors", t_cfr_errors, T},
    {"mem/copy_file_range", t_cfr_mem, T},
    {"fallback/auto", t_fallback, T},
    {"method/names", t_method_names, T},
    {"open/args", t_open_args, T},
};

ZT_MAIN(tests)
