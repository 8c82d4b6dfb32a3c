/* Tests for the copies lab (src/cli/lab_*.c): receivers, measurement and reports. */
#include "harness.h"

#include "cli/lab.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static void fill(char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        p[i] = (char)seed;
    }
}

/* Send `n` known bytes through a receiver of kind d and check what it says it got. */
static void through(enum zcq_lab_dest d, size_t n)
{
    struct zcq_lab_recv r;
    struct zcq_lab_got got;
    char why[256];
    char *buf = malloc(n ? n : 1);
    size_t off = 0;

    ZT_ASSERT(buf);
    fill(buf, n, 42);
    ZT_OK(zcq_lab_recv_start(&r, d, zt_tmpdir(), NULL, why, sizeof(why)));
    while (off < n) {
        ssize_t w = write(r.fd, buf + off, n - off);

        ZT_ASSERT(w > 0);
        off += (size_t)w;
    }
    ZT_OK(zcq_lab_recv_finish(&r, &got, why, sizeof(why)));
    if (d == ZCQ_LAB_NULL) {
        ZT_ASSERT(!got.hashed);
    } else {
        ZT_ASSERT(got.hashed);
        ZT_EQ(got.bytes, n);
        ZT_ASSERT(got.hash == XXH3_64bits(buf, n));
    }
    ZT_EQ(r.fd, -1);
    ZT_EQ(r.pid, 0);
    free(buf);
}

static void receivers_checksum_what_they_get(void)
{
    for (int d = ZCQ_LAB_TCP; d <= ZCQ_LAB_FILE; d++) {
        through((enum zcq_lab_dest)d, 0);
        through((enum zcq_lab_dest)d, 1);
        through((enum zcq_lab_dest)d, (3u << 20) + 7);
    }
}

static void receiver_detects_wrong_bytes(void)
{
    struct zcq_lab_recv r;
    struct zcq_lab_got got;
    char why[256], a[4096], b[4096];

    fill(a, sizeof(a), 1);
    memcpy(b, a, sizeof(b));
    b[100] ^= 1;
    ZT_OK(zcq_lab_recv_start(&r, ZCQ_LAB_UNIX, NULL, NULL, why, sizeof(why)));
    ZT_EQ(write(r.fd, b, sizeof(b)), sizeof(b));
    ZT_OK(zcq_lab_recv_finish(&r, &got, why, sizeof(why)));
    ZT_ASSERT(got.hash != XXH3_64bits(a, sizeof(a)));
}

static void abort_reaps_the_receiver(void)
{
    struct zcq_lab_recv r;
    char why[256];
    pid_t pid;

    ZT_OK(zcq_lab_recv_start(&r, ZCQ_LAB_TCP, NULL, NULL, why, sizeof(why)));
    pid = r.pid;
    ZT_ASSERT(pid > 0);
    zcq_lab_recv_abort(&r);
    ZT_EQ(kill(pid, 0), -1); /* reaped, not a zombie */
    ZT_EQ(errno, ESRCH);
    ZT_EQ(r.fd, -1);
}

static void file_destination_leaves_no_name(void)
{
    struct zcq_lab_recv r;
    struct zcq_lab_got got;
    char why[256], dir[4200];

    snprintf(dir, sizeof(dir), "%s/dest", zt_tmpdir());
    ZT_OK(mkdir(dir, 0700));
    ZT_OK(zcq_lab_recv_start(&r, ZCQ_LAB_FILE, dir, NULL, why, sizeof(why)));
    ZT_EQ(write(r.fd, "hello", 5), 5);
    ZT_OK(zcq_lab_recv_finish(&r, &got, why, sizeof(why)));
    ZT_EQ(got.bytes, 5);
    ZT_OK(rmdir(dir)); /* fails with ENOTEMPTY if a file was left */
}

static void dest_names_round_trip(void)
{
    for (int d = ZCQ_LAB_TCP; d <= ZCQ_LAB_FILE; d++) {
        enum zcq_lab_dest back;

        ZT_OK(zcq_lab_dest_parse(zcq_lab_dest_name((enum zcq_lab_dest)d), &back));
        ZT_EQ(back, d);
    }
    {
        enum zcq_lab_dest back;

        ZT_EQ(zcq_lab_dest_parse("smoke-signals", &back), -EINVAL);
    }
}

/* A measurement of a small file: every run verified, stats filled, median within min..max. */
static void measure_counts_and_verifies(void)
{
    char path[4200], *buf;
    size_t n = 2u << 20;
    struct zcq_lab_opts o = {.dest = ZCQ_LAB_PIPE, .chunk = 64 * 1024, .runs = 3};
    struct zcq_lab_result res;
    int fd;

    snprintf(path, sizeof(path), "%s/src", zt_tmpdir());
    fd = open(path, O_CREAT | O_RDWR, 0600);
    ZT_ASSERT(fd >= 0);
    buf = malloc(n);
    ZT_ASSERT(buf);
    fill(buf, n, 9);
    ZT_EQ(write(fd, buf, n), n);
    o.file = path;
    o.dir = zt_tmpdir();
    o.src_hash = XXH3_64bits(buf, n);
    ZT_OK(zcq_lab_measure(&o, ZCQ_XFER_COPY, ZCQ_LAB_WARM, &res));
    ZT_ASSERT(res.ok);
    ZT_ASSERT(res.verified);
    ZT_EQ(res.runs, 3);
    ZT_EQ(res.size, n);
    ZT_ASSERT(res.gbps_min > 0 && res.gbps_min <= res.gbps_median);
    ZT_ASSERT(res.gbps_median <= res.gbps_max);
    /* copy: at least a read and a write per 64K chunk, every run. */
    ZT_ASSERT(res.send.syscalls >= 3 * 2 * (n / (64 * 1024)));
    ZT_ASSERT(res.recv.syscalls > 0);
    ZT_EQ(res.resident_before_pct, 100);

    /* A wrong expected checksum is caught, and reported as such. */
    o.src_hash ^= 1;
    ZT_OK(zcq_lab_measure(&o, ZCQ_XFER_SENDFILE, ZCQ_LAB_WARM, &res));
    ZT_ASSERT(!res.ok);
    ZT_ASSERT(!res.verified);
    ZT_ASSERT(strstr(res.error, "checksum"));

    /* A strategy the destination cannot take is a result with a reason, not a failure. */
    o.src_hash ^= 1;
    ZT_OK(zcq_lab_measure(&o, ZCQ_XFER_ZEROCOPY, ZCQ_LAB_WARM, &res));
    ZT_ASSERT(!res.ok);
    ZT_EQ(res.runs, 0);
    ZT_ASSERT(strstr(res.error, "TCP"));

    /* A missing source is the lab's own failure. */
    o.file = "/nonexistent/zcq";
    ZT_EQ(zcq_lab_measure(&o, ZCQ_XFER_COPY, ZCQ_LAB_WARM, &res), -ENOENT);
    free(buf);
    close(fd);
}

static void theory_covers_every_method(void)
{
    for (int m = 0; m < ZCQ_XFER_COUNT; m++) {
        const struct zcq_lab_theory *t = zcq_lab_theory((enum zcq_xfer_method)m);

        ZT_ASSERT(t->copies >= t->cpu_copies);
        ZT_ASSERT(t->copies >= 2); /* at least disk -> memory -> NIC */
        ZT_ASSERT(t->note && *t->note);
    }
}

static const struct zcq_test tests[] = {
    {"receivers_checksum_what_they_get", receivers_checksum_what_they_get, 60},
    {"receiver_detects_wrong_bytes", receiver_detects_wrong_bytes, 20},
    {"abort_reaps_the_receiver", abort_reaps_the_receiver, 20},
    {"file_destination_leaves_no_name", file_destination_leaves_no_name, 20},
    {"dest_names_round_trip", dest_names_round_trip, 10},
    {"measure_counts_and_verifies", measure_counts_and_verifies, 60},
    {"theory_covers_every_method", theory_covers_every_method, 10},
};

ZT_MAIN(tests)
