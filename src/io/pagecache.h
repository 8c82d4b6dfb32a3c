/*
 * Page-cache probes: how much of a file range is resident, and dropping a file's pages so the
 * next read goes to the disk ("cold cache").
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

/* Write back and drop every cached page of fd: fdatasync(), then
 * posix_fadvise(POSIX_FADV_DONTNEED). Pages another process has mapped or locked stay.
 * Errors: those of fdatasync() and posix_fadvise(). */
int zcq_pc_drop(int fd);

/* Residency as a percentage (0..100) of the whole file; -errno on failure. */
int zcq_pc_percent(int fd);

#endif
