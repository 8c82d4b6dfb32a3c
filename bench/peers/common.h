/*
 * common.h: what every peer driver shares (bench/peers.sh runs them; docs/peers.md explains).
 *
 * A driver is one program per system (peer_zcq, peer_nats, peer_redis, peer_rabbitmq) that runs
 * one workload against a running broker and prints one line of key=value results:
 *
 *   produce  --records N --size B [--window W]      N records of B bytes, batched or windowed
 *            the way a fair user of that system would; latency is publish call to acknowledgement
 *   consume  --records N --size B [--batch C]       read N records from the beginning of the
 *            stream; every sequence number 0..N-1 must arrive exactly once; the clock runs from
 *            the first record to the last (connecting and subscribing are not timed: librdkafka,
 *            for one, sometimes takes half a second to start its first fetch)
 *   e2e      --rate R --seconds S --size B          a producer at R records/s for S seconds and a
 *            consumer on a separate connection; latency is the consumer's clock minus the stamp
 *            the producer wrote into the record (one process, so one CLOCK_MONOTONIC)
 *   reqs     --conns C --seconds S --size B         C connections, each sending one record per
 *            request and waiting for its answer: requests/s and request latency
 *   setup    create --stream where the system needs that done first
 *
 * Every record's first 16 bytes are its sequence number and its send time (little-endian u64s,
 * CLOCK_MONOTONIC ns), the rest filler letters; records are at least 16 bytes. MB and GB are
 * 10^6 and 10^9 bytes of record payload (the values only: no keys, ids or headers).
 *
 * Errors: a driver prints one line on stderr and exits 1 (peer_die); a run that lost, duplicated
 * or failed records still prints its line, with missing=, dups= and errors= non-zero, and exits 1.
 */
#ifndef ZCQ_BENCH_PEERS_COMMON_H
#define ZCQ_BENCH_PEERS_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_HDR 16 /* sequence number + stamp */

enum peer_mode { PEER_PRODUCE, PEER_CONSUME, PEER_E2E, PEER_REQS, PEER_SETUP };

struct peer_opts {
    const char *system; /* for the output line: zcq, nats, redis, rabbitmq */
    enum peer_mode mode;
    const char *mode_name;
    char host[256];
    char port[16];
    const char *stream; /* topic, stream or queue: --stream */
    long long records;  /* --records */
    int size;           /* --size, bytes per record */
    int window;         /* --window: records in flight (or per pipeline batch) */
    int batch;          /* --batch: records per consume request (or prefetch) */
    double rate;        /* --rate, records/s */
    double seconds;     /* --seconds */
    int conns;          /* --conns */
};

__attribute__((noreturn, format(printf, 1, 2))) void peer_die(const char *fmt, ...);

uint64_t peer_now_ns(void);

/* Zeroed memory, or exit. */
void *peer_calloc(size_t n, size_t size);

/* Write the filler (once per buffer), then peer_stamp() each record: sequence number and now. */
void peer_fill_body(uint8_t *buf, int size);
void peer_stamp(uint8_t *buf, uint64_t seq);
uint64_t peer_get_seq(const void *rec);
uint64_t peer_get_stamp(const void *rec);

/* Latencies in ns, 1 us buckets up to 100 ms, then 1 ms buckets up to 100 s. Thread-safe to add
 * from one thread while nothing reads; merge per-thread histograms with peer_hist_merge. */
struct peer_hist;
struct peer_hist *peer_hist_new(void);
void peer_hist_add(struct peer_hist *h, uint64_t ns);
void peer_hist_merge(struct peer_hist *into, const struct peer_hist *from);

/* Which sequence numbers arrived: out-of-range ones count as bad. */
struct peer_seen {
    uint8_t *bits;
    long long n, distinct, dups, bad;
};
void peer_seen_init(struct peer_seen *s, long long n);
void peer_seen_mark(struct peer_seen *s, uint64_t seq);

/* A fixed-rate schedule: record i is due at t0 + i / rate. peer_pace_wait() sleeps until at
 * least one record is due (in ticks of 100 us, so that a client at 50,000 records/s wakes 10,000
 * times a second, not 50,000) and returns how many are due now, 0 once the run is over. */
struct peer_pacer {
    uint64_t t0, end;
    double rate;
    long long sent, total;
};
void peer_pace_start(struct peer_pacer *p, double rate, double seconds);
long long peer_pace_wait(struct peer_pacer *p);

/* What a run measured; peer_report prints it (client CPU from getrusage, every thread) and
 * returns the exit status: 0, or 1 when anything was lost, duplicated or failed. */
struct peer_result {
    long long records;  /* acknowledged (produce, reqs) or received (consume, e2e) */
    long long expected; /* 0 = no check */
    long long errors;
    const struct peer_seen *seen; /* consume and e2e: what arrived */
    double seconds;
    double send_seconds;             /* e2e: how long the producer took to send them all */
    double first_seconds;            /* consume: from subscribing to the first record */
    const struct peer_hist *lat;     /* may be NULL */
    const struct peer_hist *ack_lat; /* e2e: the producer's, publish to acknowledgement */
};
int peer_report(const struct peer_opts *o, const struct peer_result *r);

/* --- the workloads, run the same way for every system ---------------------------------------
 *
 * A driver supplies a producer and a consumer as callbacks; common.c runs the clock, the
 * schedule, the checks and the report, so that every system is timed by the same code. */

/* What a producer's acknowledgements say: the driver calls peer_ack for each (stamp: the
 * record's, from peer_get_stamp; error: the record failed). Only one thread may call it. */
struct peer_acks {
    struct peer_hist *lat;
    long long acked, errors;
};
void peer_ack(struct peer_acks *a, uint64_t stamp, bool error);

/* Where a consumer puts what it receives: peer_sink_record checks the record's size and
 * sequence number and, in e2e, takes its latency. Only one thread may call it. */
struct peer_sink {
    struct peer_seen seen;
    struct peer_hist *lat; /* e2e only */
    int size;
    atomic_llong got;
    _Atomic uint64_t first_ns, last_ns; /* when the first and the last record arrived */
    long long errors;
};
void peer_sink_record(struct peer_sink *s, const void *rec, size_t len);

struct peer_producer_ops {
    /* Connect; acks go to a. */
    void *(*open)(const struct peer_opts *o, struct peer_acks *a);
    /* Send one stamped record. produce: may wait while --window records are unacknowledged. */
    void (*send)(void *p, const uint8_t *rec);
    /* e2e: after each tick's records: push them out and take the acks that have come. May be
     * NULL. */
    void (*tick)(void *p);
    /* Wait for every acknowledgement, then disconnect. */
    void (*finish)(void *p);
};

struct peer_consumer_ops {
    /* Connect and subscribe from the first record of o->stream; records go to s. Returns once
     * the consumer is ready (e2e starts producing a second after that). */
    void *(*open)(const struct peer_opts *o, struct peer_sink *s);
    /* Wait up to about 100 ms for records and hand each to peer_sink_record. */
    void (*receive)(void *c);
    void (*close)(void *c);
};

/* produce: --records records, as fast as the producer goes. */
int peer_run_produce(const struct peer_opts *o, const struct peer_producer_ops *p);
/* consume: --records records from the beginning (gives up after 10 s without one). */
int peer_run_consume(const struct peer_opts *o, const struct peer_consumer_ops *c);
/* e2e: the consumer on a thread of its own, the producer at --rate for --seconds. */
int peer_run_e2e(const struct peer_opts *o, const struct peer_producer_ops *p,
                 const struct peer_consumer_ops *c);

/* reqs: --conns threads, each with its own connection, sending a record and waiting for its
 * answer in a loop for --seconds. request returns 0, or non-zero if the record failed. */
struct peer_reqs_ops {
    void *(*open)(const struct peer_opts *o);
    int (*request)(void *conn, const uint8_t *rec);
    void (*close)(void *conn);
};
int peer_run_reqs(const struct peer_opts *o, const struct peer_reqs_ops *r);

/* A driver: its system's name, how to set a stream up (NULL: nothing to do) and its clients.
 * Its main is peer_main(argc, argv, &driver): parse the options, run the mode. */
struct peer_driver {
    const char *system;
    int (*setup)(const struct peer_opts *o);
    struct peer_producer_ops producer;
    struct peer_consumer_ops consumer;
    struct peer_reqs_ops reqs;
};
int peer_main(int argc, char **argv, const struct peer_driver *d);

#endif
