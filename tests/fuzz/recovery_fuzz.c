/*
 * libFuzzer target for log recovery (src/store/log_open.c): the input is the segment file
 * 00000000000000000000.log of an otherwise empty log directory. Whatever its bytes, opening
 * the log must not crash, and a log that opens must be consistent: every offset from the
 * start to the hwm readable, an appended batch read back as written, a clean close and a
 * clean reopen at the same end.
 *
 * Each input is tried three ways:
 *   0. as it is, no checkpoint, no marker: recovery validates everything and must always be
 *      able to open (cutting what is bad), since nothing was acknowledged;
 *   1. with every batch's CRC-32C made right (as far as the lengths chain), so mutations get
 *      past the CRC to the offset, count and record checks;
 *   2. as 1, plus a recovery-point checkpoint (the first byte, mod 8) and, for odd sizes, the
 *      clean-shutdown marker and a one-entry index: the paths that trust data below the
 *      recovery point or the indexes; open may refuse (-EUCLEAN) but must not crash.
 * The scratch directory is made once under $TMPDIR (default /tmp); a tmpfs there (e.g.
 * TMPDIR=/dev/shm) makes the fsyncs free. `make fuzz` builds build/fuzz/recovery_fuzz (clang,
 * -fsanitize=fuzzer,address,undefined, with the library's sources) and runs it; by hand:
 *   TMPDIR=/dev/shm build/fuzz/recovery_fuzz -max_len=16384 work tests/fuzz/corpus/recovery
 * tests/fuzz/replay.c replays the corpus without libFuzzer, under gcc's sanitizers too.
 */
#include "../batchgen.h"
#include "store/batch.h"
#include "store/checkpoint.h"
#include "store/crc32c.h"
#include "store/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "recovery_fuzz:%d: check failed: %s\n", __LINE__, #c);                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char dir[4096];

static void clear_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    CHECK(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.')
            CHECK(unlinkat(dirfd(d), e->d_name, 0) == 0);
    }
    closedir(d);
}

static void remove_dir(void)
{
    if (dir[0]) {
        clear_dir();
        rmdir(dir);
    }
}

static void make_dir(void)
{
    const char *tmp = getenv("TMPDIR");

    if (dir[0])
        return;
    snprintf(dir, sizeof(dir), "%s/zcq-recovery-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir));
    atexit(remove_dir);
}

static void write_file(const char *name, const void *p, size_t len)
{
    char path[4200];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(len == 0 || write(fd, p, len) == (ssize_t)len);
    close(fd);
}

/* Make the CRC of each batch right while batchLength chains whole batches. */
static void fix_crcs(uint8_t *p, size_t size)
{
    size_t pos = 0;

    while (size - pos >= ZCQ_BATCH_HEADER) {
        int64_t sz = zcq_batch_size(p + pos, size - pos);

        if (sz < ZCQ_BATCH_HEADER || (uint64_t)sz > size - pos)
            break;
        bg_be(p + pos + 17, zcq_crc32c(0, p + pos + 21, (size_t)sz - 21), 4);
        pos += (size_t)sz;
    }
}

/* The bytes of a slice's first batch must be there and hold offset. */
static void check_read(struct zcq_log *log, int64_t offset)
{
    struct zcq_log_slice s;
    uint8_t *buf;
    size_t at = 0;
    struct zcq_batch_info bi;
    int rc = zcq_log_read(log, offset, 1, &s);

    if (rc != 0)
        fprintf(stderr, "read at %lld: %s\n", (long long)offset, zcq_log_strerror(rc));
    CHECK(rc == 0);
    CHECK(s.n > 0 && s.bytes >= ZCQ_BATCH_HEADER && s.first_offset <= offset);
    buf = malloc(s.bytes);
    CHECK(buf);
    for (unsigned i = 0; i < s.n; i++) {
        CHECK(pread(s.c[i].fd, buf + at, s.c[i].len, s.c[i].pos) == (ssize_t)s.c[i].len);
        at += s.c[i].len;
    }
    CHECK(zcq_batch_decode(buf, at, &bi) == 0);
    CHECK(bi.base_offset == s.first_offset);
    CHECK(zcq_batch_size(buf, at) == (int64_t)s.bytes);
    CHECK(zcq_batch_last_offset(&bi) >= offset);
    free(buf);
    zcq_log_slice_release(log, &s);
}

/* Every offset when there are few; else the first, middle and last of each batch. */
static void check_all_reads(struct zcq_log *log)
{
    int64_t start = zcq_log_start_offset(log), hwm = zcq_log_high_watermark(log);
    int64_t off = start;

    CHECK(start <= hwm && hwm == zcq_log_end_offset(log));
    while (off < hwm) {
        struct zcq_log_slice s;
        struct zcq_batch_info bi;
        uint8_t h[ZCQ_BATCH_HEADER];
        int64_t last;

        CHECK(zcq_log_read(log, off, 1, &s) == 0 && s.n > 0 && s.first_offset == off);
        CHECK(pread(s.c[0].fd, h, sizeof(h), s.c[0].pos) == (ssize_t)sizeof(h));
        zcq_log_slice_release(log, &s);
        CHECK(zcq_batch_decode(h, sizeof(h), &bi) == 0);
        last = zcq_batch_last_offset(&bi);
        CHECK(last >= off && last < hwm);
        if (hwm - start <= 4096) {
            for (int64_t o = off; o <= last; o++)
                check_read(log, o);
        } else {
            check_read(log, off);
            check_read(log, off + (last - off) / 2);
            check_read(log, last);
        }
        off = last + 1;
    }
    CHECK(off == hwm);
}

static void try_input(const uint8_t *seg, size_t size, int way)
{
    struct zcq_log_config c;
    struct zcq_log_open_info info;
    struct zcq_log *log = NULL;
    struct zcq_append_result r;
    struct zcq_log_slice s;
    uint8_t *b, *got;
    size_t len, at = 0;
    int64_t end;
    int rc;

    clear_dir();
    write_file("00000000000000000000.log", seg, size);
    if (way == 2) {
        int64_t v[2] = {size ? seg[0] % 8 : 0, 0};
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        CHECK(dfd >= 0);
        CHECK(zcq_checkpoint_write(dfd, "recovery-point", v, 2) == 0);
        close(dfd);
        if (size % 2) {
            /* A trimmed index of one entry at position 0 passes the clean open's check, so
             * the end is found by stepping over every batch header. */
            uint32_t oe[2] = {0, 0};
            uint8_t te[12] = {0};

            write_file("clean-shutdown", "", 0);
            write_file("00000000000000000000.index", oe, sizeof(oe));
            write_file("00000000000000000000.timeindex", te, sizeof(te));
        }
    }
    zcq_log_config_default(&c);
    c.index_interval_bytes = 128;
    c.index_max_bytes = 4096;
    rc = zcq_log_open(&log, dir, &c, &info);
    if (rc < 0) {
        /* Only with a recovery point or a marker may data be refused rather than cut. */
        if (way < 2 || rc != -EUCLEAN)
            fprintf(stderr, "open (way %d): %s (%s)\n", way, zcq_log_strerror(rc), info.why);
        CHECK(way == 2 && rc == -EUCLEAN);
        CHECK(log == NULL && info.why[0]);
        return;
    }
    check_all_reads(log);

    end = zcq_log_end_offset(log);
    b = bg_build(3, 20, 1000, (uint32_t)size, &len);
    CHECK(zcq_log_append(log, b, len, 4, 1000, 0, &r) == 0);
    CHECK(r.base_offset == end && r.last_offset == end + 2);
    CHECK(zcq_log_read(log, end, len, &s) == 0 && s.n > 0 && s.bytes == len);
    got = malloc(len);
    CHECK(got);
    for (unsigned i = 0; i < s.n; i++) {
        CHECK(pread(s.c[i].fd, got + at, s.c[i].len, s.c[i].pos) == (ssize_t)s.c[i].len);
        at += s.c[i].len;
    }
    CHECK(at == len && memcmp(got, b, len) == 0);
    free(got);
    free(b);
    zcq_log_slice_release(log, &s);
    CHECK(zcq_log_close(log) == 0);

    /* What recovery left must open cleanly, at the same end. */
    CHECK(zcq_log_open(&log, dir, &c, &info) == 0);
    CHECK(info.clean && zcq_log_end_offset(log) == end + 3);
    CHECK(zcq_log_close(log) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;

    make_dir();
    try_input(data, size, 0);
    copy = malloc(size ? size : 1);
    CHECK(copy);
    memcpy(copy, data, size);
    fix_crcs(copy, size);
    try_input(copy, size, 1);
    try_input(copy, size, 2);
    free(copy);
    return 0;
}
