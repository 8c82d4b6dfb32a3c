/* The Direct I/O block cache; see bcache.h. */
#include "store/bcache.h"

#include "io/sys.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>

enum { LOADING, READY, FAILED };

/*
 * Every block allocated is in exactly one of these places:
 *   - the table and the LRU list: hashed, unpinned, ready;
 *   - the table alone: hashed and pinned (loading or ready);
 *   - nowhere: detached (forgotten, or its read failed) and still pinned, freed at its last put;
 *   - the free list (through hash_next): detached and unpinned, memory kept for reuse.
 * The free list and nalloc together keep the memory within max_blocks however blocks come and
 * go, so a forget never lets the cache grow past its capacity.
 */
struct zcq_bcache {
    pthread_mutex_t mu;
    pthread_cond_t loaded; /* a read finished (any block: waiters recheck their own) */
    size_t block_size;
    size_t max_blocks, nalloc;
    struct zcq_bblock **table;
    size_t mask;                  /* table size - 1 */
    struct zcq_bblock *lru, *mru; /* unpinned blocks, least recently used first */
    struct zcq_bblock *free_list; /* detached, unpinned */
    unsigned char *arena;         /* max_blocks * block_size, reserved at creation */
    struct zcq_bcache_stats stats;
};

static size_t slot(const struct zcq_bcache *c, uint64_t file_id, uint64_t block_no)
{
    /* File ids are often segment base offsets: multiples of large numbers, so mix them. */
    uint64_t h = file_id * 0x9e3779b97f4a7c15ull + block_no;

    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return (size_t)h & c->mask;
}

static struct zcq_bblock *lookup(struct zcq_bcache *c, uint64_t file_id, uint64_t block_no)
{
    struct zcq_bblock *b = c->table[slot(c, file_id, block_no)];

    while (b && (b->file_id != file_id || b->block_no != block_no))
        b = b->hash_next;
    return b;
}

static void hash_insert(struct zcq_bcache *c, struct zcq_bblock *b)
{
    struct zcq_bblock **head = &c->table[slot(c, b->file_id, b->block_no)];

    b->hash_next = *head;
    *head = b;
    b->hashed = 1;
}

static void hash_remove(struct zcq_bcache *c, struct zcq_bblock *b)
{
    struct zcq_bblock **p = &c->table[slot(c, b->file_id, b->block_no)];

    while (*p != b)
        p = &(*p)->hash_next;
    *p = b->hash_next;
    b->hash_next = NULL;
    b->hashed = 0;
}

static void lru_remove(struct zcq_bcache *c, struct zcq_bblock *b)
{
    if (b->lru_prev)
        b->lru_prev->lru_next = b->lru_next;
    else
        c->lru = b->lru_next;
    if (b->lru_next)
        b->lru_next->lru_prev = b->lru_prev;
    else
        c->mru = b->lru_prev;
    b->lru_prev = b->lru_next = NULL;
}

static void lru_push_mru(struct zcq_bcache *c, struct zcq_bblock *b)
{
    b->lru_next = NULL;
    b->lru_prev = c->mru;
    if (c->mru)
        c->mru->lru_next = b;
    else
        c->lru = b;
    c->mru = b;
}

static void to_free_list(struct zcq_bcache *c, struct zcq_bblock *b)
{
    b->hash_next = c->free_list;
    c->free_list = b;
}

/* Take b out of the table. Its holders keep it; the last put moves it to the free list. */
static void detach(struct zcq_bcache *c, struct zcq_bblock *b)
{
    hash_remove(c, b);
    if (b->pins == 0) {
        lru_remove(c, b);
        to_free_list(c, b);
    }
}

/* A block to fill, out of the table and every list: a free one, a new one while under the
 * capacity, else the least recently used unpinned one. NULL with *err set when none. */
static struct zcq_bblock *take(struct zcq_bcache *c, int *err)
{
    struct zcq_bblock *b = c->free_list;

    if (b) {
        c->free_list = b->hash_next;
        b->hash_next = NULL;
        return b;
    }
    if (c->nalloc < c->max_blocks) {
        b = calloc(1, sizeof(*b));
        if (!b) {
            *err = -ENOMEM;
            return NULL;
        }
        /* Block i is arena slot i: page aligned, as O_DIRECT needs, and its pages cost memory
         * only once touched, so a partition whose tail fills a tenth of a block holds that,
         * not the whole block (docs/storage.md, memory). */
        b->data = c->arena + c->nalloc * c->block_size;
        c->nalloc++;
        return b;
    }
    b = c->lru;
    if (!b) {
        *err = -ENOBUFS;
        return NULL;
    }
    lru_remove(c, b);
    hash_remove(c, b);
    c->stats.evictions++;
    return b;
}

static void setup(struct zcq_bblock *b, uint64_t file_id, uint64_t block_no, int state)
{
    b->file_id = file_id;
    b->block_no = block_no;
    b->valid = 0;
    b->pins = 0;
    b->state = state;
    b->err = 0;
    b->reread = 0;
}

int zcq_bcache_new(struct zcq_bcache **out, size_t capacity, size_t block_size)
{
    struct zcq_bcache *c;
    size_t n = 1;
    int rc;

    *out = NULL;
    /* valid is 32 bits wide, so a block holds at most 2 GiB. */
    if (block_size < 4096 || (block_size & (block_size - 1)) || block_size > (1u << 31) ||
        capacity / block_size < 2)
        return -EINVAL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->block_size = block_size;
    c->max_blocks = capacity / block_size;
    while (n < c->max_blocks)
        n <<= 1;
    c->mask = n - 1;
    c->table = calloc(n, sizeof(*c->table));
    if (!c->table) {
        rc = -ENOMEM;
        goto fail;
    }
    /* One reservation for every block the cache may hold: no per-block allocation, no heap
     * fragmentation, and untouched blocks are address space only (MAP_NORESERVE). */
    c->arena = mmap(NULL, c->max_blocks * block_size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (c->arena == MAP_FAILED) {
        c->arena = NULL;
        rc = -ENOMEM;
        goto fail;
    }
    rc = -pthread_mutex_init(&c->mu, NULL);
    if (rc)
        goto fail;
    rc = -pthread_cond_init(&c->loaded, NULL);
    if (rc) {
        pthread_mutex_destroy(&c->mu);
        goto fail;
    }
    *out = c;
    return 0;

fail:
    if (c->arena)
        munmap(c->arena, c->max_blocks * block_size);
    free(c->table);
    free(c);
    return rc;
}

static void free_block(struct zcq_bblock *b)
{
    free(b); /* its data is arena memory */
}

void zcq_bcache_free(struct zcq_bcache *c)
{
    size_t freed = 0;

    if (!c)
        return;
    for (size_t i = 0; i <= c->mask; i++) {
        struct zcq_bblock *b = c->table[i], *next;

        for (; b; b = next) {
            next = b->hash_next;
            assert(b->pins == 0);
            free_block(b);
            freed++;
        }
    }
    while (c->free_list) {
        struct zcq_bblock *b = c->free_list;

        c->free_list = b->hash_next;
        free_block(b);
        freed++;
    }
    /* The rest are detached blocks somebody still holds: a caller's bug, and a leak. */
    assert(freed == c->nalloc);
    (void)freed;
    pthread_cond_destroy(&c->loaded);
    pthread_mutex_destroy(&c->mu);
    munmap(c->arena, c->max_blocks * c->block_size);
    free(c->table);
    free(c);
}

size_t zcq_bcache_block_size(const struct zcq_bcache *c)
{
    return c->block_size;
}

/* Drop one pin; caller holds mu. */
static void unpin(struct zcq_bcache *c, struct zcq_bblock *b)
{
    assert(b->pins > 0);
    if (--b->pins)
        return;
    if (b->hashed)
        lru_push_mru(c, b);
    else
        to_free_list(c, b);
}

/* Read b from fd into its memory, without the mutex (held on entry and on return); b is pinned
 * and loading, so nothing else touches its memory. Returns the bytes read or -errno. */
static ssize_t load(struct zcq_bcache *c, struct zcq_bblock *b, int fd)
{
    off_t off = (off_t)(b->block_no * c->block_size);
    ssize_t r;
    int err;

    do {
        /* A write to this block while it loads sets reread: the read may have seen the file
         * before that write's bytes landed, and the write could not copy them into memory the
         * read was filling. Reading again after the write is the only way to have them. */
        b->reread = 0;
        pthread_mutex_unlock(&c->mu);
        do {
            r = zcq_sys.pread(fd, b->data, c->block_size, off);
        } while (r < 0 && errno == EINTR);
        err = errno;
        /* An O_DIRECT read pins (faults in) every page of its buffer, whatever it reads: a
         * block at a file's end, read short, would keep block_size bytes resident for a few.
         * Give the pages past what was read back (the arena is anonymous: they read as zeros
         * if touched again; the block is still ours alone). Restarting a direct-mode broker
         * reads each partition's last block: 1,000 partitions made its RSS the whole 64 MiB
         * cache. */
        if (r >= 0 && (size_t)r < c->block_size) {
            size_t keep = ((size_t)r + 4095) & ~(size_t)4095;

            if (keep < c->block_size)
                (void)madvise((char *)b->data + keep, c->block_size - keep, MADV_DONTNEED);
        }
        pthread_mutex_lock(&c->mu);
        c->stats.reads++;
        if (r < 0)
            return -err;
        c->stats.bytes_read += (uint64_t)r;
    } while (b->reread && b->hashed);
    return r;
}

int zcq_bcache_get(struct zcq_bcache *c, uint64_t file_id, int fd, uint64_t block_no,
                   struct zcq_bblock **out)
{
    struct zcq_bblock *b;
    ssize_t r;
    int rc = 0;

    *out = NULL;
    if (block_no > (uint64_t)INT64_MAX / c->block_size - 1)
        return -EINVAL; /* its offset would not fit an off_t */
    pthread_mutex_lock(&c->mu);
    b = lookup(c, file_id, block_no);
    if (b) {
        c->stats.hits++;
        if (b->pins++ == 0 && b->state == READY)
            lru_remove(c, b);
        /* Another thread is reading it: wait for that read rather than issue a second. */
        while (b->state == LOADING)
            pthread_cond_wait(&c->loaded, &c->mu);
        if (b->state == FAILED) {
            rc = b->err;
            unpin(c, b);
            goto out;
        }
        *out = b;
        goto out;
    }
    c->stats.misses++;
    b = take(c, &rc);
    if (!b)
        goto out;
    setup(b, file_id, block_no, LOADING);
    b->pins = 1;
    hash_insert(c, b);
    r = load(c, b, fd);
    if (r < 0) {
        /* Out of the table so the next get tries again; the waiters see the error. */
        b->state = FAILED;
        b->err = (int)r;
        if (b->hashed)
            hash_remove(c, b);
        rc = (int)r;
        unpin(c, b);
    } else {
        b->state = READY;
        b->valid = (uint32_t)r;
        *out = b;
    }
    pthread_cond_broadcast(&c->loaded);

out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int zcq_bcache_peek(struct zcq_bcache *c, uint64_t file_id, uint64_t block_no,
                    struct zcq_bblock **out)
{
    struct zcq_bblock *b;
    int rc = -EAGAIN;

    *out = NULL;
    pthread_mutex_lock(&c->mu);
    b = lookup(c, file_id, block_no);
    if (b && b->state == READY) {
        c->stats.hits++;
        if (b->pins++ == 0)
            lru_remove(c, b);
        *out = b;
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int zcq_bcache_get_for_write(struct zcq_bcache *c, uint64_t file_id, int fd, uint64_t block_no,
                             int has_data, struct zcq_bblock **out)
{
    struct zcq_bblock *b;
    int rc = 0;

    if (has_data)
        return zcq_bcache_get(c, file_id, fd, block_no, out);
    *out = NULL;
    pthread_mutex_lock(&c->mu);
    b = lookup(c, file_id, block_no);
    if (b) {
        /* Past the file's end nobody reads it from disk (readers stop at the hwm), but a
         * stale entry may be loading; wait, then take it as it is. */
        if (b->pins++ == 0 && b->state == READY)
            lru_remove(c, b);
        while (b->state == LOADING)
            pthread_cond_wait(&c->loaded, &c->mu);
        if (b->state == FAILED) {
            rc = b->err;
            unpin(c, b);
            goto out;
        }
        *out = b;
        goto out;
    }
    b = take(c, &rc);
    if (!b)
        goto out;
    setup(b, file_id, block_no, READY);
    b->pins = 1;
    hash_insert(c, b);
    *out = b;
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void zcq_bcache_extend(struct zcq_bcache *c, struct zcq_bblock *b, size_t upto)
{
    (void)c;
    /* Holders read valid without the mutex: release it after the bytes it covers. */
    if (upto > b->valid)
        __atomic_store_n(&b->valid, (uint32_t)upto, __ATOMIC_RELEASE);
}

void zcq_bcache_put(struct zcq_bcache *c, struct zcq_bblock *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&c->mu);
    unpin(c, b);
    pthread_mutex_unlock(&c->mu);
}

/* Copy n bytes of new file content into a cached, ready block b at in-block offset in. */
static void update(struct zcq_bcache *c, struct zcq_bblock *b, size_t in, const char *src, size_t n)
{
    size_t valid = b->valid, below = 0;

    if (in > valid) {
        /* Bytes between valid and in are unknown to the cache: this block can no longer say
         * where the file's content ends, so let the next get read it. */
        detach(c, b);
        return;
    }
    if (in < valid) {
        /* Bytes the block already holds. Holders of a pinned block may be reading them, so
         * store only what differs: a block read from disk after the append landed (but before
         * this call) has them already, and rewriting equal bytes would still race with those
         * readers. What differs is the zero padding a direct-mode log writes past its end. */
        below = valid - in < n ? valid - in : n;
        if (memcmp((char *)b->data + in, src, below) != 0)
            memcpy((char *)b->data + in, src, below);
    }
    memcpy((char *)b->data + in + below, src + below, n - below);
    if (in + n > valid) {
        /* Holders read valid without the mutex: release it after the bytes it covers. */
        __atomic_store_n(&b->valid, (uint32_t)(in + n), __ATOMIC_RELEASE);
    }
}

void zcq_bcache_write(struct zcq_bcache *c, uint64_t file_id, uint64_t off, const void *data,
                      size_t len, int insert)
{
    const char *src = data;
    uint64_t pos = off, end = off + len;
    size_t bs = c->block_size;

    if (end < off)
        end = UINT64_MAX; /* cannot happen for a real file; do not wrap */
    pthread_mutex_lock(&c->mu);
    while (pos < end) {
        uint64_t block_no = pos / bs;
        size_t in = (size_t)(pos % bs);
        size_t n = end - pos < bs - in ? (size_t)(end - pos) : bs - in;
        struct zcq_bblock *b = lookup(c, file_id, block_no);
        int err;

        if (b && b->state == LOADING) {
            b->reread = 1;
        } else if (b) {
            update(c, b, in, src + (pos - off), n);
        } else if (insert && in == 0) {
            /* Only a block the write covers from its first byte: the bytes before a later
             * in-block offset are unknown here. The write is an append, so the block's
             * content ends where the write does. */
            b = take(c, &err);
            if (b) {
                setup(b, file_id, block_no, READY);
                memcpy(b->data, src + (pos - off), n);
                b->valid = (uint32_t)n;
                hash_insert(c, b);
                lru_push_mru(c, b);
            }
        }
        pos += n;
    }
    pthread_mutex_unlock(&c->mu);
}

void zcq_bcache_forget(struct zcq_bcache *c, uint64_t file_id, uint64_t from)
{
    /* The block holding `from` goes too: its bytes at and after `from` are no longer the
     * file's. */
    uint64_t first = from / c->block_size;

    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i <= c->mask; i++) {
        struct zcq_bblock *b = c->table[i], *next;

        for (; b; b = next) {
            next = b->hash_next;
            if (b->file_id == file_id && b->block_no >= first)
                detach(c, b);
        }
    }
    pthread_mutex_unlock(&c->mu);
}

void zcq_bcache_stats(struct zcq_bcache *c, struct zcq_bcache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    pthread_mutex_unlock(&c->mu);
}
