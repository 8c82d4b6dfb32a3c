/*
 * Recovery tests for the partition log (src/store/log_open.c; ../shared/docs/reliability.md
 * section 3), each in page-cache and Direct I/O mode: a torn tail cut at every byte of the
 * last two batches, zero/garbage/repeated/hole tails, single bit flips in every field of a
 * batch, corruption below the recovery point, damaged indexes, and leftover files.
 *
 * Damage is done to a snapshot of a log directory restored before each case, so every case
 * starts from the same bytes. A log that was opened, appended to and abandoned (a crash) has
 * its recovery point at the end it had when opened (open, roll and close write the checkpoint;
 * appends do not), so what it appended is above the recovery point, where recovery may cut a
 * torn tail; a log closed cleanly has its recovery point at its end, and damage below it must
 * never be cut away.
 */
#include "harness.h"

#include "logcheck.h"

#include <sys/stat.h>

static char dirpath[LC_DIR];
static int mode_direct;

static void setup(void)
{
    snprintf(dirpath, sizeof(dirpath), "%s/p0", zt_tmpdir());
}

static void seg(char *out, int64_t base, const char *ext)
{
    lc_seg_path(out, LC_PATH, dirpath, base, ext);
}

/* Open after damage: must succeed, unclean. */
static struct zcq_log *reopen(const struct zcq_log_config *c, struct zcq_log_open_info *info)
{
    struct zcq_log *log = lc_open(dirpath, c, info);

    ZT_ASSERT(!info->clean);
    return log;
}

/* A crashed single-segment log of n synced batches: opened empty (recovery point 0),
 * appended to with flush.messages = 1, abandoned. */
static void crashed_log(struct zcq_log_config *c, struct lc_batch *a, int n)
{
    struct zcq_log *log;

    lc_cfg(c, mode_direct);
    c->flush_messages = 1;
    log = lc_open(dirpath, c, NULL);
    lc_fill(log, a, n, 100);
    ZT_EQ(zcq_log_durable_offset(log), a[n - 1].last + 1);
    ZT_EQ(zcq_log_segment_count(log), 1);
    zcq_log_abandon(log);
}

/* --- Torn tail ------------------------------------------------------------------------- */

/* Cut the segment at every byte from the start of the second-to-last batch to the end of the
 * last: recovery keeps exactly the batches wholly before the cut. */
static void torn_tail(void)
{
    enum { N = 8 };
    struct zcq_log_config c;
    struct lc_batch a[N];
    struct lc_snap snap;
    char logf[LC_PATH];
    int64_t lo, hi;

    setup();
    crashed_log(&c, a, N);
    lc_snap_take(&snap, dirpath);
    seg(logf, 0, "log");
    lo = a[N - 2].pos;
    hi = a[N - 1].pos + (int64_t)a[N - 1].len;
    for (int64_t cut = lo; cut <= hi; cut++) {
        struct zcq_log_open_info info;
        struct zcq_log *log;
        int k = 0;
        int64_t end, kept_end;

        lc_snap_restore(&snap, dirpath);
        ZT_OK(truncate(logf, cut));
        log = reopen(&c, &info);
        while (k < N && a[k].pos + (int64_t)a[k].len <= cut)
            k++;
        end = a[k - 1].last + 1;
        kept_end = a[k - 1].pos + (int64_t)a[k - 1].len;
        if (zcq_log_end_offset(log) != end)
            zt_fail(__FILE__, __LINE__, "cut at %lld: leo %lld, expected %lld", (long long)cut,
                    (long long)zcq_log_end_offset(log), (long long)end);
        ZT_EQ(zcq_log_durable_offset(log), end);
        /* Direct mode does not count the zero slack of its last block as cut. */
        if (!mode_direct || cut % 4096)
            ZT_EQ(info.truncated_bytes, cut - kept_end);
        ZT_EQ(lc_file_size(logf), kept_end);
        for (int i = 0; i < k; i++)
            lc_check_batch(log, &a[i]);
        lc_check_end(log, end);
        lc_check_append(log, end, (uint32_t)cut);
        zcq_log_abandon(log);
    }
    lc_snap_free(&snap);
    lc_free(a, N);
}

/* --- Damaged tails --------------------------------------------------------------------- */

enum tail_kind {
    T_ZERO_4K,
    T_ZERO_64K,
    T_GARBAGE,
    T_REPEAT_4K,    /* the last 4 KiB of the log again (starts mid-batch) */
    T_REPEAT_BATCH, /* the last batch again: valid CRC, but its offset is not the next one */
    T_HUGE_LENGTH,  /* a header with the right next offset and batchLength past the end */
    T_HOLE,         /* the file extended by ftruncate: a hole reads as zeros */
    T_HOLE_BATCH,   /* a hole, then a valid batch with the right next offset after it */
    T_KINDS
};

static const char *const tail_names[T_KINDS] = {
    "zero 4 KiB",   "zero 64 KiB", "garbage", "repeat 4 KiB",
    "repeat batch", "huge length", "hole",    "hole + batch",
};

static void damaged_tails(void)
{
    enum { N = 40 };
    struct zcq_log_config c;
    struct lc_batch a[N];
    struct lc_snap snap;
    char logf[LC_PATH];
    int64_t dend, end;
    uint64_t rng = 42;

    setup();
    crashed_log(&c, a, N);
    lc_snap_take(&snap, dirpath);
    seg(logf, 0, "log");
    dend = a[N - 1].pos + (int64_t)a[N - 1].len;
    end = a[N - 1].last + 1;
    ZT_ASSERT(dend > 4096);
    for (int kind = 0; kind < T_KINDS; kind++) {
        struct zcq_log_open_info info;
        struct zcq_log *log;
        size_t n = 0;
        uint8_t *buf = NULL;
        int64_t at = dend, new_size;

        lc_snap_restore(&snap, dirpath);
        switch (kind) {
        case T_ZERO_4K:
        case T_ZERO_64K:
            n = kind == T_ZERO_4K ? 4096 : 65536;
            buf = calloc(1, n);
            break;
        case T_GARBAGE:
            n = 3000;
            buf = malloc(n);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)lc_rand(&rng);
            break;
        case T_REPEAT_4K: {
            size_t flen;
            uint8_t *f = lc_read_file(logf, &flen);

            n = 4096;
            buf = malloc(n);
            memcpy(buf, f + dend - 4096, n);
            free(f);
            break;
        }
        case T_REPEAT_BATCH:
            n = a[N - 1].len;
            buf = malloc(n);
            memcpy(buf, a[N - 1].bytes, n);
            break;
        case T_HUGE_LENGTH:
            n = a[N - 1].len;
            buf = malloc(n);
            memcpy(buf, a[N - 1].bytes, n);
            bg_be(buf, (uint64_t)end, 8);
            bg_be(buf + 8, 0x7fffff00u, 4);
            break;
        case T_HOLE:
            break;
        case T_HOLE_BATCH:
            n = a[N - 1].len;
            buf = malloc(n);
            memcpy(buf, a[N - 1].bytes, n);
            zcq_batch_assign(buf, end, 7);
            ZT_OK(zcq_batch_validate(buf, n, NULL));
            at = dend + 8192;
            break;
        }
        if (kind == T_HOLE)
            ZT_OK(truncate(logf, dend + (1 << 20)));
        else
            lc_patch(logf, at, buf, n);
        free(buf);
        new_size = lc_file_size(logf);

        log = reopen(&c, &info);
        if (zcq_log_end_offset(log) != end)
            zt_fail(__FILE__, __LINE__, "%s: leo %lld, expected %lld", tail_names[kind],
                    (long long)zcq_log_end_offset(log), (long long)end);
        if (!mode_direct)
            ZT_EQ(info.truncated_bytes, new_size - dend);
        ZT_EQ(lc_file_size(logf), dend);
        for (int i = 0; i < N; i++)
            lc_check_batch(log, &a[i]);
        lc_check_end(log, end);
        lc_check_append(log, end, 77);
        ZT_OK(zcq_log_close(log));

        /* And a clean reopen finds the same log plus the new batch. */
        log = lc_open(dirpath, &c, &info);
        ZT_ASSERT(info.clean);
        ZT_EQ(zcq_log_end_offset(log), end + 2);
        for (int i = 0; i < N; i++)
            lc_check_batch(log, &a[i]);
        ZT_OK(zcq_log_close(log));
    }
    lc_snap_free(&snap);
    lc_free(a, N);
}

/* --- Bit flips ------------------------------------------------------------------------- */

/* Whether recovery must notice a flipped bit at byte b of a batch: everything but the
 * partitionLeaderEpoch (bytes 12..15), which the CRC does not cover and no check can tell
 * from another epoch; baseOffset, batchLength and magic are checked on their own, the rest is
 * covered by the CRC-32C. */
static bool flip_detected(size_t b)
{
    return b < 12 || b >= 16;
}

/* Flip bits of batch `victim` (every bit, or every step-th): recovery cuts the log at that
 * batch (nothing before it), except for a flip in the leader epoch, which is kept as is. */
static void flip_batch(const struct zcq_log_config *c, const struct lc_snap *snap,
                       struct lc_batch *a, int n, int victim, unsigned step)
{
    char logf[LC_PATH];
    unsigned checked = 0;

    seg(logf, 0, "log");
    for (size_t bit = 0; bit < a[victim].len * 8; bit += step) {
        size_t byte = bit / 8;
        struct zcq_log_open_info info;
        struct zcq_log *log;
        int64_t end;

        lc_snap_restore(snap, dirpath);
        lc_flip_bit(logf, a[victim].pos + (int64_t)byte, (int)(bit % 8));
        log = reopen(c, &info);
        if (flip_detected(byte)) {
            end = a[victim].base;
            if (zcq_log_end_offset(log) != end)
                zt_fail(__FILE__, __LINE__,
                        "bit %zu of byte %zu of batch %d: leo %lld, expected %lld (cut)", bit % 8,
                        byte, victim, (long long)zcq_log_end_offset(log), (long long)end);
            ZT_EQ(lc_file_size(logf), a[victim].pos);
            for (int i = 0; i < victim; i++)
                lc_check_batch(log, &a[i]);
        } else {
            struct lc_batch flipped = a[victim];

            end = a[n - 1].last + 1;
            if (zcq_log_end_offset(log) != end)
                zt_fail(__FILE__, __LINE__, "epoch bit %zu flipped: leo %lld, expected %lld", bit,
                        (long long)zcq_log_end_offset(log), (long long)end);
            /* Served with the flipped epoch: undetectable by design (not CRC-covered). */
            flipped.bytes = malloc(flipped.len);
            memcpy(flipped.bytes, a[victim].bytes, flipped.len);
            flipped.bytes[byte] ^= (uint8_t)(1u << (bit % 8));
            for (int i = 0; i < n; i++)
                lc_check_batch(log, i == victim ? &flipped : &a[i]);
            free(flipped.bytes);
        }
        lc_check_end(log, end);
        if (checked % 8 == 0) /* each append syncs: a sample keeps the test quick */
            lc_check_append(log, end, (uint32_t)bit);
        zcq_log_abandon(log);
        checked++;
    }
    ZT_ASSERT(checked > 0);
}

static void bit_flips(void)
{
    enum { N = 6 };
    struct zcq_log_config c;
    struct lc_batch a[N];
    struct lc_snap snap;
    struct zcq_log *log;

    setup();
    lc_cfg(&c, mode_direct);
    c.flush_messages = 1;
    log = lc_open(dirpath, &c, NULL);
    lc_fill(log, a, N - 1, 300);
    /* A small last batch (one record), so every one of its bits is tried. */
    ZT_OK(lc_append(log, 1, 20, 9000, 999, 7, 0, &a[N - 1], NULL));
    a[N - 1].pos = a[N - 2].pos + (int64_t)a[N - 2].len;
    zcq_log_abandon(log);
    lc_snap_take(&snap, dirpath);

    flip_batch(&c, &snap, a, N, N - 1, 1);
    /* A batch in the middle: it and everything after it go; a sample of its bits. */
    flip_batch(&c, &snap, a, N, N - 4, 7);
    lc_snap_free(&snap);
    lc_free(a, N);
}

/* --- Corruption below the recovery point ------------------------------------------------ */

static const char *const derived[] = {".index", ".timeindex", NULL};

struct damage {
    const char *what;
    size_t byte; /* in the batch */
    int bit;
};

/*
 * The log was closed cleanly: its recovery point is its end, so every batch is acknowledged
 * and flushed. Damage to a batch may be detected (open fails with -EUCLEAN, says why, and
 * changes no data file: the segments, the checkpoint and the marker are as they were) or, where
 * detecting it would need reading every record (a scan recovery skips below the recovery
 * point), the log opens with nothing cut. It is never cut away.
 *
 * The index files are not compared: a refused open may leave them rebuilt and preallocated
 * (longer, zero-filled past their entries). They are derived data; the next open finds them
 * failing their check and rebuilds them again.
 */
static void expect_euclean(const struct zcq_log_config *c, const struct lc_snap *damaged,
                           const char *what)
{
    struct zcq_log_open_info info;
    struct zcq_log *log = NULL;
    int rc = zcq_log_open(&log, dirpath, c, &info);

    if (rc != -EUCLEAN)
        zt_fail(__FILE__, __LINE__, "%s: open returned %d (%s), expected -EUCLEAN", what, rc,
                rc ? info.why : "opened");
    ZT_ASSERT(log == NULL);
    if (!strstr(info.why, "recovery point") && !strstr(info.why, "cleanly"))
        zt_fail(__FILE__, __LINE__, "%s: why: '%s'", what, info.why);
    lc_snap_expect(damaged, dirpath, derived);
}

static void below_recovery_point(void)
{
    enum { N = 20 };
    struct zcq_log_config c;
    struct lc_batch a[N];
    struct lc_snap snap, damaged;
    struct zcq_log *log;
    char logf[LC_PATH], marker[LC_PATH];
    /* Detected by the header step over batches below the recovery point. */
    static const struct damage hard[] = {
        {"baseOffset low bit", 7, 0},   {"baseOffset high bit", 0, 6},
        {"batchLength low bit", 11, 0}, {"batchLength bit 4", 11, 4},
        {"batchLength high bit", 8, 6}, {"magic", 16, 0},
    };
    /* Not detected without reading the records (CRC): the log opens whole and serves the
     * damaged batch as it is on disk. */
    static const struct damage soft[] = {
        {"crc", 18, 3},
        {"attributes", 22, 0},
        {"record byte", 70, 2},
    };

    setup();
    lc_cfg(&c, mode_direct);
    log = lc_open(dirpath, &c, NULL);
    lc_fill(log, a, N, 500);
    ZT_OK(zcq_log_close(log));
    lc_snap_take(&snap, dirpath);
    seg(logf, 0, "log");
    snprintf(marker, sizeof(marker), "%s/clean-shutdown", dirpath);
    ZT_ASSERT(lc_exists(marker));

    for (int clean = 0; clean < 2; clean++) {
        /* Unclean: every batch below the recovery point is stepped over by header. Clean:
         * the marker makes open trust the index and step over only the batches after its
         * last entry, so the damage is put in the last batch. */
        int victim = clean ? N - 1 : 5;

        for (size_t d = 0; d < sizeof(hard) / sizeof(hard[0]); d++) {
            char what[128];

            snprintf(what, sizeof(what), "%s, %s", hard[d].what, clean ? "clean" : "unclean");
            lc_snap_restore(&snap, dirpath);
            if (!clean)
                ZT_OK(unlink(marker));
            lc_flip_bit(logf, a[victim].pos + (int64_t)hard[d].byte, hard[d].bit);
            lc_snap_take(&damaged, dirpath);
            expect_euclean(&c, &damaged, what);
            lc_snap_free(&damaged);
        }
    }
    for (size_t d = 0; d < sizeof(soft) / sizeof(soft[0]); d++) {
        struct zcq_log_open_info info;
        struct lc_batch bad = a[5];

        lc_snap_restore(&snap, dirpath);
        ZT_OK(unlink(marker));
        lc_flip_bit(logf, a[5].pos + (int64_t)soft[d].byte, soft[d].bit);
        log = reopen(&c, &info);
        ZT_EQ(info.truncated_bytes, 0);
        ZT_EQ(zcq_log_end_offset(log), a[N - 1].last + 1);
        bad.bytes = malloc(bad.len);
        memcpy(bad.bytes, a[5].bytes, bad.len);
        bad.bytes[soft[d].byte] ^= (uint8_t)(1u << soft[d].bit);
        for (int i = 0; i < N; i++)
            lc_check_batch(log, i == 5 ? &bad : &a[i]);
        free(bad.bytes);
        zcq_log_abandon(log);
    }
    lc_snap_free(&snap);
    lc_free(a, N);
}

/* A multi-segment log closed cleanly: damage in a rolled segment (wholly below the recovery
 * point) or at the start of the active one must stop open, never delete the segments after
 * it. */
static void below_recovery_point_segments(void)
{
    enum { N = 80 };
    struct zcq_log_config c;
    struct lc_batch a[N];
    struct lc_snap snap, damaged;
    struct zcq_log *log;
    char marker[LC_PATH];
    int nseg, last0 = -1, first_active = -1;
    int64_t active_base;

    setup();
    lc_cfg(&c, mode_direct);
    c.segment_bytes = 4096;
    log = lc_open(dirpath, &c, NULL);
    lc_fill(log, a, N, 700);
    nseg = zcq_log_segment_count(log);
    ZT_ASSERT(nseg >= 4);
    ZT_OK(zcq_log_close(log));
    lc_snap_take(&snap, dirpath);
    snprintf(marker, sizeof(marker), "%s/clean-shutdown", dirpath);

    /* Batch positions: find the segments by their files. */
    {
        int64_t base = 0, pos = 0;
        char f[LC_PATH];

        for (int i = 0; i < N; i++) {
            seg(f, a[i].base, "log");
            if (i && lc_exists(f)) {
                if (base == 0)
                    last0 = i - 1;
                base = a[i].base;
                pos = 0;
            }
            a[i].pos = pos;
            pos += (int64_t)a[i].len;
        }
        active_base = base;
        for (int i = 0; i < N; i++) {
            if (a[i].base == active_base)
                first_active = i;
        }
    }
    ZT_ASSERT(last0 > 0 && first_active > last0);

    for (int clean = 0; clean < 2; clean++) {
        static const struct damage hard[] = {
            {"baseOffset low bit", 7, 0},
            {"baseOffset high bit", 0, 6},
            {"baseOffset bit 40", 2, 0},
            {"batchLength low bit", 11, 0},
        };

        for (size_t d = 0; d < sizeof(hard) / sizeof(hard[0]); d++) {
            for (int where = 0; where < 2; where++) {
                /* The last batch of the first segment; the first batch of the active one
                 * (stepped over by header in an unclean open, and the batch after the last
                 * index entry of a clean one when the segment has one entry). */
                int v = where ? first_active : last0;
                char f[LC_PATH], what[160];

                if (clean && where)
                    continue; /* a clean open steps only after the last index entry */
                snprintf(what, sizeof(what), "%s of batch %d, %s", hard[d].what, v,
                         clean ? "clean" : "unclean");
                lc_snap_restore(&snap, dirpath);
                if (!clean)
                    ZT_OK(unlink(marker));
                seg(f, where ? active_base : 0, "log");
                lc_flip_bit(f, a[v].pos + (int64_t)hard[d].byte, hard[d].bit);
                lc_snap_take(&damaged, dirpath);
                expect_euclean(&c, &damaged, what);
                lc_snap_free(&damaged);
            }
        }
    }
    /* Undamaged, both ways, it opens whole. */
    for (int clean = 0; clean < 2; clean++) {
        struct zcq_log_open_info info;

        lc_snap_restore(&snap, dirpath);
        if (!clean)
            ZT_OK(unlink(marker));
        log = lc_open(dirpath, &c, &info);
        ZT_EQ(info.clean, clean);
        ZT_EQ(zcq_log_segment_count(log), nseg);
        for (int i = 0; i < N; i++)
            lc_check_batch(log, &a[i]);
        lc_check_end(log, a[N - 1].last + 1);
        ZT_OK(zcq_log_close(log));
    }
    lc_snap_free(&snap);
    lc_free(a, N);
}

/* --- Indexes are derived data ---------------------------------------------------------- */

enum ix_kind {
    IX_ZERO,
    IX_EMPTY,
    IX_HALF,
    IX_ODD,
    IX_GARBAGE,
    IX_LONG_GARBAGE,
    IX_DELETE,
    IX_SHIFTED, /* offset index positions one byte off: passes the sanity check, but the last
                 * entry leads the end-finding step to a non-boundary */
    IX_KINDS
};

static const char *const ix_names[IX_KINDS] = {
    "zeroed", "emptied", "halved", "odd size", "garbage", "long garbage", "deleted", "shifted",
};

static void damage_index(const char *path, int kind, uint64_t *rng)
{
    size_t len;
    uint8_t *buf = lc_read_file(path, &len);

    switch (kind) {
    case IX_ZERO:
        memset(buf, 0, len);
        lc_write_file(path, buf, len);
        break;
    case IX_EMPTY:
        lc_write_file(path, buf, 0);
        break;
    case IX_HALF:
        lc_write_file(path, buf, len / 2);
        break;
    case IX_ODD:
        lc_write_file(path, buf, len > 5 ? len - 5 : 0);
        break;
    case IX_GARBAGE:
    case IX_LONG_GARBAGE:
        if (kind == IX_LONG_GARBAGE) {
            free(buf);
            len += 1000;
            buf = malloc(len);
        }
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)lc_rand(rng);
        lc_write_file(path, buf, len);
        break;
    case IX_DELETE:
        ZT_OK(unlink(path));
        break;
    case IX_SHIFTED:
        if (strstr(path, ".timeindex"))
            break; /* a plausible wrong time index is not detectable: left alone */
        for (size_t i = 0; i + 8 <= len; i += 8) {
            uint32_t pos;

            memcpy(&pos, buf + i + 4, 4);
            pos++;
            memcpy(buf + i + 4, &pos, 4);
        }
        lc_write_file(path, buf, len);
        break;
    }
    free(buf);
}

/* Reading every offset and looking up every timestamp gives the right answer. */
static void check_all(struct zcq_log *log, const struct lc_batch *a, int n)
{
    for (int i = 0; i < n; i++) {
        lc_check_batch(log, &a[i]);
        for (int64_t off = a[i].base + 1; off < a[i].last; off++) {
            size_t len;
            int rc;
            uint8_t *got = lc_read_batch(log, off, &len, &rc);

            ZT_ASSERT(got && len == a[i].len && memcmp(got, a[i].bytes, len) == 0);
            free(got);
        }
        ZT_EQ(zcq_log_offset_for_time(log, a[i].max_ts), a[i].base);
        ZT_EQ(zcq_log_offset_for_time(log, a[i].max_ts + 1),
              i + 1 < n ? a[i + 1].base : a[n - 1].last + 1);
    }
    ZT_EQ(zcq_log_offset_for_time(log, 0), a[0].base);
    lc_check_end(log, a[n - 1].last + 1);
}

static void indexes_derived(void)
{
    enum { N = 300 };
    struct zcq_log_config c;
    struct lc_batch a[N];
    struct lc_snap snap;
    struct zcq_log *log;
    char marker[LC_PATH];
    int nseg;
    uint64_t rng = 7;

    setup();
    lc_cfg(&c, mode_direct);
    c.segment_bytes = 16 * 1024;
    log = lc_open(dirpath, &c, NULL);
    lc_fill(log, a, N, 900);
    nseg = zcq_log_segment_count(log);
    ZT_ASSERT(nseg >= 4);
    ZT_OK(zcq_log_close(log));
    lc_snap_take(&snap, dirpath);
    snprintf(marker, sizeof(marker), "%s/clean-shutdown", dirpath);

    for (int kind = 0; kind < IX_KINDS; kind++) {
        /* which: 1 the offset index, 2 the time index, 3 both; of every segment. */
        for (int which = 1; which <= 3; which++) {
            for (int clean = 0; clean < 2; clean++) {
                struct zcq_log_open_info info;

                lc_snap_restore(&snap, dirpath);
                if (!clean)
                    ZT_OK(unlink(marker));
                for (int i = 0; i < snap.n; i++) {
                    const char *nm = snap.name[i];
                    size_t l = strlen(nm);
                    char path[LC_PATH];

                    if (!((which & 1) && l > 6 && strcmp(nm + l - 6, ".index") == 0) &&
                        !((which & 2) && l > 10 && strcmp(nm + l - 10, ".timeindex") == 0))
                        continue;
                    snprintf(path, sizeof(path), "%s/%s", dirpath, nm);
                    damage_index(path, kind, &rng);
                }
                {
                    int rc = zcq_log_open(&log, dirpath, &c, &info);

                    if (rc < 0)
                        zt_fail(__FILE__, __LINE__, "index %s (%d), %s: open: %s (%s)",
                                ix_names[kind], which, clean ? "clean" : "unclean",
                                zcq_log_strerror(rc), info.why);
                }
                ZT_EQ(info.clean, clean);
                ZT_EQ(zcq_log_segment_count(log), nseg);
                check_all(log, a, N);
                lc_check_append(log, a[N - 1].last + 1, 5);
                ZT_OK(zcq_log_close(log));
            }
        }
    }
    /* Indexes rebuilt at open are trimmed and kept by a clean close: the next open trusts
     * them without a scan. */
    {
        struct zcq_log_open_info info;

        lc_snap_restore(&snap, dirpath);
        for (int i = 0; i < snap.n; i++) {
            size_t l = strlen(snap.name[i]);
            char path[LC_PATH];

            if (l > 6 && strcmp(snap.name[i] + l - 6, ".index") == 0) {
                snprintf(path, sizeof(path), "%s/%s", dirpath, snap.name[i]);
                damage_index(path, IX_ZERO, &rng);
            }
        }
        log = lc_open(dirpath, &c, &info);
        ZT_ASSERT(info.indexes_rebuilt > 0);
        ZT_OK(zcq_log_close(log));
        log = lc_open(dirpath, &c, &info);
        ZT_ASSERT(info.clean);
        ZT_EQ(info.indexes_rebuilt, 0);
        ZT_EQ(info.scanned_bytes, 0);
        check_all(log, a, N);
        ZT_OK(zcq_log_close(log));
    }
    lc_snap_free(&snap);
    lc_free(a, N);
}

/* --- Leftovers ------------------------------------------------------------------------- */

static void leftovers(void)
{
    enum { N = 30 };
    static const char *const stray[] = {
        "recovery-point.tmp",
        "junk.tmp",
        "00000000000000000003.log.deleted",
        "00000000000000000003.index.deleted",
        "00000000000000000003.timeindex.deleted",
    };
    struct zcq_log_config c;
    struct lc_batch a[N];
    struct lc_snap snap;
    struct zcq_log *log;
    char path[LC_PATH], marker[LC_PATH];
    int64_t end;

    setup();
    lc_cfg(&c, mode_direct);
    log = lc_open(dirpath, &c, NULL);
    lc_fill(log, a, N, 1100);
    ZT_OK(zcq_log_close(log));
    lc_snap_take(&snap, dirpath);
    snprintf(marker, sizeof(marker), "%s/clean-shutdown", dirpath);
    end = a[N - 1].last + 1;

    for (int clean = 0; clean < 2; clean++) {
        char orphan_ix[LC_PATH], orphan_tix[LC_PATH];

        lc_snap_restore(&snap, dirpath);
        if (!clean)
            ZT_OK(unlink(marker));
        for (size_t i = 0; i < sizeof(stray) / sizeof(stray[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dirpath, stray[i]);
            lc_write_file(path, "x", 1);
        }
        /* Index files whose segment is gone (a crash between the unlinks of a truncation),
         * at the base the next roll will use. */
        seg(orphan_ix, end, "index");
        seg(orphan_tix, end, "timeindex");
        lc_write_file(orphan_ix, "12345678", 8);
        lc_write_file(orphan_tix, "123456789012", 12);

        log = lc_open(dirpath, &c, NULL);
        for (size_t i = 0; i < sizeof(stray) / sizeof(stray[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dirpath, stray[i]);
            if (lc_exists(path))
                zt_fail(__FILE__, __LINE__, "%s left at open", stray[i]);
        }
        if (lc_exists(orphan_ix) || lc_exists(orphan_tix))
            zt_fail(__FILE__, __LINE__, "index without its segment left at open");
        seg(path, 0, "log");
        ZT_ASSERT(lc_exists(path));
        for (int i = 0; i < N; i++)
            lc_check_batch(log, &a[i]);
        lc_check_end(log, end);
        /* The next segment can be created where the orphans were. */
        ZT_OK(zcq_log_roll(log, 1));
        ZT_EQ(zcq_log_segment_count(log), 2);
        lc_check_append(log, end, 3);
        ZT_OK(zcq_log_close(log));
        log = lc_open(dirpath, &c, NULL);
        ZT_EQ(zcq_log_segment_count(log), 2);
        for (int i = 0; i < N; i++)
            lc_check_batch(log, &a[i]);
        lc_check_append(log, end + 2, 4);
        ZT_OK(zcq_log_close(log));
    }
    lc_snap_free(&snap);
    lc_free(a, N);
}

ZT_BOTH_MODES(torn_tail)
ZT_BOTH_MODES(damaged_tails)
ZT_BOTH_MODES(bit_flips)
ZT_BOTH_MODES(below_recovery_point)
ZT_BOTH_MODES(below_recovery_point_segments)
ZT_BOTH_MODES(indexes_derived)
ZT_BOTH_MODES(leftovers)

static const struct zcq_test tests[] = {
    {"pagecache/torn_tail", torn_tail_pc, 120},
    {"direct/torn_tail", torn_tail_dio, 120},
    {"pagecache/damaged_tails", damaged_tails_pc, 60},
    {"direct/damaged_tails", damaged_tails_dio, 60},
    {"pagecache/bit_flips", bit_flips_pc, 120},
    {"direct/bit_flips", bit_flips_dio, 120},
    {"pagecache/below_recovery_point", below_recovery_point_pc, 60},
    {"direct/below_recovery_point", below_recovery_point_dio, 60},
    {"pagecache/below_recovery_point_segments", below_recovery_point_segments_pc, 60},
    {"direct/below_recovery_point_segments", below_recovery_point_segments_dio, 60},
    {"pagecache/indexes_derived", indexes_derived_pc, 120},
    {"direct/indexes_derived", indexes_derived_dio, 120},
    {"pagecache/leftovers", leftovers_pc, 60},
    {"direct/leftovers", leftovers_dio, 60},
};

ZT_MAIN(tests)
