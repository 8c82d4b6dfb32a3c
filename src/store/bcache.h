/*
 * zcq's own block cache for Direct I/O mode: a bounded set of aligned blocks of log files,
 * read with O_DIRECT on a miss and evicted least-recently-used first (CLOCK-free LRU list),
 * so a log in direct mode never touches the page cache and readers get memory chunks.
 *
 * A block is identified by (file id, block number); the file id is a number the caller makes
 * unique per file for the cache's lifetime (a segment's base offset and a log's id, say).
 * Blocks are block_size bytes (a multiple of 4096), aligned for O_DIRECT. Their memory is one
 * reservation of capacity bytes made at creation (anonymous, MAP_NORESERVE): a block's pages
 * cost memory once touched, so the cache's footprint is what it holds, up to capacity.
 *
 * Contract
 *   - zcq_bcache_get() returns a pinned block: its memory stays valid and in place until
 *     zcq_bcache_put(); a pinned block is never evicted. When every block is pinned, get fails
 *     with -ENOBUFS rather than exceed the capacity.
 *   - A block's valid bytes are [0, valid); a block read at the end of a file is short.
 *   - zcq_bcache_write() keeps cached blocks coherent with appends (write-through: the new
 *     bytes are copied into cached blocks and their valid length grows). With insert set it
 *     also caches blocks it did not have (so tail readers hit memory).
 *   - Thread-safe: one mutex per cache; the O_DIRECT read of a miss happens outside it.
 * Errors: -ENOMEM, -ENOBUFS, -EIO and the read's -errno.
 */
#ifndef ZCQ_STORE_BCACHE_H
#define ZCQ_STORE_BCACHE_H

#include <stddef.h>
#include <stdint.h>

struct zcq_bcache;

struct zcq_bblock {
    uint64_t file_id;
    uint64_t block_no;
    void *data;     /* block_size bytes, aligned */
    uint32_t valid; /* bytes of data that hold file content */
    /* private to bcache.c below */
    unsigned pins;
    struct zcq_bblock *lru_prev, *lru_next, *hash_next;
    int state;            /* loading, ready, failed */
    int err;              /* the read's -errno, once failed */
    unsigned char hashed; /* in the table; a detached block is freed at its last put */
    unsigned char reread; /* written to while loading: the read may predate the write */
};

struct zcq_bcache_stats {
    uint64_t hits, misses, evictions, reads, bytes_read;
};

/* capacity in bytes (at least 2 blocks), block_size a power of two >= 4096. */
int zcq_bcache_new(struct zcq_bcache **out, size_t capacity, size_t block_size);
void zcq_bcache_free(struct zcq_bcache *c); /* every block must be unpinned */

size_t zcq_bcache_block_size(const struct zcq_bcache *c);

/* The block block_no of file file_id, read from fd (opened with O_DIRECT) on a miss.
 * *out is pinned. */
int zcq_bcache_get(struct zcq_bcache *c, uint64_t file_id, int fd, uint64_t block_no,
                   struct zcq_bblock **out);
void zcq_bcache_put(struct zcq_bcache *c, struct zcq_bblock *b);

/* The block, pinned, only if it is cached and loaded: -EAGAIN otherwise (never reads). */
int zcq_bcache_peek(struct zcq_bcache *c, uint64_t file_id, uint64_t block_no,
                    struct zcq_bblock **out);

/* For a direct-mode append, which writes from cache blocks: block block_no of file_id, pinned.
 * With has_data the block holds bytes of the file already (it is read from fd on a miss, as
 * zcq_bcache_get does); without, it lies wholly past the file's end and a missing one is made
 * empty (valid 0) with no I/O. The caller writes past the valid bytes only, then publishes
 * them with zcq_bcache_extend(). */
int zcq_bcache_get_for_write(struct zcq_bcache *c, uint64_t file_id, int fd, uint64_t block_no,
                             int has_data, struct zcq_bblock **out);

/* The first upto bytes of pinned block b now hold file content (valid grows, never shrinks). */
void zcq_bcache_extend(struct zcq_bcache *c, struct zcq_bblock *b, size_t upto);

/* The file's bytes [off, off + len) are now data: update cached blocks; with insert, cache
 * the blocks not present (evicting unpinned ones). Never fails: a block it cannot cache is
 * simply not cached. */
void zcq_bcache_write(struct zcq_bcache *c, uint64_t file_id, uint64_t off, const void *data,
                      size_t len, int insert);

/* Forget every block of file_id at or after byte offset `from` (truncation, deletion).
 * Pinned blocks are detached: they stay valid for their holders and are freed at put. */
void zcq_bcache_forget(struct zcq_bcache *c, uint64_t file_id, uint64_t from);

void zcq_bcache_stats(struct zcq_bcache *c, struct zcq_bcache_stats *out);

#endif
