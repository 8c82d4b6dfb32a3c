/*
 * zcq transfer engine: move bytes from a file range, or from memory, to a destination fd by a
 * named strategy (copy, mmap, sendfile, splice, direct, uring, zerocopy, copy_file_range for
 * file -> file, or auto).
 *
 * Contract
 *   - A context (struct zcq_xfer) belongs to one caller and one thread. It owns every resource
 *     a strategy needs between calls: its bounce buffers, splice pipe, O_DIRECT descriptor,
 *     file mapping, io_uring ring and zero-copy bookkeeping. It never owns the caller's fds.
 *   - One call moves at most chunk_max bytes (set at open), so one transfer cannot monopolise
 *     an event loop; the caller loops (or returns to its loop) until the range is done.
 *   - Return value of zcq_xfer_file()/zcq_xfer_mem():
 *        > 0        bytes delivered to the destination; may be less than asked (partial)
 *          0        only when len == 0
 *        -EAGAIN    the destination is non-blocking and accepted nothing; wait for POLLOUT
 *        -ENODATA   the source file ends before offset + len (nothing more to move)
 *        -errno     any other failure; zcq_xfer_why() names the cause in one line
 *     A partial return never loses data: the next call resumes at offset + n.
 *   - Resumption: some strategies keep data in flight between calls (splice keeps bytes in its
 *     pipe after the destination said EAGAIN). The next call on the same context must continue
 *     the same transfer (same source fd, offset + n). Any other call first discards what was in
 *     flight, which is correct but wasteful. Call zcq_xfer_reset() after closing a source fd,
 *     since fd numbers are reused.
 *   - Zero-copy memory: with ZCQ_XFER_ZEROCOPY, memory passed to zcq_xfer_mem() is handed to the
 *     kernel by reference. It must stay valid and unchanged until zcq_xfer_zc_pending() is 0
 *     (zcq_xfer_zc_reap() waits for that). File transfers need no such care: the engine uses
 *     its own buffers and reaps before reusing them.
 *   - Zero-copy file transfers use four bounce buffers; when all four are still referenced by
 *     unacknowledged sends, the call waits (up to 10 s) for a completion even on a non-blocking
 *     socket. Event loops should keep zerocopy for large sends to fast peers.
 *   - SIGPIPE: sendfile/splice/write to a closed peer raise SIGPIPE; processes using the engine
 *     ignore it (the CLI does) and get -EPIPE instead.
 *   - Kernel features are probed at run time. A strategy that cannot run here fails with
 *     -EOPNOTSUPP, -EINVAL, -ENOSYS or -EPERM and a message such as "io_uring is disabled by
 *     sysctl kernel.io_uring_disabled"; ZCQ_XFER_AUTO picks the best strategy that works.
 */
#ifndef ZCQ_IO_XFER_H
#define ZCQ_IO_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum zcq_xfer_method {
    ZCQ_XFER_AUTO = 0,
    ZCQ_XFER_COPY,     /* pread() into a buffer + write(): the four-copy baseline */
    ZCQ_XFER_MMAP,     /* mmap() the file + write() from the mapping */
    ZCQ_XFER_SENDFILE, /* sendfile() */
    ZCQ_XFER_SPLICE,   /* file -> pipe -> destination with splice(), one reused pipe */
    ZCQ_XFER_DIRECT,   /* O_DIRECT reads into aligned buffers + write() */
    ZCQ_XFER_URING,    /* io_uring: linked read + send (or write) ops */
    ZCQ_XFER_ZEROCOPY, /* send(MSG_ZEROCOPY) from user memory, completions reaped */
    ZCQ_XFER_CFR,      /* copy_file_range(): file -> regular file only, inside the kernel */
    ZCQ_XFER_COUNT
};

/* Counters the lab turns into "per GB" figures. syscalls counts every system call the engine
 * made on the data path, including io_uring_enter; the first-use set-up calls count too. */
struct zcq_xfer_stats {
    uint64_t bytes;      /* delivered to destinations */
    uint64_t syscalls;   /* system calls made */
    uint64_t zc_sends;   /* MSG_ZEROCOPY sends completed */
    uint64_t zc_copied;  /* ... of which the kernel reported it copied after all */
    uint64_t disk_reads; /* O_DIRECT reads issued (direct strategy) */
};

struct zcq_xfer_opts {
    size_t chunk_max; /* bytes per call at most; 0 = ZCQ_XFER_DEFAULT_CHUNK */
    size_t buf_size;  /* bounce buffer / pipe size; 0 = min(chunk_max, 1 MiB) */
};

#define ZCQ_XFER_DEFAULT_CHUNK (64u * 1024u)
#define ZCQ_XFER_MAX_CHUNK     (1u << 30)

struct zcq_xfer;

/* Name <-> method. zcq_xfer_method_parse returns -EINVAL for an unknown name. */
const char *zcq_xfer_method_name(enum zcq_xfer_method m);
int zcq_xfer_method_parse(const char *name, enum zcq_xfer_method *out);

/*
 * Create a context. Probes what does not depend on fds (io_uring availability and opcodes) so
 * that an impossible strategy fails here, with why[] (which may be NULL) holding the cause.
 * Errors: -EINVAL (bad opts), -ENOMEM, and the strategy's probe errors (-ENOSYS, -EPERM,
 * -EOPNOTSUPP).
 */
int zcq_xfer_open(struct zcq_xfer **out, enum zcq_xfer_method m, const struct zcq_xfer_opts *opts,
                  char *why, size_t why_len);

/* Release everything the context owns. Waits for outstanding zero-copy completions (bounded),
 * since the kernel may still reference the context's buffers. NULL is a no-op. */
void zcq_xfer_close(struct zcq_xfer *x);

/* Move up to len bytes of src_fd starting at offset to dst_fd. See the contract above. */
ssize_t zcq_xfer_file(struct zcq_xfer *x, int dst_fd, int src_fd, off_t offset, size_t len);

/* Move up to len bytes of buf to dst_fd. Strategies without a memory path of their own
 * (copy, mmap, sendfile, splice, direct) use write()/send(). */
ssize_t zcq_xfer_mem(struct zcq_xfer *x, int dst_fd, const void *buf, size_t len);

/* True when the last zcq_xfer_file()/zcq_xfer_mem() stopped short of what it was asked (after
 * the chunk_max cap) or returned -EAGAIN because a non-blocking destination was full: an event
 * loop should wait for POLLOUT instead of calling again, which would only find it full. */
bool zcq_xfer_dst_full(const struct zcq_xfer *x);

/* Forget in-flight state and cached per-fd facts (source mapping, O_DIRECT fd, destination
 * kind). Call after closing or replacing an fd the context has seen. */
void zcq_xfer_reset(struct zcq_xfer *x);

/* The strategy that actually runs: for ZCQ_XFER_AUTO, the one chosen at first use. */
enum zcq_xfer_method zcq_xfer_active(const struct zcq_xfer *x);

/* One-line cause of the last failure ("" if none). Valid until the next call on x. */
const char *zcq_xfer_why(const struct zcq_xfer *x);

const struct zcq_xfer_stats *zcq_xfer_stats(const struct zcq_xfer *x);
void zcq_xfer_stats_clear(struct zcq_xfer *x);

/* Zero-copy sends whose completion has not been reaped yet. */
uint32_t zcq_xfer_zc_pending(const struct zcq_xfer *x);

/* Reap zero-copy completions; with timeout_ms > 0, wait up to that long for all of them.
 * Returns the number still pending, or -errno. */
int zcq_xfer_zc_reap(struct zcq_xfer *x, int timeout_ms);

#endif
