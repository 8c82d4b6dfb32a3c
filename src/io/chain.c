/* Send chains; see chain.h. */
#include "io/chain.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define IOV_BATCH 64

void zcq_chain_init(struct zcq_chain *c)
{
    memset(c, 0, sizeof(*c));
}

static void release(struct zcq_chain_item *it)
{
    if (it->release)
        it->release(it->arg);
    it->release = NULL;
}

void zcq_chain_clear(struct zcq_chain *c)
{
    for (unsigned i = c->head; i < c->n; i++)
        release(&c->items[i]);
    free(c->items);
    zcq_chain_init(c);
}

static int add(struct zcq_chain *c, const struct zcq_chain_item *it)
{
    if (c->head == c->n)
        c->head = c->n = 0; /* empty: reuse from the start */
    if (c->n == c->cap) {
        unsigned cap = c->cap ? c->cap * 2 : 8;
        struct zcq_chain_item *ni;

        /* Compact before growing: sent items at the front are dead. */
        if (c->head) {
            memmove(c->items, c->items + c->head, sizeof(*ni) * (c->n - c->head));
            c->n -= c->head;
            c->head = 0;
        }
        if (c->n == c->cap) {
            ni = realloc(c->items, sizeof(*ni) * cap);
            if (!ni)
                return -ENOMEM;
            c->items = ni;
            c->cap = cap;
        }
    }
    c->items[c->n++] = *it;
    c->bytes += it->len;
    return 0;
}

/* Queue an item; an empty one, or one that cannot be queued, is released at once. */
static int add_or_release(struct zcq_chain *c, const struct zcq_chain_item *it)
{
    int rc = it->len ? add(c, it) : 0;

    if ((rc < 0 || it->len == 0) && it->release)
        it->release(it->arg);
    return rc;
}

int zcq_chain_add_mem(struct zcq_chain *c, const void *mem, size_t len, void (*release_fn)(void *),
                      void *arg)
{
    struct zcq_chain_item it = {mem, -1, 0, len, release_fn, arg};

    return add_or_release(c, &it);
}

int zcq_chain_add_file(struct zcq_chain *c, int fd, off_t pos, size_t len,
                       void (*release_fn)(void *), void *arg)
{
    struct zcq_chain_item it = {NULL, fd, pos, len, release_fn, arg};

    return add_or_release(c, &it);
}

/* Account n bytes sent from the head, releasing the items they complete. */
static void consume(struct zcq_chain *c, size_t n)
{
    c->bytes -= n;
    while (n && c->head < c->n) {
        struct zcq_chain_item *it = &c->items[c->head];
        size_t k = n < it->len ? n : it->len;

        it->len -= k;
        if (it->mem)
            it->mem = (const char *)it->mem + k;
        else
            it->pos += (off_t)k;
        n -= k;
        if (it->len == 0) {
            release(it);
            c->head++;
        }
    }
}

ssize_t zcq_chain_send(struct zcq_chain *c, int fd, struct zcq_xfer *x, size_t budget)
{
    size_t sent = 0;

    if (budget == 0)
        budget = SIZE_MAX;
    while (c->head < c->n && sent < budget) {
        struct zcq_chain_item *it = &c->items[c->head];
        size_t want = budget - sent;
        bool full;
        ssize_t r;

        if (it->mem) {
            struct iovec iov[IOV_BATCH];
            int k = 0, more = 0;
            size_t total = 0;
            unsigned i;

            for (i = c->head; i < c->n && k < IOV_BATCH && c->items[i].mem && total < want;
                 i++, k++) {
                size_t l = c->items[i].len;

                if (l > want - total)
                    l = want - total;
                iov[k].iov_base = (void *)c->items[i].mem;
                iov[k].iov_len = l;
                total += l;
            }
            /* A file region follows (a fetch response's header, then its records): MSG_MORE
             * lets TCP put the header in the same segment as the first record bytes, instead
             * of a tiny segment of its own that costs the same per-packet work as a full one
             * (the consume benchmark, docs/benchmarks.md). */
            if (i < c->n && !c->items[i].mem)
                more = MSG_MORE;
            {
                struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)k};

                r = sendmsg(fd, &mh, MSG_NOSIGNAL | more);
                if (r < 0 && errno == ENOTSOCK)
                    r = writev(fd, iov, k);
            }
            full = r >= 0 && (size_t)r < total;
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                if (sent)
                    break;
                return -errno;
            }
        } else {
            r = zcq_xfer_file(x, fd, it->fd, it->pos, it->len < want ? it->len : want);
            /* The strategies report a file that ends short of its region as -ENODATA; a 0
             * from one that did not would leave us spinning on a writable socket. */
            if (r == 0)
                r = -ENODATA;
            full = zcq_xfer_dst_full(x);
            if (r < 0) {
                if (sent)
                    break;
                return r;
            }
        }
        if (r == 0)
            break;
        consume(c, (size_t)r);
        sent += (size_t)r;
        /* A socket that took less than offered is full; another call would only say so. */
        if (full)
            break;
    }
    return (ssize_t)sent;
}
