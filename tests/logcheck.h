/*
 * Test helper (header-only) for the partition-log recovery, crash and fault tests: opening a
 * log (skipping when the filesystem has no O_DIRECT), appending generated batches while
 * remembering their stored bytes, reading a batch back whole, snapshots of a log directory
 * (so that every damage case starts from the same files) and small file edits.
 * Include harness.h first.
 */
#ifndef ZCQ_TESTS_LOGCHECK_H
#define ZCQ_TESTS_LOGCHECK_H

#include "batchgen.h"
#include "store/batch.h"
#include "store/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LC_DIR  4096 /* a log directory's path */
#define LC_PATH 4608 /* room for a directory and a file name */

/* One appended batch: where it went and its bytes as stored (offsets assigned). */
struct lc_batch {
    int64_t base, last;
    int64_t pos; /* file position, for single-segment logs */
    int64_t max_ts;
    uint8_t *bytes;
    size_t len;
};

/* Deterministic pseudo-random numbers (xorshift64*), so every failure can be replayed. */
static inline uint64_t lc_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Small indexes with frequent entries, so short logs still have several index entries. */
static inline void lc_cfg(struct zcq_log_config *c, int direct)
{
    zcq_log_config_default(c);
    c->io_mode = direct ? ZCQ_IO_DIRECT : ZCQ_IO_PAGECACHE;
    c->index_interval_bytes = 256;
    c->index_max_bytes = 8192;
    c->direct_cache_bytes = 1 << 20;
}

/* Open or fail the test; direct mode on a filesystem without O_DIRECT skips. */
static inline struct zcq_log *lc_open(const char *dir, const struct zcq_log_config *c,
                                      struct zcq_log_open_info *info)
{
    struct zcq_log_open_info li;
    struct zcq_log *log;
    int rc;

    if (!info)
        info = &li;
    rc = zcq_log_open(&log, dir, c, info);
    if (rc == -EINVAL && c->io_mode == ZCQ_IO_DIRECT)
        zt_skip("O_DIRECT is not supported here: %s", info->why);
    if (rc < 0)
        zt_fail(__FILE__, __LINE__, "open %s: %s (%s)", dir, zcq_log_strerror(rc), info->why);
    return log;
}

/* Append a generated batch; on success *out holds what was stored. Returns the append's rc. */
static inline int lc_append(struct zcq_log *log, int records, size_t vlen, int64_t ts,
                            uint32_t seed, int32_t epoch, unsigned flags, struct lc_batch *out,
                            struct zcq_append_result *res)
{
    struct zcq_append_result r;
    struct zcq_batch_info bi;
    size_t len;
    uint8_t *b = bg_build(records, vlen, ts, seed, &len);
    int rc = zcq_log_append(log, b, len, epoch, ts, flags, &r);

    if (res)
        *res = r;
    if (rc < 0) {
        free(b);
        return rc;
    }
    ZT_OK(zcq_batch_validate(b, len, &bi));
    out->base = r.base_offset;
    out->last = r.last_offset;
    out->pos = -1;
    out->max_ts = bi.max_timestamp;
    out->bytes = b;
    out->len = len;
    return 0;
}

/* Append n batches of varied shape (1-3 records, 40-129 byte values), filling a[] and their
 * file positions (valid while the log has one segment and was empty). */
static inline void lc_fill(struct zcq_log *log, struct lc_batch *a, int n, uint32_t seed0)
{
    int64_t pos = 0;

    for (int i = 0; i < n; i++) {
        int rc = lc_append(log, 1 + i % 3, (size_t)(40 + (i * 29) % 90), 1000 + 10 * i,
                           seed0 + (uint32_t)i, 7, 0, &a[i], NULL);

        if (rc < 0)
            zt_fail(__FILE__, __LINE__, "append %d: %s", i, zcq_log_strerror(rc));
        if (i)
            ZT_EQ(a[i].base, a[i - 1].last + 1);
        a[i].pos = pos;
        pos += (int64_t)a[i].len;
    }
}

static inline void lc_free(struct lc_batch *a, int n)
{
    for (int i = 0; i < n; i++) {
        free(a[i].bytes);
        a[i].bytes = NULL;
    }
}

/* The bytes of a slice, gathered (memory chunks or file regions). */
static inline uint8_t *lc_gather(const struct zcq_log_slice *s)
{
    uint8_t *out = malloc(s->bytes ? s->bytes : 1);
    size_t at = 0;

    ZT_ASSERT(out);
    for (unsigned i = 0; i < s->n; i++) {
        if (s->c[i].mem)
            memcpy(out + at, s->c[i].mem, s->c[i].len);
        else
            ZT_EQ(pread(s->c[i].fd, out + at, s->c[i].len, s->c[i].pos), s->c[i].len);
        at += s->c[i].len;
    }
    ZT_EQ(at, s->bytes);
    return out;
}

/* Read the batch holding offset whole: returns its bytes (malloc'd) and length, or NULL with
 * *rc set (0 for an empty slice at the hwm). */
static inline uint8_t *lc_read_batch(struct zcq_log *log, int64_t offset, size_t *len, int *rc)
{
    struct zcq_log_slice s;
    uint8_t *got;
    uint64_t bytes;
    int64_t sz;

    *rc = zcq_log_read(log, offset, 1, &s);
    if (*rc < 0 || s.n == 0) {
        if (*rc == 0)
            zcq_log_slice_release(log, &s);
        return NULL;
    }
    got = lc_gather(&s);
    bytes = s.bytes;
    zcq_log_slice_release(log, &s);
    sz = zcq_batch_size(got, bytes);
    if (sz < ZCQ_BATCH_HEADER || (uint64_t)sz > bytes)
        zt_fail(__FILE__, __LINE__, "read at %lld: %llu bytes, batch size %lld", (long long)offset,
                (unsigned long long)bytes, (long long)sz);
    *len = (size_t)sz;
    return got;
}

/* The batch b reads back byte for byte at its base and last offsets. */
static inline void lc_check_batch(struct zcq_log *log, const struct lc_batch *b)
{
    int64_t at[2] = {b->base, b->last};

    for (int k = 0; k < (b->last > b->base ? 2 : 1); k++) {
        size_t len;
        int rc;
        uint8_t *got = lc_read_batch(log, at[k], &len, &rc);

        if (!got)
            zt_fail(__FILE__, __LINE__, "offset %lld (batch %lld..%lld): %s", (long long)at[k],
                    (long long)b->base, (long long)b->last,
                    rc ? zcq_log_strerror(rc) : "empty slice");
        if (len != b->len || memcmp(got, b->bytes, len) != 0)
            zt_fail(__FILE__, __LINE__, "batch %lld..%lld differs when read at %lld",
                    (long long)b->base, (long long)b->last, (long long)at[k]);
        free(got);
    }
}

/* Nothing is readable at or past the end: an empty slice at the hwm. */
static inline void lc_check_end(struct zcq_log *log, int64_t end)
{
    struct zcq_log_slice s;

    ZT_EQ(zcq_log_end_offset(log), end);
    ZT_EQ(zcq_log_high_watermark(log), end);
    ZT_OK(zcq_log_read(log, end, 1, &s));
    ZT_EQ(s.n, 0);
    ZT_EQ(zcq_log_read(log, end + 1, 1, &s), ZCQ_LOG_EOUTOFRANGE);
}

/* Append one more batch at the end and read it back. */
static inline void lc_check_append(struct zcq_log *log, int64_t expect_base, uint32_t seed)
{
    struct lc_batch b;
    int rc = lc_append(log, 2, 33, 5000, seed, 9, 0, &b, NULL);

    if (rc < 0)
        zt_fail(__FILE__, __LINE__, "append after recovery: %s", zcq_log_strerror(rc));
    ZT_EQ(b.base, expect_base);
    if (zcq_log_high_watermark(log) <= b.last)
        ZT_OK(zcq_log_flush(log)); /* a sync policy shows it only once synced */
    lc_check_batch(log, &b);
    free(b.bytes);
}

/* --- Files ----------------------------------------------------------------------------- */

static inline void lc_seg_path(char *out, size_t len, const char *dir, int64_t base,
                               const char *ext)
{
    snprintf(out, len, "%s/%020lld.%s", dir, (long long)base, ext);
}

static inline bool lc_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static inline int64_t lc_file_size(const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0)
        zt_fail(__FILE__, __LINE__, "stat %s: %s", path, strerror(errno));
    return (int64_t)st.st_size;
}

/* The whole file, malloc'd; *len its size. */
static inline uint8_t *lc_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf;
    size_t done = 0;

    if (fd < 0 || fstat(fd, &st) < 0)
        zt_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
    buf = malloc((size_t)st.st_size + 1);
    ZT_ASSERT(buf);
    while (done < (size_t)st.st_size) {
        ssize_t r = pread(fd, buf + done, (size_t)st.st_size - done, (off_t)done);

        ZT_OK(r);
        if (r == 0)
            break;
        done += (size_t)r;
    }
    close(fd);
    *len = done;
    return buf;
}

static inline void lc_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0)
        zt_fail(__FILE__, __LINE__, "create %s: %s", path, strerror(errno));
    ZT_EQ(len ? pwrite(fd, data, len, 0) : 0, (ssize_t)len);
    close(fd);
}

/* Write len bytes at pos of an existing file (extending it if needed). */
static inline void lc_patch(const char *path, int64_t pos, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);

    if (fd < 0)
        zt_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
    ZT_EQ(pwrite(fd, data, len, (off_t)pos), (ssize_t)len);
    close(fd);
}

static inline void lc_flip_bit(const char *path, int64_t pos, int bit)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    uint8_t b;

    ZT_OK(fd);
    ZT_EQ(pread(fd, &b, 1, (off_t)pos), 1);
    b ^= (uint8_t)(1u << bit);
    ZT_EQ(pwrite(fd, &b, 1, (off_t)pos), 1);
    close(fd);
}

/* Every regular file of a directory, in memory. */
#define LC_SNAP_MAX 256
struct lc_snap {
    int n;
    char *name[LC_SNAP_MAX];
    uint8_t *data[LC_SNAP_MAX];
    size_t len[LC_SNAP_MAX];
};

static inline void lc_snap_take(struct lc_snap *s, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[LC_PATH];

    ZT_ASSERT(d);
    s->n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        ZT_ASSERT(s->n < LC_SNAP_MAX);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        s->name[s->n] = strdup(e->d_name);
        s->data[s->n] = lc_read_file(path, &s->len[s->n]);
        s->n++;
    }
    closedir(d);
}

/* Remove every file in dir (not recursive). */
static inline void lc_clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[LC_PATH];

    if (!d && errno == ENOENT)
        return;
    ZT_ASSERT(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink(path) < 0)
            zt_fail(__FILE__, __LINE__, "unlink %s: %s", path, strerror(errno));
    }
    closedir(d);
}

/* Make dir hold exactly the snapshot's files. */
static inline void lc_snap_restore(const struct lc_snap *s, const char *dir)
{
    char path[LC_PATH];

    mkdir(dir, 0755);
    lc_clear_dir(dir);
    for (int i = 0; i < s->n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, s->name[i]);
        lc_write_file(path, s->data[i], s->len[i]);
    }
}

/* Whether dir holds exactly the snapshot's files, byte for byte, except those whose name ends
 * in one of the skip suffixes (NULL-terminated list, may be NULL). Fails the test otherwise. */
static inline void lc_snap_expect(const struct lc_snap *s, const char *dir, const char *const *skip)
{
    struct lc_snap now;

    lc_snap_take(&now, dir);
    for (int side = 0; side < 2; side++) {
        const struct lc_snap *a = side ? &now : s, *b = side ? s : &now;

        for (int i = 0; i < a->n; i++) {
            bool skipped = false;
            int k;

            for (int j = 0; skip && skip[j]; j++) {
                size_t l = strlen(a->name[i]), m = strlen(skip[j]);

                skipped |= l >= m && strcmp(a->name[i] + l - m, skip[j]) == 0;
            }
            if (skipped)
                continue;
            for (k = 0; k < b->n && strcmp(a->name[i], b->name[k]) != 0; k++)
                ;
            if (k == b->n)
                zt_fail(__FILE__, __LINE__, "%s %s", a->name[i], side ? "appeared" : "disappeared");
            if (!side && (a->len[i] != b->len[k] || memcmp(a->data[i], b->data[k], a->len[i])))
                zt_fail(__FILE__, __LINE__, "%s changed (%zu -> %zu bytes)", a->name[i], a->len[i],
                        b->len[k]);
        }
    }
    for (int i = 0; i < now.n; i++) {
        free(now.name[i]);
        free(now.data[i]);
    }
}

static inline void lc_snap_free(struct lc_snap *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->name[i]);
        free(s->data[i]);
    }
    s->n = 0;
}

#endif
