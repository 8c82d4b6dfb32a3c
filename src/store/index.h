/*
 * Sparse segment indexes, preallocated and mmap'd (as Kafka's): the offset index maps a
 * batch's offset (relative to the segment's base) to its file position; the time index maps
 * a timestamp to the relative offset of the first batch at which the segment's max timestamp
 * reached it. One entry per index.interval.bytes of log.
 *
 * On disk (host byte order; zcq's own format, derived data, rebuilt whenever in doubt):
 *   .index      { uint32 rel_offset; uint32 position; }           8 bytes an entry
 *   .timeindex  { int64 timestamp; uint32 rel_offset; } packed   12 bytes an entry
 * While its segment is active an index file is preallocated (fallocate, so that stores into the
 * mapping never meet ENOSPC as a SIGBUS) in steps: one page first, then doubling, up to
 * segment.index.bytes, each step taken before the entry that needs it is written (an append
 * that cannot grow its index fails with ENOSPC before it writes anything). A partition with
 * a few records so holds a page of index on disk, not segment.index.bytes (10 MiB by default,
 * twice per partition: 200 GB for 10,000 partitions). When its segment rolls or the log closes
 * cleanly the file is trimmed to its entries: a trimmed file's size tells its entry count.
 *
 * No file descriptor is kept: the mapping is all an index needs between changes, so a partition
 * holds one descriptor (its log file), not four, and 10,000 partitions fit a 20,000-file limit.
 * Growing, trimming and syncing reopen the file by its path. The mapping of an active index is
 * MADV_RANDOM: a fault in it reads one page, where the default readahead (read_ahead_kb: 8 MiB
 * on the project's machine) zero-filled megabytes of unwritten extents, on the event loop, at
 * every partition's first append (docs/storage.md, "Indexes").
 *
 * Contract: an index is owned by one segment; callers hold the log's mutex. Errors: -errno.
 */
#ifndef ZCQ_STORE_INDEX_H
#define ZCQ_STORE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZCQ_OFFSET_ENTRY 8
#define ZCQ_TIME_ENTRY   12

struct zcq_index {
    unsigned char *map;
    size_t map_bytes; /* mapped and allocated length: entries may be added below it */
    size_t max_bytes; /* what it may grow to (whole entries); map_bytes once trimmed */
    uint32_t entries; /* valid entries */
    uint32_t entry;   /* entry size: ZCQ_OFFSET_ENTRY or ZCQ_TIME_ENTRY */
};

enum { ZCQ_INDEX_CREATE = 1, ZCQ_INDEX_PREALLOC = 2 };

/* Open path (ZCQ_INDEX_CREATE: create it, O_EXCL), map it and close the file. With
 * ZCQ_INDEX_PREALLOC it may grow to max_bytes (rounded down to whole entries), and its first
 * step is allocated now (or what the file already holds, up to max_bytes); without, only its
 * current length is mapped (a trimmed index of a rolled segment). An existing file's entries
 * are taken from its size, capped at what fits; check them with zcq_index_check_*(). */
int zcq_index_open(struct zcq_index *ix, const char *path, uint32_t entry, size_t max_bytes,
                   unsigned flags);

/* Re-map ix preallocated (prealloc) or trimmed to its entries (!prealloc, not synced: see
 * zcq_index_sync), keeping its entries. */
int zcq_index_resize(struct zcq_index *ix, const char *path, size_t max_bytes, bool prealloc);

/* Unmap; with trim, cut the file at path to its entries first and sync it (path may be NULL
 * without trim). */
int zcq_index_close(struct zcq_index *ix, const char *path, bool trim);

/* fdatasync the index file at path (through a descriptor of its own: dirty pages are the
 * file's, whichever descriptor syncs them). */
int zcq_index_sync(const char *path);

/* Full: not one more entry fits, even grown to max_bytes (the segment must roll). */
static inline bool zcq_index_full(const struct zcq_index *ix)
{
    return (size_t)(ix->entries + 1) * ix->entry > ix->max_bytes;
}

/* One more entry fits in what is allocated now. */
static inline bool zcq_index_room(const struct zcq_index *ix)
{
    return (size_t)(ix->entries + 1) * ix->entry <= ix->map_bytes;
}

/* Allocate the next step (doubling, at most max_bytes) so that one more entry fits; a no-op
 * when one already does. Errors: -ENOSPC (the index is full, or the disk), -errno; ix is
 * unchanged on failure. */
int zcq_index_grow(struct zcq_index *ix, const char *path);

/* Append an entry; the caller checked zcq_index_room(). */
void zcq_index_add_offset(struct zcq_index *ix, uint32_t rel, uint32_t pos);
void zcq_index_add_time(struct zcq_index *ix, int64_t ts, uint32_t rel);

/* Entry i. */
void zcq_index_offset_at(const struct zcq_index *ix, uint32_t i, uint32_t *rel, uint32_t *pos);
void zcq_index_time_at(const struct zcq_index *ix, uint32_t i, int64_t *ts, uint32_t *rel);

/* Position of the last entry with rel_offset <= rel (0 when none): where a scan for rel
 * starts. Binary search. */
uint32_t zcq_index_lookup(const struct zcq_index *ix, uint32_t rel, uint32_t *found_rel);

/* Relative offset of the last time entry with timestamp < ts (0 when none). */
uint32_t zcq_index_lookup_time(const struct zcq_index *ix, int64_t ts);

/* Drop entries with rel_offset >= rel (truncation). */
void zcq_index_truncate_offset(struct zcq_index *ix, uint32_t rel);
void zcq_index_truncate_time(struct zcq_index *ix, uint32_t rel);

/* Sanity check of a reopened index: entries strictly increasing, positions below log_size.
 * Returns true when usable. */
bool zcq_index_check_offset(const struct zcq_index *ix, uint64_t log_size);
bool zcq_index_check_time(const struct zcq_index *ix);

#endif
