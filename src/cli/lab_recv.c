/*
 * The lab's receivers; see lab.h. A socket or pipe receiver is a forked process, so its CPU
 * time and context switches are its own (getrusage in the child), and the sender's are the
 * lab's. The child reports over a pipe: one ready byte once it is connected and its buffer is
 * faulted in (so the timed part starts with a receiver already waiting), then a struct report
 * when it has read to the end.
 */
#include "cli/lab.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define RECV_BUF (256u * 1024u)

struct report {
    uint64_t bytes, hash, end_ns, syscalls;
    double user_s, sys_s;
    uint64_t vol_csw, invol_csw;
    int err; /* errno of a failed read, 0 */
};

static const char *const dest_names[] = {"tcp", "unix", "pipe", "null", "file"};

const char *zcq_lab_dest_name(enum zcq_lab_dest d)
{
    return (unsigned)d < sizeof(dest_names) / sizeof(dest_names[0]) ? dest_names[d] : "?";
}

int zcq_lab_dest_parse(const char *s, enum zcq_lab_dest *out)
{
    for (unsigned i = 0; i < sizeof(dest_names) / sizeof(dest_names[0]); i++) {
        if (strcmp(s, dest_names[i]) == 0) {
            *out = (enum zcq_lab_dest)i;
            return 0;
        }
    }
    return -EINVAL;
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

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n) {
        ssize_t w = write(fd, c, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;

    while (n) {
        ssize_t r = read(fd, c, n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The receiver process: drain `in`, hash it, report. Never returns. */
static void __attribute__((noreturn)) receiver(int listen_fd, int in, int report_fd)
{
    struct rusage r0, r1;
    struct report rep = {0};
    XXH3_state_t *st = XXH3_createState();
    char *buf = malloc(RECV_BUF);
    char ready = 'R';

    if (!st || !buf)
        _exit(3);
    memset(buf, 0, RECV_BUF); /* fault it in outside the measurement */
    XXH3_64bits_reset(st);
    if (listen_fd >= 0) {
        in = accept(listen_fd, NULL, NULL);
        if (in < 0)
            _exit(4);
        close(listen_fd);
    }
    getrusage(RUSAGE_SELF, &r0);
    if (write_all(report_fd, &ready, 1) < 0)
        _exit(5);
    for (;;) {
        ssize_t n = read(in, buf, RECV_BUF);

        rep.syscalls++;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rep.err = errno;
            break;
        }
        if (n == 0)
            break;
        XXH3_64bits_update(st, buf, (size_t)n);
        rep.bytes += (uint64_t)n;
    }
    rep.end_ns = mono_ns();
    getrusage(RUSAGE_SELF, &r1);
    rep.hash = XXH3_64bits_digest(st);
    rep.user_s = tv_s(r1.ru_utime) - tv_s(r0.ru_utime);
    rep.sys_s = tv_s(r1.ru_stime) - tv_s(r0.ru_stime);
    rep.vol_csw = (uint64_t)(r1.ru_nvcsw - r0.ru_nvcsw);
    rep.invol_csw = (uint64_t)(r1.ru_nivcsw - r0.ru_nivcsw);
    _exit(write_all(report_fd, &rep, sizeof(rep)) < 0 ? 6 : 0);
}

static int fail(char *why, size_t len, int err, const char *what)
{
    snprintf(why, len, "%s: %s", what, strerror(-err));
    return err;
}

/* A listening socket the receiver will accept on, and the address to connect to. */
static int listener(enum zcq_lab_dest d, struct sockaddr_storage *ss, socklen_t *sl)
{
    static unsigned seq;
    int fd = socket(d == ZCQ_LAB_TCP ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    memset(ss, 0, sizeof(*ss));
    if (d == ZCQ_LAB_TCP) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;

        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *sl = sizeof(*in);
    } else {
        /* Abstract namespace: no file to clean up, whatever happens to the lab. */
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        int n;

        un->sun_family = AF_UNIX;
        n = snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1, "zcq-lab-%d-%u", (int)getpid(),
                     seq++);
        *sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    }
    if (bind(fd, (struct sockaddr *)ss, *sl) < 0 || listen(fd, 1) < 0 ||
        getsockname(fd, (struct sockaddr *)ss, sl) < 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    return fd;
}

int zcq_lab_recv_start(struct zcq_lab_recv *r, enum zcq_lab_dest d, const char *dir,
                       const char *tcp_cc, char *why, size_t why_len)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int rp[2] = {-1, -1}, dp[2] = {-1, -1};
    int rc;
    char ready;

    memset(r, 0, sizeof(*r));
    r->dest = d;
    r->fd = r->report_fd = r->listen_fd = -1;
    snprintf(r->dir, sizeof(r->dir), "%s", dir ? dir : ".");

    if (d == ZCQ_LAB_NULL) {
        r->fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        return r->fd < 0 ? fail(why, why_len, -errno, "open /dev/null") : 0;
    }
    if (d == ZCQ_LAB_FILE) {
        /* An unnamed file: nothing to clean up, even if the lab is killed. */
        r->fd = open(r->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (r->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
            char path[4200];

            snprintf(path, sizeof(path), "%s/zcq-copies-out-XXXXXX", r->dir);
            r->fd = mkostemp(path, O_CLOEXEC);
            if (r->fd >= 0)
                unlink(path);
        }
        return r->fd < 0 ? fail(why, why_len, -errno, "create the destination file") : 0;
    }

    if (pipe2(rp, O_CLOEXEC) < 0)
        return fail(why, why_len, -errno, "pipe");
    if (d == ZCQ_LAB_PIPE) {
        if (pipe2(dp, O_CLOEXEC) < 0) {
            rc = fail(why, why_len, -errno, "pipe");
            goto fail;
        }
    } else {
        r->listen_fd = listener(d, &ss, &sl);
        if (r->listen_fd < 0) {
            rc = fail(why, why_len, r->listen_fd, "listen on loopback");
            goto fail;
        }
    }
    r->pid = fork();
    if (r->pid < 0) {
        rc = fail(why, why_len, -errno, "fork the receiver");
        goto fail;
    }
    if (r->pid == 0) {
        close(rp[0]);
        if (dp[1] >= 0)
            close(dp[1]);
        receiver(r->listen_fd, dp[0], rp[1]);
    }
    close(rp[1]);
    rp[1] = -1;
    r->report_fd = rp[0];
    if (d == ZCQ_LAB_PIPE) {
        close(dp[0]);
        r->fd = dp[1];
    } else {
        r->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        /* Set before connect, as an application would; the algorithm paces (BBR) or not. */
        if (r->fd >= 0 && d == ZCQ_LAB_TCP && tcp_cc &&
            setsockopt(r->fd, IPPROTO_TCP, TCP_CONGESTION, tcp_cc, (socklen_t)strlen(tcp_cc)) < 0) {
            rc = -errno;
            snprintf(why, why_len,
                     "TCP congestion control '%s' is not available here (%s; see "
                     "/proc/sys/net/ipv4/tcp_available_congestion_control)",
                     tcp_cc, strerror(errno));
            zcq_lab_recv_abort(r);
            return rc;
        }
        if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&ss, sl) < 0) {
            rc = fail(why, why_len, -errno, "connect to the receiver");
            zcq_lab_recv_abort(r);
            return rc;
        }
        close(r->listen_fd);
        r->listen_fd = -1;
    }
    if (read_all(r->report_fd, &ready, 1) < 0) {
        snprintf(why, why_len, "the receiver process failed to start");
        zcq_lab_recv_abort(r);
        return -EIO;
    }
    return 0;

fail:
    for (int i = 0; i < 2; i++) {
        if (rp[i] >= 0)
            close(rp[i]);
        if (dp[i] >= 0)
            close(dp[i]);
    }
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    r->listen_fd = -1;
    return rc;
}

int zcq_lab_hash_fd(int fd, uint64_t *hash, uint64_t *bytes)
{
    XXH3_state_t *st = XXH3_createState();
    char *buf = malloc(RECV_BUF);
    off_t off = 0;
    int rc = 0;

    if (!st || !buf) {
        rc = -ENOMEM;
        goto out;
    }
    XXH3_64bits_reset(st);
    for (;;) {
        ssize_t n = pread(fd, buf, RECV_BUF, off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        XXH3_64bits_update(st, buf, (size_t)n);
        off += n;
    }
    *hash = XXH3_64bits_digest(st);
    if (bytes)
        *bytes = (uint64_t)off;
out:
    free(buf);
    XXH3_freeState(st);
    return rc;
}

int zcq_lab_recv_finish(struct zcq_lab_recv *r, struct zcq_lab_got *got, char *why, size_t why_len)
{
    struct report rep;
    int rc = 0, status;

    memset(got, 0, sizeof(*got));
    got->end_ns = mono_ns();
    if (r->dest == ZCQ_LAB_NULL || r->dest == ZCQ_LAB_FILE) {
        if (r->dest == ZCQ_LAB_FILE) {
            rc = zcq_lab_hash_fd(r->fd, &got->hash, &got->bytes);
            got->hashed = rc == 0;
            if (rc < 0)
                snprintf(why, why_len, "read back the destination file: %s", strerror(-rc));
        }
        close(r->fd);
        r->fd = -1;
        return rc;
    }
    close(r->fd); /* end of stream for the receiver */
    r->fd = -1;
    if (read_all(r->report_fd, &rep, sizeof(rep)) < 0) {
        snprintf(why, why_len, "the receiver process died before reporting");
        rc = -EIO;
    } else if (rep.err) {
        snprintf(why, why_len, "the receiver failed to read: %s", strerror(rep.err));
        rc = -rep.err;
    } else {
        got->bytes = rep.bytes;
        got->hash = rep.hash;
        got->hashed = true;
        got->end_ns = rep.end_ns;
        got->use.user_s = rep.user_s;
        got->use.sys_s = rep.sys_s;
        got->use.vol_csw = rep.vol_csw;
        got->use.invol_csw = rep.invol_csw;
        got->use.syscalls = rep.syscalls;
    }
    close(r->report_fd);
    r->report_fd = -1;
    while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
        ;
    r->pid = 0;
    return rc;
}

void zcq_lab_recv_abort(struct zcq_lab_recv *r)
{
    int status;

    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    r->pid = 0;
    if (r->fd >= 0)
        close(r->fd);
    if (r->report_fd >= 0)
        close(r->report_fd);
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    r->fd = r->report_fd = r->listen_fd = -1;
}
