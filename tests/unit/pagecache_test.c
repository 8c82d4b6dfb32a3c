/*
 * Page-cache probe tests (src/io/pagecache.h). The files live under zt_tmpdir(), a real
 * filesystem (ext4 in CI), where a written page is resident until written back and dropped;
 * on tmpfs or ramfs the pages are the file, so the tests that need a drop skip there.
 */
#include "harness.h"
#include "io/pagecache.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#define PAGE ((size_t)sysconf(_SC_PAGESIZE))

/* A file of size bytes of a non-zero pattern (so no page is a hole), unlinked at once so a
 * killed test leaves nothing behind; the probes need only the fd. */
static int make_file(size_t size)
{
    static unsigned serial;
    static unsigned char block[64 * 1024];
    char path[4200];
    size_t done = 0;
    int fd;

    memset(block, 0x5a, sizeof(block));
    snprintf(path, sizeof(path), "%s/pc%u", zt_tmpdir(), serial++);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ZT_OK(fd);
    ZT_OK(unlink(path));
    while (done < size) {
        size_t n = size - done < sizeof(block) ? size - done : sizeof(block);
        ssize_t w = write(fd, block, n);

        ZT_ASSERT(w > 0);
        done += (size_t)w;
    }
    return fd;
}

static void read_range(int fd, off_t off, size_t len)
{
    static char buf[256 * 1024];

    while (len) {
        ssize_t r = pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf), off);

        ZT_ASSERT(r > 0);
        off += r;
        len -= (size_t)r;
    }
}

static void skip_if_fs_keeps_pages(int fd)
{
    struct statfs sf;

    ZT_OK(fstatfs(fd, &sf));
    if (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC)
        zt_skip("%s is on tmpfs/ramfs, whose pages cannot be dropped", zt_tmpdir());
}

/* Residency of the whole file (a length far past EOF is clipped). */
static size_t resident(int fd, size_t *total)
{
    size_t res, tot;

    ZT_OK(zcq_pc_residency(fd, 0, SIZE_MAX >> 1, &res, &tot));
    if (total)
        *total = tot;
    return res;
}

/* Drop and check that (nearly) nothing stayed: a freshly written file has no other users. */
static void drop_cold(int fd)
{
    size_t tot, res;

    ZT_OK(zcq_pc_drop(fd));
    res = resident(fd, &tot);
    if (res * 10 > tot)
        zt_fail(__FILE__, __LINE__, "%zu of %zu pages still resident after zcq_pc_drop", res, tot);
}

static void written_is_resident(void)
{
    const size_t size = 4 * 1024 * 1024;
    int fd = make_file(size);
    size_t tot;

    /* Just written: every page is in the cache (dirty). */
    ZT_EQ(resident(fd, &tot), size / PAGE);
    ZT_EQ(tot, size / PAGE);
    ZT_EQ(zcq_pc_percent(fd), 100);
    close(fd);
}

static void drop_then_read(void)
{
    const size_t size = 8 * 1024 * 1024;
    int fd = make_file(size);
    size_t res, tot;
    int pct;

    skip_if_fs_keeps_pages(fd);
    drop_cold(fd);
    pct = zcq_pc_percent(fd);
    ZT_ASSERT(pct >= 0 && pct <= 10);

    /* Reading brings exactly what was read back (and maybe read-ahead past it). */
    read_range(fd, 0, 64 * 1024);
    ZT_OK(zcq_pc_residency(fd, 0, 64 * 1024, &res, &tot));
    ZT_EQ(tot, 64 * 1024 / PAGE);
    ZT_EQ(res, tot);
    /* The far end of the file was not read: read-ahead is far smaller than 4 MiB. */
    ZT_OK(zcq_pc_residency(fd, (off_t)(size / 2), size / 2, &res, &tot));
    ZT_EQ(tot, size / 2 / PAGE);
    ZT_ASSERT(res * 10 <= tot);

    /* Reading the whole file makes all of it resident again: warm. */
    read_range(fd, 0, size);
    ZT_EQ(resident(fd, &tot), size / PAGE);
    ZT_EQ(zcq_pc_percent(fd), 100);

    /* And the first half again, after a drop: the percentage follows, within 0..100. */
    drop_cold(fd);
    read_range(fd, 0, size / 2);
    pct = zcq_pc_percent(fd);
    ZT_ASSERT(pct >= 50 && pct <= 100);
    close(fd);
}

/* zcq_pc_resident (what the broker asks before it sendfiles a range from its event loop):
 * yes for a written range, no once dropped, yes again for what was read back, and the end
 * of the file does not count against a range that runs past it. */
static void resident_probe(void)
{
    const size_t size = 4 * 1024 * 1024;
    int fd = make_file(size);

    ZT_EQ(zcq_pc_resident(fd, 0, size), 1);
    ZT_EQ(zcq_pc_resident(fd, 100, 5000), 1);
    ZT_EQ(zcq_pc_resident(fd, (off_t)size - 10, 1 << 20), 1); /* clipped at EOF */
    ZT_EQ(zcq_pc_resident(fd, (off_t)size + PAGE, 100), 1);   /* wholly past EOF */
    ZT_EQ(zcq_pc_resident(fd, 0, 0), 1);
    skip_if_fs_keeps_pages(fd);
    drop_cold(fd);
    ZT_EQ(zcq_pc_resident(fd, 0, size), 0);
    ZT_EQ(zcq_pc_resident(fd, (off_t)size / 2, 3 * PAGE), 0);
    read_range(fd, (off_t)size / 2, 3 * PAGE);
    ZT_EQ(zcq_pc_resident(fd, (off_t)size / 2, 3 * PAGE), 1);
    ZT_EQ(zcq_pc_resident(fd, (off_t)size / 2 + 17, 2 * PAGE), 1);
    ZT_EQ(zcq_pc_resident(fd, (off_t)size - PAGE, PAGE), 0);
    ZT_EQ(zcq_pc_resident(-1, 0, 10), -EBADF);
    close(fd);
}

/* zcq_pc_drop cannot take pages another mapping holds (pagecache.h says so): the mapped,
 * touched page stays, the rest goes. */
static void drop_keeps_mapped_pages(void)
{
    const size_t size = 1024 * 1024;
    int fd = make_file(size);
    volatile unsigned char *map;
    size_t res, tot;

    skip_if_fs_keeps_pages(fd);
    ZT_OK(fdatasync(fd));
    map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    ZT_ASSERT(map != MAP_FAILED);
    ZT_EQ(map[0], 0x5a);
    ZT_OK(zcq_pc_drop(fd));
    ZT_OK(zcq_pc_residency(fd, 0, 1, &res, &tot));
    ZT_EQ(tot, 1);
    ZT_EQ(res, 1);
    ZT_OK(zcq_pc_residency(fd, (off_t)(size / 2), size / 2, &res, &tot));
    ZT_ASSERT(res * 10 <= tot);
    munmap((void *)map, size);
    close(fd);
}

/* Ranges are counted in whole pages and clipped to the file. */
static void range_clipping(void)
{
    const size_t page = PAGE, size = 2 * page + 1808; /* three pages, the last partial */
    int fd = make_file(size), empty = make_file(0);
    size_t res = 99, tot = 99;

    ZT_OK(zcq_pc_residency(fd, 0, size, &res, &tot));
    ZT_EQ(tot, 3);
    ZT_EQ(res, 3);
    ZT_OK(zcq_pc_residency(fd, 0, 1 << 30, &res, &tot));
    ZT_EQ(tot, 3);
    /* A length that runs past the end of the address space still means "to EOF". */
    ZT_OK(zcq_pc_residency(fd, 0, SIZE_MAX, &res, &tot));
    ZT_EQ(tot, 3);
    ZT_EQ(res, 3);
    ZT_OK(zcq_pc_residency(fd, (off_t)page + 100, SIZE_MAX, &res, &tot));
    ZT_EQ(tot, 2);
    ZT_OK(zcq_pc_residency(fd, (off_t)(2 * page), 1 << 20, &res, &tot));
    ZT_EQ(tot, 1);
    /* Two bytes straddling a page boundary touch two pages. */
    ZT_OK(zcq_pc_residency(fd, (off_t)page - 1, 2, &res, &tot));
    ZT_EQ(tot, 2);
    ZT_OK(zcq_pc_residency(fd, (off_t)page - 1, 1, &res, &tot));
    ZT_EQ(tot, 1);
    /* Nothing at or past EOF, and an empty range is empty. */
    ZT_OK(zcq_pc_residency(fd, (off_t)size, 10, &res, &tot));
    ZT_EQ(tot, 0);
    ZT_EQ(res, 0);
    ZT_OK(zcq_pc_residency(fd, (off_t)size + 5 * (off_t)page, 10, &res, &tot));
    ZT_EQ(tot, 0);
    ZT_OK(zcq_pc_residency(fd, 100, 0, &res, &tot));
    ZT_EQ(tot, 0);
    ZT_OK(zcq_pc_residency(empty, 0, 4096, &res, &tot));
    ZT_EQ(tot, 0);
    ZT_EQ(res, 0);
    ZT_ASSERT(zcq_pc_percent(empty) >= 0 && zcq_pc_percent(empty) <= 100);
    ZT_EQ(zcq_pc_residency(fd, -1, 10, &res, &tot), -EINVAL);
    close(fd);
    close(empty);
}

/* Over 256 MiB, the probe's mapping window, a sparse file is counted window by window. */
static void big_sparse_file(void)
{
    const off_t size = ((off_t)300 << 20) + 5;
    const size_t pages = (size_t)((size + (off_t)PAGE - 1) / (off_t)PAGE);
    int fd = make_file(0);
    size_t res, tot;

    ZT_OK(ftruncate(fd, size));
    ZT_EQ(resident(fd, &tot), 0);
    ZT_EQ(tot, pages);
    /* Reading a hole caches (zero) pages: the last three, in the second window. */
    read_range(fd, size - 8192, 8192);
    ZT_OK(zcq_pc_residency(fd, size - 8192, 8192, &res, &tot));
    ZT_EQ(tot, 3);
    ZT_EQ(res, 3);
    res = resident(fd, &tot);
    ZT_ASSERT(res >= 3 && res < 1024);
    ZT_EQ(tot, pages);
    close(fd);
}

static void bad_fds(void)
{
    size_t res = 7, tot = 7;
    int fd = make_file(4096), p[2];

    ZT_OK(close(fd));
    ZT_EQ(zcq_pc_residency(-1, 0, 4096, &res, &tot), -EBADF);
    ZT_EQ(zcq_pc_residency(fd, 0, 4096, &res, &tot), -EBADF);
    ZT_EQ(zcq_pc_drop(-1), -EBADF);
    ZT_EQ(zcq_pc_drop(fd), -EBADF);
    ZT_EQ(zcq_pc_percent(-1), -EBADF);
    ZT_EQ(zcq_pc_percent(fd), -EBADF);
    /* A pipe has no page cache to drop: posix_fadvise's error comes back. */
    ZT_OK(pipe(p));
    ZT_EQ(zcq_pc_drop(p[0]), -ESPIPE);
    close(p[0]);
    close(p[1]);
}

/* Every page of [off, off + len) readable without waiting for the disk: a RWF_NOWAIT read
 * (which fails with EAGAIN on a page that is absent or still being read) gets all of it. */
static void readable_now(int fd, off_t off, size_t len)
{
    static char buf[256 * 1024];

    while (len) {
        struct iovec v = {buf, len < sizeof(buf) ? len : sizeof(buf)};
        ssize_t r = preadv2(fd, &v, 1, off, RWF_NOWAIT);

        if (r < 0 && errno == EOPNOTSUPP)
            zt_skip("RWF_NOWAIT reads are not supported on %s", zt_tmpdir());
        if (r <= 0)
            zt_fail(__FILE__, __LINE__, "RWF_NOWAIT read at %lld: %s", (long long)off,
                    r < 0 ? strerror(errno) : "end of file");
        off += r;
        len -= (size_t)r;
    }
}

/* zcq_pc_load: a cold range comes back whole and readable at once (not merely in flight),
 * and nothing outside it is asked for beyond read-ahead; past EOF it stops quietly. */
static void load_cold_range(void)
{
    /* Big enough that the kernel's read-ahead after 7 MiB (read_ahead_kb, 8 MiB on some
     * machines) cannot reach the last 4 MiB. */
    const size_t size = 32 * 1024 * 1024;
    int fd = make_file(size), p[2];
    size_t res, tot;

    skip_if_fs_keeps_pages(fd);
    drop_cold(fd);
    ZT_OK(zcq_pc_load(fd, (off_t)(4 << 20), 3 << 20));
    readable_now(fd, (off_t)(4 << 20), 3 << 20);
    ZT_OK(zcq_pc_residency(fd, (off_t)(4 << 20), 3 << 20, &res, &tot));
    ZT_EQ(res, tot);
    /* The last 4 MiB were never asked for. */
    ZT_OK(zcq_pc_residency(fd, (off_t)(size - (4 << 20)), 4 << 20, &res, &tot));
    ZT_ASSERT(res < tot);
    /* A range running past the end: loaded up to it, no error. */
    ZT_OK(zcq_pc_load(fd, (off_t)(size - 4096), 1 << 20));
    readable_now(fd, (off_t)(size - 4096), 4096);
    ZT_OK(zcq_pc_load(fd, (off_t)size + 4096, 4096));
    ZT_OK(zcq_pc_load(fd, 0, 0));
    /* Not a file: splice's error comes back. */
    ZT_OK(close(fd));
    ZT_EQ(zcq_pc_load(-1, 0, 4096), -EBADF);
    ZT_OK(pipe(p));
    ZT_ASSERT(zcq_pc_load(p[0], 0, 4096) < 0);
    close(p[0]);
    close(p[1]);
}

static const struct zcq_test tests[] = {
    {"pagecache/written-is-resident", written_is_resident, 30},
    {"pagecache/drop-then-read", drop_then_read, 30},
    {"pagecache/drop-keeps-mapped-pages", drop_keeps_mapped_pages, 30},
    {"pagecache/range-clipping", range_clipping, 30},
    {"pagecache/big-sparse-file", big_sparse_file, 30},
    {"pagecache/bad-fds", bad_fds, 30},
    {"pagecache/resident-probe", resident_probe, 30},
    {"pagecache/load-cold-range", load_cold_range, 30},
};

ZT_MAIN(tests)
