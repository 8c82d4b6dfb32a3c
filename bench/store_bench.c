/*
 * store_bench: measurements of the partition log (src/store), run by bench/storage.sh, whose
 * results go into docs/storage.md. Each subcommand builds what it needs under --dir (which it
 * creates and must not exist), measures one thing, removes what it built unless told to keep
 * it, and prints one line "result <what> key=value ..." for the script to collect.
 *
 *   append   --mib N [--mode M] [--sync-end 0|1] [--batch-bytes B [--batches K]]
 *            append N MiB of 1 MiB batches (or K batches of about B bytes) to a new log, then
 *            one flush (sync-end 1)
 *   group    --parts P --threads T --mib N [--mode M] [--sync-each 0|1]
 *            T threads append N MiB each, thread t to partition t % P; sync-each sets
 *            flush.messages = 1; without it every log is flushed once at the end
 *   lookup   --batches N --lookups L [--mode M] [--cache-mib C] [--runs R]
 *            a log of N one-record batches (50-byte value), built in page-cache mode and
 *            reopened in mode M, then R timed passes of L reads (1 byte asked) at
 *            random offsets (the same ones each pass), after an untimed warm-up
 *   build    --mib N --segment-mib S   a log of N MiB in 1 MiB batches, closed cleanly (kept)
 *   open     --segment-mib S [--runs R] [--evict 0|1]
 *            time zcq_log_open of the existing clean log in --dir (evict: drop its files from
 *            the page cache first), then close it cleanly again
 *   recover  --segment-mib S --tail-mib T [--runs R]
 *            roll, append T MiB without a flush, abandon (a crash), time the unclean open
 *   memory   --logs N [--mode M]      heap (mallinfo2) and RSS per open log
 *   read     --mib N [--runs R]       sequential read throughput: page cache warm and
 *            evicted, Direct I/O with the default cache and with a cache holding the log
 *
 * Every command also takes --set key=value (any key of log_config.h, repeatable) and --keep
 * (leave what it built). M is pagecache (the default) or direct. Times are CLOCK_MONOTONIC wall
 * time; MB/s means 1e6 bytes per second. Errors: a message on stderr and exit status 1.
 */
#include "batchgen.h"
#include "io/sys.h"
#include "store/batch.h"
#include "store/log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB         (1024 * 1024)
#define BATCH_BYTES MIB /* "1 MiB batches": a batch is at most this, as close to it as fits */

struct opts {
    const char *dir;
    enum zcq_io_mode mode;
    int64_t mib, segment_mib, tail_mib, cache_mib;
    int64_t batches, lookups, batch_bytes;
    int parts, threads, runs, logs;
    int sync_end, sync_each, evict, keep;
    const char *set[8]; /* --set key=value: any log configuration key (log_config.h) */
    int nset;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("store_bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Sorts v. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *mode_name(enum zcq_io_mode m)
{
    return m == ZCQ_IO_DIRECT ? "direct" : "pagecache";
}

static void config(struct zcq_log_config *c, const struct opts *o)
{
    zcq_log_config_default(c);
    c->io_mode = o->mode;
    if (o->segment_mib > 0)
        c->segment_bytes = o->segment_mib * MIB;
    if (o->cache_mib > 0)
        c->direct_cache_bytes = o->cache_mib * MIB;
    for (int i = 0; i < o->nset; i++) {
        char key[128], why[256];
        const char *eq = strchr(o->set[i], '=');

        if (!eq || (size_t)(eq - o->set[i]) >= sizeof(key))
            die("--set wants key=value, not '%s'", o->set[i]);
        memcpy(key, o->set[i], (size_t)(eq - o->set[i]));
        key[eq - o->set[i]] = 0;
        if (zcq_log_config_set(c, key, eq + 1, why, sizeof(why)) < 0)
            die("--set %s: %s", o->set[i], why);
    }
}

static struct zcq_log *open_log(const char *dir, const struct zcq_log_config *c,
                                struct zcq_log_open_info *info)
{
    struct zcq_log_open_info local;
    struct zcq_log *log;
    int rc;

    if (!info)
        info = &local;
    rc = zcq_log_open(&log, dir, c, info);
    if (rc < 0)
        die("open %s: %s (%s)", dir, zcq_log_strerror(rc), info->why);
    return log;
}

static void close_log(struct zcq_log *log)
{
    int rc = zcq_log_close(log);

    if (rc < 0)
        die("close: %s", zcq_log_strerror(rc));
}

static void append(struct zcq_log *log, void *batch, size_t len, unsigned flags)
{
    int rc = zcq_log_append(log, batch, len, 0, now_ms(), flags, NULL);

    if (rc < 0)
        die("append: %s", zcq_log_strerror(rc));
}

/* A valid batch of `records` records as close to `target` bytes as fits under it. */
static uint8_t *make_batch(size_t target, int records, uint32_t seed, size_t *len)
{
    size_t vlen = (target - ZCQ_BATCH_HEADER) / (size_t)records;

    for (;; vlen--) {
        uint8_t *b = bg_build(records, vlen, now_ms(), seed, len);

        if (*len <= target)
            return b;
        free(b);
    }
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
        fprintf(stderr, "store_bench: remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

static void fresh_dir(const char *path)
{
    struct stat sb;

    if (stat(path, &sb) == 0)
        die("%s exists: give a directory that does not", path);
    if (mkdir(path, 0755) < 0)
        die("mkdir %s: %s", path, strerror(errno));
}

/* Drop a file's pages from the page cache (they are clean: the log synced them). */
static int evict_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    int fd;

    (void)sb;
    (void)ftw;
    if (type != FTW_F)
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return 0;
}

static void evict_dir(const char *path)
{
    nftw(path, evict_one, 64, FTW_PHYS);
}

/* fdatasync calls made by the library, through its system-call table. */
static atomic_long syncs;
static int (*real_fdatasync)(int);

static int counting_fdatasync(int fd)
{
    atomic_fetch_add(&syncs, 1);
    return real_fdatasync(fd);
}

static void count_syncs(void)
{
    real_fdatasync = zcq_sys.fdatasync;
    zcq_sys.fdatasync = counting_fdatasync;
}

/* --- append ------------------------------------------------------------------------------- */

static void cmd_append(const struct opts *o)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    char path[4096];
    size_t len, want = o->batch_bytes > 0 ? (size_t)o->batch_bytes : BATCH_BYTES;
    uint8_t *batch = make_batch(want, want >= 64 * 1024 ? 256 : 1, 1, &len);
    int64_t n = o->batches > 0 ? o->batches : o->mib * MIB / (int64_t)len;
    double t0, t1;

    if (n < 1)
        die("append: --mib (or --batches) must be at least 1");
    fresh_dir(o->dir);
    snprintf(path, sizeof(path), "%s/log", o->dir);
    config(&c, o);
    count_syncs();
    log = open_log(path, &c, NULL);
    atomic_store(&syncs, 0);
    t0 = now_s();
    for (int64_t i = 0; i < n; i++)
        append(log, batch, len, 0);
    if (o->sync_end) {
        int rc = zcq_log_flush(log);

        if (rc < 0)
            die("flush: %s", zcq_log_strerror(rc));
    }
    t1 = now_s();
    printf("result append mode=%s sync_end=%d batch_bytes=%zu batches=%" PRId64 " bytes=%" PRId64
           " seconds=%.4f mbps=%.1f syncs=%ld\n",
           mode_name(o->mode), o->sync_end, len, n, n * (int64_t)len, t1 - t0,
           (double)(n * (int64_t)len) / (t1 - t0) / 1e6, atomic_load(&syncs));
    close_log(log);
    if (!o->keep)
        rm_rf(o->dir);
    free(batch);
}

/* --- group -------------------------------------------------------------------------------- */

struct worker {
    pthread_t th;
    struct zcq_log *log;
    pthread_barrier_t *start;
    int64_t n;
    uint8_t *batch;
    size_t len;
    double *lat; /* seconds per append */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    pthread_barrier_wait(w->start);
    for (int64_t i = 0; i < w->n; i++) {
        double t = now_s();

        append(w->log, w->batch, w->len, 0);
        w->lat[i] = now_s() - t;
    }
    return NULL;
}

static void cmd_group(const struct opts *o)
{
    struct zcq_log_config c;
    struct zcq_log **logs = calloc((size_t)o->parts, sizeof(*logs));
    struct worker *w = calloc((size_t)o->threads, sizeof(*w));
    pthread_barrier_t start;
    double t0, t1, t2, *lat;
    int64_t per, total_batches, bytes;
    size_t len = 0;
    char path[4096];

    if (!logs || !w || o->parts < 1 || o->threads < 1)
        die("group: --parts and --threads must be at least 1");
    fresh_dir(o->dir);
    config(&c, o);
    if (o->sync_each)
        c.flush_messages = 1;
    count_syncs();
    for (int p = 0; p < o->parts; p++) {
        snprintf(path, sizeof(path), "%s/p%03d", o->dir, p);
        logs[p] = open_log(path, &c, NULL);
    }
    pthread_barrier_init(&start, NULL, (unsigned)o->threads + 1);
    for (int t = 0; t < o->threads; t++) {
        /* Each thread its own batch: an append rewrites baseOffset in the caller's memory. */
        w[t].batch = make_batch(BATCH_BYTES, 256, (uint32_t)t + 1, &w[t].len);
        len = w[t].len;
        w[t].n = o->mib * MIB / (int64_t)len;
        w[t].log = logs[t % o->parts];
        w[t].start = &start;
        w[t].lat = calloc((size_t)w[t].n + 1, sizeof(double));
        if (!w[t].lat || w[t].n < 1)
            die("group: --mib must be at least 1");
        if (pthread_create(&w[t].th, NULL, worker_main, &w[t]) != 0)
            die("pthread_create failed");
    }
    per = w[0].n;
    atomic_store(&syncs, 0);
    pthread_barrier_wait(&start);
    t0 = now_s();
    for (int t = 0; t < o->threads; t++)
        pthread_join(w[t].th, NULL);
    t1 = now_s();
    for (int p = 0; p < o->parts; p++) {
        int rc = zcq_log_flush(logs[p]);

        if (rc < 0)
            die("flush: %s", zcq_log_strerror(rc));
    }
    t2 = now_s();
    total_batches = per * o->threads;
    bytes = total_batches * (int64_t)len;
    lat = malloc(sizeof(double) * (size_t)total_batches);
    if (!lat)
        die("out of memory");
    for (int t = 0; t < o->threads; t++)
        memcpy(lat + (int64_t)t * per, w[t].lat, sizeof(double) * (size_t)per);
    qsort(lat, (size_t)total_batches, sizeof(double), cmp_double);
    printf("result group mode=%s sync_each=%d parts=%d threads=%d batch_bytes=%zu bytes=%" PRId64
           " seconds_appended=%.4f seconds_durable=%.4f mbps_appended=%.1f mbps_durable=%.1f"
           " appends=%" PRId64 " syncs=%ld appends_per_sync=%.2f lat_p50_ms=%.3f"
           " lat_p99_ms=%.3f\n",
           mode_name(o->mode), o->sync_each, o->parts, o->threads, len, bytes, t1 - t0, t2 - t0,
           (double)bytes / (t1 - t0) / 1e6, (double)bytes / (t2 - t0) / 1e6, total_batches,
           atomic_load(&syncs),
           atomic_load(&syncs) ? (double)total_batches / (double)atomic_load(&syncs) : 0.0,
           lat[total_batches / 2] * 1e3, lat[total_batches * 99 / 100] * 1e3);
    for (int p = 0; p < o->parts; p++)
        close_log(logs[p]);
    for (int t = 0; t < o->threads; t++) {
        free(w[t].batch);
        free(w[t].lat);
    }
    pthread_barrier_destroy(&start);
    free(lat);
    free(w);
    free(logs);
    if (!o->keep)
        rm_rf(o->dir);
}

/* --- lookup ------------------------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void cmd_lookup(const struct opts *o)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    char path[4096];
    size_t len;
    uint8_t *batch = bg_build(1, 50, now_ms(), 7, &len);
    int64_t *offs = malloc(sizeof(int64_t) * (size_t)o->lookups), hwm;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    double tb, med, *ns = calloc((size_t)o->runs > 0 ? (size_t)o->runs : 1, sizeof(double));
    int64_t warm = o->lookups / 10 + 1;

    if (!offs || !ns || o->batches < 1 || o->lookups < 1 || o->runs < 1)
        die("lookup: --batches, --lookups and --runs must be at least 1");
    fresh_dir(o->dir);
    snprintf(path, sizeof(path), "%s/log", o->dir);
    /* Built in page-cache mode whatever the mode measured: Direct I/O writes every small
     * append to the device on its own (see the append command), which would take minutes. */
    config(&c, o);
    c.io_mode = ZCQ_IO_PAGECACHE;
    log = open_log(path, &c, NULL);
    tb = now_s();
    for (int64_t i = 0; i < o->batches; i++)
        append(log, batch, len, 0);
    tb = now_s() - tb;
    /* Close and reopen in the mode measured, so the lookups run on a log as a restarted broker
     * has it (trimmed indexes of rolled segments, the active one's preallocated); in page-cache
     * mode its pages stay cached, in direct mode the warm-up fills zcq's cache. */
    close_log(log);
    config(&c, o);
    log = open_log(path, &c, NULL);
    hwm = zcq_log_high_watermark(log);
    for (int64_t i = 0; i < o->lookups; i++)
        offs[i] = (int64_t)(xorshift(&seed) % (uint64_t)hwm);
    /* Warm the caches (page cache, and zcq's own in direct mode) and check the answers. */
    for (int64_t i = 0; i < warm; i++) {
        struct zcq_log_slice s;
        int64_t off = (int64_t)(xorshift(&seed) % (uint64_t)hwm);
        int rc = zcq_log_read(log, off, 1, &s);

        if (rc < 0 || s.first_offset != off || s.bytes != len)
            die("lookup: read at %" PRId64 " gave rc %d, offset %" PRId64 ", %" PRIu64 " bytes",
                off, rc, s.first_offset, s.bytes);
        zcq_log_slice_release(log, &s);
    }
    for (int r = 0; r < o->runs; r++) {
        double t0 = now_s();

        for (int64_t i = 0; i < o->lookups; i++) {
            struct zcq_log_slice s;

            if (zcq_log_read(log, offs[i], 1, &s) < 0 || s.first_offset != offs[i])
                die("lookup: read at %" PRId64 " failed", offs[i]);
            zcq_log_slice_release(log, &s);
        }
        ns[r] = (now_s() - t0) / (double)o->lookups * 1e9;
    }
    med = median(ns, o->runs);
    printf("result lookup mode=%s batches=%" PRId64 " batch_bytes=%zu segments=%d lookups=%" PRId64
           " runs=%d ns_per_lookup=%.0f ns_min=%.0f ns_max=%.0f build_seconds=%.2f"
           " build_appends_per_s=%.0f\n",
           mode_name(o->mode), o->batches, len, zcq_log_segment_count(log), o->lookups, o->runs,
           med, ns[0], ns[o->runs - 1], tb, (double)o->batches / tb);
    free(ns);
    close_log(log);
    if (!o->keep)
        rm_rf(o->dir);
    free(offs);
    free(batch);
}

/* --- build, open, recover ----------------------------------------------------------------- */

static void cmd_build(const struct opts *o)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    size_t len;
    uint8_t *batch = make_batch(BATCH_BYTES, 256, 3, &len);
    int64_t n = o->mib * MIB / BATCH_BYTES;
    double t0;
    int segs;

    config(&c, o);
    if (access(o->dir, F_OK) == 0)
        die("%s exists: give a directory that does not", o->dir);
    log = open_log(o->dir, &c, NULL); /* creates it */
    t0 = now_s();
    for (int64_t i = 0; i < n; i++)
        append(log, batch, len, 0);
    segs = zcq_log_segment_count(log);
    close_log(log);
    printf("result build bytes=%" PRId64 " batches=%" PRId64 " segments=%d seconds=%.2f"
           " mbps=%.1f\n",
           n * (int64_t)len, n, segs, now_s() - t0,
           (double)(n * (int64_t)len) / (now_s() - t0) / 1e6);
    free(batch);
}

static void cmd_open(const struct opts *o)
{
    struct zcq_log_config c;
    double *t = calloc((size_t)o->runs, sizeof(double)),
           *tc = calloc((size_t)o->runs, sizeof(double));
    struct zcq_log_open_info info;
    int segs = 0;
    double med;

    if (!t || !tc || o->runs < 1)
        die("open: --runs must be at least 1");
    config(&c, o);
    for (int r = 0; r < o->runs; r++) {
        struct zcq_log *log;
        double t0;

        if (o->evict)
            evict_dir(o->dir);
        t0 = now_s();
        log = open_log(o->dir, &c, &info);
        t[r] = now_s() - t0;
        if (!info.clean)
            die("open: %s was not shut down cleanly", o->dir);
        segs = info.segments;
        t0 = now_s();
        close_log(log);
        tc[r] = now_s() - t0;
    }
    med = median(t, o->runs); /* sorts t: min and max are then at its ends */
    printf("result open evict=%d segments=%d runs=%d seconds_median=%.4f seconds_min=%.4f"
           " seconds_max=%.4f close_seconds_median=%.4f scanned_bytes=%" PRId64 "\n",
           o->evict, segs, o->runs, med, t[0], t[o->runs - 1], median(tc, o->runs),
           info.scanned_bytes);
    free(t);
    free(tc);
}

static void cmd_recover(const struct opts *o)
{
    struct zcq_log_config c;
    double *t = calloc((size_t)o->runs, sizeof(double));
    struct zcq_log_open_info info;
    size_t len;
    uint8_t *batch = make_batch(BATCH_BYTES, 256, 5, &len);
    int64_t n = o->tail_mib * MIB / BATCH_BYTES;

    if (!t || o->runs < 1)
        die("recover: --runs must be at least 1");
    config(&c, o);
    if (o->tail_mib >= o->segment_mib)
        die("recover: --tail-mib must be below --segment-mib (a roll makes a flush due)");
    for (int r = 0; r < o->runs; r++) {
        struct zcq_log *log = open_log(o->dir, &c, NULL);
        double t0;
        int rc = zcq_log_roll(log, now_ms());

        /* The roll and the flush after it (which syncs the rolled segment, as the broker's
         * flush after a roll does) move the recovery point to the new segment: what follows
         * is the only unflushed data. */
        if (rc == 0)
            rc = zcq_log_flush(log);
        if (rc < 0)
            die("roll: %s", zcq_log_strerror(rc));
        for (int64_t i = 0; i < n; i++)
            append(log, batch, len, 0);
        zcq_log_abandon(log);
        t0 = now_s();
        log = open_log(o->dir, &c, &info);
        t[r] = now_s() - t0;
        if (info.clean || info.truncated_bytes)
            die("recover: open found clean=%d, truncated %" PRId64, info.clean,
                info.truncated_bytes);
        close_log(log);
    }
    printf("result recover segments=%d tail_bytes=%" PRId64 " scanned_bytes=%" PRId64
           " runs=%d seconds_median=%.4f\n",
           info.segments, n * (int64_t)len, info.scanned_bytes, o->runs, median(t, o->runs));
    free(t);
    free(batch);
}

/* --- memory ------------------------------------------------------------------------------- */

static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();

    return m.uordblks + m.hblkhd;
}

static size_t rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

static void cmd_memory(const struct opts *o)
{
    struct zcq_log_config c;
    struct zcq_log **logs = calloc((size_t)o->logs, sizeof(*logs));
    struct rlimit rl;
    size_t len, h0, h1, h2, r0, r1, r2;
    uint8_t *batch = bg_build(1, 1000, now_ms(), 9, &len);
    char path[4096];

    if (!logs || o->logs < 1)
        die("memory: --logs must be at least 1");
    /* Each log holds its directory, a segment file and two index files open. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((int64_t)rl.rlim_cur < (int64_t)o->logs * 4 + 16)
        die("memory: %d logs need %d open files; the limit is %ld", o->logs, o->logs * 4 + 16,
            (long)rl.rlim_cur);
    fresh_dir(o->dir);
    config(&c, o);
    /* One log first, so that one-time allocations (the CRC tables, stdio) are not counted. */
    snprintf(path, sizeof(path), "%s/first", o->dir);
    close_log(open_log(path, &c, NULL));
    malloc_trim(0);
    h0 = heap_in_use();
    r0 = rss_bytes();
    for (int i = 0; i < o->logs; i++) {
        snprintf(path, sizeof(path), "%s/p%05d", o->dir, i);
        logs[i] = open_log(path, &c, NULL);
    }
    h1 = heap_in_use();
    r1 = rss_bytes();
    /* Then use each once: a small append and a read of it (direct mode fills cache blocks). */
    for (int i = 0; i < o->logs; i++) {
        struct zcq_log_slice s;

        append(logs[i], batch, len, 0);
        if (zcq_log_read(logs[i], 0, 1 << 20, &s) < 0 || s.bytes != len)
            die("memory: read back failed");
        zcq_log_slice_release(logs[i], &s);
    }
    h2 = heap_in_use();
    r2 = rss_bytes();
    printf("result memory mode=%s logs=%d heap_per_log_open=%.0f heap_per_log_used=%.0f"
           " rss_per_log_open=%.0f rss_per_log_used=%.0f\n",
           mode_name(o->mode), o->logs, ((double)h1 - (double)h0) / o->logs,
           ((double)h2 - (double)h0) / o->logs, ((double)r1 - (double)r0) / o->logs,
           ((double)r2 - (double)r0) / o->logs);
    for (int i = 0; i < o->logs; i++)
        close_log(logs[i]);
    free(logs);
    free(batch);
    if (!o->keep)
        rm_rf(o->dir);
}

/* --- read --------------------------------------------------------------------------------- */

/* One sequential pass over the whole log, 1 MiB reads, each slice copied into buf (what a
 * consumer that reads into memory pays; the same one copy in both modes). Returns seconds;
 * *bytes gets the bytes read. */
static double read_pass(struct zcq_log *log, unsigned char *buf, size_t cap, int64_t *bytes)
{
    int64_t off = zcq_log_start_offset(log), hwm = zcq_log_high_watermark(log);
    double t0 = now_s();

    *bytes = 0;
    while (off < hwm) {
        struct zcq_log_slice s;
        size_t got = 0, at = 0;
        int rc = zcq_log_read(log, off, MIB, &s);

        if (rc < 0 || s.n == 0)
            die("read at %" PRId64 ": %s", off, rc < 0 ? zcq_log_strerror(rc) : "empty");
        for (unsigned i = 0; i < s.n; i++) {
            if (got + s.c[i].len > cap)
                die("read: slice larger than the buffer");
            if (s.c[i].mem) {
                memcpy(buf + got, s.c[i].mem, s.c[i].len);
            } else {
                size_t done = 0;

                while (done < s.c[i].len) {
                    ssize_t r = pread(s.c[i].fd, buf + got + done, s.c[i].len - done,
                                      s.c[i].pos + (off_t)done);

                    if (r <= 0)
                        die("pread: %s", r < 0 ? strerror(errno) : "short");
                    done += (size_t)r;
                }
            }
            got += s.c[i].len;
        }
        zcq_log_slice_release(log, &s);
        /* Step over the whole batches received (the last may be cut). */
        while (at + ZCQ_BATCH_HEADER <= got) {
            struct zcq_batch_info bi;
            int64_t sz = zcq_batch_size(buf + at, got - at);

            if (sz <= 0 || at + (size_t)sz > got || zcq_batch_decode(buf + at, got - at, &bi))
                break;
            off = zcq_batch_last_offset(&bi) + 1;
            at += (size_t)sz;
        }
        if (at == 0)
            die("read at %" PRId64 ": no whole batch", off);
        *bytes += (int64_t)at;
    }
    return now_s() - t0;
}

static void report_read(const char *what, int64_t bytes, double *t, int n)
{
    double m = median(t, n);

    printf("result read case=%s bytes=%" PRId64 " runs=%d seconds_median=%.4f mbps=%.1f\n", what,
           bytes, n, m, (double)bytes / m / 1e6);
}

static void cmd_read(const struct opts *o)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct opts b = *o;
    char path[4096];
    size_t cap = 8 * MIB;
    unsigned char *buf = malloc(cap);
    double *cold = calloc((size_t)o->runs, sizeof(double));
    double *warm = calloc((size_t)o->runs, sizeof(double));
    int64_t bytes = 0;

    if (!buf || !cold || !warm || o->runs < 1)
        die("read: --runs must be at least 1");
    fresh_dir(o->dir);
    snprintf(path, sizeof(path), "%s/log", o->dir);
    b.dir = path;
    b.mode = ZCQ_IO_PAGECACHE;
    b.segment_mib = 0;
    b.cache_mib = 0;
    cmd_build(&b);

    /* Page-cache mode: warm (the build left every page cached; one untimed pass makes sure),
     * then with the log's pages dropped before each pass (readahead then reads the disk). */
    config(&c, &b);
    log = open_log(path, &c, NULL);
    read_pass(log, buf, cap, &bytes);
    for (int r = 0; r < o->runs; r++)
        warm[r] = read_pass(log, buf, cap, &bytes);
    for (int r = 0; r < o->runs; r++) {
        evict_dir(path);
        cold[r] = read_pass(log, buf, cap, &bytes);
    }
    report_read("pagecache-warm", bytes, warm, o->runs);
    report_read("pagecache-evicted", bytes, cold, o->runs);
    close_log(log);

    /* Direct I/O: a fresh log object has an empty cache, so its first pass reads the disk
     * (O_DIRECT, 64 KiB blocks, no readahead); with the default 64 MiB cache a second pass
     * misses again (sequential over more than the cache), with a cache that holds the log it
     * is served from memory. */
    for (int big = 0; big < 2; big++) {
        config(&c, &b);
        c.io_mode = ZCQ_IO_DIRECT;
        if (big)
            c.direct_cache_bytes = (o->mib + 64) * MIB;
        for (int r = 0; r < o->runs; r++) {
            log = open_log(path, &c, NULL);
            cold[r] = read_pass(log, buf, cap, &bytes);
            warm[r] = read_pass(log, buf, cap, &bytes);
            close_log(log);
        }
        report_read(big ? "direct-bigcache-1st-pass" : "direct-64MiB-1st-pass", bytes, cold,
                    o->runs);
        report_read(big ? "direct-bigcache-2nd-pass" : "direct-64MiB-2nd-pass", bytes, warm,
                    o->runs);
    }
    free(buf);
    free(cold);
    free(warm);
    if (!o->keep)
        rm_rf(o->dir);
}

/* --- main --------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: store_bench append|group|lookup|build|open|recover|memory|read --dir DIR"
          " [options]\n(see the comment at the top of bench/store_bench.c)\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"dir", required_argument, NULL, 'd'},      {"mode", required_argument, NULL, 'm'},
        {"mib", required_argument, NULL, 'n'},      {"segment-mib", required_argument, NULL, 's'},
        {"tail-mib", required_argument, NULL, 't'}, {"cache-mib", required_argument, NULL, 'c'},
        {"batches", required_argument, NULL, 'b'},  {"lookups", required_argument, NULL, 'l'},
        {"parts", required_argument, NULL, 'p'},    {"threads", required_argument, NULL, 'T'},
        {"runs", required_argument, NULL, 'r'},     {"logs", required_argument, NULL, 'L'},
        {"sync-end", required_argument, NULL, 'e'}, {"sync-each", required_argument, NULL, 'E'},
        {"evict", required_argument, NULL, 'v'},    {"keep", no_argument, NULL, 'k'},
        {"set", required_argument, NULL, 'S'},      {"batch-bytes", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct opts o = {.runs = 5, .sync_end = 1, .parts = 16, .threads = 32, .logs = 1000};
    const char *cmd;
    int ch;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cmd = argv[1];
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'd':
            o.dir = optarg;
            break;
        case 'm':
            if (strcmp(optarg, "direct") == 0)
                o.mode = ZCQ_IO_DIRECT;
            else if (strcmp(optarg, "pagecache") == 0)
                o.mode = ZCQ_IO_PAGECACHE;
            else
                die("--mode must be pagecache or direct");
            break;
        case 'n':
            o.mib = atoll(optarg);
            break;
        case 's':
            o.segment_mib = atoll(optarg);
            break;
        case 't':
            o.tail_mib = atoll(optarg);
            break;
        case 'c':
            o.cache_mib = atoll(optarg);
            break;
        case 'b':
            o.batches = atoll(optarg);
            break;
        case 'l':
            o.lookups = atoll(optarg);
            break;
        case 'p':
            o.parts = atoi(optarg);
            break;
        case 'T':
            o.threads = atoi(optarg);
            break;
        case 'r':
            o.runs = atoi(optarg);
            break;
        case 'L':
            o.logs = atoi(optarg);
            break;
        case 'e':
            o.sync_end = atoi(optarg);
            break;
        case 'E':
            o.sync_each = atoi(optarg);
            break;
        case 'v':
            o.evict = atoi(optarg);
            break;
        case 'k':
            o.keep = 1;
            break;
        case 'B':
            o.batch_bytes = atoll(optarg);
            break;
        case 'S':
            if (o.nset == (int)(sizeof(o.set) / sizeof(o.set[0])))
                die("too many --set options");
            o.set[o.nset++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!o.dir)
        die("--dir is required");
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(cmd, "append") == 0)
        cmd_append(&o);
    else if (strcmp(cmd, "group") == 0)
        cmd_group(&o);
    else if (strcmp(cmd, "lookup") == 0)
        cmd_lookup(&o);
    else if (strcmp(cmd, "build") == 0)
        cmd_build(&o);
    else if (strcmp(cmd, "open") == 0)
        cmd_open(&o);
    else if (strcmp(cmd, "recover") == 0)
        cmd_recover(&o);
    else if (strcmp(cmd, "memory") == 0)
        cmd_memory(&o);
    else if (strcmp(cmd, "read") == 0)
        cmd_read(&o);
    else
        die("unknown command '%s'", cmd);
    return 0;
}
