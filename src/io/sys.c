/* The real system calls behind zcq_sys; see sys.h. */
#include "io/sys.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t real_splice(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t n,
                           unsigned int flags)
{
    /* glibc declares splice with loff_t; off_t is the same 64-bit type here (LFS). */
    return splice(fd_in, off_in, fd_out, off_out, n, flags);
}

static const struct zcq_sys zcq_sys_real = {
    .pread = pread,
    .write = write,
    .send = send,
    .sendfile = sendfile,
    .splice = real_splice,
    .pwrite = pwrite,
    .pwritev = pwritev,
    .fdatasync = fdatasync,
    .fsync = fsync,
    .ftruncate = ftruncate,
};

struct zcq_sys zcq_sys = {
    .pread = pread,
    .write = write,
    .send = send,
    .sendfile = sendfile,
    .splice = real_splice,
    .pwrite = pwrite,
    .pwritev = pwritev,
    .fdatasync = fdatasync,
    .fsync = fsync,
    .ftruncate = ftruncate,
};

void zcq_sys_restore(void)
{
    zcq_sys = zcq_sys_real;
}
