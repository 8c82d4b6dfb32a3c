/*
 * Page-cache probes: how much of a file range is resident, loading a range so that reading it
 * will not wait for the disk, and dropping a file's pages so the next read goes to the disk
 * ("cold cache").
 *
 * Contract: no function here keeps a mapping or an fd; errors are -errno.
 */
#ifndef ZCQ_IO_PAGECACHE_H
#define ZCQ_IO_PAGECACHE_H

#include <stddef.h>
#include <sys/types.h>

/* Count the resident pages of [off, off + len) with mincore(); the range is clipped to the
 * file. *resident and *total are in pages. Errors: -EBADF, -ENOMEM, -EINVAL. */
int zcq_pc_residency(int fd, off_t off, size_t len, size_t *resident, size_t *total);

/* Whether every page of [off, off + len) (clipped to the file) is in the page cache: 1 yes,
 * 0 no, -errno when it cannot tell. One cachestat(2) call on Linux 6.5+ (no mapping, cheap
 * enough for every fetch on an event loop); older kernels fall back to mmap + mincore. */
int zcq_pc_resident(int fd, off_t off, size_t len);

/* Bring [off, off + len) into the page cache and wait until every page of it can be read
 * without waiting for the disk, copying nothing: readahead(2) starts the reads for the whole
 * range at once and returns while they are in flight (the pages are then in the cache, so
 * zcq_pc_resident() already says 1, but locked: a sendfile() of them would still wait), then
 * splice(2) through a pipe into /dev/null waits for each page to be read. Where splice is not
 * possible (a file system without it), the range is read into a buffer instead. Blocks: call
 * it off the event loop. Stops early at the end of the file. Errors: -EIO and the other
 * errors of splice/pread, -EMFILE or -ENFILE (the pipe), -ENOMEM. */
int zcq_pc_load(int fd, off_t off, size_t len);

/* Write back and drop every cached page of fd: fdatasync(), then
 * posix_fadvise(POSIX_FADV_DONTNEED). Pages another process has mapped or locked stay.
 * Errors: those of fdatasync() and posix_fadvise(). */
int zcq_pc_drop(int fd);

/* Residency as a percentage (0..100) of the whole file; -errno on failure. */
int zcq_pc_percent(int fd);

#endif
