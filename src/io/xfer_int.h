/*
 * Internals shared by the transfer strategies (xfer_*.c). Not for use outside src/io.
 *
 * Each strategy is a table of functions (struct zcq__xfer_ops). xfer.c owns the context's
 * lifetime, argument checks, the chunk cap and the destination cache; a strategy's file() and
 * mem() are called with 0 < len <= chunk_max and a prepared destination, and follow the
 * return contract of xfer.h.
 */
#ifndef ZCQ_IO_XFER_INT_H
#define ZCQ_IO_XFER_INT_H

#include "io/xfer.h"

#include <stdbool.h>

struct io_uring;

/* Zero-copy bookkeeping: a small ring of bounce buffers, each remembering the id of the last
 * MSG_ZEROCOPY send that references it; the kernel numbers a socket's zero-copy sends 0, 1, 2..
 * and reports completed ranges of ids on the socket's error queue. */
#define ZCQ__ZC_BUFS    4
#define ZCQ__ZC_RETIRED 8
struct zcq__zc {
    int fd;                         /* socket the ids below belong to, -1 none */
    uint32_t next_id;               /* id the kernel gives the next zero-copy send */
    uint32_t done;                  /* ids below this have completed */
    bool enabled;                   /* SO_ZEROCOPY set on fd */
    uint32_t buf_id[ZCQ__ZC_BUFS];  /* last send id referencing buffer i */
    bool buf_busy[ZCQ__ZC_BUFS];    /* buffer i referenced by an uncompleted send */
    unsigned next_buf;              /* round robin */
    void *bufs;                     /* ZCQ__ZC_BUFS * buf_size bytes */
    void *retired[ZCQ__ZC_RETIRED]; /* blocks still referenced by a forgotten socket */
    unsigned n_retired;
};

struct zcq_xfer {
    enum zcq_xfer_method method; /* asked for */
    enum zcq_xfer_method active; /* running; differs from method only for AUTO */
    bool auto_chosen;            /* bytes moved: AUTO no longer falls back */
    size_t chunk_max;
    size_t buf_size;
    struct zcq_xfer_stats st;
    char why[256];

    /* Destination cache, refreshed when the fd changes. */
    int dst_fd;
    bool dst_sock;     /* a socket: send() with MSG_NOSIGNAL instead of write() */
    bool dst_nonblock; /* O_NONBLOCK set */
    bool dst_full;     /* the last call stopped because the destination was full */
    bool dst_tcp;      /* AF_INET/AF_INET6 stream socket */

    void *buf; /* buf_size bytes, page aligned (copy, direct, uring) */

    /* splice: bytes already spliced from (pipe_src, ...) into the pipe, not yet delivered;
     * they are the source bytes that start at pipe_next. */
    int pipe_r, pipe_w;
    size_t pipe_len;
    int pipe_src;
    off_t pipe_next;

    /* direct: an O_DIRECT descriptor reopened from dio_src; dio_align is the required
     * alignment of offset, length and memory. */
    int dio_src, dio_fd;
    size_t dio_align;

    /* mmap: a read-only window [map_off, map_off + map_len) of map_src. */
    int map_src;
    void *map;
    off_t map_off;
    size_t map_len;

    /* uring: the ring, and the source size last seen (reads are clamped to it). */
    struct io_uring *ring;
    int size_src;
    off_t src_size;

    struct zcq__zc zc;
};

struct zcq__xfer_ops {
    const char *name;
    /* Fd-independent probe at open; fills x->why on failure. May be NULL. */
    int (*open)(struct zcq_xfer *x);
    ssize_t (*file)(struct zcq_xfer *x, int dst, int src, off_t off, size_t len);
    ssize_t (*mem)(struct zcq_xfer *x, int dst, const void *buf, size_t len);
    /* Drop in-flight and per-fd state (reset) ... */
    void (*reset)(struct zcq_xfer *x);
    /* ... and release everything (close). May be NULL. */
    void (*close)(struct zcq_xfer *x);
};

extern const struct zcq__xfer_ops zcq__xfer_copy_ops, zcq__xfer_mmap_ops, zcq__xfer_sendfile_ops,
    zcq__xfer_splice_ops, zcq__xfer_direct_ops, zcq__xfer_uring_ops, zcq__xfer_zerocopy_ops,
    zcq__xfer_cfr_ops;

/* Record a one-line cause in x->why and return err (a negative errno). */
int zcq__xfer_fail(struct zcq_xfer *x, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* write()/send() n bytes of buf to dst, looping over short writes; also the memory path of
 * strategies that have none of their own. Returns the bytes written
 * (> 0), or -EAGAIN / -errno when nothing was written. Counts syscalls. */
ssize_t zcq__xfer_write(struct zcq_xfer *x, int dst, const void *buf, size_t n);

/* Loop pread() until n bytes are in buf or EOF. Returns the bytes read (0 at EOF) or -errno. */
ssize_t zcq__xfer_pread(struct zcq_xfer *x, int src, void *buf, size_t n, off_t off);

/* The context's page-aligned bounce buffer of buf_size bytes, allocated on first use; NULL
 * (with x->why set) when out of memory. */
void *zcq__xfer_buf(struct zcq_xfer *x);

#endif
