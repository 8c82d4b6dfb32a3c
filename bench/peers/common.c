/* common.c: options, records, latency histograms, pacing and the result line (common.h). */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define FINE_BUCKETS   100000 /* 1 us each: up to 100 ms */
#define COARSE_BUCKETS 100000 /* 1 ms each: up to 100 s */
#define PACE_TICK_NS   100000

struct peer_hist {
    uint64_t fine[FINE_BUCKETS];
    uint64_t coarse[COARSE_BUCKETS];
    uint64_t over, count, max_ns;
};

void peer_die(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("peer: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

uint64_t peer_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void *peer_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        peer_die("out of memory");
    return p;
}

/* --- options -------------------------------------------------------------------------------- */

static void usage(const char *system)
{
    fprintf(stderr,
            "usage: peer_%s produce|consume|e2e|reqs|setup --addr HOST:PORT --stream NAME\n"
            "         [--records N] [--size B] [--window W] [--batch C] [--rate R]\n"
            "         [--seconds S] [--conns C]\n"
            "Runs one workload and prints one line of key=value results (bench/peers.sh).\n",
            system);
    exit(2);
}

static double num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi)
        peer_die("%s needs a number from %g to %g, not '%s'", opt, lo, hi, s);
    return v;
}

static void parse(struct peer_opts *o, const char *system, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"addr", required_argument, NULL, 'a'},    {"stream", required_argument, NULL, 't'},
        {"records", required_argument, NULL, 'n'}, {"size", required_argument, NULL, 's'},
        {"window", required_argument, NULL, 'w'},  {"batch", required_argument, NULL, 'b'},
        {"rate", required_argument, NULL, 'r'},    {"seconds", required_argument, NULL, 'S'},
        {"conns", required_argument, NULL, 'c'},   {NULL, 0, NULL, 0},
    };
    static const char *const modes[] = {"produce", "consume", "e2e", "reqs", "setup"};
    const char *addr = NULL, *colon;
    int c;

    *o = (struct peer_opts){.system = system,
                            .window = 1000,
                            .batch = 1000,
                            .size = 100,
                            .conns = 8,
                            .seconds = 10,
                            .rate = 50000,
                            .stream = "bench"};
    if (argc < 2)
        usage(system);
    o->mode_name = argv[1];
    for (c = 0; c < 5 && strcmp(argv[1], modes[c]) != 0; c++)
        ;
    if (c == 5)
        usage(system);
    o->mode = (enum peer_mode)c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            addr = optarg;
            break;
        case 't':
            o->stream = optarg;
            break;
        case 'n':
            o->records = (long long)num("--records", optarg, 1, 1e12);
            break;
        case 's':
            o->size = (int)num("--size", optarg, PEER_HDR, 1 << 20);
            break;
        case 'w':
            o->window = (int)num("--window", optarg, 1, 1 << 24);
            break;
        case 'b':
            o->batch = (int)num("--batch", optarg, 1, 1 << 24);
            break;
        case 'r':
            o->rate = num("--rate", optarg, 1, 1e9);
            break;
        case 'S':
            o->seconds = num("--seconds", optarg, 0.001, 1e6);
            break;
        case 'c':
            o->conns = (int)num("--conns", optarg, 1, 1024);
            break;
        default:
            usage(system);
        }
    }
    if (optind < argc || !addr)
        usage(system);
    colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof(o->host) || strlen(colon + 1) >= sizeof(o->port))
        peer_die("--addr needs HOST:PORT, not '%s'", addr);
    memcpy(o->host, addr, (size_t)(colon - addr));
    snprintf(o->port, sizeof(o->port), "%s", colon + 1);
    if ((o->mode == PEER_PRODUCE || o->mode == PEER_CONSUME) && o->records < 1)
        peer_die("%s needs --records", o->mode_name);
}

/* --- records -------------------------------------------------------------------------------- */

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void peer_fill_body(uint8_t *buf, int size)
{
    for (int i = PEER_HDR; i < size; i++)
        buf[i] = (uint8_t)('a' + i % 26);
}

void peer_stamp(uint8_t *buf, uint64_t seq)
{
    put_le64(buf, seq);
    put_le64(buf + 8, peer_now_ns());
}

uint64_t peer_get_seq(const void *rec)
{
    return get_le64(rec);
}

uint64_t peer_get_stamp(const void *rec)
{
    return get_le64((const uint8_t *)rec + 8);
}

/* --- histogram ------------------------------------------------------------------------------ */

struct peer_hist *peer_hist_new(void)
{
    struct peer_hist *h = peer_calloc(1, sizeof(*h));

    return h;
}

void peer_hist_add(struct peer_hist *h, uint64_t ns)
{
    uint64_t us = ns / 1000, msec = ns / 1000000;

    if (us < FINE_BUCKETS)
        h->fine[us]++;
    else if (msec < COARSE_BUCKETS)
        h->coarse[msec]++;
    else
        h->over++;
    h->count++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void peer_hist_merge(struct peer_hist *into, const struct peer_hist *from)
{
    for (int i = 0; i < FINE_BUCKETS; i++)
        into->fine[i] += from->fine[i];
    for (int i = 0; i < COARSE_BUCKETS; i++)
        into->coarse[i] += from->coarse[i];
    into->over += from->over;
    into->count += from->count;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

/* The latency at quantile q, in ms: the middle of its bucket. */
static double hist_ms(const struct peer_hist *h, double q)
{
    uint64_t rank = (uint64_t)(q * (double)h->count), seen = 0;

    if (h->count == 0)
        return 0;
    if (rank >= h->count)
        rank = h->count - 1;
    for (int i = 0; i < FINE_BUCKETS; i++) {
        seen += h->fine[i];
        if (seen > rank)
            return ((double)i + 0.5) / 1000.0;
    }
    for (int i = 0; i < COARSE_BUCKETS; i++) {
        seen += h->coarse[i];
        if (seen > rank)
            return (double)i + 0.5;
    }
    return (double)h->max_ns / 1e6;
}

/* --- sequence check ------------------------------------------------------------------------- */

void peer_seen_init(struct peer_seen *s, long long n)
{
    *s = (struct peer_seen){.n = n, .bits = peer_calloc((size_t)(n / 8 + 1), 1)};
}

void peer_seen_mark(struct peer_seen *s, uint64_t seq)
{
    uint8_t bit;

    if (seq >= (uint64_t)s->n) {
        s->bad++;
        return;
    }
    bit = (uint8_t)(1u << (seq & 7));
    if (s->bits[seq >> 3] & bit) {
        s->dups++;
        return;
    }
    s->bits[seq >> 3] |= bit;
    s->distinct++;
}

/* --- pacing --------------------------------------------------------------------------------- */

void peer_pace_start(struct peer_pacer *p, double rate, double seconds)
{
    *p = (struct peer_pacer){.rate = rate, .t0 = peer_now_ns()};
    p->total = (long long)(rate * seconds);
    p->end = p->t0 + (uint64_t)(seconds * 1e9);
}

long long peer_pace_wait(struct peer_pacer *p)
{
    for (;;) {
        uint64_t now = peer_now_ns();
        long long due = (long long)((double)(now - p->t0) * p->rate / 1e9) + 1;

        if (due > p->total)
            due = p->total;
        if (p->sent >= p->total)
            return 0;
        if (due > p->sent) {
            long long n = due - p->sent;

            p->sent = due;
            return n;
        }
        /* Sleep to the next tick, or to when the next record is due if that is sooner. */
        {
            uint64_t next = p->t0 + (uint64_t)((double)p->sent * 1e9 / p->rate);
            uint64_t wake = now + PACE_TICK_NS;
            struct timespec ts;

            if (next > now && next < wake)
                wake = next;
            ts.tv_sec = (time_t)(wake / 1000000000u);
            ts.tv_nsec = (long)(wake % 1000000000u);
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
    }
}

/* --- the result line ------------------------------------------------------------------------ */

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int peer_report(const struct peer_opts *o, const struct peer_result *r)
{
    double bytes = (double)r->records * o->size, s = r->seconds > 0 ? r->seconds : 1e-9;
    long long missing = 0, dups = 0;

    if (r->seen) {
        missing = r->seen->n - r->seen->distinct;
        dups = r->seen->dups + r->seen->bad;
    } else if (r->expected) {
        missing = r->expected - r->records - r->errors;
    }
    printf("system=%s mode=%s records=%lld bytes=%.0f seconds=%.4f records_per_s=%.1f "
           "mb_per_s=%.2f client_cpu_s=%.4f",
           o->system, o->mode_name, r->records, bytes, r->seconds, (double)r->records / s,
           bytes / 1e6 / s, cpu_s());
    if (r->send_seconds > 0)
        printf(" send_s=%.4f", r->send_seconds);
    if (r->first_seconds > 0)
        printf(" first_s=%.4f", r->first_seconds);
    if (r->lat && r->lat->count)
        printf(" p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f", hist_ms(r->lat, 0.50),
               hist_ms(r->lat, 0.99), hist_ms(r->lat, 0.999), (double)r->lat->max_ns / 1e6);
    if (r->ack_lat && r->ack_lat->count)
        printf(" ack_p50_ms=%.3f ack_p99_ms=%.3f", hist_ms(r->ack_lat, 0.50),
               hist_ms(r->ack_lat, 0.99));
    printf(" missing=%lld dups=%lld errors=%lld\n", missing, dups, r->errors);
    fflush(stdout);
    return missing || dups || r->errors ? 1 : 0;
}

/* --- the workloads -------------------------------------------------------------------------- */

void peer_ack(struct peer_acks *a, uint64_t stamp, bool error)
{
    if (error) {
        a->errors++;
        return;
    }
    a->acked++;
    if (a->lat)
        peer_hist_add(a->lat, peer_now_ns() - stamp);
}

void peer_sink_record(struct peer_sink *s, const void *rec, size_t len)
{
    if (len != (size_t)s->size) {
        if (!s->errors++)
            fprintf(stderr, "peer: a record of %zu bytes, not %d\n", len, s->size);
        return;
    }
    if (s->lat)
        peer_hist_add(s->lat, peer_now_ns() - peer_get_stamp(rec));
    peer_seen_mark(&s->seen, peer_get_seq(rec));
    atomic_store(&s->last_ns, peer_now_ns());
    if (atomic_fetch_add(&s->got, 1) == 0)
        atomic_store(&s->first_ns, atomic_load(&s->last_ns));
}

static uint8_t *new_record(const struct peer_opts *o)
{
    uint8_t *rec = peer_calloc(1, (size_t)o->size);

    peer_fill_body(rec, o->size);
    return rec;
}

int peer_run_produce(const struct peer_opts *o, const struct peer_producer_ops *ops)
{
    struct peer_acks a = {.lat = peer_hist_new()};
    void *p = ops->open(o, &a);
    uint8_t *rec = new_record(o);
    uint64_t t0 = peer_now_ns();

    for (long long i = 0; i < o->records; i++) {
        peer_stamp(rec, (uint64_t)i);
        ops->send(p, rec);
    }
    ops->finish(p);
    free(rec);
    return peer_report(o, &(struct peer_result){.records = a.acked,
                                                .expected = o->records,
                                                .errors = a.errors,
                                                .seconds = (double)(peer_now_ns() - t0) / 1e9,
                                                .lat = a.lat});
}

int peer_run_consume(const struct peer_opts *o, const struct peer_consumer_ops *ops)
{
    struct peer_sink s = {.size = o->size};
    void *c;
    uint64_t t0, first, last;
    long long got = 0;

    peer_seen_init(&s.seen, o->records);
    c = ops->open(o, &s);
    t0 = last = peer_now_ns();
    while (got < o->records && peer_now_ns() - last < 10000000000u) {
        long long now_got;

        ops->receive(c);
        now_got = atomic_load(&s.got);
        if (now_got > got)
            last = peer_now_ns();
        got = now_got;
    }
    ops->close(c);
    first = atomic_load(&s.first_ns);
    last = atomic_load(&s.last_ns);
    return peer_report(
        o, &(struct peer_result){.records = got,
                                 .seen = &s.seen,
                                 .errors = s.errors,
                                 .seconds = (double)(last - first) / 1e9,
                                 .first_seconds = first ? (double)(first - t0) / 1e9 : 0});
}

struct e2e_consumer {
    const struct peer_consumer_ops *ops;
    void *c;
    struct peer_sink *s;
    long long total;
    atomic_bool producer_done;
};

static void *e2e_consumer_main(void *arg)
{
    struct e2e_consumer *ec = arg;
    uint64_t idle_since = 0;

    while (atomic_load(&ec->s->got) < ec->total) {
        long long before = atomic_load(&ec->s->got);

        ec->ops->receive(ec->c);
        if (atomic_load(&ec->s->got) != before || !atomic_load(&ec->producer_done))
            idle_since = 0;
        else if (!idle_since)
            idle_since = peer_now_ns();
        else if (peer_now_ns() - idle_since > 5000000000u)
            break; /* five seconds after the last record was acknowledged: lost */
    }
    return NULL;
}

int peer_run_e2e(const struct peer_opts *o, const struct peer_producer_ops *pops,
                 const struct peer_consumer_ops *cops)
{
    struct peer_sink s = {.size = o->size, .lat = peer_hist_new()};
    struct peer_acks a = {.lat = peer_hist_new()};
    struct e2e_consumer ec = {.ops = cops, .s = &s, .total = (long long)(o->rate * o->seconds)};
    struct peer_pacer pace;
    uint8_t *rec = new_record(o);
    void *p = pops->open(o, &a);
    long long n, seq = 0;
    pthread_t tid;
    uint64_t t0, t_sent;

    peer_seen_init(&s.seen, ec.total);
    ec.c = cops->open(o, &s);
    if (pthread_create(&tid, NULL, e2e_consumer_main, &ec))
        peer_die("pthread_create failed");
    /* A second for the consumer to find its position and park its first read. */
    usleep(1000000);
    t0 = peer_now_ns();
    peer_pace_start(&pace, o->rate, o->seconds);
    while ((n = peer_pace_wait(&pace)) > 0) {
        for (; n > 0; n--) {
            peer_stamp(rec, (uint64_t)seq++);
            pops->send(p, rec);
        }
        if (pops->tick)
            pops->tick(p);
    }
    t_sent = peer_now_ns();
    pops->finish(p);
    atomic_store(&ec.producer_done, true);
    pthread_join(tid, NULL);
    cops->close(ec.c);
    free(rec);
    return peer_report(o, &(struct peer_result){.records = atomic_load(&s.got),
                                                .seen = &s.seen,
                                                .errors = s.errors + a.errors,
                                                .seconds = (double)(peer_now_ns() - t0) / 1e9,
                                                .send_seconds = (double)(t_sent - t0) / 1e9,
                                                .lat = s.lat,
                                                .ack_lat = a.lat});
}

struct reqs_job {
    const struct peer_opts *o;
    const struct peer_reqs_ops *ops;
    pthread_t tid;
    int id;
    uint64_t end;
    struct peer_hist *lat;
    long long n, errors;
};

static void *reqs_main(void *arg)
{
    struct reqs_job *j = arg;
    void *conn = j->ops->open(j->o);
    uint8_t *rec = new_record(j->o);

    while (peer_now_ns() < j->end) {
        uint64_t t;

        /* Unique across connections: the connection in the top bits. */
        peer_stamp(rec, (uint64_t)j->id << 40 | (uint64_t)j->n);
        t = peer_get_stamp(rec);
        j->errors += j->ops->request(conn, rec) != 0;
        peer_hist_add(j->lat, peer_now_ns() - t);
        j->n++;
    }
    j->ops->close(conn);
    free(rec);
    return NULL;
}

int peer_run_reqs(const struct peer_opts *o, const struct peer_reqs_ops *ops)
{
    struct reqs_job *jobs = peer_calloc((size_t)o->conns, sizeof(*jobs));
    struct peer_hist *lat = peer_hist_new();
    long long n = 0, errors = 0;
    uint64_t t0 = peer_now_ns();

    for (int i = 0; i < o->conns; i++) {
        jobs[i] = (struct reqs_job){.o = o,
                                    .ops = ops,
                                    .id = i,
                                    .lat = peer_hist_new(),
                                    .end = t0 + (uint64_t)(o->seconds * 1e9)};
        if (pthread_create(&jobs[i].tid, NULL, reqs_main, &jobs[i]))
            peer_die("pthread_create failed");
    }
    for (int i = 0; i < o->conns; i++) {
        pthread_join(jobs[i].tid, NULL);
        peer_hist_merge(lat, jobs[i].lat);
        n += jobs[i].n;
        errors += jobs[i].errors;
    }
    return peer_report(o, &(struct peer_result){.records = n - errors,
                                                .errors = errors,
                                                .seconds = (double)(peer_now_ns() - t0) / 1e9,
                                                .lat = lat});
}

int peer_main(int argc, char **argv, const struct peer_driver *d)
{
    static struct peer_opts o;

    parse(&o, d->system, argc, argv);
    switch (o.mode) {
    case PEER_SETUP:
        return d->setup ? d->setup(&o) : 0;
    case PEER_PRODUCE:
        return peer_run_produce(&o, &d->producer);
    case PEER_CONSUME:
        return peer_run_consume(&o, &d->consumer);
    case PEER_E2E:
        return peer_run_e2e(&o, &d->producer, &d->consumer);
    case PEER_REQS:
        return peer_run_reqs(&o, &d->reqs);
    }
    return 2;
}
