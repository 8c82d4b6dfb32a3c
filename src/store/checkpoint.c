/* Atomically replaced checkpoint files; see checkpoint.h. */
#include "io/sys.h"
#include "store/checkpoint.h"
#include "store/crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int zcq_fsync_dir(int dirfd)
{
    return zcq_sys.fsync(dirfd) < 0 ? -errno : 0;
}

static int checkpoint_write(int dirfd, const char *name, const int64_t *v, unsigned n,
                            bool sync_dir)
{
    char line[512], tmp[256], out[600];
    int len = snprintf(line, sizeof(line), "zcq-checkpoint 1 %u", n);
    int fd, rc = 0, olen;
    size_t done = 0;

    if (n > ZCQ_CHECKPOINT_MAX)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++)
        len += snprintf(line + len, sizeof(line) - (size_t)len, " %" PRId64, v[i]);
    olen = snprintf(out, sizeof(out), "%s %08" PRIx32 "\n", line, zcq_crc32c(0, line, (size_t)len));
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    while (done < (size_t)olen) {
        ssize_t w = write(fd, out + done, (size_t)olen - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)w;
    }
    if (!rc && zcq_sys.fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && !rc)
        rc = -errno;
    if (!rc && renameat(dirfd, tmp, dirfd, name) < 0)
        rc = -errno;
    if (!rc && sync_dir)
        rc = zcq_fsync_dir(dirfd);
    if (rc)
        unlinkat(dirfd, tmp, 0);
    return rc;
}

int zcq_checkpoint_write(int dirfd, const char *name, const int64_t *v, unsigned n)
{
    return checkpoint_write(dirfd, name, v, n, true);
}

int zcq_checkpoint_stage(int dirfd, const char *name, const int64_t *v, unsigned n)
{
    return checkpoint_write(dirfd, name, v, n, false);
}

int zcq_checkpoint_read(int dirfd, const char *name, int64_t *v, unsigned max)
{
    char buf[600], *p, *end;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    unsigned count, ver;
    uint32_t crc;
    size_t body;

    if (fd < 0)
        return errno == ENOENT ? -ENOENT : -errno;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EBADMSG;
    buf[n] = '\0';
    /* The CRC is the last field: "<body> xxxxxxxx\n". */
    end = strrchr(buf, ' ');
    if (!end || buf[n - 1] != '\n')
        return -EBADMSG;
    body = (size_t)(end - buf);
    crc = (uint32_t)strtoul(end + 1, &p, 16);
    if (p != buf + n - 1 || crc != zcq_crc32c(0, buf, body))
        return -EBADMSG;
    buf[body] = '\0';
    if (sscanf(buf, "zcq-checkpoint %u %u", &ver, &count) != 2 || ver != 1 || count > max)
        return -EBADMSG;
    p = buf;
    for (int skip = 0; skip < 3; skip++) {
        p = strchr(p, ' ');
        if (!p && count)
            return -EBADMSG;
        if (p)
            p++;
    }
    for (unsigned i = 0; i < count; i++) {
        char *e;

        errno = 0;
        v[i] = strtoll(p, &e, 10);
        if (errno || e == p)
            return -EBADMSG;
        p = e;
    }
    return (int)count;
}
