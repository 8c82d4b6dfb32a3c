/*
 * Block cache tests (src/store/bcache.h). Every file is read through O_DIRECT, as the log does
 * in direct mode; its bytes are a pseudo-random function of their offset, so any block can be
 * checked without keeping a copy. Failures and races are staged through the zcq_sys.pread hook,
 * which runs outside the cache's mutex exactly where the real read does.
 */
#include "harness.h"
#include "io/sys.h"
#include "store/bcache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BS        4096u
#define FILE_SIZE (10 * BS + 1234) /* ten whole blocks and a short one */
#define FID       42

static uint8_t pat(uint64_t pos)
{
    uint64_t x = (pos + 1) * 0x9e3779b97f4a7c15ull;

    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return (uint8_t)(x >> 32);
}

static void fill(void *buf, uint64_t pos, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)buf)[i] = pat(pos + i);
}

static int open_direct(const char *path, int flags)
{
    int fd = open(path, flags | O_DIRECT | O_CLOEXEC);

    if (fd < 0 && errno == EINVAL)
        zt_skip("O_DIRECT is not supported under %s", zt_tmpdir());
    ZT_OK(fd);
    return fd;
}

/* A file of size pattern bytes under zt_tmpdir(); path gets its name. */
static void make_file(char *path, size_t path_len, size_t size)
{
    static unsigned serial;
    static uint8_t buf[64 * 1024];
    size_t done = 0;
    int fd;

    snprintf(path, path_len, "%s/bc%u", zt_tmpdir(), serial++);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ZT_OK(fd);
    while (done < size) {
        size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);

        fill(buf, done, n);
        ZT_EQ(pwrite(fd, buf, n, (off_t)done), n);
        done += n;
    }
    ZT_OK(fsync(fd));
    ZT_OK(close(fd));
}

/* The FILE_SIZE test file opened for direct reads. */
static int test_file(void)
{
    char path[4200];

    make_file(path, sizeof(path), FILE_SIZE);
    return open_direct(path, O_RDONLY);
}

static struct zcq_bcache *new_cache(size_t blocks, size_t bs)
{
    struct zcq_bcache *c;

    ZT_OK(zcq_bcache_new(&c, blocks * bs, bs));
    ZT_EQ(zcq_bcache_block_size(c), bs);
    return c;
}

/* b holds file bytes [block_no * bs, + valid) of a file of file_size pattern bytes. */
static void check_block(const struct zcq_bblock *b, uint64_t file_id, uint64_t block_no, size_t bs,
                        uint64_t file_size)
{
    uint64_t start = block_no * bs;
    uint64_t want = file_size > start ? file_size - start : 0;
    uint32_t valid = __atomic_load_n(&b->valid, __ATOMIC_ACQUIRE);

    ZT_EQ(b->file_id, file_id);
    ZT_EQ(b->block_no, block_no);
    ZT_EQ(valid, want < bs ? want : bs);
    ZT_EQ((uintptr_t)b->data % 4096, 0); /* what O_DIRECT needs */
    for (uint32_t i = 0; i < valid; i++) {
        if (((const uint8_t *)b->data)[i] != pat(start + i))
            zt_fail(__FILE__, __LINE__, "block %llu byte %u differs from the file",
                    (unsigned long long)block_no, i);
    }
}

static struct zcq_bblock *get_ok(struct zcq_bcache *c, uint64_t file_id, int fd, uint64_t block_no)
{
    struct zcq_bblock *b = NULL;

    ZT_EQ(zcq_bcache_get(c, file_id, fd, block_no, &b), 0);
    ZT_ASSERT(b != NULL);
    return b;
}

static struct zcq_bcache_stats stats(struct zcq_bcache *c)
{
    struct zcq_bcache_stats st;

    zcq_bcache_stats(c, &st);
    return st;
}

static void t_args(void)
{
    struct zcq_bcache *c = (struct zcq_bcache *)1;

    ZT_EQ(zcq_bcache_new(&c, 16 * 1000, 1000), -EINVAL);
    ZT_ASSERT(c == NULL);
    ZT_EQ(zcq_bcache_new(&c, 16 * 2048, 2048), -EINVAL);
    ZT_EQ(zcq_bcache_new(&c, 3 * 8192, 3 * 4096), -EINVAL);
    ZT_EQ(zcq_bcache_new(&c, 2 * 8192 - 1, 8192), -EINVAL); /* under two blocks */
    ZT_OK(zcq_bcache_new(&c, 2 * 8192, 8192));
    ZT_EQ(zcq_bcache_block_size(c), 8192);
    zcq_bcache_free(c);
    zcq_bcache_free(NULL);
}

/* Every block, the short last one and one past the end, at two block sizes. */
static void t_content(void)
{
    static const size_t sizes[] = {4096, 16384};
    int fd = test_file();

    for (size_t k = 0; k < 2; k++) {
        size_t bs = sizes[k];
        uint64_t blocks = (FILE_SIZE + bs - 1) / bs;
        struct zcq_bcache *c = new_cache(16, bs);
        struct zcq_bcache_stats st;
        struct zcq_bblock *b;

        for (int pass = 0; pass < 2; pass++) {
            for (uint64_t i = 0; i < blocks; i++) {
                b = get_ok(c, FID, fd, i);
                check_block(b, FID, i, bs, FILE_SIZE);
                zcq_bcache_put(c, b);
            }
            st = stats(c);
            ZT_EQ(st.misses, blocks);
            ZT_EQ(st.reads, blocks);
            ZT_EQ(st.hits, pass * blocks);
            ZT_EQ(st.bytes_read, FILE_SIZE);
            ZT_EQ(st.evictions, 0);
        }
        b = get_ok(c, FID, fd, blocks - 1);
        ZT_EQ(b->valid, FILE_SIZE - (blocks - 1) * bs);
        zcq_bcache_put(c, b);
        b = get_ok(c, FID, fd, blocks + 3); /* past the end: an empty block */
        ZT_EQ(b->valid, 0);
        zcq_bcache_put(c, b);
        /* The same block of another file id is another block. */
        b = get_ok(c, FID + 1, fd, 0);
        check_block(b, FID + 1, 0, bs, FILE_SIZE);
        zcq_bcache_put(c, b);
        ZT_EQ(stats(c).misses, blocks + 2);
        zcq_bcache_free(c);
    }
    close(fd);
}

/* Pages of a block that are resident (mincore on the anonymous arena). */
static int resident_pages(const struct zcq_bblock *b, size_t bs)
{
    unsigned char vec[64];
    int n = 0;

    ZT_ASSERT(bs / 4096 <= sizeof(vec));
    ZT_OK(mincore(b->data, bs, vec));
    for (size_t i = 0; i < bs / 4096; i++)
        n += vec[i] & 1;
    return n;
}

/* A block read short at the end of a file keeps only the pages its bytes are in: an O_DIRECT
 * read faults in its whole buffer, and a direct-mode broker reads the last block of every
 * partition when it starts (1,000 partitions filled the 64 MiB cache with 1 KB tails). The
 * block still reads right, and an append that grows it later finds zeros past its end. */
static void t_short_block_released(void)
{
    enum { BIG = 65536 };
    char path[4200];
    struct zcq_bcache *c = new_cache(4, BIG);
    struct zcq_bblock *b;
    int fd;

    make_file(path, sizeof(path), 5000); /* two pages of a 16-page block */
    fd = open_direct(path, O_RDONLY);
    b = get_ok(c, FID, fd, 0);
    check_block(b, FID, 0, BIG, 5000);
    ZT_EQ(resident_pages(b, BIG), 2);
    for (size_t i = 8192; i < BIG; i++)
        ZT_EQ(((const uint8_t *)b->data)[i], 0);
    zcq_bcache_put(c, b);
    /* A whole block keeps every page. */
    make_file(path, sizeof(path), 2 * BIG);
    close(fd);
    fd = open_direct(path, O_RDONLY);
    b = get_ok(c, FID + 1, fd, 1);
    check_block(b, FID + 1, 1, BIG, 2 * BIG);
    ZT_EQ(resident_pages(b, BIG), BIG / 4096);
    zcq_bcache_put(c, b);
    zcq_bcache_free(c);
    close(fd);
}

static void t_lru_eviction(void)
{
    int fd = test_file();
    struct zcq_bcache *c = new_cache(4, BS);
    struct zcq_bcache_stats st;
    const uint64_t hits_order[] = {0, 4, 3, 2};

    for (uint64_t i = 0; i < 4; i++)
        zcq_bcache_put(c, get_ok(c, FID, fd, i));
    zcq_bcache_put(c, get_ok(c, FID, fd, 0)); /* now 1 is the least recently used */
    ZT_EQ(stats(c).hits, 1);
    zcq_bcache_put(c, get_ok(c, FID, fd, 4));
    st = stats(c);
    ZT_EQ(st.evictions, 1);
    ZT_EQ(st.misses, 5);
    for (size_t i = 0; i < 4; i++)
        zcq_bcache_put(c, get_ok(c, FID, fd, hits_order[i]));
    st = stats(c);
    ZT_EQ(st.hits, 5);
    ZT_EQ(st.misses, 5);
    /* LRU order is now 0 4 3 2: block 1 evicts 0, then 0 evicts 4. */
    zcq_bcache_put(c, get_ok(c, FID, fd, 1));
    zcq_bcache_put(c, get_ok(c, FID, fd, 0));
    zcq_bcache_put(c, get_ok(c, FID, fd, 2));
    st = stats(c);
    ZT_EQ(st.misses, 7);
    ZT_EQ(st.hits, 6);
    ZT_EQ(st.evictions, 3);
    zcq_bcache_put(c, get_ok(c, FID, fd, 4));
    ZT_EQ(stats(c).misses, 8);

    /* A scan of all eleven blocks through four: every miss past the fourth block evicts. */
    for (int pass = 0; pass < 3; pass++) {
        for (uint64_t i = 0; i <= 10; i++) {
            struct zcq_bblock *b = get_ok(c, FID, fd, i);

            check_block(b, FID, i, BS, FILE_SIZE);
            zcq_bcache_put(c, b);
        }
    }
    st = stats(c);
    ZT_EQ(st.evictions, st.misses - 4);
    ZT_EQ(st.reads, st.misses);
    zcq_bcache_free(c);
    close(fd);
}

static void t_pinned_not_evicted(void)
{
    int fd = test_file();
    struct zcq_bcache *c = new_cache(4, BS);
    struct zcq_bblock *b0 = get_ok(c, FID, fd, 0), *b1 = get_ok(c, FID, fd, 1), *b;
    struct zcq_bcache_stats st;

    for (int pass = 0; pass < 3; pass++) {
        for (uint64_t i = 2; i <= 10; i++) {
            b = get_ok(c, FID, fd, i);
            ZT_ASSERT(b != b0 && b != b1);
            check_block(b, FID, i, BS, FILE_SIZE);
            zcq_bcache_put(c, b);
        }
    }
    check_block(b0, FID, 0, BS, FILE_SIZE);
    check_block(b1, FID, 1, BS, FILE_SIZE);
    st = stats(c);
    ZT_EQ(st.evictions, st.misses - 4);
    /* Still cached: a second pin of each is a hit on the same memory. */
    ZT_ASSERT(get_ok(c, FID, fd, 0) == b0);
    ZT_ASSERT(get_ok(c, FID, fd, 1) == b1);
    ZT_EQ(stats(c).hits, st.hits + 2);
    ZT_EQ(stats(c).reads, st.reads);
    for (int i = 0; i < 2; i++) {
        zcq_bcache_put(c, b0);
        zcq_bcache_put(c, b1);
    }
    zcq_bcache_free(c);
    close(fd);
}

static void t_enobufs(void)
{
    int fd = test_file();
    struct zcq_bcache *c = new_cache(4, BS);
    struct zcq_bblock *held[4], *b = (struct zcq_bblock *)1, *again;
    uint8_t buf[BS];

    for (uint64_t i = 0; i < 4; i++)
        held[i] = get_ok(c, FID, fd, i);
    ZT_EQ(zcq_bcache_get(c, FID, fd, 4, &b), -ENOBUFS);
    ZT_ASSERT(b == NULL);
    /* A hit needs no block. */
    again = get_ok(c, FID, fd, 2);
    ZT_ASSERT(again == held[2]);
    zcq_bcache_put(c, again);
    ZT_EQ(zcq_bcache_get(c, FID, fd, 4, &b), -ENOBUFS); /* 2 is still pinned once */
    /* A write with insert cannot cache either, and does not fail or disturb the pins. */
    fill(buf, 20 * BS, BS);
    zcq_bcache_write(c, FID, 20 * BS, buf, BS, 1);
    for (uint64_t i = 0; i < 4; i++)
        check_block(held[i], FID, i, BS, FILE_SIZE);
    ZT_EQ(zcq_bcache_get(c, FID, -1, 20, &b), -ENOBUFS);

    zcq_bcache_put(c, held[2]);
    b = get_ok(c, FID, fd, 4); /* evicts 2, the only unpinned block */
    check_block(b, FID, 4, BS, FILE_SIZE);
    ZT_EQ(stats(c).evictions, 1);
    zcq_bcache_put(c, b);
    for (uint64_t i = 0; i < 4; i++) {
        if (i != 2)
            zcq_bcache_put(c, held[i]);
    }
    /* Nothing leaked: four new blocks can be pinned at once. */
    for (uint64_t i = 0; i < 4; i++)
        held[i] = get_ok(c, FID, fd, 6 + i);
    for (uint64_t i = 0; i < 4; i++)
        zcq_bcache_put(c, held[i]);
    zcq_bcache_free(c);
    close(fd);
}

static void t_write_updates(void)
{
    int fd = test_file();
    struct zcq_bcache *c = new_cache(16, BS);
    struct zcq_bcache_stats st;
    struct zcq_bblock *b;
    uint8_t buf[2 * BS];
    uint64_t size = FILE_SIZE;

    for (uint64_t i = 0; i <= 12; i++)
        zcq_bcache_put(c, get_ok(c, FID, fd, i));
    st = stats(c);

    /* An append to the short last block: it grows, in place. */
    fill(buf, size, 500);
    zcq_bcache_write(c, FID, size, buf, 500, 0);
    size += 500;
    b = get_ok(c, FID, fd, 10);
    check_block(b, FID, 10, BS, size);
    ZT_EQ(b->valid, 1734);
    /* Pinned blocks take appends too: the holder sees valid grow past what it read. */
    fill(buf, size, 100);
    zcq_bcache_write(c, FID, size, buf, 100, 0);
    size += 100;
    check_block(b, FID, 10, BS, size);
    zcq_bcache_put(c, b);

    /* One across a block boundary fills 10 and starts 11 (cached empty, past the old end). */
    fill(buf, size, BS);
    zcq_bcache_write(c, FID, size, buf, BS, 0);
    size += BS;
    b = get_ok(c, FID, fd, 10);
    check_block(b, FID, 10, BS, size);
    zcq_bcache_put(c, b);
    b = get_ok(c, FID, fd, 11);
    check_block(b, FID, 11, BS, size);
    ZT_EQ(b->valid, size - 11 * BS);
    zcq_bcache_put(c, b);
    ZT_EQ(stats(c).reads, st.reads);
    ZT_EQ(stats(c).hits, st.hits + 3);

    /* Bytes the block already holds: equal ones change nothing, others are stored. */
    fill(buf, 2 * BS + 100, 200);
    zcq_bcache_write(c, FID, 2 * BS + 100, buf, 200, 0);
    memcpy(buf, "abc", 3);
    zcq_bcache_write(c, FID, 5 * BS + 10, buf, 3, 0);
    b = get_ok(c, FID, fd, 2);
    check_block(b, FID, 2, BS, size);
    zcq_bcache_put(c, b);
    b = get_ok(c, FID, fd, 5);
    ZT_EQ(b->valid, BS);
    ZT_ASSERT(memcmp((char *)b->data + 10, "abc", 3) == 0);
    zcq_bcache_put(c, b);

    /* A write past a block's valid bytes leaves a gap the cache cannot fill: it drops the
     * block, and the next get reads it from the file (still empty there). */
    zcq_bcache_write(c, FID, 12 * BS + 100, buf, 10, 0);
    st = stats(c);
    b = get_ok(c, FID, fd, 12);
    ZT_EQ(b->valid, 0);
    zcq_bcache_put(c, b);
    ZT_EQ(stats(c).misses, st.misses + 1);
    zcq_bcache_free(c);
    close(fd);
}

/* With insert, blocks a write covers from their first byte are cached; fd -1 proves a get is
 * served from memory (a read would fail with EBADF). */
static void t_write_insert(void)
{
    struct zcq_bcache *c = new_cache(16, BS);
    struct zcq_bblock *b;
    uint8_t buf[2 * BS];
    uint64_t size = 0;

    fill(buf, 0, BS + 100);
    zcq_bcache_write(c, FID, 0, buf, BS + 100, 1);
    size = BS + 100;
    b = get_ok(c, FID, -1, 0);
    check_block(b, FID, 0, BS, size);
    zcq_bcache_put(c, b);
    b = get_ok(c, FID, -1, 1);
    check_block(b, FID, 1, BS, size);
    ZT_EQ(b->valid, 100);
    zcq_bcache_put(c, b);
    /* Appends keep extending them. */
    fill(buf, size, 200);
    zcq_bcache_write(c, FID, size, buf, 200, 1);
    size += 200;
    b = get_ok(c, FID, -1, 1);
    check_block(b, FID, 1, BS, size);
    zcq_bcache_put(c, b);
    ZT_EQ(stats(c).reads, 0);
    ZT_EQ(stats(c).hits, 3);

    /* A write starting inside an uncached block does not cache it (its head is unknown), but
     * the next block, covered from its start, is. */
    fill(buf, 3 * BS + 50, BS);
    zcq_bcache_write(c, FID, 3 * BS + 50, buf, BS, 1);
    b = (struct zcq_bblock *)1;
    ZT_EQ(zcq_bcache_get(c, FID, -1, 3, &b), -EBADF);
    ZT_ASSERT(b == NULL);
    b = get_ok(c, FID, -1, 4);
    ZT_EQ(b->valid, 50);
    ZT_ASSERT(memcmp(b->data, buf + BS - 50, 50) == 0);
    zcq_bcache_put(c, b);
    /* Without insert nothing new is cached. */
    zcq_bcache_write(c, FID, 8 * BS, buf, BS, 0);
    ZT_EQ(zcq_bcache_get(c, FID, -1, 8, &b), -EBADF);
    ZT_EQ(stats(c).reads, 2);
    zcq_bcache_free(c);
}

/* An insert into a full cache evicts the least recently used block. */
static void t_write_insert_evicts(void)
{
    int fd = test_file();
    struct zcq_bcache *c = new_cache(4, BS);
    struct zcq_bblock *b;
    uint8_t buf[BS];

    for (uint64_t i = 0; i < 4; i++)
        zcq_bcache_put(c, get_ok(c, FID, fd, i));
    fill(buf, 0, BS);
    zcq_bcache_write(c, FID + 1, 0, buf, BS, 1);
    ZT_EQ(stats(c).evictions, 1);
    b = get_ok(c, FID + 1, -1, 0);
    check_block(b, FID + 1, 0, BS, BS);
    zcq_bcache_put(c, b);
    zcq_bcache_put(c, get_ok(c, FID, fd, 3)); /* a hit */
    zcq_bcache_put(c, get_ok(c, FID, fd, 0)); /* evicted: a miss */
    ZT_EQ(stats(c).misses, 5);
    zcq_bcache_free(c);
    close(fd);
}

/* --- The pread hook -------------------------------------------------------------------- */

static struct {
    struct zcq_bcache *c;
    int wfd; /* buffered fd of the file, to append to it */
    int calls;
    int wait_hits; /* wait until this many hits (a second get waiting) before reading */
    int fail;      /* fail the read with this errno */
} hook;

static void wait_for_hits(void)
{
    const struct timespec ms = {0, 1000000};

    /* The hook runs outside the cache's mutex, so stats() can be polled from here. */
    while (stats(hook.c).hits < (uint64_t)hook.wait_hits)
        nanosleep(&ms, NULL);
}

/* Appends 500 bytes to the file and the cache after reading, as an appender racing the read
 * would: the read has missed them, and the write finds the block still loading. */
static ssize_t pread_then_append(int fd, void *buf, size_t n, off_t off)
{
    ssize_t r = pread(fd, buf, n, off);
    uint8_t more[500];

    if (hook.calls++ == 0) {
        fill(more, FILE_SIZE, sizeof(more));
        ZT_EQ(pwrite(hook.wfd, more, sizeof(more), FILE_SIZE), sizeof(more));
        ZT_OK(fdatasync(hook.wfd));
        zcq_bcache_write(hook.c, FID, FILE_SIZE, more, sizeof(more), 1);
    }
    return r;
}

static void t_write_while_loading(void)
{
    char path[4200];
    int fd;
    struct zcq_bblock *b;
    struct zcq_bcache_stats st;

    make_file(path, sizeof(path), FILE_SIZE);
    fd = open_direct(path, O_RDONLY);
    hook.wfd = open(path, O_WRONLY | O_CLOEXEC);
    ZT_OK(hook.wfd);
    hook.c = new_cache(4, BS);
    zcq_sys.pread = pread_then_append;
    b = get_ok(hook.c, FID, fd, 10);
    zcq_sys_restore();
    check_block(b, FID, 10, BS, FILE_SIZE + 500);
    st = stats(hook.c);
    ZT_EQ(st.misses, 1);
    ZT_EQ(st.reads, 2); /* read again after the write */
    zcq_bcache_put(hook.c, b);
    zcq_bcache_free(hook.c);
    close(hook.wfd);
    close(fd);
}

static ssize_t pread_slow(int fd, void *buf, size_t n, off_t off)
{
    hook.calls++;
    wait_for_hits();
    if (hook.fail) {
        errno = hook.fail;
        return -1;
    }
    return pread(fd, buf, n, off);
}

struct getter {
    int fd, rc;
    uint64_t block_no;
    struct zcq_bblock *b;
};

static void *getter_main(void *arg)
{
    struct getter *g = arg;

    g->rc = zcq_bcache_get(hook.c, FID, g->fd, g->block_no, &g->b);
    return NULL;
}

/* Two gets of one missing block: the second waits for the first's read, success or error. */
static void t_concurrent_miss(void)
{
    int fd = test_file();
    struct getter g[2] = {{fd, 1, 5, NULL}, {fd, 1, 5, NULL}};
    pthread_t t;
    struct zcq_bcache_stats st;

    hook.c = new_cache(2, BS);
    hook.wait_hits = 1;
    zcq_sys.pread = pread_slow;
    ZT_EQ(pthread_create(&t, NULL, getter_main, &g[0]), 0);
    getter_main(&g[1]);
    ZT_EQ(pthread_join(t, NULL), 0);
    ZT_EQ(g[0].rc, 0);
    ZT_EQ(g[1].rc, 0);
    ZT_ASSERT(g[0].b == g[1].b);
    check_block(g[0].b, FID, 5, BS, FILE_SIZE);
    st = stats(hook.c);
    ZT_EQ(hook.calls, 1);
    ZT_EQ(st.reads, 1);
    ZT_EQ(st.misses, 1);
    ZT_EQ(st.hits, 1);
    zcq_bcache_put(hook.c, g[0].b);
    zcq_bcache_put(hook.c, g[1].b);

    /* The same with a failing read: both see its error, and the block is not cached. */
    hook.calls = 0;
    hook.wait_hits = 2;
    hook.fail = EIO;
    g[0].block_no = g[1].block_no = 7;
    ZT_EQ(pthread_create(&t, NULL, getter_main, &g[0]), 0);
    getter_main(&g[1]);
    ZT_EQ(pthread_join(t, NULL), 0);
    ZT_EQ(g[0].rc, -EIO);
    ZT_EQ(g[1].rc, -EIO);
    ZT_ASSERT(g[0].b == NULL && g[1].b == NULL);
    ZT_EQ(hook.calls, 1);
    zcq_sys_restore();
    st = stats(hook.c);
    ZT_EQ(st.reads, 2);
    ZT_EQ(st.misses, 2);
    /* Both blocks of the cache are free to use. */
    g[0].b = get_ok(hook.c, FID, fd, 7);
    g[1].b = get_ok(hook.c, FID, fd, 8);
    check_block(g[0].b, FID, 7, BS, FILE_SIZE);
    check_block(g[1].b, FID, 8, BS, FILE_SIZE);
    ZT_EQ(stats(hook.c).misses, 4);
    zcq_bcache_put(hook.c, g[0].b);
    zcq_bcache_put(hook.c, g[1].b);
    zcq_bcache_free(hook.c);
    close(fd);
}

static void t_forget(void)
{
    int fd = test_file();
    struct zcq_bcache *c = new_cache(16, BS);
    struct zcq_bcache_stats st;
    struct zcq_bblock *held, *b;

    for (uint64_t i = 0; i <= 10; i++)
        zcq_bcache_put(c, get_ok(c, FID, fd, i));
    for (uint64_t i = 0; i < 3; i++)
        zcq_bcache_put(c, get_ok(c, FID + 1, fd, i));
    held = get_ok(c, FID, fd, 5);
    st = stats(c);
    /* From inside block 4: 4 goes too. */
    zcq_bcache_forget(c, FID, 4 * BS + 100);
    zcq_bcache_put(c, get_ok(c, FID, fd, 3));
    ZT_EQ(stats(c).hits, st.hits + 1);
    zcq_bcache_put(c, get_ok(c, FID, fd, 4));
    ZT_EQ(stats(c).misses, st.misses + 1);
    /* The pinned block is out of the table but intact for its holder. */
    b = get_ok(c, FID, fd, 5);
    ZT_ASSERT(b != held);
    ZT_EQ(stats(c).misses, st.misses + 2);
    check_block(held, FID, 5, BS, FILE_SIZE);
    check_block(b, FID, 5, BS, FILE_SIZE);
    zcq_bcache_put(c, held);
    zcq_bcache_put(c, b);
    zcq_bcache_put(c, get_ok(c, FID, fd, 5));
    ZT_EQ(stats(c).misses, st.misses + 2);

    /* Everything of FID, nothing of FID + 1. */
    st = stats(c);
    zcq_bcache_forget(c, FID, 0);
    for (uint64_t i = 0; i < 3; i++)
        zcq_bcache_put(c, get_ok(c, FID + 1, fd, i));
    ZT_EQ(stats(c).hits, st.hits + 3);
    zcq_bcache_put(c, get_ok(c, FID, fd, 0));
    ZT_EQ(stats(c).misses, st.misses + 1);
    ZT_EQ(stats(c).evictions, 0);
    zcq_bcache_free(c);

    /* Forgotten blocks are reused, not leaked: a full cache forgets all and fills again. */
    c = new_cache(4, BS);
    for (uint64_t i = 0; i < 4; i++)
        zcq_bcache_put(c, get_ok(c, FID, fd, i));
    held = get_ok(c, FID, fd, 0);
    zcq_bcache_forget(c, FID, 0);
    for (uint64_t i = 4; i < 7; i++)
        zcq_bcache_put(c, get_ok(c, FID, fd, i));
    ZT_EQ(stats(c).evictions, 0);
    b = get_ok(c, FID, fd, 7); /* evicts one of 4..6 */
    ZT_EQ(stats(c).evictions, 1);
    zcq_bcache_put(c, b);
    zcq_bcache_put(c, held);
    zcq_bcache_free(c);
    close(fd);
}

static void t_read_error(void)
{
    int fd = test_file();
    int dir = open(zt_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), closed;
    struct zcq_bcache *c = new_cache(2, BS);
    struct zcq_bblock *b0, *b1, *b = (struct zcq_bblock *)1;
    struct zcq_bcache_stats st;

    ZT_OK(dir);
    /* Opened after dir, so no later open takes its number. */
    closed = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ZT_OK(closed);
    ZT_OK(close(closed));
    for (int i = 0; i < 10; i++) {
        ZT_EQ(zcq_bcache_get(c, FID, closed, (uint64_t)i, &b), -EBADF);
        ZT_ASSERT(b == NULL);
        ZT_EQ(zcq_bcache_get(c, FID, dir, 0, &b), -EISDIR);
        ZT_ASSERT(b == NULL);
    }
    st = stats(c);
    ZT_EQ(st.misses, 20);
    ZT_EQ(st.reads, 20);
    ZT_EQ(st.hits, 0);
    ZT_EQ(st.bytes_read, 0);
    /* Not cached, nothing leaked: the same blocks read fine from the file, both pinned. */
    b0 = get_ok(c, FID, fd, 0);
    b1 = get_ok(c, FID, fd, 1);
    check_block(b0, FID, 0, BS, FILE_SIZE);
    check_block(b1, FID, 1, BS, FILE_SIZE);
    zcq_bcache_put(c, b0);
    zcq_bcache_put(c, b1);
    ZT_EQ(stats(c).evictions, 0);
    ZT_EQ(zcq_bcache_get(c, FID, fd, UINT64_MAX / 2, &b), -EINVAL);
    zcq_bcache_free(c);
    close(dir);
    close(fd);
}

/* --- Threads --------------------------------------------------------------------------- */

#define T_BLOCKS0  8   /* the file's size when the test starts, in blocks */
#define T_APPENDS  300 /* whole blocks the appender adds */
#define T_MIN_GETS 3000

static struct {
    struct zcq_bcache *c;
    int rfd, wfd;
    uint64_t published; /* blocks in the file and the cache (atomic) */
    int done;           /* the appender finished (atomic) */
    uint64_t gets[2];
} th;

static void *appender_main(void *arg)
{
    void *buf;

    (void)arg;
    ZT_EQ(posix_memalign(&buf, BS, BS), 0);
    for (uint64_t n = T_BLOCKS0; n < T_BLOCKS0 + T_APPENDS; n++) {
        fill(buf, n * BS, BS);
        ZT_EQ(pwrite(th.wfd, buf, BS, (off_t)(n * BS)), BS);
        zcq_bcache_write(th.c, FID, n * BS, buf, BS, 1);
        __atomic_store_n(&th.published, n + 1, __ATOMIC_RELEASE);
    }
    free(buf);
    __atomic_store_n(&th.done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Checks b (valid read once: it may grow while pinned); must_be_full when published before
 * the get. */
static void check_shared(const struct zcq_bblock *b, uint64_t block_no, int must_be_full)
{
    uint32_t valid = __atomic_load_n(&b->valid, __ATOMIC_ACQUIRE);

    ZT_EQ(b->block_no, block_no);
    if (must_be_full)
        ZT_EQ(valid, BS);
    ZT_ASSERT(valid <= BS);
    for (uint32_t i = 0; i < valid; i++) {
        if (((const uint8_t *)b->data)[i] != pat(block_no * BS + i))
            zt_fail(__FILE__, __LINE__, "block %llu byte %u of %u differs",
                    (unsigned long long)block_no, i, valid);
    }
}

static void *reader_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t x = 0x2545f4914f6cdd1dull * (uint64_t)(id + 1), gets = 0;

    while (gets < T_MIN_GETS || !__atomic_load_n(&th.done, __ATOMIC_ACQUIRE)) {
        uint64_t pub = __atomic_load_n(&th.published, __ATOMIC_ACQUIRE), k[2];
        struct zcq_bblock *b[2];
        int two;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Mostly the tail, where readers and the appender meet; sometimes anywhere. */
        if (x % 4 == 0)
            k[0] = (x >> 8) % (pub + 2);
        else
            k[0] = pub - 2 + (x >> 8) % 4;
        k[1] = x & 0x100 ? k[0] : k[0] + 1;
        two = (x & 0x30) == 0; /* pin two at once (at most 2 x 2 = the cache's 4) */
        for (int i = 0; i <= two; i++) {
            ZT_EQ(zcq_bcache_get(th.c, FID, th.rfd, k[i], &b[i]), 0);
            check_shared(b[i], k[i], k[i] < pub);
            gets++;
        }
        for (int i = 0; i <= two; i++)
            zcq_bcache_put(th.c, b[i]);
    }
    th.gets[id] = gets;
    return NULL;
}

static void t_threads(void)
{
    char path[4200];
    pthread_t t[3];
    struct zcq_bcache_stats st;

    make_file(path, sizeof(path), T_BLOCKS0 * BS);
    th.rfd = open_direct(path, O_RDONLY);
    th.wfd = open_direct(path, O_WRONLY);
    th.c = new_cache(4, BS);
    th.published = T_BLOCKS0;
    ZT_EQ(pthread_create(&t[0], NULL, reader_main, (void *)(intptr_t)0), 0);
    ZT_EQ(pthread_create(&t[1], NULL, reader_main, (void *)(intptr_t)1), 0);
    ZT_EQ(pthread_create(&t[2], NULL, appender_main, NULL), 0);
    for (int i = 0; i < 3; i++)
        ZT_EQ(pthread_join(t[i], NULL), 0);
    st = stats(th.c);
    ZT_EQ(st.hits + st.misses, th.gets[0] + th.gets[1]);
    ZT_ASSERT(st.reads >= st.misses);
    ZT_ASSERT(st.hits > 0 && st.misses > 0);
    printf("gets %llu: hits %llu, misses %llu, reads %llu, evictions %llu\n",
           (unsigned long long)(th.gets[0] + th.gets[1]), (unsigned long long)st.hits,
           (unsigned long long)st.misses, (unsigned long long)st.reads,
           (unsigned long long)st.evictions);
    zcq_bcache_free(th.c);
    close(th.rfd);
    close(th.wfd);
}

static const struct zcq_test tests[] = {
    {"args", t_args, 0},
    {"content_and_counters", t_content, 0},
    {"short_block_released", t_short_block_released, 0},
    {"lru_eviction", t_lru_eviction, 0},
    {"pinned_not_evicted", t_pinned_not_evicted, 0},
    {"enobufs_when_all_pinned", t_enobufs, 0},
    {"write_updates_cached", t_write_updates, 0},
    {"write_insert", t_write_insert, 0},
    {"write_insert_evicts", t_write_insert_evicts, 0},
    {"write_while_loading_rereads", t_write_while_loading, 0},
    {"concurrent_miss_one_read", t_concurrent_miss, 0},
    {"forget", t_forget, 0},
    {"read_error", t_read_error, 0},
    {"threads_append_and_read", t_threads, 120},
};

ZT_MAIN(tests)
