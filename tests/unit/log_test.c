/* Tests for the partition log (src/store/log*.c): append, read, index lookup, roll, retention,
 * timestamp lookup, truncation and reopen, each in page-cache and Direct I/O mode. */
#include "harness.h"

#include "batchgen.h"
#include "io/sys.h"
#include "store/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A record of what was appended, to check reads against. */
struct appended {
    int64_t base, last;
    uint8_t *bytes; /* as stored (offsets assigned) */
    size_t len;
    int64_t max_ts;
};

static char dirpath[4200];
static int mode_direct;

static void cfg_for(struct zcq_log_config *c)
{
    zcq_log_config_default(c);
    c->io_mode = mode_direct ? ZCQ_IO_DIRECT : ZCQ_IO_PAGECACHE;
    c->index_interval_bytes = 1024;
    c->index_max_bytes = 64 * 1024;
    c->direct_cache_bytes = 1 << 20;
}

static struct zcq_log *open_log(const struct zcq_log_config *c, struct zcq_log_open_info *info)
{
    struct zcq_log *log;
    struct zcq_log_open_info li;
    int rc = zcq_log_open(&log, dirpath, c, info ? info : &li);

    if (rc == -EINVAL && mode_direct)
        zt_skip("O_DIRECT not supported here: %s", (info ? info : &li)->why);
    if (rc < 0)
        zt_fail(__FILE__, __LINE__, "open: %d %s", rc, (info ? info : &li)->why);
    return log;
}

static void setup(void)
{
    snprintf(dirpath, sizeof(dirpath), "%s/p0", zt_tmpdir());
}

/* Append n batches of varying shape (with flags); remember them in a[]. */
static void fill_flags(struct zcq_log *log, struct appended *a, int n, int64_t ts0, unsigned flags)
{
    for (int i = 0; i < n; i++) {
        struct zcq_append_result r;
        size_t len;
        uint8_t *b =
            bg_build(1 + i % 7, (size_t)(10 + (i * 37) % 900), ts0 + i * 10, (uint32_t)i, &len);
        int rc = zcq_log_append(log, b, len, 5, ts0 + i, flags, &r);

        if (rc < 0)
            zt_fail(__FILE__, __LINE__, "append %d: %s", i, zcq_log_strerror(rc));
        a[i].base = r.base_offset;
        a[i].last = r.last_offset;
        a[i].bytes = b;
        a[i].len = len;
        a[i].max_ts = ts0 + i * 10 + i % 7;
        ZT_EQ(r.last_offset - r.base_offset, i % 7);
        if (i)
            ZT_EQ(r.base_offset, a[i - 1].last + 1);
    }
}

static void fill(struct zcq_log *log, struct appended *a, int n, int64_t ts0)
{
    fill_flags(log, a, n, ts0, 0);
}

/* The bytes of a slice, gathered. */
static uint8_t *gather(const struct zcq_log_slice *s)
{
    uint8_t *out = malloc(s->bytes ? s->bytes : 1);
    size_t at = 0;

    for (unsigned i = 0; i < s->n; i++) {
        if (s->c[i].mem) {
            memcpy(out + at, s->c[i].mem, s->c[i].len);
        } else {
            ZT_EQ(pread(s->c[i].fd, out + at, s->c[i].len, s->c[i].pos), s->c[i].len);
        }
        at += s->c[i].len;
    }
    ZT_EQ(at, s->bytes);
    return out;
}

/* Reading at every offset returns the batch holding it, byte for byte, first. */
static void check_reads(struct zcq_log *log, const struct appended *a, int from, int n)
{
    for (int i = from; i < n; i++) {
        for (int64_t off = a[i].base; off <= a[i].last; off++) {
            struct zcq_log_slice s;
            uint8_t *got;

            ZT_OK(zcq_log_read(log, off, 1, &s));
            ZT_EQ(s.first_offset, a[i].base);
            ZT_ASSERT(s.bytes >= a[i].len); /* the first batch whole, past max_bytes */
            got = gather(&s);
            if (memcmp(got, a[i].bytes, a[i].len) != 0)
                zt_fail(__FILE__, __LINE__, "batch %d differs when read at %lld", i,
                        (long long)off);
            free(got);
            zcq_log_slice_release(log, &s);
        }
    }
}

static void free_all(struct appended *a, int n)
{
    for (int i = 0; i < n; i++)
        free(a[i].bytes);
}

static void append_read(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct appended a[200];
    struct zcq_log_slice s;
    uint8_t *got;

    setup();
    cfg_for(&c);
    log = open_log(&c, NULL);
    ZT_EQ(zcq_log_end_offset(log), 0);
    fill(log, a, 200, 1000);
    ZT_EQ(zcq_log_end_offset(log), a[199].last + 1);
    ZT_EQ(zcq_log_high_watermark(log), a[199].last + 1);
    check_reads(log, a, 0, 200);

    /* max_bytes takes several batches, the last one possibly cut. */
    ZT_OK(zcq_log_read(log, a[10].base, 5000, &s));
    ZT_EQ(s.bytes, 5000);
    got = gather(&s);
    ZT_ASSERT(memcmp(got, a[10].bytes, a[10].len) == 0);
    ZT_ASSERT(memcmp(got + a[10].len, a[11].bytes, a[11].len) == 0);
    free(got);
    zcq_log_slice_release(log, &s);

    /* At the hwm: empty. Above it, or below the start: out of range. */
    ZT_OK(zcq_log_read(log, a[199].last + 1, 100, &s));
    ZT_EQ(s.n, 0);
    ZT_EQ(zcq_log_read(log, a[199].last + 2, 100, &s), ZCQ_LOG_EOUTOFRANGE);
    ZT_EQ(zcq_log_read(log, -1, 100, &s), ZCQ_LOG_EOUTOFRANGE);
    ZT_OK(zcq_log_close(log));
    free_all(a, 200);
}

static void rejects_bad_batches(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct zcq_append_result r;
    size_t len;
    uint8_t *b;

    setup();
    cfg_for(&c);
    log = open_log(&c, NULL);
    b = bg_build(3, 100, 1, 1, &len);
    b[100] ^= 1; /* covered by the CRC */
    ZT_EQ(zcq_log_append(log, b, len, 0, 1, 0, &r), ZCQ_BATCH_ECRC);
    b[100] ^= 1;
    ZT_EQ(zcq_log_append(log, b, len - 1, 0, 1, 0, &r), ZCQ_BATCH_ETRUNC);
    b[16] = 1;
    ZT_EQ(zcq_log_append(log, b, len, 0, 1, 0, &r), ZCQ_BATCH_EMAGIC);
    b[16] = 2;
    c.max_message_bytes = 100;
    ZT_EQ(zcq_log_end_offset(log), 0); /* nothing written */
    ZT_OK(zcq_log_append(log, b, len, 0, 1, 0, &r));
    ZT_EQ(r.base_offset, 0);
    ZT_EQ(zcq_log_end_offset(log), 3);
    ZT_OK(zcq_log_close(log));
    /* A batch over max.message.bytes. */
    log = open_log(&c, NULL);
    ZT_EQ(zcq_log_append(log, b, len, 0, 1, 0, &r), ZCQ_LOG_ETOOLARGE);
    ZT_OK(zcq_log_close(log));
    free(b);
}

static int count_files(const char *ext)
{
    DIR *d = opendir(dirpath);
    struct dirent *e;
    int n = 0;

    ZT_ASSERT(d);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), m = strlen(ext);

        if (l > m && strcmp(e->d_name + l - m, ext) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void roll_and_reopen(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct zcq_log_open_info info;
    struct appended a[300];
    int segs;

    setup();
    cfg_for(&c);
    c.segment_bytes = 16 * 1024;
    log = open_log(&c, NULL);
    fill(log, a, 300, 5000);
    segs = zcq_log_segment_count(log);
    ZT_ASSERT(segs > 5);
    ZT_EQ(count_files(".log"), segs);
    check_reads(log, a, 0, 300);
    ZT_OK(zcq_log_close(log));

    /* Clean reopen: no scan, same offsets, same data. */
    log = open_log(&c, &info);
    ZT_ASSERT(info.clean);
    ZT_EQ(info.scanned_bytes, 0);
    ZT_EQ(info.segments, segs);
    ZT_EQ(zcq_log_end_offset(log), a[299].last + 1);
    check_reads(log, a, 0, 300);
    /* Appends go on after a reopen, from the old end. */
    {
        int64_t leo = zcq_log_end_offset(log);

        free_all(a, 300);
        fill(log, a, 10, 9000);
        ZT_EQ(a[0].base, leo);
    }
    zcq_log_abandon(log); /* a crash */

    log = open_log(&c, &info);
    ZT_ASSERT(!info.clean);
    ZT_EQ(info.truncated_bytes, 0);
    ZT_EQ(zcq_log_end_offset(log), a[9].last + 1);
    check_reads(log, a, 0, 10);
    ZT_OK(zcq_log_close(log));
    free_all(a, 10);
}

static void roll_by_age(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct zcq_append_result r;
    size_t len;
    uint8_t *b;

    setup();
    cfg_for(&c);
    c.segment_ms = 1000;
    log = open_log(&c, NULL);
    for (int i = 0; i < 5; i++) {
        b = bg_build(1, 10, 0, 0, &len);
        ZT_OK(zcq_log_append(log, b, len, 0, 10000 + i * 600, 0, &r));
        free(b);
    }
    /* Appends at 0, 600 | 1200, 1800 | 2400: three segments. */
    ZT_EQ(zcq_log_segment_count(log), 3);
    ZT_OK(zcq_log_close(log));
}

static void retention(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct appended a[300];
    struct zcq_log_slice s;
    int before, deleted;

    setup();
    cfg_for(&c);
    c.segment_bytes = 16 * 1024;
    c.retention_bytes = 64 * 1024;
    c.retention_ms = -1;
    log = open_log(&c, NULL);
    fill(log, a, 300, 5000);
    before = zcq_log_segment_count(log);

    /* A reader holds the oldest segment across its deletion. */
    ZT_OK(zcq_log_read(log, 0, 1, &s));
    deleted = zcq_log_retain(log, 0);
    ZT_ASSERT(deleted > 0);
    ZT_EQ(zcq_log_segment_count(log), before - deleted);
    ZT_ASSERT(zcq_log_start_offset(log) > 0);
    ZT_EQ(count_files(".log"), before - deleted);
    {
        uint8_t *got = gather(&s); /* still readable */

        ZT_ASSERT(memcmp(got, a[0].bytes, a[0].len) == 0);
        free(got);
    }
    ZT_ASSERT(count_files(".deleted") > 0);
    zcq_log_slice_release(log, &s);
    ZT_EQ(count_files(".deleted"), 0); /* unlinked with the last reference */

    ZT_EQ(zcq_log_read(log, 0, 1, &s), ZCQ_LOG_EOUTOFRANGE);
    {
        int first = 0;

        while (a[first].last < zcq_log_start_offset(log))
            first++;
        check_reads(log, a, first, 300);
    }
    ZT_OK(zcq_log_close(log));

    /* By time: segments whose newest timestamp is older than retention.ms. */
    c.retention_bytes = -1;
    c.retention_ms = 1000;
    log = open_log(&c, NULL);
    ZT_EQ(zcq_log_retain(log, 0), 0); /* nothing is older than -1000 */
    deleted = zcq_log_retain(log, 5000 + 300 * 10 + 100000);
    ZT_ASSERT(deleted > 0);
    ZT_EQ(zcq_log_segment_count(log), 1); /* never the active segment */
    ZT_OK(zcq_log_close(log));
    free_all(a, 300);
}

static void timestamps(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct appended a[300];

    setup();
    cfg_for(&c);
    c.segment_bytes = 16 * 1024;
    log = open_log(&c, NULL);
    fill(log, a, 300, 100000); /* batch i: timestamps 100000 + 10 i .. + i % 7 */
    for (int i = 0; i < 300; i++) {
        ZT_EQ(zcq_log_offset_for_time(log, a[i].max_ts), a[i].base);
        ZT_EQ(zcq_log_offset_for_time(log, a[i].max_ts + 1),
              i + 1 < 300 ? a[i + 1].base : zcq_log_end_offset(log));
    }
    ZT_EQ(zcq_log_offset_for_time(log, 0), 0);
    ZT_EQ(zcq_log_offset_for_time(log, 1LL << 50), zcq_log_end_offset(log));
    ZT_OK(zcq_log_close(log));
    free_all(a, 300);
}

/* Deleting before an offset: whole segments below it go, the one holding it stays, the
 * active one always stays, and a reopen keeps the new log start. */
static void delete_before(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct appended a[200];
    int before, deleted, first = 0;

    setup();
    cfg_for(&c);
    c.segment_bytes = 16 * 1024;
    log = open_log(&c, NULL);
    fill(log, a, 200, 0);
    before = zcq_log_segment_count(log);
    ZT_ASSERT(before > 3);
    ZT_EQ(zcq_log_delete_before(log, 0), 0);
    deleted = zcq_log_delete_before(log, a[100].base);
    ZT_ASSERT(deleted > 0);
    ZT_EQ(zcq_log_segment_count(log), before - deleted);
    ZT_ASSERT(zcq_log_start_offset(log) > 0);
    ZT_ASSERT(zcq_log_start_offset(log) <= a[100].base); /* the record itself is kept */
    while (a[first].last < zcq_log_start_offset(log))
        first++;
    check_reads(log, a, first, 200);
    /* Past the end: everything but the active segment. */
    ZT_ASSERT(zcq_log_delete_before(log, INT64_MAX) >= 0);
    ZT_EQ(zcq_log_segment_count(log), 1);
    ZT_OK(zcq_log_close(log));
    log = open_log(&c, NULL);
    ZT_EQ(zcq_log_segment_count(log), 1);
    first = 0;
    while (a[first].last < zcq_log_start_offset(log))
        first++;
    check_reads(log, a, first, 200);
    ZT_OK(zcq_log_close(log));
    free_all(a, 200);
}

static void truncate_to(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct appended a[100];
    struct zcq_log_slice s;

    setup();
    cfg_for(&c);
    c.segment_bytes = 16 * 1024;
    log = open_log(&c, NULL);
    fill(log, a, 100, 0);
    ZT_EQ(zcq_log_truncate_to(log, a[50].base + 1), -EINVAL); /* inside a batch (if > 1) */
    ZT_OK(zcq_log_truncate_to(log, a[50].base));
    ZT_EQ(zcq_log_end_offset(log), a[50].base);
    ZT_EQ(zcq_log_high_watermark(log), a[50].base);
    ZT_EQ(zcq_log_read(log, a[60].base, 1, &s), ZCQ_LOG_EOUTOFRANGE);
    check_reads(log, a, 0, 50);
    free_all(a + 50, 50);
    fill(log, a + 50, 50, 0); /* offsets reused from there */
    ZT_EQ(a[50].base, a[49].last + 1);
    check_reads(log, a, 0, 100);
    ZT_OK(zcq_log_close(log));
    log = open_log(&c, NULL);
    check_reads(log, a, 0, 100);
    ZT_OK(zcq_log_close(log));
    free_all(a, 100);
}

static void sync_policy(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct zcq_append_result r;
    size_t len;
    uint8_t *b = bg_build(2, 50, 0, 0, &len);

    setup();
    cfg_for(&c);
    c.flush_messages = 1;
    log = open_log(&c, NULL);
    ZT_OK(zcq_log_append(log, b, len, 0, 0, 0, &r));
    ZT_ASSERT(r.synced);
    ZT_EQ(zcq_log_durable_offset(log), 2);
    ZT_EQ(zcq_log_high_watermark(log), 2);
    /* NOSYNC: written, not yet visible under a sync policy, until a flush. */
    ZT_OK(zcq_log_append(log, b, len, 0, 0, ZCQ_APPEND_NOSYNC, &r));
    ZT_ASSERT(!r.synced);
    ZT_EQ(zcq_log_end_offset(log), 4);
    ZT_EQ(zcq_log_high_watermark(log), 2);
    ZT_OK(zcq_log_flush(log));
    ZT_EQ(zcq_log_high_watermark(log), 4);
    ZT_EQ(zcq_log_durable_offset(log), 4);
    ZT_OK(zcq_log_close(log));

    /* Lazy policy: visible at once, durable after flush.messages records. */
    c.flush_messages = 5;
    log = open_log(&c, NULL);
    ZT_OK(zcq_log_append(log, b, len, 0, 0, 0, &r));
    ZT_EQ(zcq_log_high_watermark(log), 6);
    ZT_EQ(zcq_log_durable_offset(log), 4);
    ZT_OK(zcq_log_append(log, b, len, 0, 0, 0, &r));
    ZT_OK(zcq_log_append(log, b, len, 0, 0, 0, &r)); /* 6 records since the sync */
    ZT_EQ(zcq_log_durable_offset(log), 10);
    ZT_OK(zcq_log_close(log));
    free(b);
}

static void config_names(void)
{
    struct zcq_log_config c;
    char why[128];

    zcq_log_config_default(&c);
    ZT_OK(zcq_log_config_set(&c, "log.segment.bytes", "1048576", why, sizeof(why)));
    ZT_EQ(c.segment_bytes, 1048576);
    ZT_OK(zcq_log_config_set(&c, "segment.bytes", "2097152", why, sizeof(why)));
    ZT_EQ(c.segment_bytes, 2097152);
    ZT_OK(zcq_log_config_set(&c, "flush.messages", "1", why, sizeof(why)));
    ZT_ASSERT(zcq_log_config_sync_each(&c));
    ZT_OK(zcq_log_config_set(&c, "zcq.io.mode", "direct", why, sizeof(why)));
    ZT_EQ(c.io_mode, ZCQ_IO_DIRECT);
    ZT_EQ(zcq_log_config_set(&c, "zcq.io.mode", "magic", why, sizeof(why)), -EINVAL);
    ZT_EQ(zcq_log_config_set(&c, "retention.ms", "-2", why, sizeof(why)), -EINVAL);
    ZT_EQ(zcq_log_config_set(&c, "no.such.key", "1", why, sizeof(why)), -EINVAL);
    ZT_ASSERT(strstr(why, "no.such.key"));
    ZT_OK(zcq_log_config_check(&c, why, sizeof(why)));
    c.segment_bytes = 1LL << 33;
    ZT_EQ(zcq_log_config_check(&c, why, sizeof(why)), -EINVAL);
}

/*
 * Appenders and readers at once, on a cache far smaller than the data in Direct I/O mode (so
 * blocks are evicted while dirty ones stay pinned, and appends sometimes find every block
 * pinned and write synchronously): every batch a reader sees up to the hwm is whole and valid,
 * and after a close and reopen every appended batch reads back byte for byte.
 */
enum { CC_THREADS = 4, CC_READERS = 2, CC_PER = 300 };

struct cc_arg {
    struct zcq_log *log;
    int id;
    struct appended a[CC_PER];
};

static atomic_int cc_done;

static void *cc_append(void *v)
{
    struct cc_arg *t = v;

    for (int i = 0; i < CC_PER; i++) {
        struct zcq_append_result r;
        size_t len;
        /* Sizes from a few bytes to past one cache block, so writes span blocks. */
        size_t vlen = (size_t)((i * 7919 + t->id * 104729) % (i % 10 == 0 ? 90000 : 3000));
        uint8_t *b = bg_build(1 + i % 5, vlen, 1000 + i, (uint32_t)(t->id * 100000 + i), &len);

        if (zcq_log_append(t->log, b, len, 1, 1000 + i, 0, &r) < 0)
            zt_fail(__FILE__, __LINE__, "append failed");
        t->a[i].base = r.base_offset;
        t->a[i].last = r.last_offset;
        t->a[i].bytes = b;
        t->a[i].len = len;
    }
    return NULL;
}

static void *cc_read(void *v)
{
    struct zcq_log *log = v;
    int64_t off = 0;
    long batches = 0;

    while (!cc_done || off < zcq_log_high_watermark(log)) {
        struct zcq_log_slice sl;
        uint8_t *got;
        size_t at = 0;
        int rc;

        if (off >= zcq_log_high_watermark(log)) {
            if (cc_done)
                break;
            sched_yield();
            continue;
        }
        rc = zcq_log_read(log, off, 200000, &sl);
        if (rc == -ENOBUFS && mode_direct) {
            sched_yield(); /* every cache block pinned at this instant: transient */
            continue;
        }
        ZT_OK(rc);
        got = gather(&sl);
        while (at + 12 <= sl.bytes) {
            int64_t sz = zcq_batch_size(got + at, sl.bytes - at);
            struct zcq_batch_info bi;

            if (sz <= 0 || at + (size_t)sz > sl.bytes)
                break; /* the last batch may be cut */
            if (zcq_batch_validate(got + at, (size_t)sz, &bi) != 0)
                zt_fail(__FILE__, __LINE__, "invalid batch at offset %lld", (long long)off);
            ZT_ASSERT(bi.base_offset + bi.last_offset_delta >= off);
            off = bi.base_offset + bi.last_offset_delta + 1;
            at += (size_t)sz;
            batches++;
        }
        ZT_ASSERT(at > 0); /* the first batch is always whole */
        free(got);
        zcq_log_slice_release(log, &sl);
    }
    return (void *)batches;
}

static void concurrent(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    static struct cc_arg t[CC_THREADS];
    pthread_t th[CC_THREADS], rd[CC_READERS];

    setup();
    cfg_for(&c);
    c.segment_bytes = 4 << 20; /* rolls while appenders and readers run */
    c.direct_cache_bytes = 1 << 20;
    log = open_log(&c, NULL);
    cc_done = 0;
    for (int i = 0; i < CC_READERS; i++)
        ZT_EQ(pthread_create(&rd[i], NULL, cc_read, log), 0);
    for (int i = 0; i < CC_THREADS; i++) {
        t[i].log = log;
        t[i].id = i;
        ZT_EQ(pthread_create(&th[i], NULL, cc_append, &t[i]), 0);
    }
    for (int i = 0; i < CC_THREADS; i++)
        ZT_EQ(pthread_join(th[i], NULL), 0);
    cc_done = 1;
    for (int i = 0; i < CC_READERS; i++) {
        void *n;

        ZT_EQ(pthread_join(rd[i], &n), 0);
        ZT_ASSERT((long)n >= CC_THREADS * CC_PER); /* each reader saw every batch */
    }
    ZT_EQ(zcq_log_end_offset(log), zcq_log_high_watermark(log));
    ZT_OK(zcq_log_close(log));
    log = open_log(&c, NULL);
    for (int i = 0; i < CC_THREADS; i++) {
        check_reads(log, t[i].a, 0, CC_PER);
        free_all(t[i].a, CC_PER);
    }
    ZT_OK(zcq_log_close(log));
}

/*
 * Appends run on the broker's event loops, so without a sync policy they never sync, not even
 * when a segment rolls: the rolled segments are synced by the next flush, which then moves the
 * recovery point, so a crash after it rescans only the active segment.
 */
static int syncs;

static int count_fdatasync(int fd)
{
    syncs++;
    return fdatasync(fd);
}

static int count_fsync(int fd)
{
    syncs++;
    return fsync(fd);
}

static void roll_defers_sync(void)
{
    struct zcq_log_config c;
    struct zcq_log_open_info info;
    struct zcq_log *log;
    struct appended a[200];
    int segs;

    setup();
    cfg_for(&c);
    c.segment_bytes = 16 * 1024;
    log = open_log(&c, NULL);
    syncs = 0;
    zcq_sys.fdatasync = count_fdatasync;
    zcq_sys.fsync = count_fsync;
    fill_flags(log, a, 200, 0, ZCQ_APPEND_NOSYNC);
    ZT_EQ(syncs, 0);
    segs = zcq_log_segment_count(log);
    ZT_ASSERT(segs > 5);
    ZT_ASSERT(zcq_log_flush_due(log, 0));
    ZT_OK(zcq_log_maybe_flush(log, 0));
    ZT_ASSERT(syncs >= segs); /* every rolled segment, the active one, the directory */
    ZT_ASSERT(!zcq_log_flush_due(log, 0));
    ZT_EQ(zcq_log_durable_offset(log), a[199].last + 1);
    zcq_sys_restore();
    zcq_log_abandon(log); /* a crash: no clean-shutdown marker */
    log = open_log(&c, &info);
    ZT_ASSERT(!info.clean);
    ZT_ASSERT(info.scanned_bytes <= 16 * 1024); /* the active segment only */
    check_reads(log, a, 0, 200);
    ZT_OK(zcq_log_close(log));
    free_all(a, 200);
}

/* Open file descriptors of this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    ZT_ASSERT(d);
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory stream's own */
}

static int64_t file_size(int64_t base, const char *ext)
{
    char path[4300];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%020lld.%s", dirpath, (long long)base, ext);
    ZT_OK(stat(path, &st));
    return (int64_t)st.st_size;
}

/*
 * Many partitions (docs/benchmarks.md): an active segment's indexes start at one page and
 * double as entries come, up to segment.index.bytes, where the segment rolls; a rolled one is
 * trimmed to its entries. A log holds one file descriptor per segment (the indexes are mapped,
 * their files closed), in both modes, through growth, rolls and reopens.
 */
static void index_grows(void)
{
    enum { N = 6000 };
    struct zcq_log_config c;
    struct zcq_log *log;
    struct appended *a = calloc(N, sizeof(*a));
    int fds = open_fds(), segs;

    ZT_ASSERT(a);
    setup();
    cfg_for(&c);
    c.index_interval_bytes = 0; /* an entry per batch: 8,192 fit 64 KiB, 5,461 time entries */
    log = open_log(&c, NULL);
    ZT_EQ(open_fds(), fds + 1);
    ZT_EQ(file_size(0, "index"), 4096);
    ZT_EQ(file_size(0, "timeindex"), 4092);
    fill(log, a, 1200, 1000);
    /* 1,200 entries: the offset index doubled twice (8 then 16 KiB), the time index too. */
    ZT_EQ(file_size(0, "index"), 16384);
    ZT_EQ(file_size(0, "timeindex"), 4092 * 4);
    ZT_EQ(open_fds(), fds + 1);
    check_reads(log, a, 0, 1200);
    free_all(a, 1200);
    fill(log, a, N, 100000);
    segs = zcq_log_segment_count(log);
    ZT_EQ(segs, 2); /* the time index filled at 5,461 entries: one roll */
    ZT_EQ(file_size(0, "timeindex"), 5461 * 12);
    ZT_EQ(file_size(0, "index"), 5461 * 8);
    ZT_EQ(open_fds(), fds + 2);
    check_reads(log, a, N - 1000, N);
    ZT_OK(zcq_log_close(log));
    ZT_EQ(open_fds(), fds);
    log = open_log(&c, NULL);
    ZT_EQ(open_fds(), fds + 2);
    check_reads(log, a, N - 1000, N);
    ZT_OK(zcq_log_close(log));
    free_all(a, N);
    free(a);
}

/* The flush epoch and zcq_log_flush_pending(), by which an owner skips its timer round over
 * idle logs: appends under the default policy leave nothing pending; a roll does, and moves
 * the epoch; flush.ms does from the first unsynced append; a flush ends it. */
static void flush_pending(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct appended a[200];
    uint64_t e;

    setup();
    cfg_for(&c);
    c.segment_bytes = 16 * 1024;
    log = open_log(&c, NULL);
    ZT_ASSERT(!zcq_log_flush_pending(log));
    e = zcq_log_flush_epoch();
    fill_flags(log, a, 10, 0, ZCQ_APPEND_NOSYNC);
    ZT_ASSERT(!zcq_log_flush_pending(log)); /* no sync policy: nothing for a timer to do */
    ZT_EQ(zcq_log_flush_epoch(), e);
    ZT_OK(zcq_log_roll(log, 0));
    ZT_ASSERT(zcq_log_flush_epoch() != e);
    ZT_ASSERT(zcq_log_flush_pending(log));
    ZT_OK(zcq_log_maybe_flush(log, 0));
    ZT_ASSERT(!zcq_log_flush_pending(log));
    ZT_OK(zcq_log_close(log));
    free_all(a, 10);

    c.flush_ms = 1000;
    log = open_log(&c, NULL);
    e = zcq_log_flush_epoch();
    fill_flags(log, a, 10, 0, ZCQ_APPEND_NOSYNC);
    ZT_ASSERT(zcq_log_flush_epoch() != e);
    ZT_ASSERT(zcq_log_flush_pending(log));
    ZT_ASSERT(!zcq_log_flush_due(log, 10));
    e = zcq_log_flush_epoch();
    fill_flags(log, a + 10, 10, 100, ZCQ_APPEND_NOSYNC); /* the period runs already */
    ZT_EQ(zcq_log_flush_epoch(), e);
    ZT_OK(zcq_log_maybe_flush(log, 5000));
    ZT_ASSERT(!zcq_log_flush_pending(log));
    ZT_EQ(zcq_log_durable_offset(log), zcq_log_end_offset(log));
    ZT_OK(zcq_log_close(log));
    free_all(a, 20);
}

/* Bytes of disk a file holds (allocated blocks, reserved space past its end included). */
static int64_t file_alloc(int64_t base, const char *ext)
{
    char path[4300];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%020lld.%s", dirpath, (long long)base, ext);
    ZT_OK(stat(path, &st));
    return (int64_t)st.st_blocks * 512;
}

/* Direct I/O mode reserves the active segment's space ahead of its appends (so that a full disk
 * fails an append, not a background write), in proportion to what the segment holds: a few
 * records reserve a block or two, not 16 MiB (which every direct-mode partition took). */
static void dio_reserve_grows(void)
{
    struct zcq_log_config c;
    struct zcq_log *log;
    struct appended *a = calloc(3000, sizeof(*a));
    int64_t size;

    ZT_ASSERT(a);
    mode_direct = 1;
    setup();
    cfg_for(&c);
    c.direct_cache_bytes = 32 << 20;
    log = open_log(&c, NULL);
    fill(log, a, 3, 0);
    ZT_ASSERT(file_alloc(0, "log") <= 2 * 65536);
    free_all(a, 3);
    fill(log, a, 3000, 100);
    ZT_OK(zcq_log_flush(log)); /* every write behind done: the file has its size */
    size = file_size(0, "log");
    ZT_ASSERT(size > 1 << 20);
    ZT_ASSERT(file_alloc(0, "log") >= size);
    ZT_ASSERT(file_alloc(0, "log") <= 2 * size + 2 * 65536);
    check_reads(log, a, 2900, 3000);
    ZT_OK(zcq_log_close(log));
    free_all(a, 3000);
    free(a);
}

ZT_BOTH_MODES(index_grows)
ZT_BOTH_MODES(roll_defers_sync)
ZT_BOTH_MODES(concurrent)
ZT_BOTH_MODES(append_read)
ZT_BOTH_MODES(rejects_bad_batches)
ZT_BOTH_MODES(roll_and_reopen)
ZT_BOTH_MODES(roll_by_age)
ZT_BOTH_MODES(retention)
ZT_BOTH_MODES(delete_before)
ZT_BOTH_MODES(timestamps)
ZT_BOTH_MODES(truncate_to)
ZT_BOTH_MODES(sync_policy)

static const struct zcq_test tests[] = {
    {"pagecache/append_read", append_read_pc, 60},
    {"direct/append_read", append_read_dio, 60},
    {"pagecache/rejects_bad_batches", rejects_bad_batches_pc, 30},
    {"direct/rejects_bad_batches", rejects_bad_batches_dio, 30},
    {"pagecache/roll_and_reopen", roll_and_reopen_pc, 60},
    {"direct/roll_and_reopen", roll_and_reopen_dio, 60},
    {"pagecache/roll_by_age", roll_by_age_pc, 30},
    {"direct/roll_by_age", roll_by_age_dio, 30},
    {"pagecache/retention", retention_pc, 60},
    {"direct/retention", retention_dio, 60},
    {"pagecache/delete_before", delete_before_pc, 60},
    {"direct/delete_before", delete_before_dio, 60},
    {"pagecache/timestamps", timestamps_pc, 60},
    {"direct/timestamps", timestamps_dio, 60},
    {"pagecache/truncate_to", truncate_to_pc, 60},
    {"direct/truncate_to", truncate_to_dio, 60},
    {"pagecache/sync_policy", sync_policy_pc, 30},
    {"direct/sync_policy", sync_policy_dio, 30},
    {"pagecache/roll_defers_sync", roll_defers_sync_pc, 60},
    {"direct/roll_defers_sync", roll_defers_sync_dio, 60},
    {"pagecache/concurrent", concurrent_pc, 120},
    {"direct/concurrent", concurrent_dio, 120},
    {"pagecache/index_grows", index_grows_pc, 120},
    {"direct/index_grows", index_grows_dio, 120},
    {"pagecache/flush_pending", flush_pending, 30},
    {"direct/reserve_grows", dio_reserve_grows, 60},
    {"config_names", config_names, 10},
};

ZT_MAIN(tests)
