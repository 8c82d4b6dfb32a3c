/*
 * bare_ref: the bare loops the broker's CPU per byte is compared with (bench/broker.sh). It
 * shares no code with zcq, so what it measures is what the kernel alone costs.
 *
 *   bare_ref sendfile FILE     serve FILE to one loopback connection with sendfile() (1 MiB a
 *                              call), as a broker serving a catch-up consumer would at best;
 *                              a forked reader drains the socket
 *   bare_ref fetchloop FILE [BYTES]
 *                              the same bytes in lockstep, as a Kafka fetch loop moves them: the
 *                              forked reader sends a 64-byte request, this process reads it and
 *                              answers with BYTES (default 1 MiB) by sendfile(), the reader
 *                              drains them, and so on; what the protocol's one round trip per
 *                              fetch costs with no broker in it (informative)
 *   bare_ref recvwrite FILE    a forked writer sends FILE's bytes over loopback; this process
 *                              receives them into a 1 MiB buffer and write()s them to a new
 *                              file, as a broker appending produced batches would at best
 *
 * Prints one line: "bytes=N cpu_s=S cpu_s_per_gb=X wall_s=W" where cpu_s is this process's
 * user + system time (getrusage), the side that stands for the broker. Errors: one line on
 * stderr, exit 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "bare_ref: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* A listening socket on 127.0.0.1 and a forked child connected to it running fn. */
static int pair(void (*fn)(int fd, const char *arg), const char *arg, pid_t *child)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0), c;

    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &alen) < 0)
        die("listen: %s", strerror(errno));
    *child = fork();
    if (*child < 0)
        die("fork: %s", strerror(errno));
    if (*child == 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
            _exit(1);
        fn(fd, arg);
        _exit(0);
    }
    c = accept(l, NULL, NULL);
    if (c < 0)
        die("accept: %s", strerror(errno));
    close(l);
    return c;
}

static void drain(int fd, const char *arg)
{
    static char buf[CHUNK];

    (void)arg;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

static size_t fetch_bytes = CHUNK;

/* The consumer side of fetchloop: a request, then exactly fetch_bytes (or EOF), and again. */
static void fetcher(int fd, const char *arg)
{
    static char buf[CHUNK];
    char req[64] = {0};

    (void)arg;
    for (;;) {
        size_t got = 0;

        if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req))
            return;
        while (got < fetch_bytes) {
            size_t want = fetch_bytes - got < CHUNK ? fetch_bytes - got : CHUNK;
            ssize_t n = read(fd, buf, want);

            if (n <= 0)
                return;
            got += (size_t)n;
        }
    }
}

static void send_file(int fd, const char *path)
{
    static char buf[CHUNK];
    int f = open(path, O_RDONLY);
    ssize_t n;

    if (f < 0)
        _exit(1);
    while ((n = read(f, buf, sizeof(buf))) > 0) {
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(fd, buf + done, (size_t)(n - done));

            if (w <= 0)
                _exit(1);
            done += w;
        }
    }
}

int main(int argc, char **argv)
{
    double c0, w0, cs_end = 0, ws_end = 0;
    long long bytes = 0;
    pid_t child;
    int sock, st;

    if (argc == 4 && strcmp(argv[1], "fetchloop") == 0) {
        char *end;
        unsigned long v = strtoul(argv[3], &end, 10);

        if (*end || v < 1024 || v > (1ul << 30))
            die("fetch bytes '%s': want 1024 to 1073741824", argv[3]);
        fetch_bytes = v;
    } else if (argc != 3) {
        die("usage: bare_ref sendfile|recvwrite FILE | bare_ref fetchloop FILE [BYTES]");
    }
    if (strcmp(argv[1], "sendfile") == 0 || strcmp(argv[1], "fetchloop") == 0) {
        int lockstep = strcmp(argv[1], "fetchloop") == 0;
        int f = open(argv[2], O_RDONLY);
        struct stat sb;

        if (f < 0 || fstat(f, &sb) < 0)
            die("%s: %s", argv[2], strerror(errno));
        sock = pair(lockstep ? fetcher : drain, NULL, &child);
        c0 = cpu();
        w0 = now();
        for (off_t off = 0; off < sb.st_size;) {
            char req[64];
            ssize_t n;

            /* A request of 64 bytes always arrives whole on loopback (MSG_WAITALL for form). */
            if (lockstep && recv(sock, req, sizeof(req), MSG_WAITALL) != (ssize_t)sizeof(req))
                die("recv request: %s", strerror(errno));
            for (off_t end = off + (lockstep ? (off_t)fetch_bytes : CHUNK);
                 off < end && off < sb.st_size; bytes += n) {
                n = sendfile(sock, f, &off, (size_t)(end - off));
                if (n <= 0)
                    die("sendfile: %s", n < 0 ? strerror(errno) : "short");
            }
        }
        close(sock);
        cs_end = cpu();
        ws_end = now();
    } else if (strcmp(argv[1], "recvwrite") == 0) {
        static char buf[CHUNK];
        char out[4200];
        int f;
        ssize_t n;

        snprintf(out, sizeof(out), "%s.bare", argv[2]);
        f = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (f < 0)
            die("%s: %s", out, strerror(errno));
        sock = pair(send_file, argv[2], &child);
        c0 = cpu();
        w0 = now();
        while ((n = recv(sock, buf, sizeof(buf), 0)) > 0) {
            for (ssize_t done = 0; done < n;) {
                ssize_t w = write(f, buf + done, (size_t)(n - done));

                if (w <= 0)
                    die("write: %s", w < 0 ? strerror(errno) : "short");
                done += w;
            }
            bytes += n;
        }
        /* The clock stops here: what follows is clean-up no broker pays per byte. */
        cs_end = cpu();
        ws_end = now();
        close(f);
        unlink(out);
    } else {
        die("unknown mode '%s'", argv[1]);
    }
    {
        double cs = cs_end - c0, ws = ws_end - w0;

        waitpid(child, &st, 0);
        printf("bytes=%lld cpu_s=%.4f cpu_s_per_gb=%.4f wall_s=%.4f\n", bytes, cs,
               cs / ((double)bytes / 1e9), ws);
    }
    return 0;
}
