/*
 * The copies lab: measure one transfer strategy moving a whole file to a real receiver, several
 * times, and summarise what it cost (throughput, CPU per GB on both ends, system calls and
 * context switches per GB), beside what theory says the strategy costs.
 *
 * Receivers (lab_recv.c) are real: a TCP or Unix-socket peer in a separate process that drains
 * and checksums (XXH3) what it receives, a pipe read by a separate process, /dev/null, or a
 * file checksummed after the timed part. The sender is the calling process.
 *
 * Memory: everything is owned by the structs below; results hold no pointers into the
 * caller's memory except the constant strings (names, reasons).
 */
#ifndef ZCQ_CLI_LAB_H
#define ZCQ_CLI_LAB_H

#include "io/xfer.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum zcq_lab_dest { ZCQ_LAB_TCP, ZCQ_LAB_UNIX, ZCQ_LAB_PIPE, ZCQ_LAB_NULL, ZCQ_LAB_FILE };
enum zcq_lab_cache { ZCQ_LAB_WARM, ZCQ_LAB_COLD };

const char *zcq_lab_dest_name(enum zcq_lab_dest d);
int zcq_lab_dest_parse(const char *s, enum zcq_lab_dest *out);

/* What one side of one run used. */
struct zcq_lab_usage {
    double user_s, sys_s;
    uint64_t vol_csw, invol_csw;
    uint64_t syscalls;
};

/* A receiver for one run. Started before the timed part, finished after it. */
struct zcq_lab_recv {
    enum zcq_lab_dest dest;
    int fd;         /* the sender writes here */
    pid_t pid;      /* receiver process, 0 for null/file */
    int report_fd;  /* receiver -> lab: ready byte, then struct zcq__lab_report */
    int listen_fd;  /* tcp/unix listener until the peer connects */
    char dir[4096]; /* where file destinations are created */
};

/* The receiver's result. */
struct zcq_lab_got {
    uint64_t bytes;
    uint64_t hash;   /* XXH3-64 of the bytes, in order */
    bool hashed;     /* false for /dev/null, which keeps nothing to check */
    uint64_t end_ns; /* CLOCK_MONOTONIC when the receiver saw the end */
    struct zcq_lab_usage use;
};

/* Start a receiver; dir is where a file destination goes (created and unlinked at once, so
 * nothing is left behind); tcp_cc, when not NULL, is the TCP congestion control the sender's
 * socket uses (TCP_CONGESTION). Returns 0 or -errno with why filled. */
int zcq_lab_recv_start(struct zcq_lab_recv *r, enum zcq_lab_dest d, const char *dir,
                       const char *tcp_cc, char *why, size_t why_len);

/* Close the sender's end and collect the receiver's result (waits for it). For a file
 * destination this reads the file back to checksum it. Always releases r's resources. */
int zcq_lab_recv_finish(struct zcq_lab_recv *r, struct zcq_lab_got *got, char *why, size_t why_len);

/* XXH3-64 of a whole file (read with pread from offset 0) and its length (bytes may be
 * NULL). Returns 0, -ENOMEM or the read's -errno. */
int zcq_lab_hash_fd(int fd, uint64_t *hash, uint64_t *bytes);

/* Kill and reap a receiver after a failed run. */
void zcq_lab_recv_abort(struct zcq_lab_recv *r);

/* Theory for a strategy: copies of each byte from disk to the receiver, of which done by the
 * CPU, and user/kernel mode switches per chunk, for a socket destination with a
 * scatter-gather NIC. */
struct zcq_lab_theory {
    int copies;
    int cpu_copies;
    int mode_switches;
    const char *note;
};
const struct zcq_lab_theory *zcq_lab_theory(enum zcq_xfer_method m);

/* Lab options shared by every measurement. */
struct zcq_lab_opts {
    const char *file;   /* source */
    uint64_t src_hash;  /* XXH3-64 of the whole source, to verify each run against */
    const char *dir;    /* for file destinations */
    const char *tcp_cc; /* TCP congestion control for the sender's socket, NULL: default */
    enum zcq_lab_dest dest;
    size_t chunk;
    unsigned runs;
    bool progress; /* draw a progress line on stderr */
};

#define ZCQ_LAB_MAX_RUNS 100

/* One row of results: one strategy at one cache state. */
struct zcq_lab_result {
    enum zcq_xfer_method method;
    enum zcq_lab_cache cache;
    uint64_t size; /* bytes per run */
    unsigned runs; /* completed */
    double gbps[ZCQ_LAB_MAX_RUNS];
    double gbps_median, gbps_min, gbps_max;
    struct zcq_lab_usage send, recv; /* summed over runs */
    uint64_t zc_sends, zc_copied;
    int resident_before_pct, resident_after_pct; /* first run */
    bool verified;                               /* every run's checksum matched the source */
    char tcp_cc[16]; /* TCP congestion control the sender's socket used ("" not TCP) */
    bool ok;         /* false: see error */
    char error[256];
};

/* Measure one strategy at one cache state. Fills res (res->ok false with res->error on
 * failure, which is a result, not a lab failure). Returns 0, or -errno when the lab itself
 * cannot go on (the source vanished, no memory). */
int zcq_lab_measure(const struct zcq_lab_opts *o, enum zcq_xfer_method m, enum zcq_lab_cache c,
                    struct zcq_lab_result *res);

/* Reports. */
void zcq_lab_print_table(FILE *f, const struct zcq_lab_opts *o, const struct zcq_lab_result *r,
                         size_t n);
void zcq_lab_print_json(FILE *f, const struct zcq_lab_opts *o, const struct zcq_lab_result *r,
                        size_t n);
/* Write an SVG bar chart (throughput and CPU per GB by method). Returns 0 or -errno. */
int zcq_lab_write_svg(const char *path, const struct zcq_lab_opts *o,
                      const struct zcq_lab_result *r, size_t n);

#endif
