/*
 * commit_bench: committed-offset load for bench/groups.sh, and its reference. Shares no code
 * with zcq: it speaks the Kafka protocol itself (OffsetCommit v7 "simple" commits: generation
 * -1, no member, as tools and assign()-based consumers send them).
 *
 *   commit_bench commit HOST:PORT TOPIC PARTITIONS GROUPS THREADS SECONDS
 *       THREADS connections, each committing for its share of GROUPS groups in turn (group
 *       "bench-N", every partition of TOPIC, offsets rising), one commit in flight per
 *       connection, for SECONDS. Prints "commits=N per_s=R p50_ms=A p99_ms=B p999_ms=C
 *       errors=E" (latency: request sent to response read).
 *   commit_bench fsync DIR THREADS SECONDS
 *       the reference: THREADS threads each appending 256 bytes to its own file in DIR and
 *       fdatasync()ing it, for SECONDS; the same line (commits = syncs), so a commit's
 *       latency can be read as a multiple of what one durable small write costs here.
 *
 * Errors: one line on stderr, exit 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES (1 << 22)

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "commit_bench: ");
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

/* Latency samples of every thread, in ms. */
static double *samples;
static long nsamples;
static long errors;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void record(double ms, int err)
{
    pthread_mutex_lock(&mu);
    if (nsamples < MAX_SAMPLES)
        samples[nsamples++] = ms;
    errors += err;
    pthread_mutex_unlock(&mu);
}

struct job {
    int id;
    const char *host, *port, *topic, *dir;
    int partitions, groups, threads;
    double seconds;
};

/* --- Kafka bytes -------------------------------------------------------------------------- */

struct buf {
    uint8_t b[1 << 16];
    size_t n;
};

static void p16(struct buf *b, int v)
{
    b->b[b->n++] = (uint8_t)(v >> 8);
    b->b[b->n++] = (uint8_t)v;
}

static void p32(struct buf *b, int32_t v)
{
    for (int i = 3; i >= 0; i--)
        b->b[b->n++] = (uint8_t)((uint32_t)v >> (8 * i));
}

static void p64(struct buf *b, int64_t v)
{
    for (int i = 7; i >= 0; i--)
        b->b[b->n++] = (uint8_t)((uint64_t)v >> (8 * i));
}

static void pstr(struct buf *b, const char *s)
{
    if (!s) {
        p16(b, -1);
        return;
    }
    p16(b, (int)strlen(s));
    memcpy(b->b + b->n, s, strlen(s));
    b->n += strlen(s);
}

static void full_write(int fd, const void *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, (const char *)p + done, n - done);

        if (w <= 0)
            die("write: %s", w < 0 ? strerror(errno) : "closed");
        done += (size_t)w;
    }
}

static void full_read(int fd, void *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = read(fd, (char *)p + done, n - done);

        if (r <= 0)
            die("read: %s", r < 0 ? strerror(errno) : "the broker closed the connection");
        done += (size_t)r;
    }
}

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int fd, one = 1, rc = getaddrinfo(host, port, &hints, &ai);

    if (rc)
        die("%s: %s", host, gai_strerror(rc));
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        die("connect %s:%s: %s", host, port, strerror(errno));
    freeaddrinfo(ai);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* One OffsetCommit v7 round trip; returns the number of partition errors. */
static int commit_once(int fd, const struct job *j, int group, int64_t offset, int32_t corr)
{
    static __thread struct buf req;
    static __thread uint8_t resp[1 << 16];
    char name[32];
    uint8_t szb[4];
    uint32_t sz;
    int errs = 0;
    size_t at;

    snprintf(name, sizeof(name), "bench-%d", group);
    req.n = 4;
    p16(&req, 8); /* OffsetCommit */
    p16(&req, 7);
    p32(&req, corr);
    pstr(&req, "commit_bench");
    pstr(&req, name);
    p32(&req, -1);    /* generation */
    pstr(&req, "");   /* member */
    pstr(&req, NULL); /* group_instance_id */
    p32(&req, 1);
    pstr(&req, j->topic);
    p32(&req, j->partitions);
    for (int p = 0; p < j->partitions; p++) {
        p32(&req, p);
        p64(&req, offset);
        p32(&req, -1); /* leader epoch */
        pstr(&req, "");
    }
    sz = (uint32_t)(req.n - 4);
    req.b[0] = (uint8_t)(sz >> 24);
    req.b[1] = (uint8_t)(sz >> 16);
    req.b[2] = (uint8_t)(sz >> 8);
    req.b[3] = (uint8_t)sz;
    full_write(fd, req.b, req.n);
    full_read(fd, szb, 4);
    sz = (uint32_t)szb[0] << 24 | (uint32_t)szb[1] << 16 | (uint32_t)szb[2] << 8 | szb[3];
    if (sz > sizeof(resp) || sz < 16)
        die("response of %u bytes", sz);
    full_read(fd, resp, sz);
    /* corr, throttle, [topic [partition, error]] */
    at = 4 + 4 + 4;
    at += 2 + (size_t)(resp[at] << 8 | resp[at + 1]);
    at += 4;
    for (int p = 0; p < j->partitions && at + 6 <= sz; p++, at += 6)
        errs += (resp[at + 4] << 8 | resp[at + 5]) != 0;
    return errs;
}

static void *commit_main(void *arg)
{
    const struct job *j = arg;
    int fd = connect_to(j->host, j->port);
    double end = now() + j->seconds;
    int64_t offset = 0;
    int32_t corr = 0;

    while (now() < end) {
        for (int g = j->id; g < j->groups && now() < end; g += j->threads) {
            double t0 = now();
            int errs = commit_once(fd, j, g, offset, ++corr);

            record((now() - t0) * 1e3, errs);
        }
        offset++;
    }
    close(fd);
    return NULL;
}

static void *fsync_main(void *arg)
{
    const struct job *j = arg;
    double end = now() + j->seconds;
    char path[4200], block[256];
    int fd;

    memset(block, 'c', sizeof(block));
    snprintf(path, sizeof(path), "%s/commit_bench.%d", j->dir, j->id);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0)
        die("%s: %s", path, strerror(errno));
    while (now() < end) {
        double t0 = now();

        full_write(fd, block, sizeof(block));
        if (fdatasync(fd) < 0)
            die("fdatasync: %s", strerror(errno));
        record((now() - t0) * 1e3, 0);
    }
    close(fd);
    unlink(path);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(double q)
{
    long i = (long)(q * (double)(nsamples - 1));

    return nsamples ? samples[i] : 0;
}

int main(int argc, char **argv)
{
    struct job base = {0}, *jobs;
    pthread_t *tids;
    void *(*fn)(void *);
    double t0, wall;

    if (argc == 8 && strcmp(argv[1], "commit") == 0) {
        static char host[256];
        char *colon = strrchr(argv[2], ':');

        if (!colon || (size_t)(colon - argv[2]) >= sizeof(host))
            die("HOST:PORT, not '%s'", argv[2]);
        memcpy(host, argv[2], (size_t)(colon - argv[2]));
        base.host = host;
        base.port = colon + 1;
        base.topic = argv[3];
        base.partitions = atoi(argv[4]);
        base.groups = atoi(argv[5]);
        base.threads = atoi(argv[6]);
        base.seconds = atof(argv[7]);
        fn = commit_main;
        if (base.partitions < 1 || base.partitions > 1000 || base.groups < 1)
            die("1..1000 partitions and at least one group");
    } else if (argc == 5 && strcmp(argv[1], "fsync") == 0) {
        base.dir = argv[2];
        base.threads = atoi(argv[3]);
        base.seconds = atof(argv[4]);
        fn = fsync_main;
    } else {
        die("usage: commit_bench commit HOST:PORT TOPIC PARTITIONS GROUPS THREADS SECONDS | "
            "commit_bench fsync DIR THREADS SECONDS");
    }
    if (base.threads < 1 || base.threads > 1024 || base.seconds <= 0)
        die("1..1024 threads and a positive duration");
    samples = malloc(sizeof(*samples) * MAX_SAMPLES);
    jobs = calloc((size_t)base.threads, sizeof(*jobs));
    tids = calloc((size_t)base.threads, sizeof(*tids));
    if (!samples || !jobs || !tids)
        die("out of memory");
    t0 = now();
    for (int i = 0; i < base.threads; i++) {
        jobs[i] = base;
        jobs[i].id = i;
        if (pthread_create(&tids[i], NULL, fn, &jobs[i]) != 0)
            die("pthread_create failed");
    }
    for (int i = 0; i < base.threads; i++)
        pthread_join(tids[i], NULL);
    wall = now() - t0;
    qsort(samples, (size_t)nsamples, sizeof(*samples), cmp);
    printf("commits=%ld per_s=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%ld\n", nsamples,
           (double)nsamples / wall, pct(0.5), pct(0.99), pct(0.999), errors);
    return 0;
}
