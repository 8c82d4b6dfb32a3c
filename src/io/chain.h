/*
 * A send chain: what a connection still has to send, as a queue of memory chunks and file
 * regions (after nginx's buffer chains). Consecutive memory chunks go out in one writev();
 * file regions go through the transfer engine (sendfile by default), so a Kafka fetch
 * response is its header bytes from memory and its record batches straight from the page
 * cache.
 *
 * Contract
 *   - Items are sent in order. zcq_chain_send() sends from the head until the chain is empty,
 *     the destination would block (-EAGAIN after no progress), the byte budget is spent, or an
 *     error; it returns the bytes sent (> 0), 0 when the chain was empty, or -errno.
 *   - Each item may carry a release callback, called once when the item has been sent
 *     completely or the chain is cleared: memory the chain points to (and a file region's
 *     segment reference) must stay valid until then.
 *   - A chain belongs to one connection and one thread. Errors: -ENOMEM (adding), and the
 *     send errors of writev and zcq_xfer_file (-ENODATA: a file ends short of its region).
 */
#ifndef ZCQ_IO_CHAIN_H
#define ZCQ_IO_CHAIN_H

#include "io/xfer.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct zcq_chain_item {
    const void *mem; /* memory chunk, or NULL for a file region */
    int fd;          /* file region: source fd */
    off_t pos;       /* file region: position of the first unsent byte */
    size_t len;      /* bytes not yet sent */
    void (*release)(void *arg);
    void *arg;
};

struct zcq_chain {
    struct zcq_chain_item *items;
    unsigned head, n, cap; /* items[head, n) are pending */
    size_t bytes;          /* pending bytes */
};

void zcq_chain_init(struct zcq_chain *c);

/* Release every pending item and free the chain's memory. */
void zcq_chain_clear(struct zcq_chain *c);

int zcq_chain_add_mem(struct zcq_chain *c, const void *mem, size_t len, void (*release)(void *),
                      void *arg);
int zcq_chain_add_file(struct zcq_chain *c, int fd, off_t pos, size_t len, void (*release)(void *),
                       void *arg);

static inline bool zcq_chain_empty(const struct zcq_chain *c)
{
    return c->head == c->n;
}

/* Send up to budget bytes (0 = no limit) to fd; x moves the file regions. */
ssize_t zcq_chain_send(struct zcq_chain *c, int fd, struct zcq_xfer *x, size_t budget);

#endif
