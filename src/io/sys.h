/*
 * zcq_sys: the system calls the I/O layer makes, reached through a table of function pointers
 * so that tests can inject failures (EIO on a read, a short write, ENOSPC) without a special
 * kernel. Production code never changes the table; tests override one entry, run, and call
 * zcq_sys_restore(). Every wrapper keeps the libc contract (-1 and errno).
 */
#ifndef ZCQ_IO_SYS_H
#define ZCQ_IO_SYS_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct zcq_sys {
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    ssize_t (*write)(int fd, const void *buf, size_t n);
    ssize_t (*send)(int fd, const void *buf, size_t n, int flags);
    ssize_t (*sendfile)(int out_fd, int in_fd, off_t *off, size_t n);
    ssize_t (*splice)(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t n,
                      unsigned int flags);
    /* storage (src/store) */
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    ssize_t (*pwritev)(int fd, const struct iovec *iov, int n, off_t off);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*ftruncate)(int fd, off_t len);
};

extern struct zcq_sys zcq_sys;

/* Put every entry back to the real system call. */
void zcq_sys_restore(void);

#endif
