/*
 * xfer_ref: an independent measurement of file -> loopback TCP throughput, used to check that
 * the numbers of `zcq copies` are honest. It deliberately shares no code with zcq (nothing from
 * src/ is included), so a bug in zcq's engine, timing or arithmetic cannot hide in both.
 *
 *   xfer_ref --file PATH --method copy|sendfile [--chunk BYTES] [--runs N]
 *
 * Each run forks a receiver that connects to a listener on 127.0.0.1, reads everything into a
 * 256 KiB buffer, hashes it with XXH3 and reports bytes + hash through a pipe. The sender moves
 * the whole file with read() + write() (copy) or sendfile() (sendfile), chunk bytes per call.
 * The clock runs from just before the first byte is sent until the receiver's report arrives,
 * so both end points are inside the measurement. The file is read once beforehand, which warms
 * the page cache and yields the checksum every run is verified against.
 *
 * Output: one JSON line per run, then a summary line
 *   {"method":"copy","chunk":65536,"runs":5,"throughput_gbps_median":X,"min":Y,"max":Z}
 * with GB/s meaning 1e9 bytes per second. Errors: one line on stderr, exit status 1.
 */
#include <xxhash.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RECV_BUF     (256u * 1024u)
#define WARM_BUF     (1u << 20)
#define MAX_CHUNK    (1ull << 30)
#define MAX_RUNS     1000
#define CONNECT_MS   10000 /* a receiver that has not connected by then is broken */
#define DEFAULT_RUNS 5

enum method { M_COPY, M_SENDFILE };

/* Sent by the receiver in one write(); far below PIPE_BUF, so it arrives whole or not at all. */
struct report {
    int err; /* 0, or errno of the receiver's failure (msg says where) */
    uint64_t bytes;
    uint64_t hash;
    char msg[200];
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("xfer_ref: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void usage(void)
{
    die("usage: xfer_ref --file PATH --method copy|sendfile [--chunk BYTES] [--runs N]");
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "65536", "64K", "1M", "1G": binary multiples, the way the lab and the script write sizes. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        break;
    }
    if (*end != '\0' || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

/* Read the whole file once: it puts every page in the cache and gives the reference hash. */
static uint64_t warm_and_hash(int fd, uint64_t size)
{
    XXH3_state_t *st = XXH3_createState();
    char *buf = malloc(WARM_BUF);
    uint64_t got = 0;
    uint64_t h;

    if (!st || !buf || XXH3_64bits_reset(st) != XXH_OK)
        die("out of memory");
    for (;;) {
        ssize_t r = pread(fd, buf, WARM_BUF, (off_t)got);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("read file: %s", strerror(errno));
        }
        if (r == 0)
            break;
        XXH3_64bits_update(st, buf, (size_t)r);
        got += (uint64_t)r;
    }
    if (got != size)
        die("file is %" PRIu64 " bytes but reading it gave %" PRIu64 "; is it changing?", size,
            got);
    h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    free(buf);
    return h;
}

static void write_report(int fd, const struct report *rep)
{
    ssize_t w;

    do {
        w = write(fd, rep, sizeof(*rep));
    } while (w < 0 && errno == EINTR);
}

/* The child: connect, read to end of stream, report. Exits without returning (and with _exit,
 * so the parent's stdio buffers are not flushed twice). */
static void receiver(const struct sockaddr_in *addr, int report_fd)
{
    struct report rep;
    XXH3_state_t *st = XXH3_createState();
    char *buf = malloc(RECV_BUF);
    int s;

    memset(&rep, 0, sizeof(rep));
    if (!st || !buf || XXH3_64bits_reset(st) != XXH_OK) {
        rep.err = ENOMEM;
        snprintf(rep.msg, sizeof(rep.msg), "receiver: out of memory");
        goto out;
    }
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
        rep.err = errno;
        snprintf(rep.msg, sizeof(rep.msg), "receiver: connect: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t r = read(s, buf, RECV_BUF);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            rep.err = errno;
            snprintf(rep.msg, sizeof(rep.msg), "receiver: read after %" PRIu64 " bytes: %s",
                     rep.bytes, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        XXH3_64bits_update(st, buf, (size_t)r);
        rep.bytes += (uint64_t)r;
    }
    rep.hash = XXH3_64bits_digest(st);
out:
    write_report(report_fd, &rep);
    _exit(rep.err ? 1 : 0);
}

/* The senders return 0, or -1 with why[] filled in: the caller first asks the receiver, whose
 * failure is usually the cause of the sender's (EPIPE, ECONNRESET). */
static int send_copy(int sock, int fd, uint64_t size, char *buf, size_t chunk, char *why,
                     size_t why_len)
{
    uint64_t sent = 0;

    while (sent < size) {
        size_t want = size - sent < chunk ? (size_t)(size - sent) : chunk;
        ssize_t r = read(fd, buf, want);
        size_t done = 0;

        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(why, why_len, "copy: read file at %" PRIu64 ": %s", sent, strerror(errno));
            return -1;
        }
        if (r == 0) {
            snprintf(why, why_len, "copy: file ended at %" PRIu64 " of %" PRIu64 " bytes", sent,
                     size);
            return -1;
        }
        while (done < (size_t)r) {
            ssize_t w = write(sock, buf + done, (size_t)r - done);

            if (w < 0) {
                if (errno == EINTR)
                    continue;
                snprintf(why, why_len, "copy: write to socket at %" PRIu64 ": %s", sent + done,
                         strerror(errno));
                return -1;
            }
            done += (size_t)w;
        }
        sent += done;
    }
    return 0;
}

static int send_sendfile(int sock, int fd, uint64_t size, size_t chunk, char *why, size_t why_len)
{
    off_t off = 0;

    while ((uint64_t)off < size) {
        uint64_t left = size - (uint64_t)off;
        ssize_t r = sendfile(sock, fd, &off, left < chunk ? (size_t)left : chunk);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(why, why_len, "sendfile at %lld: %s", (long long)off, strerror(errno));
            return -1;
        }
        if (r == 0) {
            snprintf(why, why_len, "sendfile: file ended at %lld of %" PRIu64 " bytes",
                     (long long)off, size);
            return -1;
        }
    }
    return 0;
}

/* Read the receiver's report. A short read means it died without reporting. */
static int read_report(int fd, struct report *rep)
{
    size_t got = 0;

    while (got < sizeof(*rep)) {
        ssize_t r = read(fd, (char *)rep + got, sizeof(*rep) - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    }
    if (WIFSIGNALED(status))
        die("receiver killed by signal %d", WTERMSIG(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("receiver exited with status %d", WEXITSTATUS(status));
}

/* One transfer; returns the seconds it took. */
static double one_run(enum method m, int fd, uint64_t size, uint64_t want_hash, char *buf,
                      size_t chunk)
{
    struct sockaddr_in addr;
    socklen_t alen = sizeof(addr);
    struct report rep;
    struct pollfd pfd[2];
    char why[200];
    int lsn, sock, rp[2], rc;
    double t0, t1;
    pid_t pid;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lsn < 0)
        die("socket: %s", strerror(errno));
    if (bind(lsn, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lsn, 1) < 0 ||
        getsockname(lsn, (struct sockaddr *)&addr, &alen) < 0)
        die("listen on 127.0.0.1: %s", strerror(errno));
    if (pipe2(rp, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));

    fflush(stdout);
    pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(lsn);
        close(fd);
        close(rp[0]);
        receiver(&addr, rp[1]);
    }
    close(rp[1]);

    /* Wait for the connection, or for a report saying the receiver could not connect, so a
     * broken child fails the run instead of hanging it. Set-up stays outside the clock. */
    pfd[0] = (struct pollfd){.fd = lsn, .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = rp[0], .events = POLLIN};
    if (poll(pfd, 2, CONNECT_MS) <= 0 || !(pfd[0].revents & POLLIN)) {
        if (read_report(rp[0], &rep) == 0 && rep.err)
            die("%s", rep.msg);
        die("receiver died or did not connect within %d ms", CONNECT_MS);
    }
    sock = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
    if (sock < 0)
        die("accept: %s", strerror(errno));
    close(lsn);
    if (lseek(fd, 0, SEEK_SET) < 0)
        die("lseek: %s", strerror(errno));

    t0 = now_s();
    if (m == M_COPY)
        rc = send_copy(sock, fd, size, buf, chunk, why, sizeof(why));
    else
        rc = send_sendfile(sock, fd, size, chunk, why, sizeof(why));
    /* End of stream is how the receiver knows it has everything. */
    if (rc == 0 && shutdown(sock, SHUT_WR) < 0) {
        snprintf(why, sizeof(why), "shutdown: %s", strerror(errno));
        rc = -1;
    }
    if (rc < 0) {
        /* Closing our end unblocks a receiver still reading, so its report comes back. */
        close(sock);
        if (read_report(rp[0], &rep) < 0)
            die("%s; the receiver died without reporting", why);
        if (rep.err)
            die("%s", rep.msg);
        die("%s; the receiver got %" PRIu64 " of %" PRIu64 " bytes", why, rep.bytes, size);
    }
    if (read_report(rp[0], &rep) < 0)
        die("receiver died without reporting");
    t1 = now_s();

    close(sock);
    close(rp[0]);
    if (rep.err)
        die("%s", rep.msg);
    reap(pid);
    if (rep.bytes != size)
        die("receiver got %" PRIu64 " bytes, expected %" PRIu64, rep.bytes, size);
    if (rep.hash != want_hash)
        die("receiver's XXH3 %016" PRIx64 " differs from the file's %016" PRIx64, rep.hash,
            want_hash);
    return t1 - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *mname = NULL;
    uint64_t chunk = 64u * 1024u, runs = DEFAULT_RUNS, size, hash;
    enum method m;
    struct stat sb;
    double *gbps, median;
    char *buf = NULL;
    int fd;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: xfer_ref --file PATH --method copy|sendfile [--chunk BYTES] "
                   "[--runs N]\n");
            return 0;
        }
        if (i + 1 >= argc)
            usage();
        if (strcmp(a, "--file") == 0) {
            path = argv[++i];
        } else if (strcmp(a, "--method") == 0) {
            mname = argv[++i];
        } else if (strcmp(a, "--chunk") == 0) {
            if (parse_size(argv[++i], &chunk) < 0 || chunk == 0 || chunk > MAX_CHUNK)
                die("--chunk: want 1 to %llu bytes (K/M/G suffixes allowed), got '%s'", MAX_CHUNK,
                    argv[i]);
        } else if (strcmp(a, "--runs") == 0) {
            if (parse_size(argv[++i], &runs) < 0 || runs == 0 || runs > MAX_RUNS)
                die("--runs: want 1 to %d, got '%s'", MAX_RUNS, argv[i]);
        } else {
            usage();
        }
    }
    if (!path || !mname)
        usage();
    if (strcmp(mname, "copy") == 0)
        m = M_COPY;
    else if (strcmp(mname, "sendfile") == 0)
        m = M_SENDFILE;
    else
        die("--method: want copy or sendfile, got '%s'", mname);

    /* A receiver that died must show up as an error from write(), not kill the sender. */
    signal(SIGPIPE, SIG_IGN);

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) < 0)
        die("%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode) || sb.st_size <= 0)
        die("%s: want a non-empty regular file", path);
    size = (uint64_t)sb.st_size;
    hash = warm_and_hash(fd, size);

    if (m == M_COPY && posix_memalign((void **)&buf, 4096, (size_t)chunk) != 0)
        die("cannot allocate a %" PRIu64 "-byte buffer", chunk);
    gbps = calloc((size_t)runs, sizeof(*gbps));
    if (!gbps)
        die("out of memory");

    for (uint64_t r = 0; r < runs; r++) {
        double secs = one_run(m, fd, size, hash, buf, (size_t)chunk);

        gbps[r] = (double)size / secs / 1e9;
        printf("{\"run\":%" PRIu64 ",\"method\":\"%s\",\"chunk\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"seconds\":%.6f,\"throughput_gbps\":%.4f,\"xxh3\":\"%016" PRIx64 "\"}\n",
               r + 1, mname, chunk, size, secs, gbps[r], hash);
        fflush(stdout);
    }

    qsort(gbps, (size_t)runs, sizeof(*gbps), cmp_double);
    /* Even counts take the mean of the middle two, the usual definition. */
    median = runs % 2 ? gbps[runs / 2] : (gbps[runs / 2 - 1] + gbps[runs / 2]) / 2;
    printf("{\"method\":\"%s\",\"chunk\":%" PRIu64 ",\"runs\":%" PRIu64
           ",\"throughput_gbps_median\":%.4f,\"min\":%.4f,\"max\":%.4f}\n",
           mname, chunk, runs, median, gbps[0], gbps[runs - 1]);
    free(gbps);
    free(buf);
    close(fd);
    return 0;
}
