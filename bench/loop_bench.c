/*
 * loop_bench: does an io_uring event loop pay, for a broker's request/response traffic? The
 * same tiny server is written twice, the way src/net/loop.c works (epoll, then recv and send
 * per request) and the way an io_uring backend would (a recv outstanding on every
 * connection; each completion queues the response's send and the next recv; one
 * io_uring_submit_and_wait per batch of completions). Forked clients keep CONNS connections
 * busy in lockstep: a REQ-byte request, then a RESP-byte answer, like one-record produce
 * requests with acks=1. Measured: the server thread's CPU per request (getrusage), requests/s.
 * No zcq code; results in docs/benchmarks.md.
 *
 *   loop_bench epoll|uring CONNS SECONDS [REQ RESP]    (defaults 200 and 64 bytes)
 *
 * Prints "requests=N per_s=R server_cpu_us_per_req=C". Errors: one line, exit 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXC 1024

static size_t req_len = 200, resp_len = 64;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "loop_bench: ");
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

static double thread_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* A client: request, whole answer, again, until the server closes. */
static void client(struct sockaddr_in *a)
{
    char req[65536], resp[65536];
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(req, 'r', sizeof(req));
    if (fd < 0 || connect(fd, (struct sockaddr *)a, sizeof(*a)) < 0)
        _exit(1);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (;;) {
        size_t got = 0;

        if (write(fd, req, req_len) != (ssize_t)req_len)
            _exit(0);
        while (got < resp_len) {
            ssize_t n = read(fd, resp, resp_len - got);

            if (n <= 0)
                _exit(0);
            got += (size_t)n;
        }
    }
}

struct conn {
    int fd;
    size_t have; /* request bytes received so far */
    char buf[65536];
};

static char answer[65536];

/* Feed received bytes; returns the number of whole requests they complete. */
static long feed(struct conn *c, size_t n)
{
    long done = 0;

    c->have += n;
    while (c->have >= req_len) {
        c->have -= req_len;
        done++;
    }
    return done;
}

static long run_epoll(struct conn *cs, int n, double seconds)
{
    int ep = epoll_create1(0);
    struct epoll_event evs[64];
    double end = now() + seconds;
    long reqs = 0;

    for (int i = 0; i < n; i++) {
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &cs[i]};

        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &e);
    }
    while (now() < end) {
        int k = epoll_wait(ep, evs, 64, 100);

        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t r = recv(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);
            long done;

            if (r <= 0)
                continue;
            done = feed(c, (size_t)r);
            for (long d = 0; d < done; d++) {
                if (send(c->fd, answer, resp_len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)resp_len)
                    die("send: short or failed");
            }
            reqs += done;
        }
    }
    close(ep);
    return reqs;
}

enum { OP_RECV = 0, OP_SEND = 1 };

static long run_uring(struct conn *cs, int n, double seconds)
{
    struct io_uring ring;
    double end = now() + seconds;
    long reqs = 0;
    int rc = io_uring_queue_init(2 * MAXC, &ring, 0);

    if (rc < 0)
        die("io_uring_queue_init: %s", strerror(-rc));
    for (int i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

        io_uring_prep_recv(sqe, cs[i].fd, cs[i].buf, sizeof(cs[i].buf), 0);
        io_uring_sqe_set_data64(sqe, (uint64_t)i << 1 | OP_RECV);
    }
    while (now() < end) {
        struct __kernel_timespec ts = {.tv_nsec = 100000000};
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;

        rc = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR)
            die("io_uring_submit_and_wait: %s", strerror(-rc));
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            struct conn *c = &cs[ud >> 1];

            seen++;
            if ((ud & 1) == OP_SEND) {
                if (cqe->res != (int)resp_len)
                    die("send: %d", cqe->res);
                continue;
            }
            if (cqe->res > 0) {
                long done = feed(c, (size_t)cqe->res);
                struct io_uring_sqe *sqe;

                for (long d = 0; d < done; d++) {
                    sqe = io_uring_get_sqe(&ring);
                    io_uring_prep_send(sqe, c->fd, answer, resp_len, MSG_NOSIGNAL);
                    io_uring_sqe_set_data64(sqe, ud | OP_SEND);
                    /* No completion for a send that went through: half the CQEs. */
                    io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
                }
                reqs += done;
                sqe = io_uring_get_sqe(&ring);
                io_uring_prep_recv(sqe, c->fd, c->buf, sizeof(c->buf), 0);
                io_uring_sqe_set_data64(sqe, ud);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    io_uring_queue_exit(&ring);
    return reqs;
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    static struct conn cs[MAXC];
    int l, n, uring;
    double seconds, c0, t0, cpu, wall;
    long reqs;
    pid_t kids[MAXC];

    if (argc != 4 && argc != 6)
        die("usage: loop_bench epoll|uring CONNS SECONDS [REQ RESP]");
    uring = strcmp(argv[1], "uring") == 0;
    if (!uring && strcmp(argv[1], "epoll") != 0)
        die("epoll or uring, not '%s'", argv[1]);
    n = atoi(argv[2]);
    seconds = atof(argv[3]);
    if (argc == 6) {
        req_len = (size_t)atol(argv[4]);
        resp_len = (size_t)atol(argv[5]);
    }
    if (n < 1 || n > MAXC || seconds <= 0 || req_len < 1 || req_len > 65536 || resp_len < 1 ||
        resp_len > 65536)
        die("1..%d connections, a positive duration, sizes 1..65536", MAXC);
    l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, MAXC) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &alen) < 0)
        die("listen: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < n; i++) {
        kids[i] = fork();
        if (kids[i] < 0)
            die("fork: %s", strerror(errno));
        if (kids[i] == 0)
            client(&a);
    }
    for (int i = 0; i < n; i++) {
        int one = 1;

        cs[i].fd = accept(l, NULL, NULL);
        if (cs[i].fd < 0)
            die("accept: %s", strerror(errno));
        setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    t0 = now();
    c0 = thread_cpu();
    reqs = uring ? run_uring(cs, n, seconds) : run_epoll(cs, n, seconds);
    cpu = thread_cpu() - c0;
    wall = now() - t0;
    for (int i = 0; i < n; i++)
        close(cs[i].fd);
    for (int i = 0; i < n; i++)
        waitpid(kids[i], NULL, 0);
    printf("requests=%ld per_s=%.0f server_cpu_us_per_req=%.3f\n", reqs, (double)reqs / wall,
           cpu / (double)(reqs ? reqs : 1) * 1e6);
    return 0;
}
